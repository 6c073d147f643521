"""infgram against the official ``infini-gram`` package, side by side on the same corpus and machine.

    python benchmarks/vs_official.py                       # wiki + prose, byte mode and sp32k
    python benchmarks/vs_official.py --modes bytes         # one mode
    python benchmarks/vs_official.py --corpus bigbench     # the large run (~1.1 GB of JSONL)

What it does, in one run:

1. Creates the official package's own virtualenv (``~/.cache/infgram-bench/official-venv``,
   ``pip install infini-gram==2.6.0``) unless it is there already.
2. Builds both indexes from the same documents, each in a child process whose wall time and
   peak memory (``wait4``) are recorded:
   - byte mode: the whole build on both sides (official ``--token_dtype u8``, no tokenizer);
   - token mode (``tokenizer.json``): the official indexer can only tokenize through a model
     hub, so its input files (``tokenized.0``: a separator then the little-endian ids of each
     document; ``offset.0``: the byte offset of each document's separator as u64) are
     written from our own token stream and it builds the suffix array only. Our side of
     that comparison builds from the same token ids, so neither includes tokenization;
     our whole build with the tokenizer is shown too.
   The official indexer gets ``--ulimit`` (its default is above this machine's hard limit),
   ``--cpus 1`` below 16 MB (more parts silently corrupt its suffix array on small
   corpora) and paths free of "table", "offset" and "tokenized" (its engine picks index
   files by substrings of the whole path). Both run from compiled bytecode: pip compiled the
   official package at install, and ours is compiled first (see ``compile_our_bytecode``).
   With ``--build-repeats N`` each side builds N times, the two alternated, and the table
   gives the medians and the median of each run's own ratio.
3. Opens both on a warm index (every file read once; official prefetch depths 0, its best
   case when the page cache holds the index) and times every query inside each engine's
   own process (the official one through ``official_worker.py``), interleaving the two in
   chunks of 100 queries so that noise from other work on the machine hits both alike.
4. Checks every timed answer against the other engine's, and fails loudly on the first
   disagreement that is not one of the known differences listed in BENCHMARKS.md.
5. Prints the table and writes it into BENCHMARKS.md with the machine, command and date.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import venv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np

import infgram
from common import ROOT, SHARED, fetch, machine, percentile, recorded_command, sample_ngrams, split_corpus, time_calls, warm

OFFICIAL_PACKAGE = "infini-gram==2.6.0"
OFFICIAL_EXTRAS = ["numpy"]  # its indexer imports numpy without declaring it
CACHE = Path(os.environ.get("INFGRAM_BENCH_CACHE", Path.home() / ".cache" / "infgram-bench"))
WORKER = Path(__file__).with_name("official_worker.py")
CORPORA = {"quick": ["wiki", "prose"], "bigbench": ["bigbench"]}
SMALL_CORPUS_BYTES = 16 << 20
CHUNK = 100
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SECTION_TITLE = "## Against the official infini-gram package"


class Disagreement(RuntimeError):
    """The two engines answered a timed query differently (and not by a known difference)."""


# -- the official package ----------------------------------------------------------------------


def official_python(venv_dir: Path) -> Path:
    """The official package's virtualenv, created and installed on first use."""
    python = venv_dir / "bin" / "python"
    probe = [str(python), "-c", "import infini_gram.engine, infini_gram.indexing"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {venv_dir} with {OFFICIAL_PACKAGE} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run([str(python), "-m", "pip", "install", "-q", OFFICIAL_PACKAGE, *OFFICIAL_EXTRAS], check=True)
    subprocess.run(probe, check=True)
    return python


def transformers_stub(folder: Path) -> Path:
    """A stand-in ``transformers`` module for the official indexer in byte mode.

    Its tokenize step imports transformers even when there is no tokenizer (byte mode),
    only to quiet its logging; the stub saves installing it (and its import time, which
    would count against the official build).
    """
    package = folder / "transformers"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        "class _Logging:\n    @staticmethod\n    def set_verbosity(level):\n        pass\n\n"
        "class utils:\n    logging = _Logging\n", encoding="utf-8")
    return folder


class OfficialWorker:
    """The official engine in its own process; every call is timed there."""

    def __init__(self, python: Path):
        self.process = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1)

    def request(self, **request: Any) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the official worker stopped (exit code {self.process.wait()})")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"the official worker failed on {str(request)[:300]}:\n{answer['error']}")
        return answer

    def time(self, method: str, calls: list[list[Any]], **kwargs: Any) -> tuple[list[int], list[Any]]:
        answer = self.request(op="time", method=method, calls=calls, kwargs=kwargs)
        return answer["times_ns"], answer["results"]

    def close(self) -> None:
        try:
            self.request(op="quit")
        finally:
            self.process.wait(timeout=30)


# -- builds -----------------------------------------------------------------------------------


@dataclass
class Measured:
    seconds: float
    peak_bytes: int
    output: str


_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run a command to its end; its wall time and the peak RSS of it and its waited-for children.

    The command starts from a small launcher process, not from this one: a child's peak RSS
    as the kernel reports it includes the memory of the process it was forked from (the
    high-water mark of the address space it replaced at exec), and this process holds
    indexes and token streams.
    """
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"infgram-bench-rss-{os.getpid()}"
    start = time.perf_counter()
    process = subprocess.run([sys.executable, "-c", _LAUNCHER, str(report), *command], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {process.returncode}:\n{process.stdout[-3000:]}")
    peak_kib = int(report.read_text())
    report.unlink()
    return Measured(seconds, peak_kib * 1024, process.stdout)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def compile_our_bytecode() -> None:
    """Byte-compile the infgram the children import, as ``pip install`` compiled the official
    package in its venv. A source checkout run with ``PYTHONDONTWRITEBYTECODE`` (set on this
    machine) would otherwise compile every module again in each timed child: about 0.2 s of a
    3.5 s build that the official side does not pay. The files go to ``__pycache__`` beside
    the sources (ignored by git), where Python reads them even when it writes none."""
    compileall.compile_dir(str(Path(infgram.__file__).resolve().parent), quiet=1)


def our_env() -> dict[str, str]:
    """Children import the same infgram as this process (a work tree's ``src`` first)."""
    source = str(Path(infgram.__file__).resolve().parents[1])
    return {"PYTHONPATH": source + os.pathsep + os.environ.get("PYTHONPATH", "")}


def build_ours_from_jsonl(corpus: Path, out: Path, tokenizer: str, memory_gib: int) -> Measured:
    shutil.rmtree(out, ignore_errors=True)
    return run_measured([sys.executable, "-m", "infgram", "build", str(corpus), "--out", str(out), "--tokenizer",
                         tokenizer, "--memory", f"{memory_gib}G", "--quiet"], our_env())


_FROM_IDS = """
import json, sys, time
import numpy as np
import infgram
tokens_path, out, width, vocab_size, memory = sys.argv[1:]
width, vocab_size = int(width), int(vocab_size)
tokens = np.load(tokens_path, mmap_mode="r")
ends = np.flatnonzero(tokens == (1 << (8 * width)) - 1)
starts = np.concatenate([[0], ends[:-1] + 1])
documents = ({"ids": tokens[s:e]} for s, e in zip(starts.tolist(), ends.tolist()))
start = time.perf_counter()
infgram.build_from_documents(documents, out, token_width=width, vocab_size=vocab_size, memory=memory, progress=False)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def build_ours_from_ids(tokens_path: Path, out: Path, width: int, vocab_size: int, memory_gib: int) -> Measured:
    """Our build from token ids (no tokenizer), timed inside the child like the official step 2."""
    shutil.rmtree(out, ignore_errors=True)
    measured = run_measured([sys.executable, "-c", _FROM_IDS, str(tokens_path), str(out), str(width), str(vocab_size),
                             f"{memory_gib}G"], our_env())
    measured.seconds = json.loads(measured.output.strip().splitlines()[-1])["seconds"]
    return measured


def official_cpus(size_bytes: int) -> int:
    # More than one part on a corpus of a few MB silently corrupts the official suffix array.
    return 1 if size_bytes < SMALL_CORPUS_BYTES else (os.cpu_count() or 1)


def official_indexing(python: Path, data_dir: Path, save_dir: Path, token_dtype: str, size_bytes: int,
                      memory_gib: int, stub: Path | None) -> Measured:
    import resource

    _, hard_limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    ulimit = hard_limit if hard_limit != resource.RLIM_INFINITY else 1 << 20
    env = {"PYTHONPATH": str(stub)} if stub else {}
    return run_measured([str(python), "-m", "infini_gram.indexing", "--data_dir", str(data_dir.resolve()),
                         "--save_dir", str(save_dir.resolve()), "--token_dtype", token_dtype,
                         "--cpus", str(official_cpus(size_bytes)), "--mem", str(memory_gib),
                         "--ulimit", str(ulimit)], env)


def write_official_inputs(tokens: np.ndarray, separator: int, save_dir: Path) -> int:
    """``tokenized.0`` and ``offset.0`` in the official format, from our token stream.

    Ours puts the separator after each document; the official format puts it before:
    the same sequence shifted by one. Returns the size of ``tokenized.0`` in bytes.
    """
    width = tokens.dtype.itemsize
    official = np.empty(len(tokens), dtype=f"<u{width}")
    official[0] = separator
    official[1:] = tokens[:-1]
    ends = np.flatnonzero(tokens == separator)
    document_starts = np.concatenate([[0], ends[:-1] + 1])
    save_dir.mkdir(parents=True, exist_ok=True)
    official.tofile(save_dir / "tokenized.0")
    (document_starts * width).astype("<u8").tofile(save_dir / "offset.0")
    return official.nbytes


_STEP_2 = re.compile(r"Step 2 \(build_sa\): Done\. Took ([0-9.]+) seconds")


# -- queries ----------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    ours_ns: list[int] = field(default_factory=list)
    official_ns: list[int] = field(default_factory=list)
    unit: str = "µs"
    note: str = ""
    skipped: str = ""


@dataclass
class Context:
    index: infgram.Index
    worker: OfficialWorker
    eos: int
    allowed: Counter = field(default_factory=Counter)


def disagree(row: str, query: Any, ours: Any, official: Any) -> None:
    raise Disagreement(f"{row}: the engines disagree on query {str(query)[:400]}\n"
                       f"  infgram:  {str(ours)[:1500]}\n  official: {str(official)[:1500]}")


def interleaved(context: Context, row: Row, method: str, official_calls: list[list[Any]], ours: Callable[[Any], Any],
                our_arguments: Sequence[Any], check: Callable[[Any, Any, Any], None], **kwargs: Any) -> Row:
    """Time the same queries on both engines in alternating chunks; check every answer.

    Every query runs once untimed on both engines first: both map their index files, and a
    warm index means their pages are mapped into the process too, not only in the page cache.
    """
    context.worker.time(method, official_calls, **kwargs)
    for argument in our_arguments:
        ours(argument)
    for number, start in enumerate(range(0, len(official_calls), CHUNK)):
        calls = official_calls[start : start + CHUNK]
        arguments = our_arguments[start : start + CHUNK]
        results: list[Any] = []

        def run_ours() -> None:
            for argument in arguments:
                begin = time.perf_counter_ns()
                results.append(ours(argument))
                row.ours_ns.append(time.perf_counter_ns() - begin)

        if number % 2:
            run_ours()
        official_ns, official_results = context.worker.time(method, calls, **kwargs)
        row.official_ns.extend(official_ns)
        if not number % 2:
            run_ours()
        for argument, mine, theirs in zip(arguments, results, official_results):
            check(argument, mine, theirs)
    return row


def check_count(row: str) -> Callable:
    def check(query: Any, ours: int, official: int) -> None:
        if ours != official:
            disagree(row, query, ours, official)
    return check


def check_probability(row: str) -> Callable:
    def check(query: Any, ours: Any, official: list[int]) -> None:
        if [ours.prompt_count, ours.count] != official:
            disagree(row, query, ours, official)
    return check


def distribution(result: Any, eos: int) -> dict[int, int]:
    """Our next-token distribution as the official engine reports it: document ends as eos."""
    counts: dict[int, int] = {}
    for token in result.tokens:
        key = eos if token.id is None else token.id
        counts[key] = counts.get(key, 0) + token.count
    return counts


def check_next_tokens(context: Context, row: str, byte_mode: bool) -> Callable:
    def check(prompt: Any, ours: Any, official: dict[str, Any]) -> None:
        mine = distribution(ours, context.eos)
        theirs = {token: count for token, count in official["counts"]}
        if ours.prompt_count != official["prompt_cnt"] or sum(theirs.values()) != official["prompt_cnt"]:
            disagree(row, prompt, (ours.prompt_count, mine), official)
        if mine == theirs:
            return
        if byte_mode and theirs == {context.eos: official["prompt_cnt"]}:
            context.allowed["next-token distribution: all mass on the eos id (official, byte mode)"] += 1
            return
        if official["approx"]:
            # Above max_support the official engine reads one suffix per block and credits the
            # whole block to its token: every token it names must be a real next token.
            if not set(theirs) <= set(mine):
                disagree(row, prompt, mine, official)
            context.allowed["next-token distribution: approximate above max_support (official)"] += 1
            return
        disagree(row, prompt, mine, official)
    return check


def check_infgram(context: Context, row: str) -> Callable:
    num_documents = context.index.num_documents

    def check(query: Any, ours: Any, official: list[int]) -> None:
        suffix_length, prompt_count, count = official
        expected_prompt = ours.prompt_count
        if ours.suffix_length == 0 and suffix_length == 0:
            # The official count([]) counts one separator per document as a token.
            expected_prompt += num_documents
            context.allowed["∞-gram with an empty suffix: count([]) includes separators (official)"] += 1
        if [ours.suffix_length, expected_prompt, ours.count] != [suffix_length, prompt_count, count]:
            disagree(row, query, ours, official)
    return check


def document_ids(index: infgram.Index, document: int) -> np.ndarray:
    number, local = index.shard_set.locate_document(document)
    return index.shards[number].document_tokens(local)


def check_documents(context: Context, row: str) -> Callable:
    index = context.index

    def check(query: list[int], ours: Any, official: dict[str, Any]) -> None:
        occurrences = index.count(query)
        if official["cnt"] != occurrences or not 0 < ours.num_documents <= occurrences:
            disagree(row, query, (ours.num_documents, occurrences), official["cnt"])
        for document, length, needle_offset, token_ids in official["documents"]:
            mine = document_ids(index, document).astype(np.int64)
            if length != len(mine) or token_ids[needle_offset : needle_offset + len(query)] != query:
                disagree(row, query, ("document", document, len(mine)), (document, length, needle_offset))
            if not _contains(mine, np.asarray(token_ids, dtype=np.int64)):
                disagree(row, query, ("document", document, "lacks the official window"), token_ids[:50])
        context.allowed["document search: official counts occurrences and samples them; infgram counts documents"] += 1
    return check


def _contains(haystack: np.ndarray, needle: np.ndarray) -> bool:
    """Whether ``needle`` is a contiguous run of ``haystack`` (token-aligned)."""
    if len(needle) == 0:
        return True
    big, small = haystack.astype("<u8").tobytes(), needle.astype("<u8").tobytes()
    at = big.find(small)
    while at != -1:
        if at % 8 == 0:
            return True
        at = big.find(small, at + 1)
    return False


# -- the run ----------------------------------------------------------------------------------


def micros(values: Sequence[int]) -> tuple[float, float]:
    return statistics.median(values) / 1e3, percentile(values, 0.99) / 1e3


def measure_queries(context: Context, tokens: np.ndarray, held_out_ids: list[np.ndarray], args: argparse.Namespace,
                    byte_mode: bool) -> list[Row]:
    index, worker = context.index, context.worker
    separator = index.separator_id
    rng = np.random.default_rng(args.seed)
    queries = args.queries
    rows: list[Row] = []

    def grams(n: int, count: int = queries) -> list[list[int]]:
        return sample_ngrams(tokens, separator, n, count, rng)

    for n in (1, 2, 5, 10, 100):
        found = grams(n)
        print(f"  count, n = {n}", flush=True)
        rows.append(interleaved(context, Row(f"count, n = {n}"), "count", [[g] for g in found], index.count, found,
                                check_count(f"count n={n}")))

    print("  probability", flush=True)
    pairs = []
    for gram in grams(4):
        # Half of the continuations are the corpus's own, half a random token (often count 0).
        next_token = gram[3] if len(pairs) % 2 == 0 else int(tokens[rng.integers(0, len(tokens))])
        if next_token == separator:
            next_token = gram[3]
        pairs.append((gram[:3], next_token))
    rows.append(interleaved(context, Row("probability, 3-token prompt"), "prob", [list(p) for p in pairs],
                            lambda pair: index.probability(pair[0], pair[1]), pairs, check_probability("probability")))

    for n in (1, 4, 9):
        prompts = grams(n)
        print(f"  next-token distribution, {n}-token prompts", flush=True)
        row = Row(f"next-token distribution, {n}-token prompt",
                  note="infgram exact; official approximate above 1,000 occurrences (max_support)")
        rows.append(interleaved(context, row, "ntd", [[p] for p in prompts], index.next_tokens, prompts,
                                check_next_tokens(context, f"ntd {n}", byte_mode)))

    print("  ∞-gram probability", flush=True)
    in_corpus = [(g[:-1], g[-1]) for g in grams(args.context_tokens + 1)]
    held_out = []
    for ids in held_out_ids:
        if len(ids) > args.context_tokens + 1:
            at = int(rng.integers(args.context_tokens, len(ids)))
            held_out.append((ids[at - args.context_tokens : at].tolist(), int(ids[at])))
    held_out = (held_out * (queries // max(len(held_out), 1) + 1))[:queries] if held_out else []
    for name, contexts in (("from the corpus", in_corpus), ("held out", held_out)):
        lengths: list[int] = []

        def ours(pair: tuple[list[int], int]) -> Any:
            return index.infgram_probability(pair[0], pair[1])

        row = interleaved(context, Row(f"∞-gram probability, {args.context_tokens}-token contexts {name}"),
                          "infgram_prob", [list(p) for p in contexts], ours, contexts, check_infgram(context, name))
        lengths = [index.infgram_probability(p, t).suffix_length for p, t in contexts[:300]]
        row.note = f"median suffix {statistics.median(lengths):.0f} tokens" if lengths else ""
        rows.append(row)

    print("  document search", flush=True)
    phrases = grams(5)
    rows.append(interleaved(
        context, Row("document search, 5-token phrase, 10 documents", note="infgram: 10 documents, ±500 tokens "
                     "around the match; official: 10 sampled occurrences, max_disp_len 1000"),
        "search_docs", [[p] for p in phrases], lambda p: index.documents(p, limit=10, context=500), phrases,
        check_documents(context, "documents"), maxnum=10, max_disp_len=1000))

    print("  batch counts", flush=True)
    batch = np.array(grams(3, args.batch_queries), dtype=np.int64)
    official_part = batch[: args.official_batch_queries].tolist()
    official_ns, official_counts = worker.time("count", [[g] for g in official_part])
    start = time.perf_counter_ns()
    counts = index.count_batch(batch)
    ours_ns = time.perf_counter_ns() - start
    mismatch = np.flatnonzero(counts[: len(official_counts)] != np.array(official_counts))
    if len(mismatch):
        disagree("count_batch", official_part[mismatch[0]], counts[mismatch[0]], official_counts[mismatch[0]])
    rows.append(Row(f"batch counts, 3-grams ({len(batch):,} in one call; official: one call each for "
                    f"{len(official_part):,})", [ours_ns / len(batch)], [sum(official_ns) / len(official_ns)],
                    unit="M counts/s"))

    rows.extend(measure_sequence_scoring(context, held_out_ids, args))
    return rows


def per_token_results(whole: Any) -> list[Any]:
    """The per-token results of ``Index.infgram_probabilities``, one object per token.

    It answers with parallel lists (``suffix_lengths``, ``prompt_counts``, ``counts``);
    a list of per-token results is taken as it is.
    """
    if hasattr(whole, "suffix_lengths"):
        return [SimpleNamespace(suffix_length=length, prompt_count=prompt, count=count)
                for length, prompt, count in zip(whole.suffix_lengths, whole.prompt_counts, whole.counts)]
    return list(whole)


def measure_sequence_scoring(context: Context, held_out_ids: list[np.ndarray], args: argparse.Namespace) -> list[Row]:
    """∞-gram probability of every token of a 1,000-token text, per token."""
    index, worker = context.index, context.worker
    length = args.sequence_tokens
    texts = [ids[:length].tolist() for ids in held_out_ids if len(ids) >= length][: args.sequences]
    if not texts:
        return [Row(f"∞-gram scoring of a {length}-token text, per token", skipped="no held-out text is that long")]
    print("  ∞-gram scoring of whole texts", flush=True)
    check = check_infgram(context, "∞-gram scoring")
    official_per_token, loop_per_token, whole_per_token = [], [], []
    method = getattr(index, "infgram_probabilities", None)
    for ids in texts:
        calls = [[ids[:i], ids[i]] for i in range(len(ids))]
        official_ns, official_results = worker.time("infgram_prob", calls)
        official_per_token.append(sum(official_ns) / len(ids))
        loop_ns = time_calls(lambda call: index.infgram_probability(call[0], call[1]), calls)
        loop_per_token.append(sum(loop_ns) / len(ids))
        for call, theirs in zip(calls, official_results):
            check(call, index.infgram_probability(call[0], call[1]), theirs)
        if method is not None:
            start = time.perf_counter_ns()
            whole = method(ids)
            whole_per_token.append((time.perf_counter_ns() - start) / len(ids))
            results = per_token_results(whole)
            if len(results) != len(ids):
                disagree("infgram_probabilities", ids[:20], f"{len(results)} results", f"{len(ids)} tokens")
            for call, mine, theirs in zip(calls, results, official_results):
                check(call, mine, theirs)
    name = f"∞-gram scoring of a {length}-token held-out text, per token ({len(texts)} texts)"
    rows = [Row(name + ": one infgram_probability call per token", loop_per_token, official_per_token)]
    if method is None:
        rows.append(Row(name + ": Index.infgram_probabilities (one call)", [], official_per_token,
                        skipped="this infgram has no Index.infgram_probabilities yet"))
    else:
        rows.append(Row(name + ": Index.infgram_probabilities (one call)", whole_per_token, official_per_token,
                        note="reuses each position's search for the next"))
    return rows


@dataclass
class BuildFigures:
    ours: Measured
    official: Measured
    ours_index_bytes: int
    official_index_bytes: int
    ours_end_to_end: Measured | None = None
    official_inputs_bytes: int = 0
    ours_seconds: list[float] = field(default_factory=list)
    """The wall time of each of our builds, in run order (one per ``--build-repeats``)."""
    official_seconds: list[float] = field(default_factory=list)

    def medians(self) -> tuple[float, float, float]:
        """Our median, the official median, and the median of each pair's ratio (official
        over ours: a pair ran one after the other, so it shares the host's drift)."""
        ours = self.ours_seconds or [self.ours.seconds]
        official = self.official_seconds or [self.official.seconds]
        paired = [theirs / mine for mine, theirs in zip(ours, official)]
        return statistics.median(ours), statistics.median(official), statistics.median(paired)


def format_size(num_bytes: float) -> str:
    return f"{num_bytes / 1e6:,.0f} MB" if num_bytes >= 1e7 else f"{num_bytes / 1e6:,.1f} MB"


def render(label: str, mode: str, num_documents: int, num_tokens: int, corpus_bytes: int,
           builds: BuildFigures, rows: list[Row], context: Context | None, started: str, load: tuple[float, float]) -> str:
    byte_mode = mode == "bytes"
    lines = [f"### {label}, {'byte mode' if byte_mode else Path(mode).name.replace('.tokenizer.json', '') + ' tokenizer'}",
             "",
             f"Corpus: {num_documents:,} documents, {num_tokens:,} tokens, {corpus_bytes / 1e6:,.1f} MB of JSONL. "
             f"Run on {started}; load average {load[0]:.1f} at the start and {load[1]:.1f} at the end"
             + (" (the machine was shared with other work)" if max(load) > 1.5 else "") + ". "
             "Both sides run from compiled bytecode, as a `pip install` leaves them.",
             "",
             "| measure | infgram | official | ratio (infgram / official) |",
             "|---|---|---|---|"]
    what = ("whole build, JSONL to index" if byte_mode
            else "suffix-array build from the same token ids (no tokenization)")
    ours, official = builds.ours, builds.official
    ours_median, official_median, paired = builds.medians()
    repeats = len(builds.ours_seconds)
    if repeats > 1:
        lines.append(f"| build: {what}, wall time, median of {repeats} runs each (ours, then the official one, "
                     f"order flipped every run) | {ours_median:,.1f} s | {official_median:,.1f} s | "
                     f"{ours_median / official_median:.2f}x ({official_median / ours_median:.1f}x faster; "
                     f"median of each run's own ratio {paired:.1f}x) |")
        lines.append(f"| build: every run, wall time | {', '.join(f'{x:.1f}' for x in builds.ours_seconds)} s | "
                     f"{', '.join(f'{x:.1f}' for x in builds.official_seconds)} s | |")
    else:
        lines.append(f"| build: {what}, wall time | {ours.seconds:,.1f} s | {official.seconds:,.1f} s | "
                     f"{ours.seconds / official.seconds:.2f}x ({official.seconds / ours.seconds:.1f}x faster) |")
    lines.append(f"| build: peak memory (RSS) | {format_size(ours.peak_bytes)} | {format_size(official.peak_bytes)} | "
                 f"{ours.peak_bytes / official.peak_bytes:.2f}x |")
    lines.append(f"| index size | {format_size(builds.ours_index_bytes)}, "
                 f"{builds.ours_index_bytes / num_tokens:.2f} bytes per token | "
                 f"{format_size(builds.official_index_bytes)}, {builds.official_index_bytes / num_tokens:.2f} bytes "
                 f"per token | {builds.ours_index_bytes / builds.official_index_bytes:.2f}x |")
    if builds.ours_end_to_end is not None:
        whole = builds.ours_end_to_end
        lines.append(f"| infgram whole build with the tokenizer (JSONL, tokenize, sort, write) | {whole.seconds:,.1f} s,"
                     f" {format_size(whole.peak_bytes)} peak | (cannot tokenize offline) | |")
    for row in rows:
        if row.skipped:
            lines.append(f"| {row.name} | skipped: {row.skipped} | {_figure(row.official_ns, row.unit)} | |")
            continue
        ratio = _ratio(row)
        note = f" ({row.note})" if row.note else ""
        lines.append(f"| {row.name}{note} | {_figure(row.ours_ns, row.unit)} | {_figure(row.official_ns, row.unit)} "
                     f"| {ratio} |")
    if context and context.allowed:
        lines.append("")
        lines.append("Known differences met (answers compared on what both define; see the list above): "
                     + "; ".join(f"{name}: {count:,}" for name, count in sorted(context.allowed.items())) + ".")
    return "\n".join(lines) + "\n"


def _figure(values: list[float], unit: str) -> str:
    if not values:
        return "—"
    if unit == "M counts/s":
        return f"{1e3 / statistics.median(values):.2f} M counts/s"
    if len(values) < 20:
        return f"{statistics.median(values) / 1e3:,.2f} µs"
    median, p99 = micros(values)
    return f"{median:,.1f} µs (p99 {p99:,.0f})" if median >= 10 else f"{median:,.2f} µs (p99 {p99:,.1f})"


def _ratio(row: Row) -> str:
    if not row.ours_ns or not row.official_ns:
        return ""
    ratio = statistics.median(row.ours_ns) / statistics.median(row.official_ns)
    return f"{ratio:.3f}x" if ratio < 0.1 else f"{ratio:.2f}x"


def write_benchmarks(block_key: str, text: str, command: str) -> None:
    """Put ``text`` into BENCHMARKS.md under the comparison section, replacing its earlier version."""
    content = BENCHMARKS_MD.read_text(encoding="utf-8")
    begin, end = f"<!-- vs-official {block_key} -->", f"<!-- /vs-official {block_key} -->"
    block = f"{begin}\n{text}\nCommand: `{command}`; machine: {machine()}.\n{end}"
    if begin in content:
        content = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, content, flags=re.S)
    else:
        if SECTION_TITLE not in content:
            content = content.rstrip("\n") + f"\n\n{SECTION_TITLE}\n"
        marker = "<!-- vs-official results end -->"
        if marker in content:
            content = content.replace(marker, block + "\n\n" + marker)
        else:
            content = content.rstrip("\n") + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(content, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="quick",
                        help="quick: wiki + prose (minutes); bigbench: ~1.1 GB of JSONL")
    parser.add_argument("--modes", nargs="+", default=["bytes", "sp32k"],
                        help="'bytes' and/or tokenizer names under ../shared/tokenizers (e.g. sp32k) or paths")
    parser.add_argument("--queries", type=int, default=1000, help="queries per row (at least 1,000 for the record)")
    parser.add_argument("--context-tokens", type=int, default=100, help="∞-gram context length")
    parser.add_argument("--batch-queries", type=int, default=200_000)
    parser.add_argument("--official-batch-queries", type=int, default=20_000)
    parser.add_argument("--sequence-tokens", type=int, default=1000)
    parser.add_argument("--sequences", type=int, default=3)
    parser.add_argument("--memory-gib", type=int, default=8, help="the same memory budget for both builds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help=f"working folder (default {CACHE}/work/CORPUS)")
    parser.add_argument("--official-venv", default=str(CACHE / "official-venv"))
    parser.add_argument("--builds-only", action="store_true", help="build and compare builds, time no queries")
    parser.add_argument("--build-repeats", type=int, default=1,
                        help="build each index this many times, the two sides alternated, and give the medians "
                             "(on a noisy host, 5 is steadier than 1)")
    parser.add_argument("--ours-only", action="store_true", help="only our build (for corpora too large to wait for)")
    parser.add_argument("--no-write", action="store_true", help="print the table but leave BENCHMARKS.md alone")
    args = parser.parse_args()
    command = recorded_command("vs_official.py", sys.argv[1:])

    work = Path(args.work or CACHE / "work" / args.corpus).resolve()
    for word in ("table", "offset", "tokenized"):
        if word in str(work):
            parser.error(f"the working folder {work} holds {word!r}, which the official engine would take for an "
                         "index file; choose another --work")
    corpus_dir = work / "corpus"
    print(f"corpus {args.corpus}: fetching and splitting into {corpus_dir}", flush=True)
    held_out_texts = split_corpus(fetch(CORPORA[args.corpus]), corpus_dir / "corpus.jsonl", 0.01, args.seed)
    corpus = corpus_dir / "corpus.jsonl"
    corpus_bytes = corpus.stat().st_size
    python = None if args.ours_only else official_python(Path(args.official_venv))
    compile_our_bytecode()
    label = {"quick": "wiki + prose", "bigbench": "bigbench"}[args.corpus]

    for mode in args.modes:
        started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        load_start = os.getloadavg()[0]
        byte_mode = mode == "bytes"
        tokenizer = "bytes" if byte_mode else str(Path(mode) if Path(mode).exists()
                                                   else SHARED / "tokenizers" / f"{mode}.tokenizer.json")
        name = "bytes" if byte_mode else Path(tokenizer).name.replace(".tokenizer.json", "")
        folder = work / name
        ours_dir, official_dir = folder / "infgram", folder / "official"
        print(f"[{name}] building", flush=True)

        def build_ours() -> Measured:
            """Our timed build: the whole build in byte mode, else the build from the token
            ids the first build wrote (``tokens_path``)."""
            if byte_mode:
                return build_ours_from_jsonl(corpus, ours_dir, tokenizer, args.memory_gib)
            measured = build_ours_from_ids(tokens_path, folder / "infgram-from-ids", index.token_width,
                                           index.vocab_size, args.memory_gib)
            shutil.rmtree(folder / "infgram-from-ids")
            return measured

        if byte_mode:
            ours = build_ours()
            ours_end_to_end = None
        else:
            ours_end_to_end = build_ours_from_jsonl(corpus, ours_dir, tokenizer, args.memory_gib)
        index = infgram.Index.open(ours_dir)
        print(f"[{name}] infgram: {index.num_documents:,} documents, {index.num_tokens:,} tokens", flush=True)
        tokens = np.concatenate([np.asarray(shard.tokens) for shard in index.shards])
        if not byte_mode:
            tokens_path = folder / "token-stream.npy"
            np.save(tokens_path, tokens.astype(f"<u{index.token_width}"))
            ours = build_ours()
        if args.ours_only:
            whole = ours_end_to_end or ours
            print(f"[{name}] infgram whole build (JSONL to index): {whole.seconds:.1f} s, peak "
                  f"{format_size(whole.peak_bytes)}, {corpus_bytes / 1e6 / whole.seconds:.1f} MB/s of JSONL, "
                  f"{index.num_tokens / 1e6 / whole.seconds:.2f} M tokens/s", flush=True)
            if ours_end_to_end is not None:
                print(f"[{name}] infgram build from the token ids: {ours.seconds:.1f} s, peak "
                      f"{format_size(ours.peak_bytes)}, {index.num_tokens / 1e6 / ours.seconds:.2f} M tokens/s",
                      flush=True)
            continue

        def build_official() -> Measured:
            shutil.rmtree(official_dir, ignore_errors=True)
            if byte_mode:
                stub = transformers_stub(work / "official-stub")
                return official_indexing(python, corpus_dir, official_dir, "u8", corpus_bytes, args.memory_gib, stub)
            size = write_official_inputs(tokens, index.separator_id, official_dir)
            measured = official_indexing(python, corpus_dir, official_dir, f"u{8 * index.token_width}", size,
                                         args.memory_gib, None)
            step = _STEP_2.search(measured.output)
            if step is None:
                raise RuntimeError(f"the official indexer's output has no step-2 time:\n{measured.output[-2000:]}")
            measured.seconds = float(step.group(1))
            return measured

        official = build_official()
        ours_seconds, official_seconds = [ours.seconds], [official.seconds]
        for repeat in range(1, args.build_repeats):
            # Alternate which side goes first, so that a drift of the host favours neither.
            if repeat % 2:
                official_seconds.append(build_official().seconds)
                ours_seconds.append(build_ours().seconds)
            else:
                ours_seconds.append(build_ours().seconds)
                official_seconds.append(build_official().seconds)
            print(f"[{name}] build run {repeat + 1}: infgram {ours_seconds[-1]:.1f} s, official "
                  f"{official_seconds[-1]:.1f} s", flush=True)
        index = infgram.Index.open(ours_dir)  # the index of the last build (the same bytes as the first)
        (folder / "official-build.log").write_text(official.output, encoding="utf-8")  # its steps' own timings
        builds = BuildFigures(ours, official, index.info()["index_bytes"],
                              folder_bytes(official_dir), ours_end_to_end, ours_seconds=ours_seconds,
                              official_seconds=official_seconds)
        ours_median, official_median, paired = builds.medians()
        print(f"[{name}] builds: infgram {ours.seconds:.1f} s / {format_size(ours.peak_bytes)}, official "
              f"{official.seconds:.1f} s / {format_size(official.peak_bytes)}"
              + (f"; over {args.build_repeats} runs each: medians {ours_median:.1f} s and {official_median:.1f} s "
                 f"({official_median / ours_median:.1f}x), median of each run's own ratio {paired:.1f}x"
                 if args.build_repeats > 1 else ""), flush=True)

        rows: list[Row] = []
        context = None
        if not args.builds_only:
            separator = index.separator_id
            eos = separator - 1  # an id no document holds: the official engine's name for a document end
            if eos < index.vocab_size and index.count([eos]) > 0:
                raise RuntimeError(f"id {eos} occurs in the corpus; it cannot stand for document ends")
            warm([p for p in ours_dir.rglob("*") if p.is_file()])
            worker = OfficialWorker(python)
            try:
                answer = worker.request(op="open", index_dir=str(official_dir), token_dtype=f"u{8 * index.token_width}",
                                        eos_token_id=eos, vocab_size=separator)
                if answer["num_documents"] != index.num_documents:
                    raise Disagreement(f"the official index holds {answer['num_documents']:,} documents, "
                                       f"infgram {index.num_documents:,}")
                context = Context(index, worker, eos)
                held_out_ids = [index.tokenize(text) for text in held_out_texts]
                print(f"[{name}] timing queries ({args.queries:,} per row)", flush=True)
                rows = measure_queries(context, tokens, held_out_ids, args, byte_mode)
            finally:
                worker.close()
        text = render(label, tokenizer, index.num_documents, index.num_tokens, corpus_bytes, builds, rows,
                      context, started, (load_start, os.getloadavg()[0]))
        print()
        print(text, flush=True)
        if not args.no_write and not args.builds_only:
            write_benchmarks(f"{args.corpus} {name}", text, command)


if __name__ == "__main__":
    main()
