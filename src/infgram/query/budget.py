"""The work budget: one rule bounds every request whose cost grows with occurrences.

Counting an n-gram costs a few binary searches whatever its frequency; but listing the
documents of a phrase, searching AND/OR clauses and co-occurrence read the position of
every occurrence they touch, and a phrase can occur millions of times. So each such
request has a budget of *work units*:

- one unit per suffix-array position read (a position of an occurrence);
- on an FM-index, ``3 * sample_rate`` units per occurrence located (a locate takes at most
  ``sample_rate - 1`` LF steps, each about three positions' worth: the budget counts that
  bound, so that it is known before the work and is the same however the shards are spread;
  see ``infgram.shards.fm.LOCATE_UNITS_PER_SAMPLE``);
- one unit per ``SCAN_TOKENS_PER_UNIT`` tokens of candidate documents scanned by search and
  co-occurrence (about the cost of reading one position);
- ``PAIR_UNITS`` for every pair of a co-occurrence call, whatever else it costs.

Work is summed over all shards, so the outcome is the same locally, over HTTP and on a
cluster. An answer that can stay exact with less work does (``documents`` returns its page
and an exact lower bound of the document count, flagged ``num_documents_exact: false``);
one that cannot (search or co-occurrence past the budget) is refused with a
:class:`~infgram.errors.LimitError` naming the option that raises the budget. The default
is ``DEFAULT_MAX_WORK``; ``max_work=`` sets another, and in Python ``exact=True`` lifts it.
A server's ``--max-work`` is a ceiling no request can raise.

A request made of many (a batch) has a budget as a whole too, a :class:`WorkAccount`: each
line keeps its own budget, but draws on the account, so no line gets more than the account
has left; the work every line spends is charged to it (:func:`charge`), and once it is
spent, the lines left are refused with a ``LimitError`` naming ``max_batch_work``.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import LimitError, QueryError
from .encoding import check_whole_number

DEFAULT_MAX_WORK = 2_000_000
"""Well under a second of work on one core: reading an occurrence's document from a suffix
array took 0.33 µs on wiki + prose (55 M bytes, a shared 2-core machine at a load of 3.4),
so 2 M units are about 0.7 s there (a documents count of 'the', 344,304 occurrences, took
0.12 s; an FM-index of the same text reads 5,200 occurrences for the same budget, 0.6 s)."""

SCAN_TOKENS_PER_UNIT = 4
"""Scanning a document compares a few tokens in sequence; reading a position is a scattered
pointer read, a document lookup and a set test: about four tokens' worth."""

PAIR_UNITS = 10
"""Each pair of a co-occurrence call costs at least this much: its bookkeeping in Python
(about 5 µs here) is worth about ten positions read."""

UNLIMITED = 1 << 62

DEFAULT_MAX_BATCH_WORK = 10 * DEFAULT_MAX_WORK
"""A server's budget of one batch as a whole (``--max-batch-work``): about ten lines at the
budget of one, a few seconds of work."""


class WorkAccount:
    """The work budget of a request made of many (a batch): the units its lines may spend in all.

    >>> account = WorkAccount(1000)
    >>> with account.drawn_on():
    ...     work_limit(), charge(600), work_limit(500), charge(600)
    (1000, None, 400, None)
    >>> account.spent, account.exhausted, work_limit()
    (1000, True, 2000000)
    >>> account.refusal().fields["option"]
    'max_batch_work'
    """

    def __init__(self, limit: int):
        self.limit = int(limit)
        self.spent = 0
        self.exhausted = False

    @property
    def remaining(self) -> int:
        """The units the lines still to come may spend."""
        return max(self.limit - self.spent, 0)

    def charge(self, units: int) -> None:
        """Count work done; the account is exhausted once nothing is left."""
        self.spent = min(self.spent + max(int(units), 0), self.limit)
        self.exhausted = self.exhausted or self.spent >= self.limit

    def refusal(self, needed: int | None = None) -> LimitError:
        """The error of a line the account cannot pay for; the account is exhausted from then on."""
        self.exhausted = True
        needed = max(self.limit + 1, self.spent + (needed or 0))
        return LimitError(f"expected this batch to fit its work budget of {self.limit:,} units (positions read) as a "
                          f"whole, found its lines need at least {needed:,}; split the batch into smaller ones, "
                          "narrow the queries, or ask the operator for a larger --max-batch-work",
                          "max_batch_work", self.limit, needed)

    @contextmanager
    def drawn_on(self) -> Iterator["WorkAccount"]:
        """Within this block, budgets are bounded by what the account has left, and work is charged to it."""
        token = _ACCOUNT.set(self)
        try:
            yield self
        finally:
            _ACCOUNT.reset(token)


_ACCOUNT: contextvars.ContextVar[WorkAccount | None] = contextvars.ContextVar("infgram_work_account", default=None)


def charge(units: int) -> None:
    """Charge work done to the account of the request being answered, if it has one."""
    account = _ACCOUNT.get()
    if account is not None:
        account.charge(units)


def work_limit(max_work: Any = None, exact: bool = False, ceiling: int | None = None) -> int:
    """The budget of one request: ``max_work`` (default ``DEFAULT_MAX_WORK``), none with
    ``exact``, never above a server's ``ceiling``.

    >>> work_limit(), work_limit(500), work_limit(exact=True) > 10**18, work_limit(10**9, ceiling=10**6)
    (2000000, 500, True, 1000000)
    """
    max_work = check_whole_number("max_work", max_work, optional=True)
    if not isinstance(exact, bool):
        raise QueryError(f"expected exact to be true or false, found {exact!r:.40}")
    limit = UNLIMITED if exact else (DEFAULT_MAX_WORK if max_work is None else int(max_work))
    limit = min(limit, ceiling) if ceiling is not None else limit
    account = _ACCOUNT.get()
    return min(limit, account.remaining) if account is not None else limit


LIFT_BUDGET = "raise max_work (--max-work), pass exact=True (--exact), or narrow the query"
"""What a refusal suggests (a server, whose ceiling no request lifts, says something else)."""


def refuse(what: str, needed: int, limit: int) -> LimitError:
    """The error for a request that needs ``needed`` units (at least) under a budget of ``limit``
    (the batch's, when the batch's account is what bounded it)."""
    account = _ACCOUNT.get()
    if account is not None and limit >= account.remaining:
        return account.refusal(needed)
    return LimitError(f"expected {what} to fit the work budget of {limit:,} units (positions read), found it needs "
                      f"at least {needed:,}; {LIFT_BUDGET}",
                      "max_work", limit, needed)
