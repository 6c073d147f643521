"""Which files of an input directory are read: hidden names, ``--include``/``--exclude``, saved datasets.

The same rules hold for local directories and for remote ones (``s3://bucket/corpus/``):

* Names starting with ``.`` (``.git``, ``.cache``) are skipped, files and directories.
* ``--include PATTERN`` (repeatable): only files matching one of the patterns are read.
  ``--exclude PATTERN`` (repeatable): files matching one are not read, and directories
  matching one are not entered. A pattern without ``/`` matches the file's or directory's
  name (``*.md``); a pattern with ``/`` matches its path below the directory given as
  input (``drafts/*.md``; ``*`` there also matches across ``/``). Matching is by
  :func:`fnmatch.fnmatchcase`: case-sensitive, whole names, never substrings.
  Files named directly as inputs are always read.
* A file of a kind not known by its name (``.py``, ``.c``, ``README``) that an
  ``--include`` pattern names is read as plain text: ``--include '*.py' src/`` indexes a
  folder of code, one document a file. ``format="text"`` (``--format text``) reads every
  file that way, whatever its name.
* A directory written by Hugging Face ``datasets``' ``save_to_disk`` (it holds
  ``state.json`` and ``dataset_info.json``) is one dataset: its Arrow data files are read
  in the order ``state.json`` lists them, and nothing else in it is read as input.

>>> selection = Selection(include=["*.md", "docs/*.txt"], exclude=["drafts"])
>>> [selection.wants_file(p) for p in ("a.md", "x/b.md", "docs/c.txt", "c.txt")]
[True, True, True, False]
>>> selection.wants_directory("drafts"), selection.wants_directory("docs")
(False, True)
>>> selection.names_file("src/infgram/cli.py"), Selection(include=["*.py"]).names_file("src/infgram/cli.py")
(False, True)
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Sequence

from ..errors import InputError, shown

READ_FORMATS = ("auto", "text")
"""How input files are read: by their names, or every file as plain text."""

SAVED_DATASET_MARKERS = ("state.json", "dataset_info.json")
"""The files that make a directory a dataset saved with ``datasets``' ``save_to_disk``."""


def _matches(pattern: str, relative: str) -> bool:
    return fnmatchcase(relative if "/" in pattern else relative.rsplit("/", 1)[-1], pattern)


class Selection:
    """Include and exclude patterns, what to do with files of an unknown kind, and the
    format files are read in (``"auto"``: by their names; ``"text"``: every file as one
    plain-text document)."""

    def __init__(self, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
                 skip_unknown: bool = False, format: str = "auto"):
        for name, patterns in (("include", include), ("exclude", exclude)):
            if isinstance(patterns, str):
                raise InputError(f"expected a list of {name} patterns, found the string {patterns!r}; "
                                 f"pass [{patterns!r}]")
        self.include = list(include or ())
        self.exclude = list(exclude or ())
        self.skip_unknown = skip_unknown
        if format not in READ_FORMATS:
            raise InputError(f"expected the format to read inputs in as one of {', '.join(READ_FORMATS)}, found "
                             f"{shown(repr(format))}; pass format='text' to read every file as plain text")
        self.format = format

    def wants_file(self, relative: str) -> bool:
        """Whether a file found at ``relative`` (its path below the input directory, with ``/``) is read."""
        if any(_matches(pattern, relative) for pattern in self.exclude):
            return False
        return not self.include or any(_matches(pattern, relative) for pattern in self.include)

    def names_file(self, path: str) -> bool:
        """Whether an include pattern names the file at ``path`` (any path ending in a part the
        pattern matches: its name, or its path below an input directory)."""
        parts = path.replace("\\", "/").split("/")
        tails = ["/".join(parts[start:]) for start in range(len(parts))]
        return any(_matches(pattern, tail) for pattern in self.include for tail in tails)

    def wants_directory(self, relative: str) -> bool:
        """Whether a directory found at ``relative`` is entered."""
        return not any(_matches(pattern, relative) for pattern in self.exclude)


def is_saved_dataset(names: set[str] | Sequence[str]) -> bool:
    """Whether a directory holding these file names was written by ``save_to_disk``.

    >>> is_saved_dataset({"state.json", "dataset_info.json", "data-00000-of-00001.arrow"})
    True
    """
    return all(marker in names for marker in SAVED_DATASET_MARKERS)


def saved_dataset_files(state: bytes, where: str) -> list[str]:
    """The data files of a saved dataset, in order, from its ``state.json`` (at ``where``).

    >>> saved_dataset_files(b'{"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}', "state.json")
    ['data-00000-of-00001.arrow']
    """
    try:
        names = [entry["filename"] for entry in json.loads(state)["_data_files"]]
        if all(isinstance(name, str) and name and "/" not in name and not name.startswith(".") for name in names):
            return names
    except (ValueError, KeyError, TypeError):
        pass
    raise InputError(f"expected {shown(where)} to list the dataset's data files under \"_data_files\", as "
                     "datasets' save_to_disk writes it, found something else; save the dataset again")
