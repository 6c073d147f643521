"""``serve --verify`` (the default): every served index verified in the background.

Opening an index checks what is cheap and the files it reads whole (their checksums: sampled
keys, FM sections, document tables, removal lists), but the tokens, the suffix array and
the metadata are mapped, not read: a damaged byte there can change answers until
``infgram verify`` reads every byte. The server runs that same verification
(:meth:`infgram.Index.verify`) in a thread of its own for every index it opens, while it
answers:

- the thread runs at the lowest CPU priority and pauses after every chunk it hashes for as
  long as the chunk took (:data:`PAUSE_RATIO`), so queries keep the cores; hashing and
  reading release the GIL;
- its progress (bytes verified of the total) is in ``GET /v1/health``;
- an index found damaged answers 503 from then on, in every worker, until the server is
  restarted on a sound copy or a new generation of the index is written;
- one worker verifies each opened generation for the whole server (see
  :mod:`infgram.service.shared`); a reload to a new generation verifies that one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from typing import Any, Callable

from ..errors import IndexFormatError, InfgramError
from ..format import generation_of
from ..query.index import Index
from .shared import SharedState

PAUSE_RATIO = 1.0
"""Seconds of pause per second of hashing: the verifier takes at most half of one core."""

PROGRESS_SECONDS = 0.25
"""How often the progress is recorded for ``/v1/health``."""


class _Stopped(Exception):
    """The server stops, or the index was replaced: this verification has no more to do."""


def identity_of(index: Index) -> str:
    """What one opened index is: its generations and its manifests' digest (a rebuild that
    starts again at generation 0 is another index).

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> index = infgram.Index.open(infgram.build_from_documents(["a rose"], folder / "i", progress=False).directory)
    >>> json.loads(identity_of(index))["generations"]
    [0]
    """
    manifests = json.dumps(index.manifests, sort_keys=True, default=str).encode("utf-8")
    return json.dumps({"generations": [generation_of(manifest) for manifest in index.manifests],
                       "manifests": hashlib.sha256(manifests).hexdigest()[:32]})


class Verifier:
    """Verifies opened indexes in background threads; ``on_damage(name, identity, error)`` is
    called when one is found damaged (``public`` turns a message into one without paths)."""

    def __init__(self, shared: SharedState, stopping: threading.Event,
                 on_damage: Callable[[str, str, IndexFormatError], None], public: Callable[[str], str] = str):
        self.shared = shared
        self.stopping = stopping
        self.on_damage = on_damage
        self.public = public
        self.current: dict[str, str] = {}
        """The identity each index is being (or was last) verified at, in this worker."""

    def start(self, name: str, index: Index) -> threading.Thread | None:
        """Verify ``index`` (served as ``name``) in a thread, unless another worker already
        verifies or verified this identity; the thread, or None."""
        identity = identity_of(index)
        self.current[name] = identity
        try:
            total = index.verify_bytes()
        except (KeyError, TypeError, ValueError):
            total = 0
        if not self.shared.claim_verification(name, identity, total):
            return None
        thread = threading.Thread(target=self._run, args=(name, index, identity), name=f"infgram verify {name}",
                                  daemon=True)
        thread.start()
        return thread

    def _run(self, name: str, index: Index, identity: str) -> None:
        try:  # the lowest priority for this thread alone (Linux: a thread is a task of its own)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        verified = 0
        reported = time.monotonic()

        def on_chunk(num_bytes: int) -> None:
            nonlocal verified, reported
            started = time.monotonic()
            if self.stopping.is_set() or self.current.get(name) != identity:
                raise _Stopped
            verified += num_bytes
            if started - reported >= PROGRESS_SECONDS:
                self.shared.report_verification(name, identity, "verifying", verified)
                reported = started
            # Pause as long as the chunk took to read and hash (measured from the last pause).
            self.stopping.wait(PAUSE_RATIO * max(0.0, started - on_chunk.resumed))  # type: ignore[attr-defined]
            on_chunk.resumed = time.monotonic()  # type: ignore[attr-defined]

        on_chunk.resumed = time.monotonic()  # type: ignore[attr-defined]
        try:
            index.verify(on_chunk)
        except _Stopped:
            return
        except IndexFormatError as error:
            self.shared.report_verification(name, identity, "damaged", verified, self.public(str(error)))
            logging.getLogger("uvicorn.error").error("index %s is damaged, it answers 503: %s", name, error)
            self.on_damage(name, identity, error)
            return
        except InfgramError as error:  # an official index has no checksums to verify
            self.shared.report_verification(name, identity, "not_verifiable", verified, self.public(str(error)))
            return
        except OSError as error:  # a file gone or unreadable: damage as well
            damage = IndexFormatError(f"a file of the index cannot be read ({error.strerror or error}); the index is "
                                      "damaged: rebuild it")
            self.shared.report_verification(name, identity, "damaged", verified, self.public(str(damage)))
            self.on_damage(name, identity, damage)
            return
        self.shared.report_verification(name, identity, "verified", verified)

    def progress(self, names: list[str]) -> dict[str, Any]:
        """``/v1/health``'s view: each index's state (verifying, verified, damaged,
        not_verifiable), bytes verified and in all."""
        found: dict[str, Any] = {}
        for name in names:
            record = self.shared.verification(name)
            if record is None or record["identity"] != self.current.get(name):
                found[name] = {"state": "waiting"}
                continue
            found[name] = {"state": record["state"], "verified_bytes": record["verified_bytes"],
                           "total_bytes": record["total_bytes"]}
        return found

    def damaged(self) -> dict[str, tuple[str, str]]:
        """The indexes some worker found damaged at the identity this worker serves: name to
        (identity, message)."""
        found = {}
        for name, identity in self.current.items():
            record = self.shared.verification(name)
            if record is not None and record["state"] == "damaged" and record["identity"] == identity:
                found[name] = (identity, record["message"] or "the index is damaged: rebuild it")
        return found


__all__ = ["Verifier", "identity_of", "PAUSE_RATIO"]
