"""Query options as values: how a query's text matches, checked once where a call comes in.

The public methods keep their keyword arguments (``exact_tokens=``, ``whole_words=``,
``ignore_case=``, ``inside_tokens=``); :class:`~infgram.Index` bundles them into one
:class:`Matching` as a call comes in, and the work budget into one number
(:func:`infgram.query.budget.work_limit`), and the search, documents and co-occurrence code
below takes those two values instead of loose flags.

>>> Matching.of(whole_words=True)
Matching(exact_tokens=False, whole_words=True, ignore_case=False, inside_tokens=False)
>>> Matching.of(ignore_case="yes")
Traceback (most recent call last):
    ...
infgram.errors.QueryError: expected ignore_case to be true or false, found 'yes'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import QueryError


@dataclass(frozen=True)
class Matching:
    """How the text of a query matches (see :meth:`infgram.Index.documents`)."""

    exact_tokens: bool = False
    """Search precisely the tokenizer's encoding of a string, not every form it takes."""
    whole_words: bool = False
    """Keep only occurrences with no word character just before or after."""
    ignore_case: bool = False
    """Match every case variant of a string (byte indexes)."""
    inside_tokens: bool = False
    """Also say whether a string occurs starting or ending inside tokens (tokenized indexes)."""

    @classmethod
    def of(cls, exact_tokens: Any = False, whole_words: Any = False, ignore_case: Any = False,
           inside_tokens: Any = False) -> "Matching":
        """The options of one call, each checked to be true or false."""
        if exact_tokens is False and whole_words is False and ignore_case is False and inside_tokens is False:
            return _PLAIN  # the common call, answered without building a value (it costs a microsecond)
        for name, value in (("exact_tokens", exact_tokens), ("whole_words", whole_words),
                            ("ignore_case", ignore_case), ("inside_tokens", inside_tokens)):
            if not isinstance(value, bool):
                raise QueryError(f"expected {name} to be true or false, found {value!r:.40}")
        return cls(exact_tokens, whole_words, ignore_case, inside_tokens)


_PLAIN = Matching()


@dataclass(frozen=True)
class MatchPlan:
    """What matching a query takes, decided once from the query and its :class:`Matching`
    (by :meth:`infgram.query.corpus.Corpus.plan`, the one place that reads the tokenizer's
    capabilities for it); every operation that matches text consumes one.

    ``searched`` are the encodings to search (one for ids and on a byte index, one per form
    that occurs on a tokenized index, one per case variant with ``ignore_case``); ``forms``
    the forms to report (None when the query has only itself); ``words`` the whole-word test
    and, per encoding, whether it starts with the word-start space (None unless
    ``whole_words``).
    """

    query: Any
    matching: Matching
    searched: list[bytes]
    forms: Sequence[Any] | None
    words: tuple[Any, list[bool]] | None = None

    @property
    def is_empty_query(self) -> bool:
        """Whether the query is empty (it occurs everywhere: one empty encoding)."""
        return b"" in self.searched


__all__ = ["Matching", "MatchPlan"]
