"""Exact AND/OR document search, and co-occurrence statistics of many phrases.

A search is in conjunctive normal form: an AND of clauses, each an OR of phrases, as in
``"natural language" AND ("model" OR "models")``. Definitions (``_reference.search`` spells
them out the slow way, and the tests hold this module to it):

- An *occurrence of a clause* is a token position where one of its phrases begins. A
  position where several of the clause's phrases begin ("a" OR "a b") is one occurrence,
  whose span is the longest of them: nothing is counted twice.
- A document *matches* when every clause occurs in it. With ``within=N`` the occurrences
  must also be close: there must be one occurrence of each clause, all beginning within N
  tokens of each other (largest start minus smallest start at most N).
- A *site* is a position that begins an occurrence taking part in such a combination; the
  sites of a document are the spans shown in it. A position is one site however many
  clauses begin there.

How it is computed, per shard (documents never cross shards):

1. Every phrase's occurrences are one run of the suffix array, so each clause's number of
   occurrences is known before reading any position.
2. The rarest clause is read in full; its documents are the candidates.
3. Every other clause, rarest first, is checked only in the remaining candidates, in the
   cheaper of two ways: read all of its positions and keep those in candidate documents
   (cost: its occurrences), or scan the candidate documents' tokens for its phrases (cost:
   their length). A clause with millions of occurrences next to a rare one is scanned in
   the rare one's few documents and costs almost nothing.
4. With ``within``, a window argument decides which occurrences take part: a combination
   exists around an occurrence at s exactly when some window [a, a + N] with a in
   [s - N, s] holds an occurrence of every clause, and such a window may as well begin at
   an occurrence. So each occurrence start is tested as a window start (one sorted search
   per clause) and each occurrence asks whether a valid window start lies in [s - N, s].

The query language of the command line is parsed by :func:`parse_query`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import QueryError
from ..format import token_dtype
from ..format.metadata import Where, parse_where
from ..sampling import page_order
from ..shards import Shard
from .budget import DEFAULT_MAX_WORK, PAIR_UNITS, SCAN_TOKENS_PER_UNIT, charge, refuse
from .corpus import Corpus
from .documents import matching_documents, read_document
from .metadata import check_where_keys, documents_meeting, metadata_cost
from .partials import first_of_runs, run_of
from .encoding import MAX_DOCUMENTS_LIMIT, Query, check_whole_number
from .options import Matching
from .results import CooccurrenceResult, Form, SearchResult
from .shardset import executor
from .words import WordTest, whole_word_documents, whole_word_mask

MAX_SEARCH_PHRASES = 1_000
"""More phrases than this in one search (or co-occurrence call) are refused."""

MAX_COOCCURRENCE_PAIRS = 10_000_000

_FETCH_COST = SCAN_TOKENS_PER_UNIT
"""Reading one occurrence's position costs about this many scanned tokens (a scattered
pointer read, a document lookup and a set test against a sequential byte compare)."""


# -- the query language --------------------------------------------------------------------------
_TOKEN = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()"]+)|(?P<bad>"))')


def _malformed(position: int, problem: str) -> QueryError:
    """A syntax error of the query language; ``fields["position"]`` is the character where it fails."""
    error = QueryError(f"malformed search query at character {position}: {problem}")
    error.fields = {"position": position}  # type: ignore[attr-defined]
    return error


def parse_query(text: str) -> list[list[str]]:
    """Parse ``"a b" AND ("c" OR d)`` into clauses of phrases: ``[["a b"], ["c", "d"]]``.

    Phrases are double-quoted (``\\"`` and ``\\\\`` escape) or single words; ``AND`` and ``OR``
    (upper case) join them, OR binding tighter; parentheses group one OR-clause. Errors say
    at which character the query went wrong.

    >>> parse_query('"natural language" AND ("model" OR models)')
    [['natural language'], ['model', 'models']]
    >>> parse_query('cat OR dog AND fish')
    [['cat', 'dog'], ['fish']]
    >>> parse_query('cat dog')
    Traceback (most recent call last):
    ...
    infgram.errors.QueryError: malformed search query at character 4: expected AND, OR or the end after a phrase, found 'dog'; quote a phrase that has spaces ("cat dog")
    """
    if not isinstance(text, str):
        raise QueryError(f"expected the search query as a string, found {type(text).__name__}")
    items: list[tuple[str, str, int]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing spaces remain
            break
        kind = match.lastgroup or ""
        start = match.start(kind)
        value = match.group(kind)
        if kind == "bad":
            raise _malformed(start, 'a quote is never closed; close it, or escape a literal quote as \\"')
        if kind == "quoted":
            items.append(("phrase", re.sub(r"\\(.)", r"\1", value[1:-1]), start))
        elif kind == "word":
            items.append((value if value in ("AND", "OR") else "phrase", value, start))
        else:
            items.append((kind, value, start))
        position = match.end()
    if not items:
        raise _malformed(0, 'expected a phrase, found nothing; write e.g. "natural language" AND (model OR models)')

    def error(at: int, expected: str) -> QueryError:
        found = repr(items[at][1]) if at < len(items) else "the end"
        place = items[at][2] if at < len(items) else len(text)
        hint = ""
        if expected.startswith("expected AND") and at < len(items) and items[at][0] == "phrase":
            hint = f'; quote a phrase that has spaces ("{items[at - 1][1]} {items[at][1]}")'
        elif items and at < len(items) and items[at][0] == "open":
            hint = "; parentheses hold one OR of phrases (the query must be an AND of ORs)"
        return _malformed(place, f"{expected}, found {found}{hint}")

    clauses: list[list[str]] = []
    at = 0
    while True:
        clause: list[str] = []
        grouped = at < len(items) and items[at][0] == "open"
        if grouped:
            at += 1
        while True:
            if at >= len(items) or items[at][0] != "phrase":
                raise error(at, "expected a phrase")
            clause.append(items[at][1])
            at += 1
            if at < len(items) and items[at][0] == "OR":
                at += 1
                continue
            break
        if grouped:
            if at >= len(items) or items[at][0] != "close":
                raise error(at, "expected OR or a closing parenthesis")
            at += 1
        clauses.append(clause)
        if at >= len(items):
            return clauses
        if items[at][0] != "AND":
            raise error(at, "expected AND, OR or the end after a phrase" if not grouped
                        else "expected AND or the end after a closing parenthesis")
        at += 1


# -- occurrences -----------------------------------------------------------------------------------
@dataclass
class _Occurrences:
    """Occurrences of one clause in one shard, sorted by start, one per start."""

    starts: np.ndarray  # token positions in the shard
    ends: np.ndarray
    documents: np.ndarray  # shard-local document of each


def _deduplicate(starts: np.ndarray, ends: np.ndarray, documents: np.ndarray) -> _Occurrences:
    """Sort by start; where several phrases begin at one position keep the longest."""
    # A stable sort is a merge sort, linear on the few sorted runs the phrases come in.
    order = np.argsort(starts, kind="stable")
    starts, ends, documents = starts[order], ends[order], documents[order]
    first = first_of_runs(starts)
    groups = np.flatnonzero(first)
    longest = np.maximum.reduceat(ends, groups) if len(groups) else ends
    return _Occurrences(starts[first], longest, documents[first])


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique of an already sorted array, in one linear pass."""
    return values[first_of_runs(values)]


def _concatenate(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> _Occurrences:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Occurrences(empty, empty, empty)
    if len(parts) == 1 and bool(np.all(parts[0][0][1:] > parts[0][0][:-1])):
        return _Occurrences(*parts[0])  # one phrase, already sorted: nothing to merge
    return _deduplicate(*(np.concatenate([part[k] for part in parts]) for k in range(3)))


Words = tuple[WordTest, list[bool]] | None
"""Whole words: the word test and, per phrase, whether it carries the space before its text
(see :mod:`infgram.query.words`); None to keep every occurrence."""


def _whole(shard: Shard, words: Words, number: int, starts: np.ndarray, length: int) -> np.ndarray:
    """The mask of the occurrences of phrase ``number`` that are whole words (all without ``words``)."""
    if words is None:
        return np.ones(len(starts), dtype=bool)
    return whole_word_mask(shard, words[0], starts, starts + length, words[1][number])


def _read_occurrences(shard: Shard, phrases: list[bytes], runs: list[tuple[int, int]], token_width: int,
                      candidates: np.ndarray | None, words: Words = None) -> _Occurrences:
    """Every occurrence of the phrases (from their suffix-array runs), in candidate documents only."""
    parts = []
    for number, (phrase, (lo, hi)) in enumerate(zip(phrases, runs)):
        if hi == lo:
            continue
        starts = np.sort(shard.positions(lo, hi))  # sorted, the document lookups walk the table in order
        documents = shard.documents.document_of(starts)
        if not shard.removals.is_empty:  # removed documents hold no occurrence
            live = ~shard.removals.removed_of(documents)
            starts, documents = starts[live], documents[live]
        if candidates is not None:
            keep = np.isin(documents, candidates, assume_unique=False)
            starts, documents = starts[keep], documents[keep]
        keep = _whole(shard, words, number, starts, len(phrase) // token_width)
        starts, documents = starts[keep], documents[keep]
        parts.append((starts, starts + len(phrase) // token_width, documents))
    return _concatenate(parts)


def _scan_occurrences(shard: Shard, phrase_ids: list[np.ndarray], candidates: np.ndarray,
                      words: Words = None) -> _Occurrences:
    """Every occurrence of the phrases in the candidate documents, by comparing their tokens."""
    first_positions = shard.documents.starts[candidates]
    lengths = shard.documents.starts[candidates + 1] - 1 - first_positions
    total = int(lengths.sum())
    if total == 0:
        return _concatenate([])
    # Every token position of the candidate documents, in order.
    offsets = np.repeat(first_positions - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    positions = offsets + np.arange(total, dtype=np.int64)
    documents = np.repeat(candidates, lengths)
    tokens = np.asarray(shard.tokens)
    last = len(tokens) - 1
    parts = []
    for number, ids in enumerate(phrase_ids):
        # Filter on the first token, then check the survivors token by token. A phrase never
        # holds the separator, so a match cannot run past its document's end.
        keep = np.flatnonzero(tokens[positions] == ids[0])
        for offset in range(1, len(ids)):
            if not len(keep):
                break
            at = np.minimum(positions[keep] + offset, last)
            keep = keep[tokens[at] == ids[offset]]
        keep = keep[_whole(shard, words, number, positions[keep], len(ids))]
        starts = positions[keep]
        parts.append((starts, starts + len(ids), documents[keep]))
    return _concatenate(parts)


def _supported(clauses: list[_Occurrences], within: int) -> list[np.ndarray]:
    """For each clause, a mask of its occurrences that take part in a combination of one
    occurrence per clause, all in one document and beginning within ``within`` tokens."""
    # Spread documents apart so that no window reaches from one document into the next.
    coordinates = [c.starts + c.documents * (within + 1) for c in clauses]
    window_starts = np.unique(np.concatenate(coordinates))
    valid = np.ones(len(window_starts), dtype=bool)
    for coordinate in coordinates:
        # The first occurrence of this clause at or after each window start.
        following = np.searchsorted(coordinate, window_starts, side="left")
        inside = following < len(coordinate)
        valid &= inside
        valid[inside] &= coordinate[following[inside]] <= window_starts[inside] + within
    valid_starts = window_starts[valid]
    masks = []
    for coordinate in coordinates:
        # The last valid window start at or before the occurrence must reach it.
        before = np.searchsorted(valid_starts, coordinate, side="right") - 1
        mask = before >= 0
        mask[mask] = valid_starts[before[mask]] >= coordinate[mask] - within
        masks.append(mask)
    return masks


@dataclass
class _ShardMatches:
    documents: np.ndarray  # shard-local, sorted
    starts: np.ndarray  # supported occurrence spans (offsets in their documents), by start, one per start
    ends: np.ndarray
    occurrence_documents: np.ndarray
    work: int = 0  # work units spent (see budget.py), or needed at least when over the budget
    over_budget: bool = False


def search_matches(shard: Shard, clauses: list[list[bytes]], within: int | None, max_work: int,
                   words: tuple[WordTest, list[list[bool]]] | None = None, where: Where | None = None
                   ) -> _ShardMatches:
    """The partial answer of a search in one shard: its matching documents and sites, and
    the work they took. Each step's cost is known before it is taken (from run lengths and
    document lengths), so a shard stops as soon as it would pass ``max_work``. With
    ``words`` (the word test, and per clause and phrase whether it carries the space before
    its text) only whole-word occurrences count; with ``where``, only documents whose
    metadata meet it are candidates (a search of the sub-corpus they make)."""
    def clause_words(number: int) -> Words:
        return None if words is None else (words[0], words[1][number])

    token_width = shard.token_width
    starts_of_documents = shard.documents.starts
    runs = [[shard.find(phrase) for phrase in clause] for clause in clauses]
    sizes = [sum(hi - lo for lo, hi in clause_runs) for clause_runs in runs]
    empty = np.zeros(0, dtype=np.int64)
    if min(sizes) == 0:
        return _ShardMatches(empty, empty, empty, empty)
    order = sorted(range(len(clauses)), key=sizes.__getitem__)
    found: dict[int, _Occurrences] = {}
    rarest = order[0]
    work = sizes[rarest]
    if work > max_work:
        return _ShardMatches(empty, empty, empty, empty, work, True)
    found[rarest] = _read_occurrences(shard, clauses[rarest], runs[rarest], token_width, None, clause_words(rarest))
    candidates = _sorted_unique(found[rarest].documents)
    if where is not None:  # the other documents are not searched: the rarest clause's sites there drop below
        candidates = candidates[documents_meeting(shard, where, candidates)]
    for number in order[1:]:
        if not len(candidates):
            break
        scan_cost = int((starts_of_documents[candidates + 1] - starts_of_documents[candidates]).sum())
        scan_cost *= len(clauses[number])
        scan = scan_cost < sizes[number] * _FETCH_COST
        work += -(-scan_cost // _FETCH_COST) if scan else sizes[number]
        if work > max_work:
            return _ShardMatches(empty, empty, empty, empty, work, True)
        if scan:
            phrase_ids = [np.frombuffer(p, dtype=token_dtype(token_width)).astype(np.int64) for p in clauses[number]]
            occurrences = _scan_occurrences(shard, phrase_ids, candidates, clause_words(number))
        else:
            occurrences = _read_occurrences(shard, clauses[number], runs[number], token_width, candidates,
                                            clause_words(number))
        found[number] = occurrences
        present = _sorted_unique(occurrences.documents)
        candidates = candidates[np.isin(candidates, present, assume_unique=True)]
    if not len(candidates):
        return _ShardMatches(empty, empty, empty, empty)
    clause_occurrences = []
    for number in range(len(clauses)):
        occurrences = found[number]
        keep = np.isin(occurrences.documents, candidates)
        clause_occurrences.append(_Occurrences(occurrences.starts[keep], occurrences.ends[keep],
                                               occurrences.documents[keep]))
    if within is not None:
        longest = int((starts_of_documents[candidates + 1] - starts_of_documents[candidates]).max())
        masks = _supported(clause_occurrences, min(within, longest))
        clause_occurrences = [_Occurrences(c.starts[m], c.ends[m], c.documents[m])
                              for c, m in zip(clause_occurrences, masks)]
    merged = _concatenate([(c.starts, c.ends, c.documents) for c in clause_occurrences])
    # Sites as offsets within their documents: the coordinator needs no document table.
    document_starts = starts_of_documents[merged.documents]
    return _ShardMatches(_sorted_unique(merged.documents), merged.starts - document_starts,
                         merged.ends - document_starts, merged.documents, work)


def _phrase_query(phrase: Any) -> Any:
    """A phrase as the engine takes queries: ``{"ids": [...]}`` (the batch form) becomes its ids."""
    if isinstance(phrase, dict):
        if set(phrase) != {"ids"}:
            raise QueryError(f"expected a phrase as a string or {{\"ids\": [...]}}, found {phrase!r:.80}")
        return phrase["ids"]
    return phrase


def _encode_clauses(corpus: Corpus, cnf: Any, matching: Matching = Matching()
                    ) -> tuple[list[list[bytes]], list[list[bool]], list[list[list[Form] | None]]]:
    """The clauses as encodings to search, from each phrase's plan (:meth:`Corpus.plan`): a
    string phrase on a tokenized index stands for all its forms (an OR of them, see
    :mod:`infgram.query.forms`), and with ``ignore_case`` for its case variants. Also, per
    clause and per encoding, whether it carries the space before the phrase's text (with
    ``whole_words``); and per clause and phrase, the forms to report."""
    if isinstance(cnf, str):
        cnf = parse_query(cnf)
    if not isinstance(cnf, (list, tuple)) or not cnf:
        raise QueryError(f"expected a non-empty list of clauses, each a non-empty list of phrases "
                         f"(or a query string), found {cnf!r:.80}")
    clauses, spaced, forms = [], [], []
    total = 0
    for clause in cnf:
        if isinstance(clause, (str, np.ndarray)) or not isinstance(clause, (list, tuple)) or not clause:
            raise QueryError(f"expected each clause to be a non-empty list of phrases, found {clause!r:.80}; "
                             'write [["natural language"], ["model", "models"]]')
        encoded: list[bytes] = []
        clause_spaced: list[bool] = []
        clause_forms: list[list[Form] | None] = []
        for phrase in clause:
            query = _phrase_query(phrase)
            if isinstance(query, str) and not query:
                raise QueryError("expected every phrase to have at least one token, found an empty phrase; "
                                 "remove it (the empty phrase occurs everywhere)")
            plan = corpus.plan(query, matching)
            searched, phrase_forms = plan.searched, plan.forms
            if plan.is_empty_query:
                raise QueryError("expected every phrase to have at least one token, found an empty phrase; "
                                 "remove it (the empty phrase occurs everywhere)")
            encoded.extend(searched)
            clause_spaced.extend(plan.words[1] if plan.words is not None else [False] * len(searched))
            clause_forms.append(phrase_forms)
        total += len(encoded)
        clauses.append(encoded)
        spaced.append(clause_spaced)
        forms.append(clause_forms)
    if total > MAX_SEARCH_PHRASES:
        raise QueryError(f"expected at most {MAX_SEARCH_PHRASES:,} phrases in one search, found {total:,}; "
                         "split the search")
    return clauses, spaced, forms


def search(corpus: Corpus, cnf: Any, within: int | None = None, limit: int = 10, offset: int = 0,
           seed: int | None = None, context: int | None = None, budget: int = DEFAULT_MAX_WORK,
           matching: Matching = Matching(), where: Any = None) -> SearchResult:
    """See :meth:`infgram.Index.search`; ``budget`` is the request's work limit
    (:func:`~infgram.query.budget.work_limit`), ``matching`` its options, ``where`` the
    metadata conditions documents must meet (their value columns are charged as for counts)."""
    limit = check_whole_number("limit", limit, MAX_DOCUMENTS_LIMIT)
    offset = check_whole_number("offset", offset)
    seed = check_whole_number("seed", seed, optional=True)
    context = check_whole_number("context", context, optional=True)
    within = check_whole_number("within", within, optional=True)
    clauses, spaced, forms = _encode_clauses(corpus, cnf, matching)
    shard_set = corpus.shard_set
    if not all(clauses):  # a phrase with no spelling that occurs (ignore_case)
        return SearchResult(0, 0, [], _reported(forms))
    words = (corpus.word_test(), spaced) if matching.whole_words else None
    conditions = None if where is None else parse_where(where)
    metadata_work = sum(shard_set.map(metadata_cost, conditions.paths)) if conditions is not None else 0
    if metadata_work > budget:
        raise refuse("this search", metadata_work, budget)
    check_where_keys(corpus, conditions)
    per_shard = shard_set.map(search_matches, clauses, within, budget - metadata_work, words, conditions)
    work = metadata_work + sum(matches.work for matches in per_shard)
    charge(min(work, budget))  # a shard stops before it would pass the budget
    if work > budget:
        raise refuse("this search", work, budget)
    matched = np.concatenate([m.documents + first for m, first in zip(per_shard, shard_set.first_documents)])
    sites = sum(len(m.starts) for m in per_shard)
    found = []
    for position in page_order(seed, len(matched), offset, limit).tolist():
        number = int(matched[position])
        shard_number, local = shard_set.locate_document(number)
        matches = per_shard[shard_number]
        lo, hi = np.searchsorted(matches.occurrence_documents, [local, local + 1])
        spans = list(zip(matches.starts[lo:hi].tolist(), matches.ends[lo:hi].tolist()))
        first_start, first_end = spans[0]
        found.append(read_document(corpus, number, first_start, first_end - first_start, context, spans))
    return SearchResult(len(matched), sites, found, _reported(forms))


def _reported(forms: list[Any], nested: bool = True) -> Any:
    """The forms of the phrases as a reply lists them (by clause then phrase when ``nested``):
    None when no phrase has any."""
    flat = [entry for clause in forms for entry in clause] if nested else forms
    return forms if any(entry is not None for entry in flat) else None


def _phrase_documents(corpus: Corpus, forms: list[bytes]) -> np.ndarray:
    """The sorted global numbers of the documents that contain a phrase (in any of its forms)."""
    shard_set = corpus.shard_set
    found = [np.zeros(0, dtype=np.int64)]
    for encoded in forms:
        parts = shard_set.map(matching_documents, encoded)
        found += [documents + first for (documents, _), first in zip(parts, shard_set.first_documents)]
    numbers = np.concatenate(found)
    return numbers if len(forms) < 2 else np.unique(numbers)


def _intersection_size(small: np.ndarray, large: np.ndarray) -> int:
    """|small ∩ large| of two sorted sets, in O(|small| log |large|)."""
    if len(small) > len(large):
        small, large = large, small
    if not len(small):
        return 0
    at = np.searchsorted(large, small)
    at[at == len(large)] = len(large) - 1
    return int(np.count_nonzero(large[at] == small))


def documents_with_phrase(shard: Shard, documents: np.ndarray, phrase: list[np.ndarray]) -> int:
    """How many of the given documents (sorted, shard-local) contain the phrase (any of its
    forms), by scanning them."""
    return len(_sorted_unique(_scan_occurrences(shard, phrase, documents).documents))


def _count_documents_with_phrase(corpus: Corpus, documents: np.ndarray, phrase: list[np.ndarray]) -> int:
    """How many of the given documents (sorted global numbers) contain the phrase (any of its forms)."""
    shard_set = corpus.shard_set
    return sum(shard_set.call(number, documents_with_phrase, local, phrase)
               for number, local in shard_set.split_by_shard(documents))


def cooccurrence(corpus: Corpus, phrases: Sequence[Query], pairs: Sequence[tuple[int, int]] | None = None,
                 document_counts: bool = False, budget: int = DEFAULT_MAX_WORK,
                 matching: Matching = Matching()) -> CooccurrenceResult:
    """See :meth:`infgram.Index.cooccurrence`; ``budget`` and ``matching`` as in :func:`search`.

    For a pair, the documents of the rarer phrase are read (and kept for later pairs); the
    other phrase is then either read too and the two sorted sets intersected, or looked for
    by scanning the rarer phrase's documents, whichever costs less, as in :func:`search`.
    """
    exact_tokens, whole_words, ignore_case = matching.exact_tokens, matching.whole_words, matching.ignore_case
    if isinstance(phrases, (str, bytes, dict)) or not isinstance(phrases, Sequence):
        raise QueryError(f"expected a list of phrases, found {type(phrases).__name__}; pass [phrase, ...]")
    phrases = [_phrase_query(phrase) for phrase in phrases]
    if len(phrases) > 100 * MAX_SEARCH_PHRASES:
        raise QueryError(f"expected at most {100 * MAX_SEARCH_PHRASES:,} phrases per call, found {len(phrases):,}; "
                         "split them over several calls")
    if pairs is None:
        if len(phrases) > MAX_SEARCH_PHRASES:
            raise QueryError(f"expected the pairs to be given for more than {MAX_SEARCH_PHRASES:,} phrases, found "
                             f"{len(phrases):,} phrases and no pairs; pass pairs=[(i, j), ...]")
        pairs = [(i, j) for i in range(len(phrases)) for j in range(i + 1, len(phrases))]
    else:
        if isinstance(pairs, (str, bytes, dict)) or not isinstance(pairs, Sequence):
            raise QueryError(f"expected pairs as a list of (phrase number, phrase number), found {type(pairs).__name__}")
        pairs = [tuple(pair) if isinstance(pair, (list, tuple)) else (pair,) for pair in pairs]
        if len(pairs) > MAX_COOCCURRENCE_PAIRS:
            raise QueryError(f"expected at most {MAX_COOCCURRENCE_PAIRS:,} pairs per call, found {len(pairs):,}; "
                             "split them over several calls")
        for pair in pairs:
            if len(pair) != 2 or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                                         and 0 <= i < len(phrases) for i in pair):
                raise QueryError(f"expected each pair to be two phrase numbers from 0 to {len(phrases) - 1}, "
                                 f"found {list(pair)!r:.80}")
    reported: list[list[Form] | None] = [None] * len(phrases)
    if (corpus.tokenizer.text_has_forms and not exact_tokens) or ignore_case:
        encoded = []
        for number, phrase in enumerate(phrases):
            plan = corpus.plan(phrase, matching)
            encoded.append(plan.searched)
            reported[number] = plan.forms
    else:
        encoded = [[value] for value in corpus.encoder.encode_many(phrases)]
    for number, forms in enumerate(encoded):
        if b"" in forms or (isinstance(phrases[number], str) and not phrases[number]):
            raise QueryError(f"expected every phrase to have at least one token, found an empty phrase at {number}; "
                             "remove it (the empty phrase occurs everywhere)")
    if whole_words:
        return _whole_word_cooccurrence(corpus, phrases, encoded, pairs, document_counts, budget,
                                        _reported(reported, nested=False))
    as_ids = [[corpus.encoder.ids_of(value) for value in forms] for forms in encoded]
    flat = [ids for forms in as_ids for ids in forms]
    flat_counts = iter(corpus.count_batch(flat, exact_tokens=True).tolist() if flat else [])
    counts = [sum(next(flat_counts) for _ in forms) for forms in as_ids]
    known: dict[int, np.ndarray] = {}

    def documents_of(number: int) -> np.ndarray:
        if number not in known:
            known[number] = _phrase_documents(corpus, encoded[number])
        return known[number]

    pairs = [(int(a), int(b)) for a, b in pairs]
    # Each pair as (rarer, other); a pair with a phrase that never occurs co-occurs nowhere.
    by_rarity = [(a, b) if counts[a] <= counts[b] else (b, a) for a, b in pairs]
    # The rarer phrase of every pair is read in any case: read them all at once, on every core.
    rarer = sorted({a for a, _ in by_rarity if counts[a]})
    # The work of reading them is known from the counts alone: refuse before reading.
    work = sum(counts[a] for a in (range(len(phrases)) if document_counts else rarer))
    if work > budget:
        raise refuse("this co-occurrence", work, budget)

    if len(rarer) > 1:
        known.update(zip(rarer, executor().map(lambda number: _phrase_documents(corpus, encoded[number]), rarer)))
    lengths = corpus.shard_set.document_lengths()
    pair_counts = []
    for a, b in by_rarity:
        if counts[a] == 0:
            work += PAIR_UNITS
            if work > budget:
                charge(budget)
                raise refuse("this co-occurrence", work, budget)
            pair_counts.append(0)
            continue
        rare = documents_of(a)
        scan_tokens = int(lengths[rare].sum())
        scan = b not in known and scan_tokens < counts[b] * _FETCH_COST
        # A pair costs its scan, or reading the other phrase (once) and testing the rare set,
        # and at least its own bookkeeping.
        work += PAIR_UNITS + (-(-scan_tokens // _FETCH_COST) if scan else len(rare) + (0 if b in known else counts[b]))
        if work > budget:
            charge(budget)
            raise refuse("this co-occurrence", work, budget)
        if scan:
            pair_counts.append(_count_documents_with_phrase(corpus, rare, as_ids[b]))
        else:
            pair_counts.append(_intersection_size(rare, documents_of(b)))
    charge(work)
    return CooccurrenceResult(counts, [len(documents_of(i)) for i in range(len(phrases))] if document_counts else None,
                              pairs, pair_counts, _reported(reported, nested=False))


def _whole_word_cooccurrence(corpus: Corpus, phrases: list[Any], encoded: list[list[bytes]],
                             pairs: list[tuple[int, int]], document_counts: bool, budget: int,
                             forms: list[list[Form] | None] | None) -> CooccurrenceResult:
    """:func:`cooccurrence` with whole words: every occurrence of every phrase is read (its
    work known from run lengths before any is read), and pairs intersect document sets."""
    shard_set = corpus.shard_set
    work = PAIR_UNITS * len(pairs)
    for forms_of_phrase in encoded:
        for value in forms_of_phrase:
            work += sum((hi - lo) * cost for (lo, hi), cost in zip(shard_set.map(run_of, value), shard_set.locate_costs))
    if work > budget:
        raise refuse("this whole-word co-occurrence", work, budget)
    charge(work)
    test = corpus.word_test()
    counts, sets = [], []
    for phrase, forms_of_phrase in zip(phrases, encoded):
        parts = shard_set.map(whole_word_documents, test, forms_of_phrase, corpus.spaced(phrase, forms_of_phrase)) \
            if forms_of_phrase else []
        counts.append(sum(number for _, number in parts))
        found = [documents + first for (documents, _), first in zip(parts, shard_set.first_documents)]
        sets.append(np.concatenate(found) if found else np.zeros(0, dtype=np.int64))
    pairs = [(int(a), int(b)) for a, b in pairs]
    pair_counts = [_intersection_size(sets[a], sets[b]) for a, b in pairs]
    return CooccurrenceResult(counts, [len(found) for found in sets] if document_counts else None, pairs, pair_counts,
                              forms)
