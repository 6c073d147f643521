"""Hugging Face ``datasets`` objects as build inputs: ``infgram.build(dataset, "index/")``.

A ``datasets.Dataset`` or ``datasets.IterableDataset`` is read in Arrow batches of
:data:`BATCH_ROWS` rows (``dataset.with_format("arrow").iter(...)``), so a dataset larger
than memory (memory-mapped, or streamed from the Hub) is never loaded whole. Each row is
a record, as a Parquet row is: the text field(s) make the document, the other columns its
metadata. A dataset is recognised by its type without importing ``datasets``: an object
can only be a ``Dataset`` when ``datasets`` was imported already.

A dataset saved with ``save_to_disk`` is read from its folder instead (see
:mod:`.selection`): no ``datasets`` needed.

>>> is_dataset(["a list of paths"])
False
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Iterator

BATCH_ROWS = 1024


def is_dataset(value: Any) -> bool:
    """Whether ``value`` is a ``datasets.Dataset`` or ``datasets.IterableDataset``."""
    module = sys.modules.get("datasets")
    return module is not None and isinstance(value, (module.Dataset, module.IterableDataset))


@dataclass(frozen=True, eq=False)
class DatasetSource:
    """A dataset given as an input, and its name in the build report (``<dataset N>``)."""

    dataset: Any
    name: str

    def __str__(self) -> str:
        return self.name

    @property
    def columns(self) -> list[str] | None:
        """The dataset's columns, or None when an iterable dataset does not know them yet."""
        return self.dataset.column_names

    def fingerprint(self) -> list[Any] | None:
        """What identifies the dataset's contents: its name, size and ``datasets``' own
        fingerprint; None for an iterable dataset, which has no fingerprint."""
        fingerprint = getattr(self.dataset, "_fingerprint", None)
        return None if fingerprint is None else [self.name, self.size, fingerprint]

    @property
    def size(self) -> int:
        """The bytes of the dataset's Arrow data (0 when unknown)."""
        data = getattr(self.dataset, "data", None)
        return int(getattr(data, "nbytes", 0) or 0)

    def batches(self) -> Iterator[Any]:
        """The dataset as ``pyarrow`` tables of up to :data:`BATCH_ROWS` rows."""
        return iter(self.dataset.with_format("arrow").iter(batch_size=BATCH_ROWS))
