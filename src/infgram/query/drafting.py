"""Drafting continuations with the ∞-gram: greedy, exact, and incremental.

A draft extends a prompt one token at a time. Each step takes the ∞-gram next-token
distribution of the prompt and the tokens drafted so far (the distribution after the
longest suffix that occurs, as :meth:`~infgram.query.corpus.Corpus.infgram_next_tokens`
defines it) and picks its most frequent entry; ties go to the smallest id, and the end of
a document ranks after every token. The draft stops, without emitting that choice, when
the end of a document is picked, when the choice's probability is below
``min_probability`` or its count below ``min_count``; otherwise it stops after
``max_tokens`` tokens. Drafts like this feed speculative decoding: a neural model checks
several drafted tokens in one forward pass.

Each step reuses the search of the step before. If the longest suffix of a context c has
length L and occupies the run [lo, hi) of a shard's suffix array, then the longest suffix
of c + t has at most L + 1 tokens (any suffix that occurs minus its last token is a suffix
of c that occurs), and when suffix + t occurs its run lies inside [lo, hi): one search
confined to that run, with ``shard.find(query, lo, hi)``, finds it. Only when it does not
occur is the longest suffix searched for afresh. Every shard keeps its own (L, lo, hi);
the shards' distributions combine by :func:`~infgram.query.partials.longest_wins` (the
longest suffix wins, the counts of the shards that reach it add), so a sharded index
drafts exactly what one shard of the whole corpus would.

With ``max_suffix_tokens=n - 1`` the context is cut to its last n - 1 tokens first: a plain
n-gram drafter with back-off, to compare against.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose is a rose"], folder / "i", progress=False)
>>> result = draft(infgram.Index.open(folder / "i"), "a r", max_tokens=6)
>>> result.text, result.stop
('ose is', 'max_tokens')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import QueryError, UnsupportedOperationError
from ..shards import Shard
from .encoding import Query, check_whole_number
from .partials import distribution, longest_suffix_run, longest_wins
from .results import DraftResult, DraftToken

MAX_DRAFT_TOKENS = 4096
"""The most tokens one draft may ask for."""

STOP_REASONS = ("end_of_document", "min_probability", "min_count", "max_tokens")
"""Why a draft stops, as :class:`~infgram.query.results.DraftResult` reports it."""

SuffixState = tuple[int, int, int]
"""A shard's longest suffix of the context: (length in tokens, lo, hi) of its run."""


def advance(shard: Shard, context: bytes, previous: SuffixState | None,
            max_suffix_tokens: int | None = None) -> tuple[int, int, int, int, np.ndarray, np.ndarray]:
    """The partial of one draft step on one shard: the longest suffix of ``context`` that
    occurs in the shard, as (length, lo, hi), then its next-token distribution (prompt
    count, uint64 ids, int64 counts).

    ``previous`` is the state this function returned for ``context`` without its last token
    (None for the first step): the search for suffix + last token is then confined to the
    previous run. ``max_suffix_tokens`` cuts the context to its last tokens first.
    """
    width = shard.token_width
    if max_suffix_tokens is not None:
        context = context[len(context) - max_suffix_tokens * width:] if max_suffix_tokens else b""
    state = None
    if previous is not None:
        length, lo, hi = previous
        if hi > lo and (length + 1) * width <= len(context):
            inner_lo, inner_hi = shard.find(context[len(context) - (length + 1) * width:], lo, hi)
            if shard.removals.live(inner_lo, inner_hi):
                state = (length + 1, inner_lo, inner_hi)
    length, lo, hi = state if state is not None else longest_suffix_run(shard, context)
    return (length, lo, hi, *distribution(shard, lo, hi, length))


def _check_probability(value: Any) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool) or \
            not 0 <= float(value) <= 1:
        raise QueryError(f"expected min_probability to be a number from 0 to 1, found {value!r:.80}")
    return float(value)


def _finished(corpus: Any, tokens: list[DraftToken], stop: str) -> DraftResult:
    """The result, with the drafted tokens decoded together as its ``text``."""
    return DraftResult(tokens, stop, corpus.tokenizer.decode([token.id for token in tokens]) if tokens else "")


def draft(corpus: Any, prompt: Query, max_tokens: int = 16, min_probability: float = 0.0, min_count: int = 1,
          max_suffix_tokens: int | None = None) -> DraftResult:
    """Greedily continue ``prompt`` with the ∞-gram (see the module docstring).

    ``corpus`` is an :class:`~infgram.Index` (or any :class:`~infgram.query.corpus.Corpus`)
    of kind ``sa``. Each drafted token comes with its probability and count under the
    ∞-gram and the length of the suffix they were read from.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["abcd", "abce", "abxy"], folder / "i", progress=False)
    >>> result = draft(infgram.Index.open(folder / "i"), "zab")
    >>> [(t.text, t.count, round(t.probability, 2), t.suffix_length) for t in result.tokens], result.stop
    ([('c', 2, 0.67, 2), ('d', 1, 0.5, 3)], 'end_of_document')
    >>> draft(infgram.Index.open(folder / "i"), "zab", min_probability=0.7).stop
    'min_probability'
    """
    if not corpus.supports("infgram_next_tokens"):
        raise UnsupportedOperationError(
            f"draft needs a suffix-array index (kind 'sa'), but this index is of kind {corpus.kind!r}; build one "
            "with `infgram build --kind sa` (the default)")
    max_tokens = check_whole_number("max_tokens", max_tokens, MAX_DRAFT_TOKENS)
    min_count = check_whole_number("min_count", min_count)
    max_suffix_tokens = check_whole_number("max_suffix_tokens", max_suffix_tokens, optional=True)
    min_probability = _check_probability(min_probability)
    context = corpus.encoder.encode(prompt)
    width, separator = corpus.token_width, corpus.separator_id
    states: list[SuffixState | None] = [None] * len(corpus.shard_set)
    tokens: list[DraftToken] = []
    while len(tokens) < max_tokens:
        parts = corpus.shard_set.map_parallel([(number, advance, (context, state, max_suffix_tokens))
                                               for number, state in enumerate(states)])
        states = [part[:3] for part in parts]
        length, prompt_count, values, counts = longest_wins([(part[0], *part[3:]) for part in parts])
        if not len(values):  # an index without a single token
            return _finished(corpus, tokens, "end_of_document")
        best = int(np.lexsort((values, -counts))[0])  # by count, then id; the separator is the largest id
        chosen, count = int(values[best]), int(counts[best])
        if chosen == separator:
            return _finished(corpus, tokens, "end_of_document")
        probability = count / prompt_count
        if probability < min_probability:
            return _finished(corpus, tokens, "min_probability")
        if count < min_count:
            return _finished(corpus, tokens, "min_count")
        tokens.append(DraftToken(chosen, corpus.tokenizer.token_text(chosen), probability, count, int(length)))
        context += chosen.to_bytes(width, "big")
    return _finished(corpus, tokens, "max_tokens")
