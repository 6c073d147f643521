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


def _documents(files: list[Path], root: Path) -> Iterator[SourceDocument | InputProblem]:
    for number, path in enumerate(files, start=1):
        name = str(path.relative_to(root))
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as error:
            yield InputProblem(name, 0, "invalid_utf8", f"cannot read as UTF-8 ({error})")
            continue
        checked = text_or_problem(text, name, 0, "text")
        yield checked if isinstance(checked, InputProblem) else SourceDocument(text, {"path": name}, name, number)


def _timed(function: Callable[[], Any], repeats: int = 200) -> tuple[Any, float]:
    """The result and the median wall time in microseconds over ``repeats`` calls."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times) * 1e6


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
        build_from_documents(_documents(files, root), out, on_error="skip", overwrite=True, progress=progress)
        index = Index.open(out)
    print()
    print(f"{index.num_documents:,} documents, {index.num_tokens:,} tokens, {len(index.shards)} shard(s)")
    print()

    for query in ("def __init__(self", "import os", "raise ValueError(", "Guido van Rossum"):
        count, micros = _timed(lambda q=query: index.count(q))
        print(f"count({query!r}) = {count:,}    [{micros:.1f} µs]")
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
