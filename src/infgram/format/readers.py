"""Reader holds: which generations of an index directory open readers still use.

A change (add, remove, compact) writes generation g + 1 beside g and then has g's superseded
files to delete. A reader that opened g maps g's files, and may open more of them later (a
``verify``, a reload that fails halfway), so the files are deleted once no reader can hold g:

- a reader holds a **shared** ``flock`` on ``.infgram-readers/g<g>`` for as long as it uses
  generation g (an :class:`~infgram.Index` from open to close, reload or garbage collection;
  the operating system drops the lock when the process ends, killed or not);
- it takes the hold *before* it trusts the manifest: it reads the generation, holds it, then
  reads the manifest again, and starts over when a change committed in between. So a reader
  never opens the files of a generation it does not hold;
- a change, right after committing g + 1, tries an **exclusive**, non-blocking ``flock`` on
  the hold file of every older generation (:func:`unheld_generations`). When it gets them all,
  no reader holds an older generation and none can start to (it would find g + 1 in the
  manifest): the superseded files go at once. Else they go at the next change that finds
  them unheld (:func:`~infgram.change.generations.free_superseded`); ``info`` counts them
  apart from the index (``garbage_bytes``) meanwhile.

A directory readers cannot write (a read-only copy) has no hold files; its readers hold
nothing, which is safe because nothing there changes either.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> hold = ReaderHold.take(folder, 3)
>>> unheld_generations(folder, below=4).generations, sorted(p.name for p in (folder / READERS_DIRECTORY).iterdir())
([], ['g3'])
>>> hold.release()
>>> with unheld_generations(folder, below=4) as unheld:
...     unheld.generations
[3]
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from typing import Any

READERS_DIRECTORY = ".infgram-readers"
"""The folder of an index directory that holds one hold file per generation in use."""
_HOLD_FILE = re.compile(r"^g(\d+)$")


class ReaderHold:
    """A shared lock on one generation of an index directory (see the module)."""

    def __init__(self, directory: Path, generation: int, handle: Any):
        self.directory = Path(directory)
        self.generation = generation
        self._handle = handle

    @classmethod
    def take(cls, directory: Path, generation: int) -> "ReaderHold":
        """Hold ``generation`` (waiting while a change is deciding to delete it); holds
        nothing when the directory cannot be written."""
        folder = Path(directory) / READERS_DIRECTORY
        try:
            folder.mkdir(exist_ok=True)
            handle = os.open(folder / f"g{generation}", os.O_RDONLY | os.O_CREAT, 0o666)
        except OSError:
            return cls(directory, generation, None)
        fcntl.flock(handle, fcntl.LOCK_SH)
        return cls(directory, generation, handle)

    @property
    def held(self) -> bool:
        """Whether the lock is held (not in a directory readers cannot write, nor released)."""
        return self._handle is not None

    def release(self) -> None:
        """Let the generation go (closing the file drops the lock)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            os.close(handle)

    def __del__(self) -> None:
        self.release()


class UnheldGenerations:
    """The older generations no reader holds, locked exclusively until :meth:`release` (or
    the end of a ``with`` block), so that no reader can take them meanwhile."""

    def __init__(self, generations: list[int], handles: list[int], complete: bool):
        self.generations = generations
        """The generations locked here, oldest first."""
        self.complete = complete
        """Whether every older generation with a hold file is among them: no reader holds any."""
        self._handles = handles

    def release(self) -> None:
        for handle in self._handles:
            os.close(handle)
        self._handles = []

    def __enter__(self) -> "UnheldGenerations":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def unheld_generations(directory: Path, below: int) -> UnheldGenerations:
    """Lock exclusively (without waiting) the hold file of every generation below ``below``
    that no reader holds; the hold files got are removed (a reader opening one meanwhile finds
    a newer manifest and starts over). ``complete`` says whether every one was got."""
    folder = Path(directory) / READERS_DIRECTORY
    generations, handles, complete = [], [], True
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return UnheldGenerations([], [], True)
    for name in names:
        match = _HOLD_FILE.match(name)
        if match is None or int(match.group(1)) >= below:
            continue
        try:
            handle = os.open(folder / name, os.O_RDONLY)
        except OSError:
            continue  # removed meanwhile by another change's cleanup
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            complete = False
            continue
        try:
            os.unlink(folder / name)
        except OSError:
            pass
        generations.append(int(match.group(1)))
        handles.append(handle)
    return UnheldGenerations(generations, handles, complete)


def held_generations(directory: Path) -> list[int]:
    """The generations some reader holds now (for ``info``), probed without waiting.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> hold = ReaderHold.take(folder, 2)
    >>> held_generations(folder)
    [2]
    """
    folder = Path(directory) / READERS_DIRECTORY
    held = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        match = _HOLD_FILE.match(name)
        if match is None:
            continue
        try:
            handle = os.open(folder / name, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(int(match.group(1)))
        finally:
            os.close(handle)
    return sorted(held)
