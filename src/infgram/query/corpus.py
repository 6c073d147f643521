"""Exact n-gram and ∞-gram queries over a set of shards.

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

Each operation is a per-shard partial plus a reducer (:mod:`infgram.query.partials`),
fanned out by the :class:`~infgram.query.shardset.ShardSet`. The empty query occurs once
at every token position (separators are not tokens): its run is all of the suffix array
but the separators, which sort last.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence, TypeVar

import numpy as np

from ..errors import QueryError, UnsupportedOperationError
from ..resources import available_cpus
from ..tokenizer import Tokenizer
from . import partials
from .budget import charge, refuse, work_limit
from .encoding import Query, QueryEncoder, check_length, check_text
from .forms import Speller, inside_tokens_notice, running_text_ids, speller_of
from .options import Matching, MatchPlan
from .results import (
    Form,
    InfgramNextTokensResult,
    InfgramProbabilitiesResult,
    InfgramProbabilityResult,
    LongestMatchesResult,
    NextToken,
    NextTokensResult,
    ProbabilityResult,
)
from .shardset import ShardSet
from .words import WordTest, case_spellings, whole_word_documents

_PARALLEL_BATCH = 20_000
"""Batches at least this large per core are searched on several threads."""

_WithForms = TypeVar("_WithForms")

def _query_list(queries: Iterable[Query]) -> list[Query]:
    """A batch of queries as a list (a QueryError for one string or a non-iterable)."""
    if isinstance(queries, str):
        raise QueryError("expected a list of queries, found one string; pass [text] to count one query "
                         "(a string would be read as one query per character)")
    try:
        return list(queries)
    except TypeError:
        raise QueryError(f"expected a list of queries (strings or id lists), found "
                         f"{type(queries).__name__}") from None


def _ratio(count: int, prompt_count: int) -> float | None:
    return count / prompt_count if prompt_count else None


class Corpus:
    """Shards with their tokenizer: the n-gram and ∞-gram queries. :class:`~infgram.Index`
    adds opening, documents, search and attribution on top."""

    def __init__(self, shards: ShardSet, tokenizer: Tokenizer, kind: str, operations: frozenset[str]):
        self.shard_set = shards
        self.tokenizer = tokenizer
        self.encoder = QueryEncoder(tokenizer)
        self.kind = kind
        self.operations = operations
        self.token_width: int = tokenizer.token_width
        self.separator_id: int = tokenizer.separator_id
        self.vocab_size: int = tokenizer.vocab_size
        self.num_documents: int = shards.num_documents
        self.num_tokens: int = shards.num_tokens
        self._texts: list[str] | None = None
        self._speller: Speller | None = None
        single = shards.shards[0] if len(shards) == 1 and type(shards) is ShardSet else None  # shards here
        if single is not None and single.removals.rows is not None:
            single = None  # its counts leave removed rows out: through the partial
        self._single_find = single.find if single is not None else None

    # -- capabilities ---------------------------------------------------------------------------
    def supports(self, operation: str) -> bool:
        """Whether this index answers an operation (a method or batch op name).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abc"], folder / "fm", kind="fm", progress=False)
        >>> index = infgram.Index.open(folder / "fm")
        >>> index.supports("count"), index.supports("next_tokens")
        (True, False)
        """
        return operation in self.operations

    def require(self, operation: str) -> None:
        """Raise UnsupportedOperationError unless this index answers ``operation``."""
        if operation not in self.operations:
            raise UnsupportedOperationError(
                f"{operation} needs a suffix-array index (kind 'sa'), but this index is of kind {self.kind!r}, which "
                f"answers {', '.join(sorted(self.operations))}; build a suffix-array index of the corpus with "
                "`infgram build --kind sa` (the default) for it")

    # -- turning queries into tokens ------------------------------------------------------------
    def tokenize(self, query: Query) -> np.ndarray:
        """The token ids of a query: a string is encoded with the index's tokenizer; ids are checked.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abc"], folder / "i", progress=False)
        >>> infgram.Index.open(folder / "i").tokenize("ab").tolist()
        [97, 98]
        """
        return self.encoder.tokenize(query)

    # -- the forms of a string (see infgram.query.forms) -------------------------------------------
    def _spells_forms(self, query: Query, exact_tokens: bool) -> bool:
        """Whether a query is searched in all its forms (a non-empty string on a tokenized index)."""
        if not isinstance(exact_tokens, bool):
            raise QueryError(f"expected exact_tokens to be true or false, found {exact_tokens!r:.40}")
        return isinstance(query, str) and bool(query) and not exact_tokens and self.tokenizer.text_has_forms

    def spelling_speller(self) -> Speller:
        """The tokenizer's spellings of its tokens, made once (see :mod:`infgram.query.forms`)."""
        if self._speller is None:
            self._speller = speller_of(self.tokenizer)
        return self._speller

    def _count_sequences(self, sequences: list[tuple[int, ...]]) -> list[int]:
        return self.count_batch([list(ids) for ids in sequences]).tolist()

    def forms(self, query: Query, exact_tokens: bool = False, ignore_case: bool = False) -> list[Form]:
        """The token sequences a query is searched as, each with its count (see
        :mod:`infgram.query.forms`). A string on a tokenized index is searched in every form
        it takes in the documents (only those that occur are listed; if none does, its
        running-text encoding with count 0); ``exact_tokens=True``, ids, or a byte index
        give one form, the encoding itself. With ``ignore_case`` (a byte index), the forms
        are the case variants of the string that occur (see :mod:`infgram.query.words`).

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abAb"], folder / "i", progress=False)
        >>> infgram.Index.open(folder / "i").forms("ab")
        [Form(ids=[97, 98], text='ab', count=1)]
        >>> [(form.text, form.count) for form in infgram.Index.open(folder / "i").forms("ab", ignore_case=True)]
        [('Ab', 1), ('ab', 1)]
        """
        query = self.encoder.normalized(query)
        if self._ignores_case(query, ignore_case):
            check_text(query, self.encoder.max_characters)  # type: ignore[arg-type]
            spellings = case_spellings(query, lambda pieces: self.count_batch(  # type: ignore[arg-type]
                [list(piece) for piece in pieces]).tolist())  # as byte ids: searched as spelled
            if not spellings:
                spellings = [(query.encode("utf-8"), 0)]  # type: ignore[union-attr]
            return [Form(list(spelling), spelling.decode("utf-8"), count) for spelling, count in spellings]
        if self._spells_forms(query, exact_tokens):
            check_text(query, self.encoder.max_characters)  # type: ignore[arg-type]
            speller = self.spelling_speller()
            found = speller.forms(query.encode("utf-8"), self._count_sequences)  # type: ignore[union-attr]
            if not found:
                found = [(tuple(running_text_ids(self.tokenizer, query, speller).tolist()), 0)]  # type: ignore[arg-type]
            return [Form(list(ids), self._spelled(ids), count) for ids, count in found]
        encoded = self.encoder.encode(query)
        ids = self.encoder.ids_of(encoded).tolist()
        text = query if isinstance(query, str) else self.tokenizer.decode(ids)
        return [Form(ids, text, self._count_encoded(encoded))]

    def inside_tokens(self, query: Query) -> bool | None:
        """Whether a string occurs somewhere in the documents starting or ending strictly
        inside a token: occurrences that the counts of a tokenized index leave out and only a
        byte index counts (see :mod:`infgram.query.forms`). False for
        ids and on a byte index, None when deciding would take too many counts.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["languages"], folder / "i", progress=False)
        >>> infgram.Index.open(folder / "i").inside_tokens("language")
        False
        """
        if not isinstance(query, str) or not query or not self.tokenizer.text_has_forms:
            return False
        check_text(query, self.encoder.max_characters)
        query = self.encoder.normalized(query)
        return self.spelling_speller().inside_tokens(
            query.encode("utf-8"), self._count_sequences,
            lambda ids: [token.id for token in self.next_tokens(list(ids), exact_tokens=True).tokens
                         if token.id is not None])

    def inside_tokens_fields(self, queries: Sequence[Query]) -> dict[str, Any]:
        """The ``inside_tokens`` and ``notice`` of a reply that lists the forms of these
        queries (their strings; ids have no forms inside tokens): ``inside_tokens`` is true
        when one of the strings also occurs starting or ending inside tokens
        (:meth:`inside_tokens`), and the ``notice`` names them and points to a byte index;
        None, with a notice, when that could not be decided for one; else false.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["languages"], folder / "i", progress=False)
        >>> infgram.Index.open(folder / "i").inside_tokens_fields(["language", [1, 2]])
        {'inside_tokens': False}
        """
        strings = list(dict.fromkeys(query for query in queries if isinstance(query, str)))
        found = [(text, self.inside_tokens(text)) for text in strings]
        inside = [text for text, answer in found if answer]
        undecided = [text for text, answer in found if answer is None]
        if inside:
            return {"inside_tokens": True, "notice": inside_tokens_notice(inside)}
        if undecided:
            named = ", ".join(repr(text[:80]) for text in undecided[:5])
            return {"inside_tokens": None,
                    "notice": f"could not decide whether {named} also occur starting or ending inside tokens (too "
                              "many spellings to try); a byte index of the corpus counts every occurrence (`infgram "
                              "build` without --tokenizer)"}
        return {"inside_tokens": False}

    def _with_inside_tokens(self, result: _WithForms, queries: Sequence[Query], asked: bool) -> _WithForms:
        """``result`` with its ``inside_tokens`` and ``notice`` filled in when they are asked
        for and it lists forms on a tokenized index (see :meth:`inside_tokens_fields`)."""
        if not isinstance(asked, bool):
            raise QueryError(f"expected inside_tokens to be true or false, found {asked!r:.40}")
        if not asked or getattr(result, "forms", None) is None or not self.tokenizer.text_has_forms:
            return result
        return dataclasses.replace(result, **self.inside_tokens_fields(queries))  # type: ignore[type-var]

    def _spelled(self, ids: tuple[int, ...] | list[int]) -> str:
        """The text a token sequence spells."""
        if not self.tokenizer.text_has_forms:
            return self.tokenizer.decode(ids)
        spellings = self.spelling_speller().spellings
        return b"".join(spellings[i] for i in ids).decode("utf-8", errors="replace")

    def _ignores_case(self, query: Query, ignore_case: bool) -> bool:
        """Whether a query is searched in its case variants; raises for an index that cannot."""
        if not isinstance(ignore_case, bool):
            raise QueryError(f"expected ignore_case to be true or false, found {ignore_case!r:.40}")
        if not ignore_case:
            return False
        if not self.tokenizer.tokens_are_bytes:
            raise UnsupportedOperationError(
                f"ignore_case needs a byte index, but this index is tokenized ({self.tokenizer.kind}), where the case "
                "variants of a text tokenize differently; search a byte index of the corpus (`infgram build` "
                "without --tokenizer), or search each spelling")
        if not isinstance(query, str):
            raise QueryError(f"expected a text query with ignore_case, found {type(query).__name__}; pass the text, "
                             "or leave ignore_case off for token ids")
        return bool(query)

    def _forms_searched(self, query: Query, exact_tokens: bool = False, ignore_case: bool = False
                        ) -> tuple[list[bytes], list[Form] | None]:
        """The encodings to search for a query, and its forms to report (None for ids and on
        a byte index, where a string has one form, its UTF-8 bytes, unless case is ignored)."""
        if self._ignores_case(query, ignore_case):
            forms = self.forms(query, ignore_case=True)
            return [bytes(form.ids) for form in forms if form.count], forms
        if self._spells_forms(query, exact_tokens):
            forms = self.forms(query)
            return [self.encoder.encode(form.ids) for form in forms if form.count], forms
        encoded = self.encoder.encode(query)
        if not isinstance(query, str) or not self.tokenizer.text_has_forms:
            return [encoded], None  # ids, or a byte index: the one form is the query itself
        return [encoded], self.forms(query, exact_tokens=True)

    def plan(self, query: Query, matching: Matching = Matching()) -> MatchPlan:
        """How ``query`` is matched under ``matching``: the encodings to search, the forms to
        report and the word test (see :class:`~infgram.query.options.MatchPlan`). The one
        room where a query meets the tokenizer's capabilities; every operation that matches
        text (count, documents, search, co-occurrence) consumes a plan.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["Ab ab"], folder / "i", progress=False)
        >>> plan = infgram.Index.open(folder / "i").plan("ab", Matching(ignore_case=True, whole_words=True))
        >>> plan.searched, [form.text for form in plan.forms], plan.words[1]
        ([b'Ab', b'ab'], ['Ab', 'ab'], [False, False])
        """
        searched, forms = self._forms_searched(query, matching.exact_tokens, matching.ignore_case)
        words = (self.word_test(), self.spaced(query, searched)) \
            if matching.whole_words and b"" not in searched else None
        return MatchPlan(query, matching, searched, forms, words)

    def word_test(self) -> WordTest:
        """What a shard needs to tell whole words (see :mod:`infgram.query.words`)."""
        if self.tokenizer.tokens_are_bytes:
            return WordTest(None)
        return WordTest(self.spelling_speller().spellings)

    def spaced(self, query: Query, searched: list[bytes]) -> list[bool]:
        """For each encoding searched for a query: whether its first token carries the
        word-start space before the text (a form spelling " " + text)."""
        if not isinstance(query, str) or not self.tokenizer.text_has_forms:
            return [False] * len(searched)
        length = len(self.encoder.normalized(query).encode("utf-8"))
        return [len(self._spelled(self.encoder.ids_of(encoded).tolist()).encode("utf-8")) > length
                for encoded in searched]

    def _whole_words(self, plan: MatchPlan, max_work: int | None = None, exact: bool = False,
                     ) -> tuple[np.ndarray, int]:
        """The global numbers of the documents holding a whole-word occurrence of a planned
        query (sorted) and the number of such occurrences, reading every occurrence of its
        forms within the work budget (refused past it)."""
        searched = plan.searched
        budget = work_limit(max_work, exact, getattr(self, "max_work_ceiling", None))
        shard_set = self.shard_set
        work = 0
        for encoded in searched:
            for (lo, hi), cost in zip(shard_set.map(partials.run_of, encoded), shard_set.locate_costs):
                work += (hi - lo) * cost
        if work > budget:
            raise refuse("this whole-word query", work, budget)
        charge(work)
        test, spaced = plan.words if plan.words is not None else (self.word_test(), self.spaced(plan.query, searched))
        parts = shard_set.map(whole_word_documents, test, searched, spaced) if searched else []
        numbers = [documents + first for (documents, _), first in zip(parts, shard_set.first_documents)]
        return (np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64)), sum(n for _, n in parts)

    def _encode_next(self, next_token: str | int, exact_tokens: bool = False) -> bytes:
        """A continuation of one token: a string as it reads in running text (" language" is
        the one token "Ġlanguage"/"▁language"), or exactly its encoding with ``exact_tokens``."""
        if not isinstance(next_token, str) or exact_tokens or not self.tokenizer.text_has_forms:
            return self.encoder.encode_next(next_token)
        check_text(next_token, self.encoder.max_characters)
        ids = running_text_ids(self.tokenizer, self.encoder.normalized(next_token), self.spelling_speller())
        if len(ids) != 1:
            raise QueryError(f"expected the continuation to be exactly one token, but {next_token!r:.80} is "
                             f"{len(ids)} tokens {ids.tolist()[:20]} in running text; pass a single token id instead")
        return self.encoder.encode_next(int(ids[0]))

    def _count_encoded(self, encoded: bytes) -> int:
        if not encoded:
            return self.num_tokens
        if self._single_find is not None:  # the common case, without a fan-out
            lo, hi = self._single_find(encoded)
            return hi - lo
        return partials.add_counts(self.shard_set.map(partials.count, encoded))

    # -- counts and probabilities ---------------------------------------------------------------
    def count(self, query: Query, exact_tokens: bool = False, whole_words: bool = False, ignore_case: bool = False,
              max_work: int | None = None, exact: bool = False) -> int:
        """Occurrences of a token sequence; the empty query counts every token.

        >>> import tempfile, pathlib, infgram
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = infgram.build_from_documents(["abab", "ba"], folder / "i", progress=False)
        >>> index = infgram.Index.open(folder / "i")
        >>> index.count("ab"), index.count([98, 97]), index.count("")
        (2, 2, 6)

        On a tokenized index a string counts its aligned occurrences in all their forms
        (see :meth:`forms`); ``exact_tokens=True`` counts exactly its encoding.

        ``whole_words=True`` counts only the occurrences with no word character just before
        or after; it reads every occurrence, within the work budget ``max_work`` (past it a
        :class:`~infgram.errors.LimitError`; ``exact=True`` lifts it). ``ignore_case=True`` (a
        byte index) counts every case variant of the text. See :mod:`infgram.query.words`.

        >>> index.count("ab", whole_words=True), index.count("ba", whole_words=True)
        (0, 1)
        >>> index.count("AB", ignore_case=True)
        2
        """
        if not isinstance(whole_words, bool):
            raise QueryError(f"expected whole_words to be true or false, found {whole_words!r:.40}")
        if whole_words or ignore_case:
            plan = self.plan(query, Matching(exact_tokens, whole_words, ignore_case))
            if plan.is_empty_query:
                raise QueryError("expected a non-empty query with whole_words, found an empty one; pass a word or "
                                 "phrase")
            if whole_words:
                return self._whole_words(plan, max_work, exact)[1]
            return sum(form.count for form in plan.forms) if plan.forms else self._count_encoded(plan.searched[0])
        if self._spells_forms(query, exact_tokens):
            return sum(form.count for form in self.forms(query))
        return self._count_encoded(self.encoder.encode(query))

    def count_batch(self, queries: Iterable[Query] | np.ndarray, exact_tokens: bool = False,
                    whole_words: bool = False, ignore_case: bool = False, max_work: int | None = None,
                    exact: bool = False) -> np.ndarray:
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

        ``whole_words``, ``ignore_case``, ``max_work`` and ``exact`` are those of
        :meth:`count`, for each query (each has the work budget): the same as one
        :meth:`count` per query, as the batch's ``count`` lines are.

        >>> _ = infgram.build_from_documents(["a b ab"], folder / "words", progress=False)
        >>> words = infgram.Index.open(folder / "words")
        >>> words.count_batch(["a", "b", "ab"]).tolist(), words.count_batch(["a", "b", "ab"], whole_words=True).tolist()
        ([2, 2, 1], [1, 1, 1])
        """
        for name, value in (("whole_words", whole_words), ("ignore_case", ignore_case)):
            if not isinstance(value, bool):
                raise QueryError(f"expected {name} to be true or false, found {value!r:.40}")
        if whole_words or ignore_case:
            rows = queries.tolist() if isinstance(queries, np.ndarray) and queries.ndim == 2 else \
                _query_list(queries)
            return np.array([self.count(query, exact_tokens, whole_words, ignore_case, max_work, exact)
                             for query in rows], dtype=np.int64)
        if self.tokenizer.text_has_forms and not exact_tokens and \
                not (isinstance(queries, np.ndarray) and queries.ndim == 2) and not isinstance(queries, str):
            queries = list(queries)
            spelled = [number for number, query in enumerate(queries) if self._spells_forms(query, exact_tokens)]
            if spelled:
                totals = self.count_batch([[] if self._spells_forms(q, False) else q for q in queries], True)
                for number in spelled:
                    totals[number] = self.count(queries[number])
                return totals
        data, offsets, lengths = self._encode_batch(queries)
        totals = np.zeros(len(lengths), dtype=np.int64)
        parts = max(1, min(available_cpus(), len(lengths) // _PARALLEL_BATCH))
        pieces = np.linspace(0, len(lengths), num=parts + 1, dtype=np.int64).tolist()
        calls, targets = [], []
        for number in range(len(self.shard_set)):
            for first, last in zip(pieces[:-1], pieces[1:]):
                # Every call reads the same data buffer; only its slice of offsets differs.
                calls.append((number, partials.count_many, (data, offsets[first : last + 1])))
                targets.append((first, last))
        answers = self.shard_set.map_parallel(calls) if parts > 1 else \
            [self.shard_set.call(number, partial, *arguments) for number, partial, arguments in calls]
        for (first, last), counts in zip(targets, answers):
            totals[first:last] += counts
        totals[lengths == 0] = self.num_tokens
        return totals

    def _encode_batch(self, queries: Iterable[Query] | np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
        """Queries as one buffer of token bytes, the int64 offsets of each, and their lengths."""
        if isinstance(queries, np.ndarray) and queries.ndim == 2:
            rows, width = queries.shape
            if queries.size and not np.issubdtype(queries.dtype, np.integer):
                raise QueryError(f"expected a 2-D array of integer token ids, found {queries.dtype}")
            check_length(width)
            self.encoder.check_ids(queries)
            data = np.ascontiguousarray(queries, dtype=self.encoder.dtype).tobytes()
            offsets = np.arange(rows + 1, dtype=np.int64) * (width * self.token_width)
            return data, offsets, np.full(rows, width, dtype=np.int64)
        encoded = self.encoder.encode_many(_query_list(queries))
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return b"".join(encoded), offsets, lengths

    def probability(self, prompt: Query, next_token: str | int, exact_tokens: bool = False,
                    inside_tokens: bool = False) -> ProbabilityResult:
        """count(prompt + next) / count(prompt), with both counts; ``next_token`` must be one token.

        A string prompt counts in all its forms (see :meth:`forms`, listed in ``forms``); a
        string continuation is read as in running text, so " language" is one token.
        ``inside_tokens=True`` fills in ``inside_tokens`` and ``notice`` (see
        :meth:`inside_tokens_fields`).
        """
        self.require("probability")
        next_encoded = self._encode_next(next_token, exact_tokens)
        searched, forms = self._forms_searched(prompt, exact_tokens)
        prompt_count = count = 0
        for encoded in searched:
            form_prompt_count, form_count = partials.add_tuples(
                self.shard_set.map(partials.probability, encoded, next_encoded))
            prompt_count, count = prompt_count + form_prompt_count, count + form_count
        return self._with_inside_tokens(ProbabilityResult(prompt_count, count, _ratio(count, prompt_count), forms),
                                        [prompt], inside_tokens)

    def probability_batch(self, pairs: Iterable[tuple[Query, str | int]], exact_tokens: bool = False
                          ) -> list[ProbabilityResult]:
        """:meth:`probability` of many (prompt, next token) pairs."""
        return [self.probability(prompt, next_token, exact_tokens) for prompt, next_token in pairs]

    def ranked_tokens(self, distribution: partials.Distribution, top_k: int | None) -> tuple[int, list[NextToken]]:
        """A distribution's prompt count and its ``top_k`` tokens, by count, then id, decoded."""
        prompt_count, values, counts = distribution
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

    @staticmethod
    def _check_top_k(top_k: int | None) -> None:
        if top_k is not None and (not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 0):
            raise QueryError(f"expected top_k to be a whole number of 0 or more (or None for all), found {top_k!r:.80}")

    def _token_texts(self) -> list[str]:
        """The display text of every id, computed once per index (the tokenizer decodes in bulk)."""
        if self._texts is None:
            self._texts = self.tokenizer.token_texts()
        return self._texts

    def next_tokens(self, prompt: Query, top_k: int | None = None, exact_tokens: bool = False,
                    inside_tokens: bool = False) -> NextTokensResult:
        """The exact distribution of the next token after every occurrence of the prompt.

        Sorted by count (descending) then id; the end of a document is the entry with id None.
        A string prompt counts in all its forms (see :meth:`forms`, listed in ``forms``);
        ``inside_tokens=True`` fills in ``inside_tokens`` and ``notice`` (see
        :meth:`inside_tokens_fields`).
        """
        self.require("next_tokens")
        self._check_top_k(top_k)
        searched, forms = self._forms_searched(prompt, exact_tokens)
        parts = [part for encoded in searched for part in self.shard_set.map(partials.next_tokens, encoded)]
        distribution = partials.merge_distributions(parts)  # an empty distribution when there are no parts
        return self._with_inside_tokens(NextTokensResult(*self.ranked_tokens(distribution, top_k), forms=forms), [prompt],
                                        inside_tokens)

    def next_tokens_batch(self, prompts: Iterable[Query], top_k: int | None = None,
                          exact_tokens: bool = False) -> list[NextTokensResult]:
        """:meth:`next_tokens` of many prompts."""
        return [self.next_tokens(prompt, top_k, exact_tokens) for prompt in prompts]

    # -- ∞-gram ---------------------------------------------------------------------------------
    def infgram_probability(self, prompt: Query, next_token: str | int,
                            exact_tokens: bool = False) -> InfgramProbabilityResult:
        """P(next | longest suffix of the prompt that occurs), as in the infini-gram paper.

        The prompt is its tokenizer encoding (a context, read as the start of a text); a
        string continuation is read as in running text, so " language" is one token."""
        self.require("infgram_probability")
        encoded = self.encoder.encode(prompt)
        length, prompt_count, count = partials.longest_wins(
            self.shard_set.map(partials.infgram_probability, encoded, self._encode_next(next_token, exact_tokens)))
        return InfgramProbabilityResult(length, prompt_count, count, _ratio(count, prompt_count))

    def infgram_probability_batch(self, pairs: Iterable[tuple[Query, str | int]]) -> list[InfgramProbabilityResult]:
        """:meth:`infgram_probability` of many (prompt, next token) pairs."""
        return [self.infgram_probability(prompt, next_token) for prompt, next_token in pairs]

    def infgram_next_tokens(self, prompt: Query, top_k: int | None = None) -> InfgramNextTokensResult:
        """The next-token distribution after the longest suffix of the prompt that occurs."""
        self.require("infgram_next_tokens")
        self._check_top_k(top_k)
        length, *distribution = partials.longest_wins(
            self.shard_set.map(partials.infgram_next_tokens, self.encoder.encode(prompt)))
        return InfgramNextTokensResult(length, *self.ranked_tokens(tuple(distribution), top_k))

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
        self.require("infgram_probabilities")
        encoded = self.encoder.encode(text)
        lengths, prompt_counts, counts = partials.longest_wins_elementwise(
            self.shard_set.map(partials.infgram_probabilities, encoded))
        probabilities = [c / p if p else None for c, p in zip(counts.tolist(), prompt_counts.tolist())]
        return InfgramProbabilitiesResult(self.encoder.ids_of(encoded).tolist(), lengths.tolist(),
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
        self.require("longest_matches")
        encoded = self.encoder.encode(text)
        lengths, counts = partials.longest_wins_elementwise(self.shard_set.map(partials.longest_matches, encoded))
        return LongestMatchesResult(self.encoder.ids_of(encoded).tolist(), lengths.tolist(), counts.tolist())
