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

from typing import TYPE_CHECKING

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

# Imported here, not lazily: importing the subpackage infgram.build binds the name ``build``
# to it, and only this import puts the function back.
from .build.pipeline import BuildReport, build, build_from_documents

if TYPE_CHECKING:  # what type checkers and the documentation read; imported lazily below
    from .apps.contamination import EntryContamination
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
    from .service.client import Client

__version__ = "0.1.0"

# The other public names are imported when first used (PEP 562), so that ``infgram build``
# does not import the query engine (0.1 s of the command's start).
_LAZY = {
    **dict.fromkeys(["ChangeReport", "add", "compact", "remove"], ".change"),
    "Index": ".query.index",
    **dict.fromkeys(["Document", "DocumentsResult", "InfgramNextTokensResult", "InfgramProbabilityResult",
                     "NextToken", "NextTokensResult", "ProbabilityResult"], ".query.results"),
    "EntryContamination": ".apps.contamination",
    "Client": ".service.client",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # imported once
        return value
    if name == "distributed":  # Ray is imported only when a distributed function runs
        return importlib.import_module(".distributed", __name__)
    raise AttributeError(f"module 'infgram' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"distributed"})


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
