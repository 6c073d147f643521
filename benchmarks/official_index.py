"""infgram against the official engine, both reading the SAME official infini-gram index.

    python benchmarks/official_index.py                  # 12 MB of wiki + prose, byte mode (u8)
    python benchmarks/official_index.py --mode sp32k     # u16 token ids (a tokenizer of ../shared/tokenizers)
    python benchmarks/official_index.py --megabytes 40 --queries 2000

What it does, in one run:

1. Builds an official index with the official indexer (``infini-gram==2.6.0`` in its own
   virtualenv, as ``vs_official.py`` makes it; same quirks: ``--ulimit``, ``--cpus 1`` below
   16 MB, a folder name free of the words its engine looks for in file names) from the first
   ``--megabytes`` of the wiki + prose corpus. With a tokenizer (``--mode sp32k``) the official
   indexer cannot tokenize offline, so its ``tokenized.0`` and ``offset.0`` are written from
   our token stream (``vs_official.write_official_inputs``) and it builds the suffix array.
2. Opens it with infgram (``Index.open(dir)``: in place, no conversion, nothing written) and
   with the official engine in its own process (``official_worker.py``, prefetch depths 0:
   its best case on a warm index).
3. Times count (n = 1, 5, 20) and the ∞-gram probability (100-token contexts from the
   corpus) on both, interleaved in chunks of 100 queries, every answer checked against the
   other engine's (the known differences of ``vs_official.py`` allowed), on a warm index
   (the page cache holds it: "in RAM").
4. Prints the table and writes it into BENCHMARKS.md.

5. From disk: the index's pages are dropped from the page cache (``posix_fadvise``
   ``DONTNEED``, while no process maps them), then each engine, in a fresh process that does
   not warm the files, answers ``--cold-queries`` queries once, each timed; again for the
   other engine (the official one with its default prefetch depths). The first queries read
   the disk, later ones find more and more pages in the cache, as on any cold start; on a
   small index, the kernel's read-ahead on infgram's maps brings much of it in within the
   first queries.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import shutil
import subprocess
import statistics
import sys
from collections import Counter
from pathlib import Path

import numpy as np

import infgram
from common import SHARED, fetch, machine, sample_ngrams, split_corpus, warm
from vs_official import (
    CACHE,
    our_env,
    write_official_inputs,
    Context,
    OfficialWorker,
    Row,
    _figure,
    _ratio,
    check_count,
    check_infgram,
    check_next_tokens,
    check_probability,
    interleaved,
    official_indexing,
    official_python,
    transformers_stub,
    write_benchmarks,
)


_COLD_OURS = """
import json, sys, time
import infgram
index_dir, method, calls = sys.argv[1], sys.argv[2], json.loads(open(sys.argv[3]).read())
index = infgram.Index.open(index_dir)
times, answers = [], []
for call in calls:
    start = time.perf_counter_ns()
    answer = index.count(call[0]) if method == "count" else index.infgram_probability(call[0], call[1])
    times.append(time.perf_counter_ns() - start)
    answers.append(answer if method == "count" else [answer.suffix_length, answer.prompt_count, answer.count])
print(json.dumps({"times_ns": times, "answers": answers}))
"""


def evict(folder: Path) -> None:
    """Drop a folder's files from the page cache (their pages must not be mapped by any
    process); with util-linux's ``fincore`` on the machine, check that they left."""
    for path in folder.iterdir():
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # dirty pages (a fresh build) cannot be dropped until written
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)
    if shutil.which("fincore"):
        report = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", *map(str, folder.iterdir())],
                                capture_output=True, text=True).stdout.split()
        resident = sum(int(value) for value in report if value.isdigit())
        if resident > 1 << 20:
            raise RuntimeError(f"{resident:,} bytes of {folder} stay in the page cache (still mapped by a process?)")


def cold_row(name: str, python: Path, index_dir: Path, method: str, calls: list[list], token_dtype: str,
             eos: int, vocab_size: int, separators: int) -> Row:
    """Both engines from a cold page cache, each in a fresh process (see the module docstring)."""
    row = Row(name)
    evict(index_dir)
    worker = OfficialWorker(python)
    worker.request(op="open", index_dir=str(index_dir), token_dtype=token_dtype, eos_token_id=eos,
                   vocab_size=vocab_size, warm=False)
    row.official_ns, official = worker.time(method, calls)
    worker.close()
    evict(index_dir)
    calls_file = index_dir.parent / "cold-calls.json"
    calls_file.write_text(json.dumps(calls))
    result = subprocess.run([sys.executable, "-c", _COLD_OURS, str(index_dir), method, str(calls_file)], check=True,
                            capture_output=True, text=True, env={**os.environ, **our_env()})
    ours = json.loads(result.stdout.strip().splitlines()[-1])
    row.ours_ns = ours["times_ns"]
    for call, mine, theirs in zip(calls, ours["answers"], official):
        if method == "infgram_prob" and mine[0] == 0:
            mine = [0, mine[1] + separators, mine[2]]  # the official empty suffix counts separators too
        if mine != theirs:
            raise RuntimeError(f"{name}: the engines disagree on {str(call)[:200]}: {mine} vs {theirs}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=12, help="corpus size in MB of JSONL (default 12)")
    parser.add_argument("--mode", default="bytes", help="bytes (u8), or a tokenizer name under ../shared/tokenizers")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--context-tokens", type=int, default=100)
    parser.add_argument("--cold-queries", type=int, default=300, help="queries per engine from a cold page cache")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--official-venv", default=str(CACHE / "official-venv"))
    parser.add_argument("--no-write", action="store_true", help="print the table but leave BENCHMARKS.md alone")
    args = parser.parse_args()
    command = "python benchmarks/official_index.py " + " ".join(sys.argv[1:])

    work = (CACHE / "work" / f"official-index-{args.megabytes}mb-{args.mode}").resolve()
    corpus_dir, index_dir = work / "corpus", work / "index"
    if not (index_dir / "table.0").exists():
        corpus_dir.mkdir(parents=True, exist_ok=True)
        whole = work / "whole.jsonl"
        split_corpus(fetch(["wiki", "prose"]), whole, 0.01, args.seed)
        with open(whole, "rb") as source, open(corpus_dir / "corpus.jsonl", "wb") as sink:
            written = 0
            for line in source:
                if written + len(line) > args.megabytes * 10**6:
                    break
                sink.write(line)
                written += len(line)
        whole.unlink()
        python = official_python(Path(args.official_venv))
        print(f"building the official index in {index_dir}", flush=True)
        dtype = "u8"
        if args.mode != "bytes":  # our token stream, in the official input layout; it sorts the suffixes
            ours = work / "ours"
            infgram.build_from_documents([json.loads(line) for line in open(corpus_dir / "corpus.jsonl")], ours,
                                         tokenizer=SHARED / "tokenizers" / f"{args.mode}.tokenizer.json",
                                         progress=False)
            built = infgram.Index.open(ours)
            stream = np.concatenate([np.asarray(shard.tokens) for shard in built.shards])
            written = write_official_inputs(stream, built.separator_id, index_dir)
            dtype = f"u{8 * built.token_width}"
            shutil.rmtree(ours)
        measured = official_indexing(python, corpus_dir, index_dir, dtype, written, 4, transformers_stub(work / "stub"))
        print(f"  official build: {measured.seconds:.1f} s", flush=True)
    python = official_python(Path(args.official_venv))
    before = {path.name: path.stat().st_mtime_ns for path in index_dir.iterdir()}
    index = infgram.Index.open(index_dir)
    num_documents, num_tokens = index.num_documents, index.num_tokens
    print(f"infgram opened it: {index.num_documents:,} documents, {index.num_tokens:,} tokens, kind {index.kind}")
    warm(sorted(index_dir.iterdir()))
    worker = OfficialWorker(python)
    separator = index.separator_id
    eos = separator - 1  # an id no document holds: the official engine's name for a document end
    if index.count([eos]) > 0:
        raise RuntimeError(f"id {eos} occurs in the corpus; it cannot stand for document ends")
    worker.request(op="open", index_dir=str(index_dir), token_dtype=f"u{8 * index.token_width}", eos_token_id=eos,
                   vocab_size=separator)
    context = Context(index, worker, eos, Counter())
    tokens = np.concatenate([np.asarray(shard.tokens) for shard in index.shards]).astype(np.int64)
    rng = np.random.default_rng(args.seed)
    rows: list[Row] = []
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    try:
        for n in (1, 5, 20):
            found = sample_ngrams(tokens, separator, n, args.queries, rng)
            print(f"  count, n = {n}", flush=True)
            rows.append(interleaved(context, Row(f"count, n = {n} (in RAM)"), "count", [[g] for g in found],
                                    index.count, found, check_count(f"count n={n}")))
        pairs = [(g[:-1], g[-1]) for g in sample_ngrams(tokens, separator, 4, args.queries, rng)]
        print("  probability", flush=True)
        rows.append(interleaved(context, Row("probability, 3-token prompt (in RAM)"), "prob",
                                [list(pair) for pair in pairs], lambda pair: index.probability(pair[0], pair[1]),
                                pairs, check_probability("probability")))
        prompts = sample_ngrams(tokens, separator, 3, args.queries, rng)
        print("  next-token distribution", flush=True)
        rows.append(interleaved(context, Row("next-token distribution, 3-token prompt (in RAM)",
                                             note="official approximate above max_support"), "ntd",
                                [[prompt] for prompt in prompts], index.next_tokens, prompts,
                                check_next_tokens(context, "ntd", args.mode == "bytes")))
        contexts = [(g[:-1], g[-1]) for g in sample_ngrams(tokens, separator, args.context_tokens + 1, args.queries, rng)]
        print("  ∞-gram probability", flush=True)
        rows.append(interleaved(context, Row(f"∞-gram probability, {args.context_tokens}-token contexts (in RAM)"),
                                "infgram_prob", [list(pair) for pair in contexts],
                                lambda pair: index.infgram_probability(pair[0], pair[1]), contexts,
                                check_infgram(context, "infgram")))
    finally:
        worker.close()
    dtype = f"u{8 * index.token_width}"
    del index  # unmapped: its pages can leave the page cache
    context.index = None  # type: ignore[assignment]
    gc.collect()
    cold_grams = sample_ngrams(tokens, separator, 5, args.cold_queries, rng)
    print("  count from disk", flush=True)
    rows.append(cold_row("count, n = 5 (from disk, cold cache)", python, index_dir, "count",
                         [[g] for g in cold_grams], dtype, eos, separator, num_documents))
    cold_contexts = [[g[:-1], g[-1]] for g in sample_ngrams(tokens, separator, args.context_tokens + 1,
                                                             args.cold_queries, rng)]
    print("  ∞-gram from disk", flush=True)
    rows.append(cold_row(f"∞-gram probability, {args.context_tokens}-token contexts (from disk, cold cache)", python,
                         index_dir, "infgram_prob", cold_contexts, dtype, eos, separator, num_documents))
    after = {path.name: path.stat().st_mtime_ns for path in index_dir.iterdir()}
    if before != after:
        raise RuntimeError("the official index directory changed while infgram read it")
    lines = [f"Both engines on one official index ({dtype}, {args.mode}, {num_tokens / 1e6:.1f} M tokens, "
             f"{num_documents:,} documents, built by infini-gram 2.6.0); run {started}, load "
             f"{os.getloadavg()[0]:.1f}. infgram opens the official files in place (nothing converted or written).",
             "", "| query | infgram | official | infgram / official |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.name} | {_figure(row.ours_ns, row.unit)} | {_figure(row.official_ns, row.unit)} | "
                     f"{_ratio(row)} |")
    allowed = ", ".join(f"{reason} ({count})" for reason, count in context.allowed.items())
    lines += ["", f"Every answer checked against the other engine's; known differences allowed: {allowed or 'none'}. "
              f"From disk: the first {args.cold_queries} queries of a fresh process after the index's pages were "
              "dropped from the page cache (the official engine with its default prefetch depths); on an index "
              "this small the kernel's read-ahead brings much of it back within the first queries."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_benchmarks(f"official-index-{args.mode}", text, command)
    print(f"median ratio: {statistics.median(statistics.median(r.ours_ns) / statistics.median(r.official_ns) for r in rows):.2f}"
          f" ({machine()})")


if __name__ == "__main__":
    main()
