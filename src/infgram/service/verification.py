"""``serve --verify`` (the default): every served index verified in the background.

Opening an index checks what is cheap and the files it reads whole (their checksums: sampled
keys, FM sections, document tables, removal lists), but the tokens, the suffix array and
the metadata are mapped, not read: a damaged byte there can change answers until
``infgram verify`` reads every byte. The server runs that same verification
(:meth:`infgram.Index.verify`) in a thread of its own for every index it opens, while it
answers:

- it runs in a child process (so that it never holds the server's GIL) at the lowest CPU
  priority, and pauses after every chunk it hashes for as long as the chunk took
  (:data:`PAUSE_RATIO`), so queries keep the cores; a thread of the server watches it;
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
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import IndexFormatError, InfgramError
from ..format import generation_of
from ..query.index import Index
from .shared import SharedState

PAUSE_RATIO = 1.0
"""Seconds of pause per second of hashing: the verifier takes at most half of one core."""

PROGRESS_SECONDS = 0.25
"""How often the progress is recorded for ``/v1/health``."""


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
        """Verify ``index`` (served as ``name``) in a child process watched by a thread, unless
        another worker already verifies or verified this identity; the thread, or None."""
        identity = identity_of(index)
        self.current[name] = identity
        try:
            total = index.verify_bytes()
        except (KeyError, TypeError, ValueError):
            total = 0
        if not self.shared.claim_verification(name, identity, total):
            return None
        spec = {"state": str(self.shared.path.parent), "name": name, "identity": identity,
                "directories": [str(directory) for directory in index.directories], "pause_ratio": PAUSE_RATIO}
        thread = threading.Thread(target=self._watch, args=(name, identity, spec), name=f"infgram verify {name}",
                                  daemon=True)
        thread.start()
        return thread

    def _watch(self, name: str, identity: str, spec: dict[str, Any]) -> None:
        """Run the child, stop it when the server stops or the index is replaced, and take up
        its verdict. A child process, not a thread: hashing in this process would take the
        GIL between chunks, and a thread of the lowest priority that holds it stalls queries."""
        try:
            child = subprocess.Popen([*CHILD_COMMAND, json.dumps(spec)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while True:
                try:
                    _, errors = child.communicate(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    if self.stopping.is_set() or self.current.get(name) != identity:
                        child.kill()
                        child.wait()
                        return
            record = self.shared.verification(name)
            if record is None or record["identity"] != identity:
                return
            if record["state"] == "damaged":
                logging.getLogger("uvicorn.error").error("index %s is damaged, it answers 503: %s", name,
                                                         self.public(record["message"] or ""))
                self.on_damage(name, identity, IndexFormatError(record["message"] or "the index is damaged: rebuild it"))
            elif record["state"] == "verifying":  # the child died without a verdict
                self.shared.report_verification(name, identity, "failed", record["verified_bytes"],
                                                errors.decode("utf-8", "replace")[-300:])
        except Exception as error:  # noqa: BLE001 (a thread's error has no one to reach but the log)
            if not self.stopping.is_set():  # at shutdown the shared state closes under it
                logging.getLogger("uvicorn.error").warning("verifying index %s failed: %s", name, error)

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


def verify_in_child(spec: dict[str, Any]) -> str:
    """The child process's work: verify the index ``spec`` names, recording progress and the
    verdict in the server's shared state; returns the verdict."""
    try:  # the lowest priority: queries keep the cores
        os.nice(19)
    except OSError:
        pass
    shared = SharedState(Path(spec["state"]))
    name, identity = spec["name"], spec["identity"]
    index = Index.open(spec["directories"], load="disk")
    if identity_of(index) != identity:  # a new generation meanwhile: its own verification follows
        return "superseded"
    verified, reported, resumed = 0, time.monotonic(), time.monotonic()

    def on_chunk(num_bytes: int) -> None:
        nonlocal verified, reported, resumed
        now = time.monotonic()
        verified += num_bytes
        if now - reported >= PROGRESS_SECONDS:
            shared.report_verification(name, identity, "verifying", verified)
            reported = now
        time.sleep(float(spec["pause_ratio"]) * (now - resumed))  # as long as the chunk took
        resumed = time.monotonic()

    try:
        index.verify(on_chunk)
    except IndexFormatError as error:
        shared.report_verification(name, identity, "damaged", verified, str(error))
        return "damaged"
    except OSError as error:  # a file gone or unreadable: damage as well
        shared.report_verification(name, identity, "damaged", verified,
                                   f"a file of the index cannot be read ({error}); the index is damaged: rebuild it")
        return "damaged"
    except InfgramError as error:  # an official index has no checksums to verify
        shared.report_verification(name, identity, "not_verifiable", verified, str(error))
        return "not_verifiable"
    shared.report_verification(name, identity, "verified", verified)
    return "verified"


CHILD_COMMAND = [sys.executable, "-m", "infgram.service.verification"]
"""How the verifying child process starts (its last argument: the spec, as JSON)."""


if __name__ == "__main__":
    verify_in_child(json.loads(sys.argv[-1]))


__all__ = ["Verifier", "identity_of", "verify_in_child", "PAUSE_RATIO"]
