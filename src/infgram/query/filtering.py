"""Filtered n-gram and ∞-gram questions: the sub-corpus of the documents whose metadata meet
``where`` (the conditions of :mod:`infgram.format.metadata`, as for ``count``).

Every answer here is the answer an index built from the matching documents alone would
give (``_reference.subcorpus`` builds that sub-corpus, and the tests hold each function to
the unfiltered oracle on it):

- ``probability``: count(prompt + next) / count(prompt), both counted in matching documents;
- ∞-gram (``infgram_probability``, ``infgram_next_tokens``, ``infgram_probabilities``): the
  longest suffix of the prompt that occurs *in a matching document*, with its counts and
  next-token distribution from matching documents only;
- the matching statistics behind ``attribute``: for every token, the longest stretch
  starting there that occurs in a matching document.

**How.** A suffix's occurrences are one suffix-array run per shard, but which of them lie in
matching documents is only known by reading their positions (one work unit each, see
:mod:`infgram.query.budget`) and looking their documents up in the value columns
(:mod:`infgram.query.metadata`). The ∞-gram walks the suffix lengths down from the longest
suffix that occurs at all (an upper bound, free) and stops at the first whose run holds a
matching occurrence; occurring in a matching document is monotone in the suffix (a shorter
suffix occurs wherever a longer one does), so the first hit is the longest. The runs grow as
the suffix shrinks, so the walk costs at most (steps) x (the last run's length). The
per-token versions use that the filtered suffix of token i + 1 is at most one token longer
than that of token i (and the filtered match at i + 1 at least one shorter than that at i),
so each token starts its walk where the last one left off.

**The budget.** Each run's cost is known from its length before it is read: the request's
work is summed as it goes, and a run that would pass the budget is refused with a
:class:`~infgram.errors.LimitError` naming ``max_work``, never a shorter suffix or a
partial count. Reading the value columns is charged as for counts.

>>> import infgram
>>> index = infgram.Index.from_texts([{"text": "a rose is red", "metadata": {"lang": "en"}},
...                                   {"text": "a rose ist rot", "metadata": {"lang": "de"}}])
>>> result = index.infgram_probability("my rose is", "t", where={"lang": "de"})
>>> result.suffix_length, result.prompt_count, result.count
(8, 1, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..format.metadata import Where, parse_where
from ..shards import Shard
from . import partials
from .budget import charge, refuse
from .corpus import Corpus
from .encoding import Query
from .metadata import check_where_keys, filtered_distribution, live_documents_meeting, metadata_cost
from .results import (
    InfgramNextTokensResult,
    InfgramProbabilitiesResult,
    InfgramProbabilityResult,
    ProbabilityResult,
)


def conditions_of(where: Any) -> Where | None:
    """The parsed conditions of a ``where`` argument; None when it sets none (then a question
    is the plain, unfiltered one).

    >>> conditions_of(None), conditions_of({}), conditions_of({"lang": "de"}).describe()
    (None, None, 'lang=de')
    """
    return None if where is None else parse_where(where)


def matching_occurrences(shard: Shard, encoded: bytes, where: Where) -> int:
    """A per-shard partial: the occurrences of a sequence in live documents that meet ``where``."""
    lo, hi = partials.run_of(shard, encoded)
    if hi == lo:
        return 0
    documents = shard.documents.document_of(shard.positions(lo, hi).astype(np.int64))
    return int(np.count_nonzero(live_documents_meeting(shard, where, documents)))


def matching_tokens(shard: Shard, where: Where) -> int:
    """A per-shard partial: the tokens of the live documents that meet ``where``."""
    documents = np.arange(shard.num_documents, dtype=np.int64)
    keep = live_documents_meeting(shard, where, documents)
    return int(np.asarray(shard.documents.lengths(), dtype=np.int64)[keep].sum())


class FilteredReader:
    """Reads runs of a corpus filtered by ``where`` within one work budget (a request's):
    each read is charged before it is made, and one that would pass the budget raises."""

    def __init__(self, corpus: Corpus, where: Where, budget: int, what: str):
        self.corpus, self.where, self.budget, self.what = corpus, where, budget, what
        self._tokens: int | None = None
        shard_set = corpus.shard_set
        self.work = sum(shard_set.map(metadata_cost, where.paths))
        self._pay(0)
        check_where_keys(corpus, where)

    def _pay(self, units: int) -> None:
        self.work += units
        if self.work > self.budget:
            raise refuse(self.what, self.work, self.budget)
        charge(units)

    def cost(self, encoded: bytes) -> int:
        """The work units of reading a sequence's runs (known before reading them)."""
        shard_set = self.corpus.shard_set
        return sum((hi - lo) * cost for (lo, hi), cost in zip(shard_set.map(partials.run_of, encoded),
                                                                shard_set.locate_costs))

    def count(self, encoded: bytes) -> int:
        """Occurrences in matching documents."""
        self._pay(self.cost(encoded))
        return sum(self.corpus.shard_set.map(matching_occurrences, encoded, self.where))

    def tokens(self) -> int:
        """The tokens of the matching documents (the empty query's filtered count), from the
        document lengths: one unit a document, as for a count of the empty query."""
        if self._tokens is None:
            self._pay(self.corpus.num_documents)
            self._tokens = sum(self.corpus.shard_set.map(matching_tokens, self.where))
        return self._tokens

    def distribution(self, encoded: bytes) -> partials.Distribution:
        """The next-token distribution after the occurrences in matching documents."""
        self._pay(self.cost(encoded))
        return partials.merge_distributions(self.corpus.shard_set.map(filtered_distribution, encoded, self.where))


def _longest_suffix(corpus: Corpus, encoded: bytes) -> int:
    """The longest suffix of the prompt that occurs at all, in tokens: a bound for the filtered one."""
    if not encoded:
        return 0
    return max(length for length, _, _ in corpus.shard_set.map(partials.longest_suffix_run, encoded))


def _filtered_suffix(reader: FilteredReader, encoded: bytes, top: int) -> tuple[int, partials.Distribution | None]:
    """The longest suffix of ``encoded`` of at most ``top`` tokens that occurs in a matching
    document, with its filtered distribution; (0, None) when only the empty suffix does (its
    run is every token: the caller counts it from document lengths when it can)."""
    width = reader.corpus.token_width
    # Invariant: every suffix longer than `length` (up to top) has no matching occurrence.
    for length in range(top, 0, -1):
        distribution = reader.distribution(encoded[len(encoded) - length * width:])
        if distribution[0]:
            return length, distribution
    return 0, None


def _counts_after(reader: FilteredReader, distribution: partials.Distribution | None, next_id: int
                  ) -> tuple[int, int]:
    """(prompt count, count followed by ``next_id``) of a suffix's filtered distribution; of the
    empty suffix (None): the tokens of the matching documents and the token's own filtered
    count, without reading every position."""
    if distribution is None:
        return reader.tokens(), reader.count(reader.corpus.encoder.encode([next_id]))
    return int(distribution[0]), _count_of(distribution, next_id)


def _count_of(distribution: partials.Distribution, token: int) -> int:
    _, values, counts = distribution
    found = np.flatnonzero(values == np.uint64(token))
    return int(counts[found[0]]) if len(found) else 0


def _ratio(count: int, prompt_count: int) -> float | None:
    return count / prompt_count if prompt_count else None


def filtered_probability(corpus: Corpus, searched: list[bytes], forms: Any, next_id: int, where: Where,
                         budget: int) -> ProbabilityResult:
    """:meth:`infgram.Index.probability` in the documents meeting ``where``: each encoding
    searched for the prompt (its forms) is read, and the next token (``next_id``) counted
    among what follows it."""
    reader = FilteredReader(corpus, where, budget, "this probability filtered by metadata")
    prompt_count = count = 0
    for encoded in searched:
        form_prompt_count, form_count = _counts_after(reader, reader.distribution(encoded) if encoded else None, next_id)
        prompt_count, count = prompt_count + form_prompt_count, count + form_count
    return ProbabilityResult(prompt_count, count, _ratio(count, prompt_count), forms)


def filtered_infgram_probability(corpus: Corpus, prompt: Query, next_id: int, where: Where, budget: int
                                 ) -> InfgramProbabilityResult:
    """:meth:`infgram.Index.infgram_probability` over the documents meeting ``where``; the
    next token is ``next_id``."""
    encoded = corpus.encoder.encode(prompt)
    reader = FilteredReader(corpus, where, budget, "this ∞-gram probability filtered by metadata")
    length, distribution = _filtered_suffix(reader, encoded, _longest_suffix(corpus, encoded))
    prompt_count, count = _counts_after(reader, distribution, next_id)
    return InfgramProbabilityResult(length, prompt_count, count, _ratio(count, prompt_count))


def filtered_infgram_next_tokens(corpus: Corpus, prompt: Query, top_k: int | None, where: Where,
                                 budget: int) -> InfgramNextTokensResult:
    """:meth:`infgram.Index.infgram_next_tokens` over the documents meeting ``where``."""
    encoded = corpus.encoder.encode(prompt)
    reader = FilteredReader(corpus, where, budget, "this ∞-gram distribution filtered by metadata")
    length, distribution = _filtered_suffix(reader, encoded, _longest_suffix(corpus, encoded))
    if distribution is None:  # the empty suffix: what follows it is every token of the matching documents
        distribution = reader.distribution(b"")
    return InfgramNextTokensResult(length, *corpus.ranked_tokens(distribution, top_k))


def filtered_infgram_probabilities(corpus: Corpus, text: Query, where: Where, budget: int
                                   ) -> InfgramProbabilitiesResult:
    """:meth:`infgram.Index.infgram_probabilities` over the documents meeting ``where``:
    token by token, each walk bounded above by the unfiltered suffix and by one more than
    the filtered suffix before it."""
    encoded = corpus.encoder.encode(text)
    ids = corpus.encoder.ids_of(encoded).tolist()
    reader = FilteredReader(corpus, where, budget, "these ∞-gram probabilities filtered by metadata")
    bounds = corpus.infgram_probabilities(ids).suffix_lengths if ids else []
    width = corpus.token_width
    lengths, prompt_counts, counts, probabilities = [], [], [], []
    previous = -1
    for number, token in enumerate(ids):
        top = min(bounds[number], previous + 1)
        length, distribution = _filtered_suffix(reader, encoded[: number * width], top)
        prompt_count, count = _counts_after(reader, distribution, token)
        lengths.append(length)
        prompt_counts.append(prompt_count)
        counts.append(count)
        probabilities.append(_ratio(count, prompt_count))
        previous = length
    return InfgramProbabilitiesResult(ids, lengths, prompt_counts, counts, probabilities)


def filtered_match_lengths(corpus: Corpus, ids: np.ndarray, where: Where, budget: int, min_length: int = 0
                           ) -> tuple[np.ndarray, Any]:
    """For every token of ``ids``, the longest stretch starting there that occurs in a
    matching document (the matching statistics of attribution, filtered), and the reader
    that found them (to go on counting within the same budget).

    Only lengths of at least ``min_length`` are exact; a shorter one may be any length
    below ``min_length`` that is at most the true one. That is all maximal spans of
    ``min_length`` or more need (:func:`~infgram.query.attribution.maximal_spans`: a span
    after a stretch shorter than ``min_length`` always ends later than it), and it spares
    reading the huge runs of short stretches."""
    reader = FilteredReader(corpus, where, budget, "this attribution filtered by metadata")
    encode = corpus.encoder.encode
    bounds = np.asarray(corpus.longest_matches(ids).lengths, dtype=np.int64) if len(ids) else np.zeros(0, np.int64)
    lengths = np.zeros(len(ids), dtype=np.int64)
    known = 0  # the stretch of this many tokens from the current start occurs in a matching document
    for start in range(len(ids)):
        found = known
        # Invariant: stretches from `start` longer than `candidate` (up to the bound) were tried and do not occur.
        for candidate in range(int(bounds[start]), max(known, min_length - 1), -1):
            if reader.count(encode(ids[start : start + candidate])):
                found = candidate
                break
        lengths[start] = found
        known = max(found - 1, 0)
    return lengths, reader


__all__ = ["matching_tokens", "conditions_of", "filtered_probability", "filtered_infgram_probability", "filtered_infgram_next_tokens",
           "filtered_infgram_probabilities", "filtered_match_lengths", "FilteredReader", "matching_occurrences"]
