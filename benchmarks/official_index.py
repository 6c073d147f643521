"""infgram against the official engine, both reading the SAME official infini-gram index.

    python benchmarks/official_index.py                  # wiki + prose, byte mode (u8), RAM and from disk
    python benchmarks/official_index.py --mode sp32k     # u16 token ids (a tokenizer of ../shared/tokenizers)
    python benchmarks/official_index.py --megabytes 12 --cap 40M --queries 2000

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

5. From disk: each engine in turn (the order alternating, ``--rounds`` rounds), in a fresh
   process put into a memory control group capped at ``--cap`` (cgroup v2 ``memory.max`` or
   v1 ``memory.limit_in_bytes``, as ``from_disk.py`` makes it: the process and the page cache
   it brings in, below the index's size), opens the index with every default as a user gets
   it (infgram: ``Index.open(dir)``, which chooses ``disk`` under the cap and reads our sampled
   keys, written beside the official files by ``infgram adopt`` before the run; official:
   ``InfiniGramEngine(index_dir=...)`` with its default prefetch depths); the page cache is
   dropped, then it times ``--disk-queries`` counts of 5-grams and as many ∞-gram
   probabilities, every answer checked against the other engine's. Needs root (the control
   group, dropping the page cache); without it the from-disk rows are left out, saying so.

Default: 60 MB of wiki + prose (all of it), an official u8 index of about 280 MB, capped at
160 MB in the from-disk rows.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import shutil
import statistics
import sys
from collections import Counter
from pathlib import Path

import numpy as np

import infgram
from common import SHARED, fetch, machine, recorded_command, sample_ngrams, split_corpus, warm
from from_disk import INFGRAM_CAPPED, OFFICIAL_CAPPED, MemoryCap, run_capped
from infgram.apps.official import adopt
from infgram.shards.official import SIDECAR_NAME
from infgram.resources import parse_size
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


OFFICIAL_FILES = ("tokenized", "table", "offset", "metadata", "metaoff")


def capped_rows(python: Path, index_dir: Path, request: dict, cap: str, rounds: int, separators: int,
                context_tokens: int) -> tuple[list[Row], dict]:
    """Both engines from disk, each in a fresh process in a capped memory control group (see
    the module docstring); every answer of every round checked against the official one."""
    cap_bytes = parse_size(cap)
    group = MemoryCap(cap_bytes, f"infgram-official-index-{os.getpid()}")
    results: dict[str, list[dict]] = {"infgram": [], "official": []}
    try:
        for round_number in range(rounds):
            for engine in (["official", "infgram"] if round_number % 2 == 0 else ["infgram", "official"]):
                if engine == "infgram":
                    answer = run_capped(group, [sys.executable, "-c", INFGRAM_CAPPED], request, our_env())
                else:
                    answer = run_capped(group, [str(python), "-c", OFFICIAL_CAPPED], request)
                results[engine].append(answer)
                print(f"  from disk, round {round_number + 1}, {engine}: count median "
                      f"{statistics.median(t for t, _ in answer['count']) / 1e3:.0f} µs", flush=True)
    finally:
        group.remove()
    reference = results["official"][0]
    for engine, answers in results.items():
        for answer in answers:
            for kind in ("count", "infgram"):
                for query, (_, mine), (_, theirs) in zip(request["counts" if kind == "count" else "contexts"],
                                                         answer[kind], reference[kind]):
                    if kind == "infgram" and engine == "infgram" and mine[0] == 0:
                        mine = [0, mine[1] + separators, mine[2]]  # the official empty suffix counts separators
                    if mine != theirs:
                        raise RuntimeError(f"from disk, {engine} {kind}: {mine} where the official engine answers "
                                           f"{theirs} for {str(query)[:200]}")
    rows = []
    for kind, name in (("count", f"count, n = 5 (from disk, capped at {cap})"),
                       ("infgram", f"∞-gram probability, {context_tokens}-token contexts (from disk, capped at {cap})")):
        row = Row(name)
        row.ours_ns = [t for answer in results["infgram"] for t, _ in answer[kind]]
        row.official_ns = [t for answer in results["official"] for t, _ in answer[kind]]
        rows.append(row)
    return rows, results["infgram"][0].get("memory") or {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=60, help="corpus size in MB of JSONL (default 60: all of "
                        "wiki + prose)")
    parser.add_argument("--mode", default="bytes", help="bytes (u8), or a tokenizer name under ../shared/tokenizers")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--context-tokens", type=int, default=100)
    parser.add_argument("--disk-queries", type=int, default=200, help="queries of each kind per engine and round, "
                        "from disk")
    parser.add_argument("--cap", default="160M", help="the memory cap of each from-disk process, page cache included "
                        "(below the index's size)")
    parser.add_argument("--rounds", type=int, default=2, help="from-disk rounds (the engines alternate)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--official-venv", default=str(CACHE / "official-venv"))
    parser.add_argument("--no-write", action="store_true", help="print the table but leave BENCHMARKS.md alone")
    args = parser.parse_args()
    command = recorded_command("official_index.py", sys.argv[1:])

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
    if not (index_dir / SIDECAR_NAME).exists():
        print("writing infgram's sampled keys beside the official files (infgram adopt)", flush=True)
        adopt(index_dir)
    before = {path.name: path.stat().st_mtime_ns for path in index_dir.iterdir()}
    index_bytes = sum(path.stat().st_size for path in index_dir.iterdir() if path.name.split(".")[0] in OFFICIAL_FILES)
    keys_bytes = sum(path.stat().st_size for path in index_dir.glob("infgram-keys.*"))
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
    request = {"index": str(index_dir), "eos": eos, "vocab_size": separator, "token_dtype": dtype,
               "counts": sample_ngrams(tokens, separator, 5, args.disk_queries, rng),
               "contexts": [[g[:-1], g[-1]] for g in sample_ngrams(tokens, separator, args.context_tokens + 1,
                                                                    args.disk_queries, rng)]}
    memory: dict = {}
    if os.geteuid() == 0:
        print(f"  from disk, capped at {args.cap}", flush=True)
        disk_rows, memory = capped_rows(python, index_dir, request, args.cap, args.rounds, num_documents,
                                        args.context_tokens)
        rows += disk_rows
    else:
        print("  from disk: left out (a memory control group and dropping the page cache need root)", flush=True)
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
              f"The official files take {index_bytes / 1e6:.0f} MB; infgram's sampled keys beside them "
              f"(`infgram adopt`) {keys_bytes / 1e6:.1f} MB."]
    if memory:
        lines += ["", f"From disk: {args.rounds} rounds, each engine in turn in a fresh process in a memory control "
                  f"group capped at {args.cap} (process and page cache), the page cache dropped after the index "
                  f"opened, {args.disk_queries} queries of each kind per round; every answer of every round equal "
                  "between the engines. infgram opened with `Index.open(dir)`, which chose "
                  f"`load={memory.get('load')}` with a RAM tier of {memory.get('tier_bytes', 0) / 1e6:.1f} MB (key "
                  f"step {memory.get('key_steps')}); the official engine with its default prefetch depths."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_benchmarks(f"official-index-{args.mode}", text, command)
    print(f"median ratio: {statistics.median(statistics.median(r.ours_ns) / statistics.median(r.official_ns) for r in rows):.2f}"
          f" ({machine()})")


if __name__ == "__main__":
    main()
