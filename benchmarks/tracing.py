"""OLMoTrace-style tracing latency on wiki + prose (issue: where in the corpus, tracing).

    python benchmarks/tracing.py                       # byte index of wiki + prose, cached in --work
    python benchmarks/tracing.py --outputs 21 --work ~/.cache/infgram-bench/work/tracing
    python benchmarks/tracing.py --write BENCHMARKS.md  # also put the table in BENCHMARKS.md

Builds (once; reused from ``--work``, default ``~/.cache/infgram-bench/work/tracing``) a
byte index of wiki + prose with 1% of the documents held out, then times ``Index.trace`` on
``--outputs`` model-like outputs of 500 tokens: 2,000 bytes (about 500 tokens of a
BPE tokenizer at 4 bytes a token, the usual rule for English), each half copied from an
indexed document and half from a held-out one (a model's output is partly verbatim
training text and partly new), cut at word boundaries, with a 200-byte held-out prompt.
Every output and prompt is drawn with ``--seed``, so the same command times the same
traces. The index is warm (every file read once first). Prints the median, the fastest and
the slowest wall-clock time of a whole trace (all five steps, from Python) and what the
traces found, beside OLMoTrace's published figure: "within a few seconds" on 4.6 T tokens
(Liu et al., 2025).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import infgram

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fetch, machine, read_texts, split_corpus, warm, write_section  # noqa: E402

TITLE = "## Tracing as OLMoTrace does (issue #31)"
OUTPUT_BYTES = 2_000
"""A 500-token output, at 4 bytes a token."""
PROMPT_BYTES = 200


def cut(text: str, start: int, size: int) -> str:
    """About ``size`` bytes of ``text`` from ``start``, moved to word boundaries."""
    data = text.encode("utf-8")
    begin = data.find(b" ", start) + 1 if start else 0
    end = data.rfind(b" ", begin, begin + size)
    return data[begin : end if end > begin else begin + size].decode("utf-8", errors="ignore")


def outputs(indexed: list[str], held_out: list[str], count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` (prompt, output) pairs: each output half an indexed document's text, half a held-out one's."""
    rng = random.Random(seed)
    long_indexed = [text for text in indexed if len(text.encode()) > 4 * OUTPUT_BYTES]
    long_held_out = [text for text in held_out if len(text.encode()) > 4 * OUTPUT_BYTES]
    pairs = []
    for _ in range(count):
        copied, new, asked = rng.choice(long_indexed), rng.choice(long_held_out), rng.choice(long_held_out)
        half = OUTPUT_BYTES // 2
        output = cut(copied, rng.randrange(len(copied.encode()) - 2 * half), half) + " " + \
            cut(new, rng.randrange(len(new.encode()) - 2 * half), half)
        pairs.append((cut(asked, 0, PROMPT_BYTES), output))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=["wiki", "prose"])
    parser.add_argument("--outputs", type=int, default=11, help="outputs traced (the median is over them)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "infgram-bench" / "work" / "tracing"),
                        help="working directory: the corpus and its index, reused when present")
    parser.add_argument("--write", default=None, metavar="PATH", help="also write the report as a section of this "
                        "Markdown file (BENCHMARKS.md)")
    args = parser.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    corpus, index_dir = work / "corpus.jsonl", work / "index"
    held_out = split_corpus(fetch(args.corpora), corpus, 0.01, args.seed)  # the same split every time
    if not (index_dir / "manifest.json").exists():
        start = time.perf_counter()
        infgram.build([corpus], index_dir, overwrite=True, progress=False)
        print(f"built the index in {time.perf_counter() - start:.0f} s")
    index = infgram.Index.open(index_dir)
    warm(sorted(index_dir.rglob("*.bin")))
    pairs = outputs(read_texts([corpus]), held_out, args.outputs, args.seed)
    index.trace(pairs[0][1], prompt=pairs[0][0])  # first call: tokenizer tables and the like

    seconds, results = [], []
    for prompt, output in pairs:
        start = time.perf_counter()
        results.append(index.trace(output, prompt=prompt))
        seconds.append(time.perf_counter() - start)

    lines = [
        "`python benchmarks/tracing.py` (see its docstring): `Index.trace` of model-like outputs, the five steps of",
        "`infgram.query.tracing` from Python, on a warm byte index.",
        "",
        f"- machine: {machine()}",
        f"- index: {', '.join(args.corpora)}, {index.num_tokens:,} tokens (bytes), {index.num_documents:,} documents",
        f"- outputs: {len(pairs)} of {OUTPUT_BYTES:,} bytes (~500 tokens at 4 bytes a token), half copied from an "
        f"indexed document and half from a held-out one; prompts of {PROMPT_BYTES} held-out bytes",
        f"- per output, medians: {statistics.median(r.num_units for r in results):.0f} words (units), "
        f"{statistics.median(r.num_candidates for r in results):.0f} candidate spans, "
        f"{statistics.median(r.num_kept for r in results):.0f} kept, "
        f"{statistics.median(len(r.spans) for r in results):.0f} after merging, "
        f"{statistics.median(sum(len(s.documents) for s in r.spans) for r in results):.0f} documents shown",
        "",
        "| trace of a 500-token output | median | fastest | slowest |",
        "|---|---|---|---|",
        f"| infgram, wiki + prose ({index.num_tokens / 1e6:.0f} M tokens) | {statistics.median(seconds) * 1000:.0f} ms "
        f"| {min(seconds) * 1000:.0f} ms | {max(seconds) * 1000:.0f} ms |",
        "| OLMoTrace (published), 4.6 T tokens, 500-token output | \"within a few seconds\" | | |",
        "",
        "The corpora differ by five orders of magnitude: this is the whole pipeline on a small corpus, not",
        "a claim about tracing at OLMoTrace's scale.",
    ]
    print("\n".join(lines))
    if args.write:
        write_section(Path(args.write), TITLE, "\n".join(lines), before="## Indexes larger than memory")


if __name__ == "__main__":
    main()
