"""The demo: index the running Python's standard library, then answer example queries.

The standard library is on every machine that runs infgram, so the demo downloads
nothing. Each ``.py`` file is one document whose metadata is its path. The index is kept
(default ``~/.cache/infgram/demo-stdlib``) and reused by later runs.
"""

from __future__ import annotations

import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import InfgramError
from ..build.pipeline import build_from_documents
from ..build.inputs import InputProblem, SourceDocument, text_or_problem
from ..query.index import Index


def standard_library_files() -> list[Path]:
    """Every ``.py`` file of the running Python's standard library, without site-packages."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "dist-packages" not in p.parts)


def _documents(files: list[Path], root: Path, left_out: list[str] | None = None) -> Iterator[SourceDocument]:
    """The files as documents; files that are empty or not UTF-8 (the standard library has a
    few of each) are left out quietly, their names added to ``left_out``.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name, data in (("a.py", b"x = 1"), ("__init__.py", b""), ("b.py", b"\\xff")):
    ...     _ = (root / name).write_bytes(data)
    >>> left: list[str] = []
    >>> [d.text for d in _documents(sorted(root.iterdir()), root, left)], left
    (['x = 1'], ['__init__.py', 'b.py'])
    """
    for number, path in enumerate(files, start=1):
        name = str(path.relative_to(root))
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            text = ""
        checked = text_or_problem(text, name, 0, "text") if text else None
        if checked is None or isinstance(checked, InputProblem):
            if left_out is not None:
                left_out.append(name)
            continue
        yield SourceDocument(text, {"path": name}, name, number)


def _timed(function: Callable[[], Any], repeats: int = 200) -> tuple[Any, float]:
    """The result and the median wall time in microseconds over ``repeats`` calls."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times) * 1e6


COUNT_QUERIES = ("def __init__(self", "import os", "raise ValueError(", "Guido van Rossum")
"""The sequences the demo counts first (and ``infgram demo --json`` reports)."""


def run_demo(out: str | Path | None = None, rebuild: bool = False, progress: bool = True) -> Index:
    out = Path(out) if out is not None else Path.home() / ".cache" / "infgram" / "demo-stdlib"
    index = None
    if not rebuild:
        try:
            index = Index.open(out)
            print(f"using the demo index in {out} (pass --rebuild to build it again)")
        except InfgramError:
            index = None
    if index is None:
        root = Path(sysconfig.get_paths()["stdlib"])
        files = standard_library_files()
        size = sum(f.stat().st_size for f in files)
        print(f"indexing the Python {sys.version.split()[0]} standard library: {len(files):,} files, "
              f"{size / 1e6:.1f} MB, in byte mode, into {out}")
        left_out: list[str] = []
        build_from_documents(_documents(files, root, left_out), out, on_error="skip", overwrite=True, progress=progress)
        if left_out:
            print(f"left out {len(left_out):,} file{'s' if len(left_out) != 1 else ''} that are empty or not UTF-8")
        index = Index.open(out)
    print()
    print(f"{index.num_documents:,} documents, {index.num_tokens:,} tokens, {len(index.shards)} shard(s)")
    print()

    for query in COUNT_QUERIES:
        count, micros = _timed(lambda q=query: index.count(q))
        print(f"count({query!r}) = {count:,}    [{micros:.1f} µs]")
    print()

    for word in ("os", "raise"):  # inside other words ("pos", "raises") or standing alone
        start = time.perf_counter()
        whole = index.count(word, whole_words=True, exact=True)
        micros = (time.perf_counter() - start) * 1e6
        print(f"count({word!r}) = {index.count(word):,}, as a whole word (whole_words=True) {whole:,}    "
              f"[{micros:,.0f} µs]")
    print()

    prompt = "raise "
    result, micros = _timed(lambda: index.next_tokens(prompt, top_k=5), repeats=20)
    print(f"next_tokens({prompt!r}): {result.prompt_count:,} occurrences    [{micros:,.0f} µs]")
    # Show the next *words*: extend each of the top next bytes greedily is overkill; show bytes.
    for token in result.tokens:
        print(f"    {token.text!r:>8}  {token.count:>8,}  {token.probability:.3f}")
    print()

    prompt, next_token = "for key, value in sorted(d.it", "e"
    result, micros = _timed(lambda: index.infgram_probability(prompt, next_token))
    print(f"infgram_probability({prompt!r}, {next_token!r}): suffix of {result.suffix_length} tokens occurs "
          f"{result.prompt_count:,} times, followed by {next_token!r} {result.count:,} times: "
          f"p = {result.probability:.3f}    [{micros:.1f} µs]")
    print()

    result, micros = _timed(lambda: index.documents("Guido van Rossum", limit=2, seed=0, context=30), repeats=20)
    print(f"documents('Guido van Rossum'): {result.num_documents:,} documents    [{micros:,.0f} µs]")
    for document in result.documents:
        snippet = " ".join(document.text.split())
        print(f"    #{document.index} {document.metadata.get('path')}: ...{snippet}...")
    print()
    print("try: infgram count", out, "'lambda x:'   |   infgram next", out, "'self.' --top-k 5")
    return index
