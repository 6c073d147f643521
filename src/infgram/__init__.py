"""infgram: exact n-gram and ∞-gram search over any text corpus.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["the cat sat", "the cat ran"], folder / "index", progress=False)
>>> index = infgram.Index.open(folder / "index")
>>> index.count("the cat")
2
>>> [(t.text, t.count) for t in index.next_tokens("the cat ").tokens]
[('r', 1), ('s', 1)]
"""

from .errors import (
    BuildError,
    DocumentRemovedError,
    IncompleteIndexError,
    IndexFormatError,
    IndexLockedError,
    InfgramError,
    InputError,
    LimitError,
    MemoryBudgetWarning,
    QueryError,
    UnsupportedOperationError,
)
from .build.pipeline import BuildReport, build, build_from_documents
from .change import ChangeReport, add, compact, remove
from .query.index import Index
from .query.results import (
    Document,
    DocumentsResult,
    InfgramNextTokensResult,
    InfgramProbabilityResult,
    NextToken,
    NextTokensResult,
    ProbabilityResult,
)
from .apps.contamination import EntryContamination

__version__ = "0.1.0"


def __getattr__(name: str):
    """``infgram.Client`` and ``infgram.distributed`` are imported on first use, so ``import infgram`` stays light."""
    if name == "Client":
        from .service.client import Client

        return Client
    if name == "distributed":  # Ray is imported only when a distributed function runs
        import importlib

        return importlib.import_module(".distributed", __name__)
    raise AttributeError(f"module 'infgram' has no attribute {name!r}")


__all__ = [
    "Index",
    "Client",
    "build",
    "build_from_documents",
    "BuildReport",
    "add",
    "remove",
    "compact",
    "ChangeReport",
    "Document",
    "DocumentsResult",
    "EntryContamination",
    "InfgramNextTokensResult",
    "InfgramProbabilityResult",
    "NextToken",
    "NextTokensResult",
    "ProbabilityResult",
    "InfgramError",
    "InputError",
    "BuildError",
    "IndexFormatError",
    "IncompleteIndexError",
    "IndexLockedError",
    "QueryError",
    "DocumentRemovedError",
    "LimitError",
    "MemoryBudgetWarning",
    "UnsupportedOperationError",
]
