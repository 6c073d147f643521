"""Exact n-gram, ∞-gram and document queries over a suffix-array index.

Every query starts the same way: the occurrences of a token sequence q in a shard are one
contiguous run [lo, hi) of its suffix array, found by binary search, and count(q) is
hi - lo summed over the shards. The rest follows from that run:

- ``probability(prompt, next)``: the run of prompt + next lies inside the run of prompt, so
  the second search is confined to it.
- ``next_tokens(prompt)``: along the run of a prompt of length L, the token at offset L of
  each suffix never decreases, so each distinct next token is one sub-run, found by a
  galloping search. The cost grows with the number of distinct next tokens, not with the
  number of occurrences: a prompt seen millions of times is as quick as one seen twice.
  A separator there means the occurrence ends its document (reported as id None).
- ∞-gram (Liu et al., 2024, "Infini-gram"): back off to the longest suffix of the prompt
  that occurs at all. Occurrence is monotone in the suffix length, so the longest one is
  found by binary search on its start; across shards the longest of the shards' wins.
- ``documents(q)``: the run's positions map to documents through the sorted document start
  positions; distinct documents are counted exactly and paged in a seeded random order.

The empty query occurs once at every token position (separators are not tokens): its run
is all of the suffix array but the separators, which sort last.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose", "is it"], folder / "index", progress=False)
>>> index = infgram.Index.open(folder / "index")
>>> index.count("rose"), index.count("is"), index.count("")
(2, 2, 21)
>>> index.probability("a ", "r")
ProbabilityResult(prompt_count=2, count=2, probability=1.0)
>>> [(t.text, t.count) for t in index.next_tokens("is").tokens]
[(' ', 2)]
>>> index.infgram_probability("what is", " ")  # " is" is the longest suffix that occurs
InfgramProbabilityResult(suffix_length=3, prompt_count=1, count=1, probability=1.0)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .. import _core
from ..errors import IndexFormatError, QueryError
from ..format import directory_bytes, file_sha256, read_manifest, token_dtype
from ..shards.sa import Shard
from ..tokenizer import Tokenizer, tokenizer_from_manifest
from .results import (
    AttributionResult,
    CooccurrenceResult,
    Document,
    DocumentsResult,
    InfgramNextTokensResult,
    InfgramProbabilitiesResult,
    InfgramProbabilityResult,
    LongestMatchesResult,
    NextToken,
    NextTokensResult,
    ProbabilityResult,
    SearchResult,
)

Query = str | Sequence[int] | np.ndarray

MAX_QUERY_TOKENS = 1_000_000
"""Longer queries are refused: nothing that long occurs, and the search would only waste time."""

MAX_QUERY_CHARACTERS = 10_000_000
MAX_DOCUMENTS_LIMIT = 10_000


_PARALLEL_BATCH = 20_000
"""Batches at least this large per core are searched on several threads."""

_thread_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _thread_pool
    if _thread_pool is None:
        _thread_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="infgram")
    return _thread_pool


def check_text(text: str) -> None:
    """Raise QueryError for a text query that is too long or has no UTF-8 form."""
    if len(text) > MAX_QUERY_CHARACTERS:
        raise QueryError(f"expected a query of at most {MAX_QUERY_CHARACTERS:,} characters, found "
                         f"{len(text):,}; search for a shorter piece of it")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise QueryError(f"expected text that has a UTF-8 form, found an unpaired surrogate "
                             f"{text[error.start:error.end]!r} at character {error.start} (often a command-line "
                             "argument that is not valid UTF-8); pass valid text or token ids") from None


def _check_length(num_tokens: int) -> None:
    if num_tokens > MAX_QUERY_TOKENS:
        raise QueryError(f"expected a query of at most {MAX_QUERY_TOKENS:,} tokens, found {num_tokens:,}; "
                         "no sequence that long occurs: search for a shorter piece of it")


def check_whole_number(name: str, value: Any, maximum: int | None = None, optional: bool = False) -> None:
    """Raise QueryError unless ``value`` is a whole number from 0 (to ``maximum``), or None if ``optional``."""
    if optional and value is None:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0 or \
            (maximum is not None and value > maximum):
        bound = f"from 0 to {maximum:,}" if maximum is not None else "of 0 or more"
        raise QueryError(f"expected {name} to be a whole number {bound}, found {value!r}")


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) spans sorted, without empty ones, overlapping or touching ones merged.

    >>> merge_spans([(5, 7), (0, 2), (1, 3), (3, 4), (6, 6)])
    [(0, 4), (5, 7)]
    """
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        elif start < end:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def _ratio(count: int, prompt_count: int) -> float | None:
    return count / prompt_count if prompt_count else None


class Index:
    """An open index. Use :meth:`Index.open`; queries are strings or token ids."""

    def __init__(self, directory: Path, manifest: dict[str, Any], tokenizer: Tokenizer, shards: list[Shard]):
        self.directory = directory
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.shards = shards
        self.token_width: int = tokenizer.token_width
        self.separator_id: int = tokenizer.separator_id
        self.vocab_size: int = tokenizer.vocab_size
        self.num_documents: int = sum(s.num_documents for s in shards)
        self.num_tokens: int = sum(s.num_tokens for s in shards)
        self._dtype = token_dtype(self.token_width)
        self._first_documents = np.array([s.first_document for s in shards], dtype=np.int64)
        self._texts: list[str] | None = None
        self._lengths: np.ndarray | None = None

    index_kind = "sa"
    shard_type: type = Shard

    @classmethod
    def open(cls, directory: str | Path) -> "Index":
        """Open an index directory of any kind (a suffix array, or an FM-index: then an
        :class:`~infgram.query.fm_engine.FMIndex`); raises
        :class:`~infgram.errors.IndexFormatError` if it is damaged."""
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest.get("index_kind") == "fm" and cls.index_kind != "fm":
            from .fm_engine import FMIndex

            return FMIndex.open(directory)
        if manifest.get("index_kind") != cls.index_kind:
            raise IndexFormatError(f"{directory} holds an index of kind {manifest.get('index_kind')!r}, "
                                   "which this infgram cannot open; upgrade infgram")
        tokenizer = tokenizer_from_manifest(manifest.get("tokenizer", {}), directory)
        if tokenizer.token_width != manifest.get("token_width"):
            raise IndexFormatError(f"the manifest's token width {manifest.get('token_width')} does not match its "
                                   f"tokenizer's ({tokenizer.token_width}); rebuild the index")
        shards = [cls.shard_type(directory, entry, tokenizer.token_width) for entry in manifest.get("shards", [])]
        if not shards:
            raise IndexFormatError(f"the manifest of {directory} lists no shards; rebuild the index")
        index = cls(directory, manifest, tokenizer, shards)
        if index.num_documents != manifest.get("num_documents") or index.num_tokens != manifest.get("num_tokens"):
            raise IndexFormatError(f"the shards of {directory} do not add up to the manifest's totals; rebuild the index")
        return index

    # -- turning queries into tokens -----------------------------------------------------------
    def tokenize(self, query: Query) -> np.ndarray:
        """The token ids of a query: a string is encoded with the index's tokenizer; ids are checked.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abc"], folder / "i", progress=False)
        >>> infgram.Index.open(folder / "i").tokenize("ab").tolist()
        [97, 98]
        """
        if isinstance(query, str):
            check_text(query)
            ids = self.tokenizer.encode(query).astype(np.int64)
        else:
            ids = np.asarray(query)
            if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
                raise QueryError(f"expected a string or a flat sequence of integer token ids, found "
                                 f"{type(query).__name__} of {ids.dtype} with shape {ids.shape}")
            ids = ids.astype(np.int64)
            self._check_ids(ids)
        _check_length(len(ids))
        return ids

    def _check_ids(self, ids: np.ndarray) -> None:
        """Raise QueryError unless every id (any shape) is in the vocabulary."""
        if ids.size:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.vocab_size:
                bad = low if low < 0 else high
                what = " (the document separator)" if bad == self.separator_id else ""
                raise QueryError(f"expected token ids from 0 to {self.vocab_size - 1}, found {bad}{what}; "
                                 "use ids of the index's vocabulary")

    def _encode(self, query: Query) -> bytes:
        """The query as stored bytes (big-endian ids), the form the compiled core searches for."""
        if isinstance(query, str) and self.tokenizer.kind == "bytes":
            check_text(query)
            encoded = query.encode("utf-8")  # UTF-8 never holds the separator byte 0xFF
            _check_length(len(encoded))
            return encoded
        if (type(query) is list or type(query) is tuple) and 0 < len(query) <= MAX_QUERY_TOKENS:
            # The common case of id lists, in one pass in C; anything odd goes the long way,
            # which says what is wrong.
            encoded = _core.encode_ids(query, self.token_width, self.vocab_size)
            if encoded is not None:
                return encoded
        return self.tokenize(query).astype(self._dtype).tobytes()

    def _encode_many(self, queries: list[Query]) -> list[bytes]:
        """:meth:`_encode` of many queries; strings go through the tokenizer's batch encoder."""
        if self.tokenizer.kind != "huggingface":
            return [self._encode(q) for q in queries]
        texts = [q for q in queries if isinstance(q, str)]
        for text in texts:
            check_text(text)
        encoded_texts = iter(self.tokenizer.encode_batch(texts))
        result = []
        for query in queries:
            if isinstance(query, str):
                ids = next(encoded_texts)
                _check_length(len(ids))
                result.append(ids.astype(self._dtype).tobytes())
            else:
                result.append(self._encode(query))
        return result

    def _encode_next(self, next_token: str | int) -> bytes:
        if isinstance(next_token, (int, np.integer)) and not isinstance(next_token, bool):
            ids = self.tokenize([int(next_token)])
        else:
            if not isinstance(next_token, str):
                raise QueryError(f"expected the next token as a string or an id, found {type(next_token).__name__}")
            ids = self.tokenize(next_token)
            if len(ids) != 1:
                raise QueryError(f"expected the continuation to be exactly one token, but {next_token!r} is "
                                 f"{len(ids)} tokens {ids.tolist()}; pass a single token id instead")
        return ids.astype(self._dtype).tobytes()

    def _range(self, shard: Shard, encoded: bytes, lo: int = 0, hi: int = -1) -> tuple[int, int]:
        if not encoded:
            return shard.unigram_range
        return shard.view.find(encoded, lo, hi)

    # -- counts and probabilities ---------------------------------------------------------------
    def count(self, query: Query) -> int:
        """Occurrences of a token sequence; the empty query counts every token.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abab", "ba"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i")
        >>> index.count("ab"), index.count([98, 97]), index.count("")
        (2, 2, 6)
        """
        encoded = self._encode(query)
        if not encoded:
            return self.num_tokens
        if len(self.shards) == 1:
            lo, hi = self.shards[0].view.find(encoded)
            return hi - lo
        total = 0
        for shard in self.shards:
            lo, hi = shard.view.find(encoded)
            total += hi - lo
        return total

    def count_batch(self, queries: Iterable[Query] | np.ndarray) -> np.ndarray:
        """The counts of many queries at once, as an int64 array.

        Queries may be strings or id sequences of any lengths; a 2-D integer array (one
        query of equal length per row) is the fastest form. Large batches are split over
        the machine's cores (the compiled search runs without the GIL).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abab"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i")
        >>> index.count_batch(["a", "ab", "c", ""]).tolist()
        [2, 2, 0, 4]
        >>> index.count_batch(np.array([[97, 98], [98, 97]])).tolist()
        [2, 1]
        """
        if isinstance(queries, np.ndarray) and queries.ndim == 2:
            rows, width = queries.shape
            if queries.size and not np.issubdtype(queries.dtype, np.integer):
                raise QueryError(f"expected a 2-D array of integer token ids, found {queries.dtype}")
            _check_length(width)
            self._check_ids(queries)
            data = np.ascontiguousarray(queries, dtype=self._dtype).tobytes()
            offsets = np.arange(rows + 1, dtype=np.int64) * (width * self.token_width)
            lengths = np.full(rows, width, dtype=np.int64)
        else:
            encoded = self._encode_many(list(queries))
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
            offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            data = b"".join(encoded)
        totals = np.zeros(len(lengths), dtype=np.int64)
        parts = max(1, min(os.cpu_count() or 1, len(lengths) // _PARALLEL_BATCH))
        pieces = np.linspace(0, len(lengths), num=parts + 1, dtype=np.int64)
        for shard in self.shards:
            def search(bounds: tuple[int, int], shard: Shard = shard) -> np.ndarray:
                first, last = bounds
                # Every thread reads the same data buffer; only its slice of offsets differs.
                piece = np.frombuffer(shard.view.find_many(data, offsets[first : last + 1].tobytes()), dtype=np.int64)
                return piece.reshape(-1, 2)
            spans = list(zip(pieces[:-1].tolist(), pieces[1:].tolist()))
            if len(spans) > 1:
                results = list(_executor().map(search, spans))
            else:
                results = [search(span) for span in spans]
            for (first, last), ranges in zip(spans, results):
                totals[first:last] += ranges[:, 1] - ranges[:, 0]
        totals[lengths == 0] = self.num_tokens
        return totals

    def probability(self, prompt: Query, next_token: str | int) -> ProbabilityResult:
        """count(prompt + next) / count(prompt), with both counts; ``next_token`` must be one token."""
        encoded = self._encode(prompt)
        continuation = encoded + self._encode_next(next_token)
        prompt_count = count = 0
        for shard in self.shards:
            lo, hi = self._range(shard, encoded)
            prompt_count += hi - lo
            if hi > lo:
                inner_lo, inner_hi = shard.view.find(continuation, lo, hi)
                count += inner_hi - inner_lo
        return ProbabilityResult(prompt_count, count, _ratio(count, prompt_count))

    def probability_batch(self, pairs: Iterable[tuple[Query, str | int]]) -> list[ProbabilityResult]:
        """:meth:`probability` of many (prompt, next token) pairs."""
        return [self.probability(prompt, next_token) for prompt, next_token in pairs]

    def _distribution(self, runs: list[tuple[Shard, int, int]], depth: int, top_k: int | None) -> tuple[int, list[NextToken]]:
        if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 0):
            raise QueryError(f"expected top_k to be a whole number of 0 or more (or None for all), found {top_k!r}")
        value_parts, count_parts = [], []
        prompt_count = 0
        for shard, lo, hi in runs:
            prompt_count += hi - lo
            if hi > lo:
                values, counts = shard.view.next_tokens(lo, hi, depth)
                value_parts.append(np.frombuffer(values, dtype=np.uint64))
                count_parts.append(np.frombuffer(counts, dtype=np.int64))
        if not value_parts:
            return prompt_count, []
        values, counts = np.concatenate(value_parts), np.concatenate(count_parts)
        if len(value_parts) > 1:
            values, inverse = np.unique(values, return_inverse=True)
            counts = np.bincount(inverse, weights=counts, minlength=len(values)).astype(np.int64)
        # By count, descending, then id; the separator (end of document) is the largest id.
        order = np.lexsort((values, -counts))
        if top_k is not None:
            order = order[:top_k]
        texts = self._token_texts()
        separator = self.separator_id
        tokens = []
        for value, count in zip(values[order].tolist(), counts[order].tolist()):
            if value == separator:
                tokens.append(NextToken(None, None, count, count / prompt_count))
            else:
                tokens.append(NextToken(value, texts[value], count, count / prompt_count))
        return prompt_count, tokens

    def _token_texts(self) -> list[str]:
        """The display text of every id, computed once per index (the tokenizer decodes in bulk)."""
        if self._texts is None:
            self._texts = self.tokenizer.token_texts()
        return self._texts

    def next_tokens(self, prompt: Query, top_k: int | None = None) -> NextTokensResult:
        """The exact distribution of the next token after every occurrence of the prompt.

        Sorted by count (descending) then id; the end of a document is the entry with id None.
        """
        encoded = self._encode(prompt)
        runs = [(shard, *self._range(shard, encoded)) for shard in self.shards]
        prompt_count, tokens = self._distribution(runs, len(encoded) // self.token_width, top_k)
        return NextTokensResult(prompt_count, tokens)

    def next_tokens_batch(self, prompts: Iterable[Query], top_k: int | None = None) -> list[NextTokensResult]:
        """:meth:`next_tokens` of many prompts."""
        return [self.next_tokens(prompt, top_k) for prompt in prompts]

    # -- ∞-gram ---------------------------------------------------------------------------------
    def _longest_suffix(self, encoded: bytes) -> tuple[int, list[tuple[Shard, int, int]]]:
        """The longest suffix (in tokens) of the prompt that occurs, and its run in every shard."""
        found = [(shard, *shard.view.longest_suffix(encoded)) for shard in self.shards]
        length = max(item[1] for item in found)
        runs = []
        for shard, shard_length, lo, hi in found:
            if length == 0:
                lo, hi = shard.unigram_range
            elif shard_length != length:
                lo = hi = 0
            runs.append((shard, lo, hi))
        return length, runs

    def infgram_probability(self, prompt: Query, next_token: str | int) -> InfgramProbabilityResult:
        """P(next | longest suffix of the prompt that occurs), as in the infini-gram paper."""
        encoded = self._encode(prompt)
        next_encoded = self._encode_next(next_token)
        length, runs = self._longest_suffix(encoded)
        suffix = encoded[len(encoded) - length * self.token_width :]
        prompt_count = count = 0
        for shard, lo, hi in runs:
            prompt_count += hi - lo
            if hi > lo:
                inner_lo, inner_hi = shard.view.find(suffix + next_encoded, lo, hi)
                count += inner_hi - inner_lo
        return InfgramProbabilityResult(length, prompt_count, count, _ratio(count, prompt_count))

    def infgram_probability_batch(self, pairs: Iterable[tuple[Query, str | int]]) -> list[InfgramProbabilityResult]:
        """:meth:`infgram_probability` of many (prompt, next token) pairs."""
        return [self.infgram_probability(prompt, next_token) for prompt, next_token in pairs]

    def infgram_next_tokens(self, prompt: Query, top_k: int | None = None) -> InfgramNextTokensResult:
        """The next-token distribution after the longest suffix of the prompt that occurs."""
        length, runs = self._longest_suffix(self._encode(prompt))
        prompt_count, tokens = self._distribution(runs, length, top_k)
        return InfgramNextTokensResult(length, prompt_count, tokens)

    def _per_shard_longest(self, call) -> tuple[np.ndarray, ...]:
        """Combine per-shard (lengths, *counts) arrays: the longest length wins at each position,
        and the counts of the shards that reach it add up (a shorter shard holds none of it)."""
        best: list[np.ndarray] | None = None
        for shard in self.shards:
            arrays = [np.frombuffer(part, dtype=np.int64) for part in call(shard)]
            if best is None:
                best = [a.copy() for a in arrays]
                continue
            longer, same = arrays[0] > best[0], arrays[0] == best[0]
            for number in range(1, len(arrays)):
                best[number] = np.where(longer, arrays[number], best[number] + np.where(same, arrays[number], 0))
            best[0] = np.maximum(best[0], arrays[0])
        assert best is not None  # an open index has at least one shard
        return tuple(best)

    def infgram_probabilities(self, text: Query) -> InfgramProbabilitiesResult:
        """The ∞-gram probability of every token of ``text`` given all the tokens before it.

        One pass over the text per shard: the context of token i + 1 is at most one token
        longer than that of token i, so each search starts from the last one (about two
        searches per token in all, however long the contexts).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abcab"], folder / "i", progress=False)
        >>> result = infgram.Index.open(folder / "i").infgram_probabilities("abx")
        >>> result.suffix_lengths, result.prompt_counts, result.counts
        ([0, 1, 2], [5, 2, 2], [2, 2, 0])
        """
        encoded = self._encode(text)
        lengths, prompt_counts, counts = self._per_shard_longest(
            lambda shard: shard.view.infgram_sequence(encoded, shard.unigram_range[1]))
        probabilities = [c / p if p else None for c, p in zip(counts.tolist(), prompt_counts.tolist())]
        return InfgramProbabilitiesResult(np.frombuffer(encoded, dtype=self._dtype).tolist(), lengths.tolist(),
                                          prompt_counts.tolist(), counts.tolist(), probabilities)

    def longest_matches(self, text: Query) -> LongestMatchesResult:
        """For every token of ``text``, the longest stretch starting there that occurs verbatim.

        Computed in one pass (matching statistics): the match at i + 1 is at least the match
        at i minus its first token, so it is extended from there rather than searched anew.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abcab"], folder / "i", progress=False)
        >>> result = infgram.Index.open(folder / "i").longest_matches("abcx")
        >>> result.lengths, result.counts
        ([3, 2, 1, 0], [1, 1, 1, 0])
        """
        encoded = self._encode(text)
        lengths, counts = self._per_shard_longest(lambda shard: shard.view.longest_prefixes(encoded))
        return LongestMatchesResult(np.frombuffer(encoded, dtype=self._dtype).tolist(), lengths.tolist(), counts.tolist())

    # -- documents ------------------------------------------------------------------------------
    def _shard_of_document(self, index: int) -> tuple[Shard, int]:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not 0 <= index < self.num_documents:
            raise QueryError(f"expected a document index from 0 to {self.num_documents - 1}, found {index!r}")
        number = int(np.searchsorted(self._first_documents, index, side="right")) - 1
        shard = self.shards[number]
        return shard, int(index) - shard.first_document

    def _document(self, index: int, start: int | None, length: int, context: int | None,
                  spans: list[tuple[int, int]] | None = None) -> Document:
        """Document ``index``, or a window of ``context`` tokens around the match at ``start``;
        ``spans`` (token offsets in the document, by start) are the matches to mark, by default
        the one at ``start``."""
        shard, local = self._shard_of_document(index)
        tokens = shard.document_tokens(local)
        window_start, window_end = 0, len(tokens)
        if context is not None and start is not None:
            window_start = max(0, start - context)
            window_end = min(len(tokens), start + length + context)
            if self.tokenizer.kind == "bytes":
                # Do not cut a UTF-8 character in two: move the edges off continuation bytes.
                while window_start > 0 and 0x80 <= tokens[window_start] < 0xC0:
                    window_start -= 1
                while window_end < len(tokens) and 0x80 <= tokens[window_end] < 0xC0:
                    window_end += 1
        window = tokens[window_start:window_end]
        if spans is None:
            spans = [] if start is None else [(start, start + length)]
        return Document(index, self.tokenizer.decode(window), start, shard.metadata(local), window_start, len(tokens),
                        self._character_spans(window, window_start, spans))

    def _character_spans(self, window: np.ndarray, window_start: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Token spans (sorted by start) as [start, end) character offsets into the decoded window;
        overlapping spans merge, so that each highlight is one piece, and spans are cut to the window."""
        decode = self.tokenizer.decode
        result = []
        for start, end in merge_spans(spans):
            start, end = max(start, window_start) - window_start, min(end, window_start + len(window)) - window_start
            if start < end:
                result.append((len(decode(window[:start])), len(decode(window[:end]))))
        return result

    def document(self, index: int) -> Document:
        """Document number ``index`` (0-based, in input order), whole, with its metadata."""
        return self._document(index, None, 0, None)

    def documents(self, query: Query, limit: int = 10, offset: int = 0, seed: int | None = None,
                  context: int | None = None) -> DocumentsResult:
        """The number of documents that contain the query, and ``limit`` of them from ``offset``.

        Documents come in index order, or in a random order fixed by ``seed`` (the same seed
        gives the same order, so pages do not overlap). With ``context``, each document is cut
        to a window of that many tokens on each side of its first match.
        """
        check_whole_number("limit", limit, MAX_DOCUMENTS_LIMIT)
        check_whole_number("offset", offset)
        check_whole_number("context", context, optional=True)
        check_whole_number("seed", seed, optional=True)
        encoded = self._encode(query)
        length = len(encoded) // self.token_width
        if not encoded:
            matching = np.arange(self.num_documents, dtype=np.int64)
            first_starts = np.zeros(self.num_documents, dtype=np.int64)
        else:
            matching_parts, start_parts = [], []
            for shard in self.shards:
                lo, hi = shard.view.find(encoded)
                if hi == lo:
                    continue
                documents, first_positions = shard.first_matches(lo, hi)
                matching_parts.append(documents + shard.first_document)
                start_parts.append(first_positions - shard.document_starts[documents])
            matching = np.concatenate(matching_parts) if matching_parts else np.zeros(0, dtype=np.int64)
            first_starts = np.concatenate(start_parts) if start_parts else np.zeros(0, dtype=np.int64)
        order = np.arange(len(matching)) if seed is None else np.random.default_rng(seed).permutation(len(matching))
        page = order[offset : offset + limit]
        found = [self._document(int(matching[i]), int(first_starts[i]), length, context) for i in page]
        return DocumentsResult(len(matching), found)

    def search(self, cnf: Any, within: int | None = None, limit: int = 10, offset: int = 0,
               seed: int | None = None, context: int | None = None) -> SearchResult:
        """Documents matching an AND of ORs of phrases, exactly (see :mod:`infgram.query.search`).

        ``cnf`` is a list of clauses, each a list of phrases (strings, id lists or
        ``{"ids": [...]}``), or a query string such as ``'"a rose" AND (is OR was)'``. With
        ``within=N`` one occurrence of every clause must begin within N tokens of the others.
        Returns the number of matching documents and of match sites, and ``limit`` documents
        from ``offset`` (in index order, or in an order fixed by ``seed``) with every match
        marked in ``spans``; ``context`` cuts each to a window around its first match.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose", "a rose was red", "is it"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i")
        >>> result = index.search('rose AND (is OR was)')
        >>> result.count, result.sites, [(d.index, d.spans) for d in result.documents]
        (2, 5, [(0, [(2, 6), (7, 9), (12, 16)]), (1, [(2, 6), (7, 10)])])
        >>> index.search([["was"], ["red"]], within=4).count, index.search([["was"], ["red"]], within=3).count
        (1, 0)
        """
        from .search import search

        return search(self, cnf, within, limit, offset, seed, context)

    def cooccurrence(self, phrases: Sequence[Query], pairs: Sequence[tuple[int, int]] | None = None,
                     document_counts: bool = False) -> CooccurrenceResult:
        """Counts of many phrases, and for pairs of them (by number; all pairs when None) the
        number of documents that contain both; with ``document_counts``, also the number of
        documents of each phrase (which reads every occurrence of the frequent ones).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["a rose is a rose", "a rose was red", "is it"], folder / "i", progress=False)
        >>> result = infgram.Index.open(folder / "i").cooccurrence(["rose", "is", "red"], document_counts=True)
        >>> result.counts, result.document_counts, result.pair_document_counts
        ([3, 2, 1], [2, 2, 1], [1, 1, 0])
        """
        from .search import cooccurrence

        return cooccurrence(self, phrases, pairs, document_counts)

    def _document_lengths(self) -> np.ndarray:
        """The length in tokens of every document, by global number (computed once)."""
        if self._lengths is None:
            self._lengths = np.concatenate([np.diff(shard.document_starts) - 1 for shard in self.shards])
        return self._lengths

    def attribute(self, text: Query, min_length: int | None = None, max_count: int = 100, examples: int = 3,
                  context: int | None = None) -> AttributionResult:
        """The maximal spans of ``text`` that occur verbatim in the corpus, as OLMoTrace shows them.

        Spans are at least ``min_length`` tokens (default 32 in a byte index, 8 with a
        tokenizer); each has its count and number of documents, and up to ``examples``
        documents cut to ``context`` tokens around the match, unless it is in more than
        ``max_count`` documents (then it is ``common``). See :mod:`infgram.query.attribution`.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["the cat sat on the mat", "a dog sat on a log"], folder / "i", progress=False)
        >>> result = infgram.Index.open(folder / "i").attribute("my cat sat on a log", min_length=6, context=3)
        >>> [(span.text, span.count, [d.text for d in span.documents]) for span in result.spans]
        [('cat sat on', 1, ['he cat sat on th']), ('sat on a log', 1, ['og sat on a log'])]
        """
        from .attribution import attribute

        return attribute(self, text, min_length, max_count, examples, context)

    # -- the index itself -----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What the index holds and how big it is."""
        size = directory_bytes(self.directory)
        return {
            "directory": str(self.directory),
            "index_kind": self.manifest["index_kind"],
            "tokenizer": self.tokenizer.kind,
            "token_width": self.token_width,
            "vocab_size": self.vocab_size,
            "separator_id": self.separator_id,
            "num_documents": self.num_documents,
            "num_tokens": self.num_tokens,
            "num_shards": len(self.shards),
            "index_bytes": size,
            "bytes_per_token": round(size / max(self.num_tokens, 1), 3),
        }

    def verify(self) -> None:
        """Recompute every file's checksum against the manifest (reads the whole index)."""
        for entry in self.manifest["shards"]:
            for file in entry["files"].values():
                path = self.directory / file["path"]
                if file_sha256(path) != file["sha256"]:
                    raise IndexFormatError(f"{path} does not match its checksum in the manifest; "
                                           "the file is damaged: rebuild the index")
