"""Indexes that change, on wiki + prose: add against a full rebuild, remove 1% then 10%,
query latency after each removal against before, and compact.

    python benchmarks/index_changes.py --work /tmp/changes

Byte indexes (the default tokenizer). ``wiki`` is built first and ``prose`` added to it; the
same two corpora built at once are the full rebuild that ``add`` stands in for. Documents to
remove are drawn with a fixed seed. Latency is the median over the same sampled queries on
every generation (count of 5 bytes, ∞-gram next tokens after a 100-byte context, documents
of a 6-byte phrase with limit 10); each answer is also checked against an index built from
the remaining documents alone, so the figures are of exact answers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

import infgram
from common import fetch, machine, median_micros, read_texts, sample_ngrams, warm


def _seconds(function, *arguments, **options):
    start = time.perf_counter()
    result = function(*arguments, **options)
    return time.perf_counter() - start, result


def _write(path: Path, texts: list[str], first: int) -> Path:
    with open(path, "w", encoding="utf-8") as sink:
        for number, text in enumerate(texts):
            sink.write(json.dumps({"text": text, "n": first + number}, ensure_ascii=False) + "\n")
    return path


def _latencies(index: infgram.Index, queries: dict[str, list]) -> dict[str, float]:
    return {
        "count": median_micros(index.count, queries["count"]),
        "infgram_next_tokens": median_micros(index.infgram_next_tokens, queries["context"]),
        "documents": median_micros(lambda q: index.documents(q, limit=10), queries["documents"]),
    }


def _answers(index: infgram.Index, queries: dict[str, list]) -> list:
    return [index.count_batch(queries["count"]).tolist(),
            [[(t.id, t.count) for t in index.infgram_next_tokens(q).tokens] for q in queries["context"][:100]],
            [index.documents(q, limit=0).num_documents for q in queries["documents"][:100]]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="a scratch folder")
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    wiki_texts = read_texts(fetch(["wiki"]))
    prose_texts = read_texts(fetch(["prose"]))
    wiki = _write(work / "wiki.jsonl", wiki_texts, 0)
    prose = _write(work / "prose.jsonl", prose_texts, len(wiki_texts))
    both = work / "both.jsonl"
    both.write_bytes(wiki.read_bytes() + prose.read_bytes())
    print(machine())

    rebuild_seconds, _ = _seconds(infgram.build, [wiki, prose], work / "rebuilt", progress=False)
    wiki_seconds, _ = _seconds(infgram.build, [wiki], work / "index", progress=False)
    add_seconds, _ = _seconds(infgram.add, work / "index", [prose], progress=False)
    print(f"add prose to wiki: {add_seconds:.2f} s; full rebuild of wiki+prose: {rebuild_seconds:.2f} s "
          f"(ratio {add_seconds / rebuild_seconds:.2f}); wiki alone {wiki_seconds:.2f} s")

    index = infgram.Index.open(work / "index")
    rebuilt = infgram.Index.open(work / "rebuilt")
    rng = np.random.default_rng(3)
    tokens = np.asarray(index.shards[0].tokens)
    queries = {
        "count": sample_ngrams(tokens, index.separator_id, 5, args.queries, rng),
        "context": sample_ngrams(tokens, index.separator_id, 100, args.queries, rng),
        "documents": sample_ngrams(tokens, index.separator_id, 6, args.queries // 4, rng),
    }
    assert _answers(index, queries) == _answers(rebuilt, queries), "add must answer as the full rebuild"
    warm([p for p in (work / "index").rglob("*.bin")])
    rows = [("before", _latencies(index, queries), None)]

    texts = wiki_texts + prose_texts
    order = np.random.default_rng(5).permutation(len(texts))
    removed: list[int] = []
    for share in (0.01, 0.10):
        chosen = sorted(order[len(removed) : int(share * len(texts))].tolist())
        seconds, report = _seconds(infgram.remove, work / "index", documents=chosen, progress=False)
        removed += chosen
        index.reload()
        kept = set(range(len(texts))) - set(removed)
        truth_dir = work / f"truth-{share}"
        _write(work / "kept.jsonl", [texts[n] for n in sorted(kept)], 0)
        infgram.build([work / "kept.jsonl"], truth_dir, progress=False)
        assert _answers(index, queries) == _answers(infgram.Index.open(truth_dir), queries), share
        shutil.rmtree(truth_dir)
        # The alternative measured: infini-gram's diff engine subtracts a second index of the
        # removed documents, a second suffix-array search per count.
        _write(work / "gone.jsonl", [texts[n] for n in sorted(removed)], 0)
        infgram.build([work / "gone.jsonl"], work / "gone", progress=False, overwrite=True)
        gone = infgram.Index.open(work / "gone")
        diff_micros = median_micros(gone.count, queries["count"])
        rows_bytes = sum(f.stat().st_size for f in (work / "index").rglob("removed-*-rows.bin"))
        diff_bytes = sum(f.stat().st_size for f in (work / "gone").rglob("*.bin"))
        print(f"{share:.0%}: removal lists {rows_bytes / 1e6:.1f} MB (the newest generation's; a diff index "
              f"{diff_bytes / 1e6:.1f} MB); a count in the diff index alone {diff_micros:.1f} µs")
        warm([p for p in (work / "index").rglob("*.bin")])
        rows.append((f"after removing {share:.0%} ({len(removed):,} documents)", _latencies(index, queries),
                     (seconds, report.num_documents)))

    compact_seconds, report = _seconds(infgram.compact, work / "index", progress=False)
    index.reload()
    warm([p for p in (work / "index").rglob("*.bin")])
    rows.append(("after compact", _latencies(index, queries), None))
    print(f"compact: {compact_seconds:.2f} s ({report.details})")
    print()
    print("| index | remove time | count | ∞-gram next tokens | documents, limit 10 |")
    print("|---|---|---|---|---|")
    base = rows[0][1]
    for name, latency, removal in rows:
        cells = [f"{latency[key]:,.1f} µs ({latency[key] / base[key]:.2f}×)" for key in
                 ("count", "infgram_next_tokens", "documents")]
        timing = f"{removal[0]:.2f} s for {removal[1]:,}" if removal else ""
        print(f"| {name} | {timing} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
