"""State the worker processes of one server share: rate-limit buckets, metrics, the newest
generation of every index, and the background verification of the served indexes.

``infgram serve --workers N`` runs N processes behind one port, and the kernel hands each
connection to any of them. What a client sees must not depend on which one it reached:

- **rate limits** hold for the server, not per process: every request takes its token from
  one bucket per client, in one transaction (``BEGIN IMMEDIATE`` serializes the workers);
- **metrics** are the server's: each worker publishes its counters (a snapshot, at most
  :data:`METRICS_PUBLISH_SECONDS` old, and at once when it answers ``/metrics``), and
  ``/metrics`` adds up every worker's, those of workers that have exited included (counters
  never go backwards); gauges come from the live workers only;
- **generations** never go backwards: a worker publishes a generation before it answers
  from it, and a worker behind the newest published generation reloads before answering
  (see :meth:`SharedState.newest_generations`);
- **verification** runs once for the server (the first worker to claim an index's
  generation verifies it), its progress and its verdict seen by all.

The state is a small SQLite database (the standard library's ``sqlite3``, write-ahead log)
in a directory the server makes for itself and removes when it stops. One worker alone
(``--workers 1``) keeps the same state in a database of its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

METRICS_PUBLISH_SECONDS = 0.5
"""How often a worker publishes its metrics when they have changed."""

DATABASE_NAME = "shared-state.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (client TEXT PRIMARY KEY, tokens REAL NOT NULL, seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (pid INTEGER PRIMARY KEY, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generations (name TEXT PRIMARY KEY, generations TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verifications (name TEXT PRIMARY KEY, identity TEXT NOT NULL, pid INTEGER NOT NULL,
                                          state TEXT NOT NULL, verified_bytes INTEGER NOT NULL,
                                          total_bytes INTEGER NOT NULL, message TEXT);
"""


def newer(found: tuple[int | None, ...], than: tuple[int | None, ...] | None) -> bool:
    """Whether generations ``found`` are ahead of ``than`` in some directory (None: unknown).

    >>> newer((2, 1), (1, 1)), newer((1, 1), (1, 1)), newer((1,), None), newer((None,), (3,))
    (True, False, True, False)
    """
    if than is None:
        return True
    if len(found) != len(than):
        return found != than
    return any(a is not None and (b is None or a > b) for a, b in zip(found, than))


class SharedState:
    """The database of one server's shared state (see the module).

    >>> import tempfile
    >>> state = SharedState(Path(tempfile.mkdtemp()))
    >>> [state.take("address 10.0.0.1", rate=2.0, now=100.0) for _ in range(3)]
    [True, True, False]
    >>> state.take("address 10.0.0.1", rate=2.0, now=100.5)
    True
    >>> state.publish_generations("wiki", (3,)), state.publish_generations("wiki", (2,))
    ((3,), (3,))
    """

    def __init__(self, directory: Path, clients: int = 10_000):
        self.path = Path(directory) / DATABASE_NAME
        self.clients = clients
        self._lock = threading.Lock()  # one connection, used by the event loop and the verifying threads
        self._connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=OFF")  # state of a running server: nothing to keep
            self._connection.executescript(_SCHEMA)

    def mark_changed(self) -> None:
        """Tell the other workers that a generation or a verdict was published: the marker
        file is replaced (a new inode), which :meth:`change_token` sees with one ``stat``."""
        marker = self.path.with_name(f"changed.{os.getpid()}.{threading.get_native_id()}")
        marker.write_bytes(b"")
        os.replace(marker, self.path.with_name("changed"))

    def change_token(self) -> tuple[int, int] | None:
        """What :meth:`mark_changed` last left (None before it ran): equal tokens, nothing new
        to read. A ``stat`` is far cheaper than a query, and every request of a worker asks."""
        try:
            found = os.stat(self.path.with_name("changed"))
        except FileNotFoundError:
            return None
        return found.st_ino, found.st_mtime_ns

    def _transaction(self, statements: Any) -> Any:
        """Run ``statements(cursor)`` in one write transaction; its result."""
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                result = statements(cursor)
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
            return result

    def _read(self, query: str, *arguments: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection.execute(query, arguments).fetchall()

    # -- rate limits ---------------------------------------------------------------------------------
    def take(self, client: str, rate: float, now: float | None = None) -> bool:
        """Take one token from the client's bucket (``rate`` a second, bursts of ``rate``);
        False if it is empty. ``now``: seconds of a clock every worker shares (monotonic)."""
        now = time.monotonic() if now is None else now

        def statements(cursor: sqlite3.Cursor) -> bool:
            row = cursor.execute("SELECT tokens, seen FROM buckets WHERE client = ?", (client,)).fetchone()
            tokens, seen = row if row is not None else (rate, now)
            tokens = min(rate, tokens + max(0.0, now - seen) * rate)
            allowed = tokens >= 1
            cursor.execute("INSERT OR REPLACE INTO buckets (client, tokens, seen) VALUES (?, ?, ?)",
                           (client, tokens - 1 if allowed else tokens, now))
            if row is None:  # a new client: forget the longest idle beyond the limit
                cursor.execute("DELETE FROM buckets WHERE client IN (SELECT client FROM buckets ORDER BY seen DESC "
                               "LIMIT -1 OFFSET ?)", (self.clients,))
            return allowed
        return bool(self._transaction(statements))

    # -- metrics -------------------------------------------------------------------------------------
    def publish_metrics(self, snapshot: dict[str, Any], pid: int | None = None) -> None:
        """Keep this worker's metrics (a :meth:`Metrics.snapshot`)."""
        pid = os.getpid() if pid is None else pid
        self._transaction(lambda cursor: cursor.execute("INSERT OR REPLACE INTO metrics (pid, snapshot) VALUES (?, ?)",
                                                        (pid, json.dumps(snapshot))))

    def metrics_snapshots(self) -> list[tuple[int, dict[str, Any]]]:
        """Every worker's last published metrics, with its process id."""
        return [(pid, json.loads(snapshot)) for pid, snapshot in self._read("SELECT pid, snapshot FROM metrics")]

    # -- generations ---------------------------------------------------------------------------------
    def publish_generations(self, name: str, generations: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """Record that a worker is about to answer from ``generations`` of an index; returns the
        newest generations recorded (never older than before)."""
        def statements(cursor: sqlite3.Cursor) -> tuple[int | None, ...]:
            row = cursor.execute("SELECT generations FROM generations WHERE name = ?", (name,)).fetchone()
            known = tuple(json.loads(row[0])) if row is not None else None
            if newer(generations, known):
                cursor.execute("INSERT OR REPLACE INTO generations (name, generations) VALUES (?, ?)",
                               (name, json.dumps(list(generations))))
                return generations
            return known  # type: ignore[return-value]
        newest = self._transaction(statements)
        if newest == generations:
            self.mark_changed()
        return newest

    def newest_generations(self) -> dict[str, tuple[int | None, ...]]:
        """The newest generations any worker has answered from, by index name."""
        return {name: tuple(json.loads(found)) for name, found in self._read("SELECT name, generations FROM generations")}

    # -- verification --------------------------------------------------------------------------------
    def claim_verification(self, name: str, identity: str, total_bytes: int) -> bool:
        """Whether this worker is the one to verify an index as opened (``identity``: see
        :func:`infgram.service.verification.identity_of`): the first to ask, or the next after
        one that died while verifying."""
        def statements(cursor: sqlite3.Cursor) -> bool:
            row = cursor.execute("SELECT identity, pid, state FROM verifications WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] == identity and (row[2] != "verifying" or alive(row[1])):
                return False
            cursor.execute("INSERT OR REPLACE INTO verifications VALUES (?, ?, ?, 'verifying', 0, ?, NULL)",
                           (name, identity, os.getpid(), total_bytes))
            return True
        return bool(self._transaction(statements))

    def report_verification(self, name: str, identity: str, state: str, verified_bytes: int,
                            message: str | None = None) -> None:
        """Record the progress (``verifying``) or verdict (``verified``, ``damaged``,
        ``not_verifiable``) of a verification."""
        self._transaction(lambda cursor: cursor.execute(
            "UPDATE verifications SET state = ?, verified_bytes = ?, message = ? WHERE name = ? AND identity = ?",
            (state, verified_bytes, message, name, identity)))
        if state == "damaged":
            self.mark_changed()

    def verification(self, name: str) -> dict[str, Any] | None:
        """An index's verification: identity, state, verified_bytes, total_bytes, message."""
        rows = self._read("SELECT identity, state, verified_bytes, total_bytes, message FROM verifications "
                          "WHERE name = ?", name)
        if not rows:
            return None
        return dict(zip(("identity", "state", "verified_bytes", "total_bytes", "message"), rows[0]))

    def close(self) -> None:
        """Close this worker's connection."""
        with self._lock:
            self._connection.close()


def alive(pid: int) -> bool:
    """Whether the worker process ``pid`` still runs (a verifying worker that died leaves its claim).

    >>> alive(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["SharedState", "newer", "alive", "METRICS_PUBLISH_SECONDS"]
