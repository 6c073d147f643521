"""The official infini-gram Python API, over any index infgram opens.

Scripts written against the official package (``from infini_gram.engine import
InfiniGramEngine``) change one import::

    from infgram.compat import InfiniGramEngine
    engine = InfiniGramEngine(index_dir="index/", eos_token_id=2)   # an official index, or one of ours
    engine.count(input_ids=[5613, 4086, 9068])                      # {'count': ..., 'approx': False}

The constructor, the method names, their arguments and the reply dictionaries are the
official ones (infini-gram 2.6.0), including the error dictionaries (``{'error': ...}``, with
the official messages) for bad arguments. Queries are token ids; a document end reads as
``eos_token_id``, as in the official engine. What differs, and is said in the replies:

- **Exact where the official engine approximates.** ``ntd``/``infgram_ntd`` above
  ``max_support`` occurrences and the CNF methods above ``max_clause_freq`` are sampled by
  the official engine; here they are always exact, and those replies carry ``"exact": True``
  (``approx`` stays False).
- **CNF counts** (``count_cnf``, ``find_cnf``, ``search_docs_cnf``) count the positions
  taking part in a match of infgram's search (:meth:`infgram.Index.search` with
  ``within=max_diff_tokens``): for one clause, the occurrences of its phrases, as the
  official engine counts them; for several clauses the official engine's counts are
  approximate (they depend on sampling), so they are not reproduced.
- **Ranks and pointers.** On an official index they are the official ones (``rank``: an entry
  of ``table.N``; ``ptr``: a byte offset into ``tokenized.N``). On an infgram index, a rank is a
  row of the shard's suffix array and a pointer is the token position in the shard times the
  token width; a pointer is valid at any multiple of the token width (the official engine
  asks for an even one).
- **Metadata** is the document's official metadata line, or on an infgram index its
  metadata object as JSON; a document removed with ``infgram remove`` is ``blocked`` and
  shows no tokens.
- **attribute** gives, for each start, the longest span that occurs (at most ``max_cnt``
  times, at least ``min_len`` tokens, starting after and ending with a delimiter when
  ``delim_ids`` are given), leaving out spans inside an earlier one;
  ``unigram_logprob_sum`` is -10000 per token, as the official engine gives it without
  precomputed unigram counts. ``enforce_bow`` is not supported (an error dictionary).
- ``search_docs`` draws ``maxnum`` occurrences at random (with replacement, like the
  official engine); pass ``seed=`` to the constructor for a repeatable draw.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose", "is it"], folder / "index", progress=False)
>>> engine = InfiniGramEngine(index_dir=str(folder / "index"), eos_token_id=0, vocab_size=255, token_dtype="u8")
>>> engine.count(input_ids=list(b"rose"))
{'count': 2, 'approx': False}
>>> engine.prob(prompt_ids=list(b"a "), cont_id=ord("r"))
{'prompt_cnt': 2, 'cont_cnt': 2, 'prob': 1.0}
>>> engine.ntd(prompt_ids=list(b"rose"))["result_by_token_id"]
{0: {'cont_cnt': 1, 'prob': 0.5}, 32: {'cont_cnt': 1, 'prob': 0.5}}
>>> engine.count(input_ids=[-1])
{'error': 'input_ids must be a list of integers in range [0, 255]'}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import IndexFormatError, InfgramError, QueryError, UnsupportedOperationError
from .query import partials
from .query.index import Index
from .query.search import search_matches
from .query.shardset import ShardSet
from .shards.official import OFFICIAL_KIND

_WIDTHS = {"u8": 1, "u16": 2, "u32": 4}
_NO_UNIGRAM_LOGPROB = -10000.0
"""The official engine's unigram log-probability of every token without precomputed counts."""

Reply = dict[str, Any]


def _error(message: str) -> Reply:
    return {"error": message}


class InfiniGramEngine:
    """The official engine's API (``infini_gram.engine.InfiniGramEngine``) over an infgram
    index or an official one; see the module docstring for what differs."""

    def __init__(self, index_dir: Iterable[str] | str, eos_token_id: int, vocab_size: int = 65535, version: int = 4,
                 token_dtype: str = "u16", load_to_ram: bool = False, ds_prefetch_depth: int = 1,
                 sa_prefetch_depth: int = 3, od_prefetch_depth: int = 3, bow_ids_path: str | None = None,
                 attribution_block_size: int = 512, precompute_unigram_logprobs: bool = False,
                 prev_shards_by_index_dir: dict | None = None, max_support: int = 1000, max_clause_freq: int = 50000,
                 max_diff_tokens: int = 100, maxnum: int = 1, max_disp_len: int = 1000, seed: int | None = None,
                 index: Index | None = None) -> None:
        """As the official constructor (prefetch depths, ``load_to_ram``, ``bow_ids_path`` and
        ``attribution_block_size`` are accepted and have no effect: infgram maps the files and
        the operating system pages them in). ``index``: an open :class:`~infgram.Index` to use
        instead of opening ``index_dir``; ``seed``: the random draws of ``search_docs``."""
        if token_dtype not in _WIDTHS:
            raise QueryError(f"expected token_dtype u8, u16 or u32, found {token_dtype!r:.40}")
        if version != 4:
            raise IndexFormatError(f"expected index version 4, found {version!r:.40}; infgram reads format version 4 "
                                   "official indexes only: version 5 (every document's tokens reversed) and later "
                                   "are out of scope")
        if not (isinstance(eos_token_id, int) and 0 <= eos_token_id < vocab_size):
            raise QueryError(f"expected eos_token_id an integer in [0, vocab_size = {vocab_size}), found "
                             f"{eos_token_id!r:.40}")
        for name, value in (("max_support", max_support), ("max_clause_freq", max_clause_freq),
                            ("max_diff_tokens", max_diff_tokens), ("maxnum", maxnum), ("max_disp_len", max_disp_len)):
            if not (isinstance(value, int) and value > 0):
                raise QueryError(f"expected {name} a positive integer, found {value!r:.40}")
        directories = [index_dir] if isinstance(index_dir, (str, Path)) else list(index_dir)
        self.index = index if index is not None else Index.open(directories)
        width = _WIDTHS[token_dtype]
        if self.index.token_width != width:
            raise QueryError(f"expected token_dtype {token_dtype}, but the index holds {self.index.token_width}-byte "
                             f"tokens (token_dtype u{8 * self.index.token_width}); pass that")
        self.token_width = width
        self.token_id_max = (1 << (8 * width)) - 1
        self.eos_token_id = eos_token_id
        self.separator_id = self.token_id_max
        self.max_support, self.max_clause_freq, self.max_diff_tokens = max_support, max_clause_freq, max_diff_tokens
        self.maxnum, self.max_disp_len = maxnum, max_disp_len
        self.precompute_unigram_logprobs = precompute_unigram_logprobs
        self.random = np.random.default_rng(seed)
        self.official = self.index.kind == OFFICIAL_KIND
        shard_set = self.index.shard_set
        if type(shard_set) is not ShardSet:
            raise UnsupportedOperationError("the official API reads the shards' documents and positions in this "
                                            "process, but this index's shards live elsewhere (on a Ray cluster); "
                                            "open the index with Index.open, or query the cluster through the "
                                            "index's own methods, batch or HTTP")
        self.shards = shard_set.shards
        self.first_documents = shard_set.first_documents
        self.num_positions = sum(shard.num_positions for shard in self.shards)
        """Every position of every shard, separators included: what the official ``count([])`` counts."""

    # -- arguments, checked as the official engine checks them ------------------------------------
    def _ids_ok(self, ids: Any, allow_empty: bool) -> bool:
        if not (type(ids) is list and (allow_empty or len(ids) > 0)):
            return False
        return all(type(q) is int and 0 <= q <= self.token_id_max for q in ids)

    def _cnf_ok(self, cnf: Any) -> bool:
        if not (type(cnf) is list and len(cnf) > 0):
            return False
        for clause in cnf:
            if not (type(clause) is list and len(clause) > 0):
                return False
            if not all(self._ids_ok(ids, allow_empty=False) for ids in clause):
                return False
        return True

    def _ids_error(self, name: str, empty: str = "") -> Reply:
        return _error(f"{name} must be a {empty}list of integers in range [0, {self.token_id_max}]")

    @staticmethod
    def _positive(name: str, value: Any) -> Reply | None:
        return None if type(value) is int and value > 0 else _error(f"{name} must be a positive integer")

    @staticmethod
    def _non_negative(name: str, value: Any) -> Reply | None:
        return None if type(value) is int and value >= 0 else _error(f"{name} must be a non-negative integer")

    def _encode(self, ids: Sequence[int]) -> bytes:
        return np.asarray(ids, dtype=f">u{self.token_width}").tobytes()

    # -- counts ------------------------------------------------------------------------------------
    def _runs(self, ids: Sequence[int]) -> list[tuple[int, int]]:
        if not ids:
            return [(0, shard.num_positions) for shard in self.shards]
        encoded = self._encode(ids)
        return [shard.find(encoded) for shard in self.shards]

    def find(self, input_ids: Any) -> Reply:
        """The run of the query in each shard's suffix array (every position for an empty query)."""
        if not self._ids_ok(input_ids, allow_empty=True):
            return self._ids_error("input_ids")
        runs = self._runs(input_ids)
        return {"cnt": sum(hi - lo for lo, hi in runs), "segment_by_shard": runs}

    def count(self, input_ids: Any) -> Reply:
        """Occurrences of the query (the empty query: every position, separators included)."""
        if not self._ids_ok(input_ids, allow_empty=True):
            return self._ids_error("input_ids")
        if not input_ids:
            return {"count": self.num_positions, "approx": False}
        return {"count": partials.add_counts(self.index.shard_set.map(partials.count, self._encode(input_ids))),
                "approx": False}

    def prob(self, prompt_ids: Any, cont_id: Any) -> Reply:
        """count(prompt + [cont]) / count(prompt); -1.0 when the prompt does not occur."""
        if not self._ids_ok(prompt_ids, allow_empty=True):
            return self._ids_error("prompt_ids", "non-empty ")
        if not (type(cont_id) is int and 0 <= cont_id <= self.token_id_max):
            return _error(f"cont_id must be an integer in range [0, {self.token_id_max}]")
        prompt_count = self.count(prompt_ids)["count"]
        count = self.count(list(prompt_ids) + [cont_id])["count"]
        return {"prompt_cnt": prompt_count, "cont_cnt": count, "prob": count / prompt_count if prompt_count else -1.0}

    def _distribution(self, prompt_ids: Sequence[int]) -> tuple[int, dict[int, int]]:
        """(prompt count, {next id: count}) with document ends as eos, as the official engine."""
        if prompt_ids:
            prompt_count, values, counts = partials.merge_distributions(
                self.index.shard_set.map(partials.next_tokens, self._encode(prompt_ids)))
            ends = 0
        else:  # every position: each separator is one more position, "followed" by a document end
            prompt_count, values, counts = partials.merge_distributions(
                self.index.shard_set.map(partials.next_tokens, b""))
            ends = self.index.num_documents
            prompt_count += ends
        found: dict[int, int] = {}
        for value, count in zip(values.tolist(), counts.tolist()):
            key = self.eos_token_id if value == self.separator_id else int(value)
            found[key] = found.get(key, 0) + int(count)
        if ends:
            found[self.eos_token_id] = found.get(self.eos_token_id, 0) + ends
        return prompt_count, dict(sorted(found.items()))

    @staticmethod
    def _by_token(prompt_count: int, found: dict[int, int]) -> dict[int, dict[str, Any]]:
        return {token: {"cont_cnt": count, "prob": count / prompt_count} for token, count in found.items()}

    def ntd(self, prompt_ids: Any, max_support: Any = None) -> Reply:
        """The next-token distribution, always exact (``"exact": True``)."""
        max_support = self.max_support if max_support is None else max_support
        if problem := self._positive("max_support", max_support):
            return problem
        if not self._ids_ok(prompt_ids, allow_empty=True):
            return self._ids_error("prompt_ids")
        prompt_count, found = self._distribution(prompt_ids)
        return {"prompt_cnt": prompt_count, "result_by_token_id": self._by_token(prompt_count, found), "approx": False,
                "exact": True}

    def _suffix_length(self, prompt_ids: Sequence[int]) -> int:
        if not prompt_ids:
            return 0
        parts = self.index.shard_set.map(partials.longest_suffix_run, self._encode(prompt_ids))
        return max(part[0] for part in parts)

    def infgram_prob(self, prompt_ids: Any, cont_id: Any) -> Reply:
        """prob() after the longest suffix of the prompt that occurs (``suffix_len`` tokens)."""
        if not self._ids_ok(prompt_ids, allow_empty=True):
            return self._ids_error("prompt_ids", "non-empty ")
        if not (type(cont_id) is int and 0 <= cont_id <= self.token_id_max):
            return _error(f"cont_id must be an integer in range [0, {self.token_id_max}]")
        length = self._suffix_length(prompt_ids)
        reply = self.prob(list(prompt_ids)[len(prompt_ids) - length :], cont_id)
        return {**reply, "suffix_len": length}

    def infgram_ntd(self, prompt_ids: Any, max_support: Any = None) -> Reply:
        """ntd() after the longest suffix of the prompt that occurs, always exact."""
        max_support = self.max_support if max_support is None else max_support
        if problem := self._positive("max_support", max_support):
            return problem
        if not self._ids_ok(prompt_ids, allow_empty=True):
            return self._ids_error("prompt_ids")
        length = self._suffix_length(prompt_ids)
        return {**self.ntd(list(prompt_ids)[len(prompt_ids) - length :], max_support), "suffix_len": length}

    # -- documents ---------------------------------------------------------------------------------
    def _document_of(self, shard: Any, position: int) -> int:
        """The shard-local document of a position; an official separator belongs to the
        document after it, ours to the one before it."""
        starts = shard.documents.starts
        if self.official:
            return max(0, int(np.searchsorted(starts - 1, position, side="right")) - 1)
        return int(np.searchsorted(starts, position, side="right")) - 1

    def _metadata(self, shard: Any, local: int) -> str:
        if self.official:
            documents = shard.documents
            return bytes(documents.metadata_bytes[int(documents.metadata_offsets[local]):
                                                  int(documents.metadata_offsets[local + 1])]).decode("utf-8", "replace")
        return json.dumps(shard.documents.metadata(local))

    def _window(self, number: int, local: int, position: int, before: int, after: int) -> Reply:
        """The document holding ``position`` (shard ``number``), shown from ``position - before``
        to ``position + after`` tokens, clipped to the document."""
        shard = self.shards[number]
        start = int(shard.documents.starts[local])
        length = shard.documents.length(local)
        blocked = shard.removals.is_removed(local)
        window_start = max(start, position - before)
        window_end = min(start + length, position + after)
        tokens = [] if blocked else shard.document_slice(local, window_start - start, max(window_start, window_end) - start)
        offset = position - window_start
        return {"doc_ix": int(self.first_documents[number]) + local, "doc_len": length, "disp_len": len(tokens),
                # The official engine divides a uint64 byte difference: before the window, it wraps.
                "needle_offset": offset if offset >= 0 else ((offset * self.token_width) % (1 << 64)) // self.token_width,
                "metadata": "" if blocked else self._metadata(shard, local),
                "token_ids": [int(token) for token in tokens], "blocked": bool(blocked)}

    def _shard_error(self, s: Any) -> Reply | None:
        if type(s) is int and 0 <= s < len(self.shards):
            return None
        return _error(f"s must be an integer in range [0, {len(self.shards)})")

    def _rank_error(self, s: int, rank: Any) -> Reply | None:
        positions = self.shards[s].num_positions
        return None if type(rank) is int and 0 <= rank < positions else \
            _error(f"ptr must be an integer in range [0, {positions})")

    def _ptr_error(self, s: int, ptr: Any) -> Reply | None:
        size = self.shards[s].num_positions * self.token_width
        return None if type(ptr) is int and 0 <= ptr < size and ptr % self.token_width == 0 else \
            _error(f"ptr must be an even integer in range [0, {size})")

    def _at_position(self, s: int, position: int, before: int, after: int) -> Reply:
        return self._window(s, self._document_of(self.shards[s], position), position, before, after)

    def _position_of_rank(self, s: int, rank: int) -> int:
        return int(self.shards[s].positions(rank, rank + 1)[0])

    def get_doc_by_rank(self, s: Any, rank: Any, max_disp_len: Any = None) -> Reply:
        """The document of suffix-array entry ``rank`` of shard ``s``, ``max_disp_len`` tokens around it."""
        max_disp_len = self.max_disp_len if max_disp_len is None else max_disp_len
        problem = self._positive("max_disp_len", max_disp_len) or self._shard_error(s) or self._rank_error(s, rank)
        if problem:
            return problem
        return self._at_position(s, self._position_of_rank(s, rank), max_disp_len // 2,
                                 max_disp_len - max_disp_len // 2)

    def get_doc_by_ptr(self, s: Any, ptr: Any, max_disp_len: Any = None) -> Reply:
        """The document holding pointer ``ptr`` of shard ``s``, ``max_disp_len`` tokens around it."""
        max_disp_len = self.max_disp_len if max_disp_len is None else max_disp_len
        problem = self._positive("max_disp_len", max_disp_len) or self._shard_error(s) or self._ptr_error(s, ptr)
        if problem:
            return problem
        return self._at_position(s, ptr // self.token_width, max_disp_len // 2, max_disp_len - max_disp_len // 2)

    def get_doc_by_ix(self, doc_ix: Any, max_disp_len: Any = None) -> Reply:
        """Document ``doc_ix``, its first ``max_disp_len`` tokens."""
        max_disp_len = self.max_disp_len if max_disp_len is None else max_disp_len
        problem = self._positive("max_disp_len", max_disp_len) or self._document_error(doc_ix)
        if problem:
            return problem
        return self._from_start(doc_ix, max_disp_len)

    def _document_error(self, doc_ix: Any) -> Reply | None:
        total = self.index.num_documents
        return None if type(doc_ix) is int and 0 <= doc_ix < total else \
            _error(f"doc_ix must be an integer in range [0, {total})")

    def _from_start(self, doc_ix: int, num_tokens: int) -> Reply:
        number, local = self.index.shard_set.locate_document(doc_ix)
        start = int(self.shards[number].documents.starts[local])
        return self._window(number, local, start, 0, num_tokens)

    def get_doc_by_rank_2(self, s: Any, rank: Any, needle_len: Any, max_ctx_len: Any) -> Reply:
        """The document of entry ``rank``: ``max_ctx_len`` tokens before the needle, the needle
        (``needle_len`` tokens) and ``max_ctx_len`` after."""
        problem = self._non_negative("needle_len", needle_len) or self._non_negative("max_ctx_len", max_ctx_len) or \
            self._shard_error(s) or self._rank_error(s, rank)
        if problem:
            return problem
        return self._at_position(s, self._position_of_rank(s, rank), max_ctx_len, needle_len + max_ctx_len)

    def get_doc_by_ptr_2(self, s: Any, ptr: Any, needle_len: Any, max_ctx_len: Any) -> Reply:
        """As get_doc_by_rank_2, at a pointer."""
        problem = self._non_negative("needle_len", needle_len) or self._non_negative("max_ctx_len", max_ctx_len) or \
            self._shard_error(s) or self._ptr_error(s, ptr)
        if problem:
            return problem
        return self._at_position(s, ptr // self.token_width, max_ctx_len, needle_len + max_ctx_len)

    def get_doc_by_ix_2(self, doc_ix: Any, max_ctx_len: Any) -> Reply:
        """Document ``doc_ix``, its first ``max_ctx_len`` tokens."""
        problem = self._non_negative("max_ctx_len", max_ctx_len) or self._document_error(doc_ix)
        return problem or self._from_start(doc_ix, max_ctx_len)

    @staticmethod
    def _batch(replies: list[Reply]) -> Any:
        """A batch answers a list, or the first error (as the official batch methods)."""
        for reply in replies:
            if "error" in reply:
                return reply
        return replies

    def get_docs_by_ranks(self, list_of_s_and_rank: list, max_disp_len: Any = None) -> Any:
        return self._batch([self.get_doc_by_rank(s, rank, max_disp_len) for s, rank in list_of_s_and_rank])

    def get_docs_by_ptrs(self, list_of_s_and_ptr: list, max_disp_len: Any = None) -> Any:
        return self._batch([self.get_doc_by_ptr(s, ptr, max_disp_len) for s, ptr in list_of_s_and_ptr])

    def get_docs_by_ixs(self, list_of_doc_ix: list, max_disp_len: Any = None) -> Any:
        return self._batch([self.get_doc_by_ix(doc_ix, max_disp_len) for doc_ix in list_of_doc_ix])

    def get_docs_by_ranks_2(self, requests: list) -> Any:
        return self._batch([self.get_doc_by_rank_2(*request) for request in requests])

    def get_docs_by_ptrs_2(self, requests: list) -> Any:
        return self._batch([self.get_doc_by_ptr_2(*request) for request in requests])

    def get_docs_by_ixs_2(self, requests: list) -> Any:
        return self._batch([self.get_doc_by_ix_2(*request) for request in requests])

    def get_total_doc_cnt(self) -> int:
        return self.index.num_documents

    def search_docs(self, input_ids: Any, maxnum: Any = None, max_disp_len: Any = None) -> Reply:
        """``cnt`` occurrences; ``maxnum`` of them drawn at random, each with its document."""
        maxnum = self.maxnum if maxnum is None else maxnum
        max_disp_len = self.max_disp_len if max_disp_len is None else max_disp_len
        problem = self._positive("maxnum", maxnum) or self._positive("max_disp_len", max_disp_len)
        if problem:
            return problem
        if not self._ids_ok(input_ids, allow_empty=True):
            return self._ids_error("input_ids")
        runs = self._runs(input_ids)
        sizes = np.array([hi - lo for lo, hi in runs], dtype=np.int64)
        total = int(sizes.sum())
        if total == 0:
            return {"cnt": 0, "approx": False, "idxs": [], "documents": []}
        drawn = self.random.integers(0, total, size=maxnum)
        bounds = np.cumsum(sizes)
        documents = []
        for index in drawn.tolist():
            s = int(np.searchsorted(bounds, index, side="right"))
            rank = runs[s][0] + index - (int(bounds[s - 1]) if s else 0)
            documents.append(self.get_doc_by_rank(s, rank, max_disp_len))
        return {"cnt": total, "approx": False, "idxs": drawn.tolist(), "documents": documents}

    # -- CNF ---------------------------------------------------------------------------------------
    def _cnf_arguments(self, cnf: Any, max_clause_freq: Any, max_diff_tokens: Any) -> tuple[Reply | None, int]:
        max_clause_freq = self.max_clause_freq if max_clause_freq is None else max_clause_freq
        max_diff_tokens = self.max_diff_tokens if max_diff_tokens is None else max_diff_tokens
        problem = self._positive("max_clause_freq", max_clause_freq) or \
            self._positive("max_diff_tokens", max_diff_tokens)
        if problem is None and not self._cnf_ok(cnf):
            problem = _error(f"cnf must be a non-empty, triply-nested list of integers in range "
                             f"[0, {self.token_id_max}]")
        return problem, max_diff_tokens

    def _cnf_sites(self, cnf: list, max_diff_tokens: int) -> list[list[int]]:
        """The pointers of the positions taking part in a match, per shard: in suffix order for
        one phrase (as the official engine), else in position order."""
        if len(cnf) == 1:  # one clause: the occurrences of its phrases
            found: list[list[int]] = [[] for _ in self.shards]
            for ids in cnf[0]:
                for number, (lo, hi) in enumerate(self._runs(ids)):
                    found[number] += (self.shards[number].positions(lo, hi) * self.token_width).tolist()
            # One phrase: in the order of its run, as the official engine gives them (by suffix).
            return found if len(cnf[0]) == 1 else [sorted(pointers) for pointers in found]
        clauses = [[self._encode(ids) for ids in clause] for clause in cnf]
        found = []
        for shard in self.shards:
            matches = search_matches(shard, clauses, max_diff_tokens, max_work=1 << 62)
            starts = shard.documents.starts[matches.occurrence_documents] + matches.starts
            found.append((starts * self.token_width).tolist())
        return [sorted(set(pointers)) for pointers in found]

    def find_cnf(self, cnf: Any, max_clause_freq: Any = None, max_diff_tokens: Any = None) -> Reply:
        """The positions of the CNF's matches (see the module docstring), exact."""
        problem, max_diff_tokens = self._cnf_arguments(cnf, max_clause_freq, max_diff_tokens)
        if problem:
            return problem
        try:
            pointers = self._cnf_sites(cnf, max_diff_tokens)
        except InfgramError as error:
            return _error(str(error))
        return {"cnt": sum(map(len, pointers)), "approx": False, "ptrs_by_shard": pointers, "exact": True}

    def count_cnf(self, cnf: Any, max_clause_freq: Any = None, max_diff_tokens: Any = None) -> Reply:
        """The number of positions taking part in a match of the CNF, exact."""
        reply = self.find_cnf(cnf, max_clause_freq, max_diff_tokens)
        return reply if "error" in reply else {"count": reply["cnt"], "approx": False, "exact": True}

    def search_docs_cnf(self, cnf: Any, maxnum: Any = None, max_disp_len: Any = None, max_clause_freq: Any = None,
                        max_diff_tokens: Any = None) -> Reply:
        """``maxnum`` matches of the CNF drawn at random, each with its document."""
        maxnum = self.maxnum if maxnum is None else maxnum
        max_disp_len = self.max_disp_len if max_disp_len is None else max_disp_len
        problem = self._positive("maxnum", maxnum) or self._positive("max_disp_len", max_disp_len)
        if problem:
            return problem
        reply = self.find_cnf(cnf, max_clause_freq, max_diff_tokens)
        if "error" in reply:
            return reply
        flat = [(s, ptr) for s, pointers in enumerate(reply["ptrs_by_shard"]) for ptr in pointers]
        if not flat:
            return {"cnt": 0, "approx": False, "idxs": [], "documents": [], "exact": True}
        drawn = self.random.integers(0, len(flat), size=maxnum).tolist()
        documents = [self.get_doc_by_ptr(*flat[index], max_disp_len) for index in drawn]
        return {"cnt": reply["cnt"], "approx": False, "idxs": drawn, "documents": documents, "exact": True}

    # -- text-level ----------------------------------------------------------------------------------
    def _longest_matches(self, input_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        if not input_ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        parts = self.index.shard_set.map(partials.longest_matches, self._encode(input_ids))
        lengths, counts = partials.longest_wins_elementwise(parts)
        return lengths, counts

    def creativity(self, input_ids: Any) -> Reply:
        """``rs[i]``: the end of the longest match starting at token i (i + its length)."""
        if not self._ids_ok(input_ids, allow_empty=True):
            return self._ids_error("input_ids")
        lengths, _ = self._longest_matches(input_ids)
        return {"rs": [start + int(length) for start, length in enumerate(lengths.tolist())]}

    def attribute(self, input_ids: Any, delim_ids: Any, min_len: Any, max_cnt: Any, enforce_bow: Any) -> Reply:
        """The spans of the input that occur in the corpus (see the module docstring), each
        with every occurrence as ``{"s", "ptr"}``."""
        if not self._ids_ok(input_ids, allow_empty=True):
            return self._ids_error("input_ids")
        if not self._ids_ok(delim_ids, allow_empty=True):
            return self._ids_error("delim_ids")
        problem = self._non_negative("min_len", min_len) or self._positive("max_cnt", max_cnt)
        if problem:
            return problem
        if type(enforce_bow) is not bool:
            return _error("enforce_bow must be a boolean")
        if enforce_bow:
            return _error("enforce_bow is not supported by infgram.compat: pass enforce_bow=False")
        delimiters = set(delim_ids)
        lengths, _ = self._longest_matches(input_ids)
        spans, reach = [], 0
        for start, length in enumerate(lengths.tolist()):
            if delimiters and start > 0 and input_ids[start - 1] not in delimiters:
                continue
            end = start + length
            if delimiters:  # end with a delimiter (or the input's end)
                while end > start and end < len(input_ids) and input_ids[end - 1] not in delimiters:
                    end -= 1
            if end - start < max(min_len, 1) or end <= reach:
                continue
            runs = self._runs(input_ids[start:end])
            count = sum(hi - lo for lo, hi in runs)
            if not 0 < count <= max_cnt:
                continue
            reach = end
            docs = [{"s": s, "ptr": int(position) * self.token_width} for s, (lo, hi) in enumerate(runs)
                    for position in self.shards[s].positions(lo, hi).tolist()]
            spans.append({"l": start, "r": end, "length": end - start, "count": count,
                          "unigram_logprob_sum": _NO_UNIGRAM_LOGPROB * (end - start), "docs": docs})
        return {"spans": spans}
