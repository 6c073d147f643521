"""Read throughput of each input format against the suffix sort, on the same text.

The wiki and prose corpora (``../shared/datasets/fetch wiki prose``) are written once in
each format — JSON Lines (plain, .gz, .zst, .bz2, .xz), Parquet, CSV, an Arrow stream and
HTML pages — and each copy is read through :func:`infgram.build.inputs.read_records` (the
reader the build uses: decompression, parsing, the text field, metadata, accounting), in
MB of document text per second. The sort speed is pydivsufsort's suffix array of the same
bytes, so the figures say whether reading can ever be what limits a build.

Run: ``python benchmarks/input_formats.py [--megabytes 64]`` (one run, prints a table).
"""

from __future__ import annotations

import argparse
import bz2
import csv
import gzip
import html
import json
import lzma
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fetch, read_texts  # noqa: E402

from infgram.build.inputs import SourceDocument, read_records  # noqa: E402


def write_copies(texts: list[str], folder: Path) -> dict[str, list[Path]]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    rows = [{"text": text, "id": number} for number, text in enumerate(texts)]
    jsonl = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    copies: dict[str, list[Path]] = {}

    def put(name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)
        copies[name] = [folder / name]

    put("corpus.jsonl", jsonl)
    put("corpus.jsonl.gz", gzip.compress(jsonl, compresslevel=6))
    put("corpus.jsonl.zst", zstandard.ZstdCompressor(level=3).compress(jsonl))
    put("corpus.jsonl.bz2", bz2.compress(jsonl))
    put("corpus.jsonl.xz", lzma.compress(jsonl, preset=1))
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, folder / "corpus.parquet")
    copies["corpus.parquet"] = [folder / "corpus.parquet"]
    with open(folder / "corpus.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "id"])
        writer.writeheader()
        writer.writerows(rows)
    copies["corpus.csv"] = [folder / "corpus.csv"]
    with pa.OSFile(str(folder / "corpus.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=1000):
            writer.write_batch(batch)
    copies["corpus.arrow"] = [folder / "corpus.arrow"]
    pages = folder / "pages"
    pages.mkdir()
    for number, text in enumerate(texts[:5000]):  # one file per document: a few thousand pages
        paragraphs = "".join(f"<p>{html.escape(part)}</p>" for part in text.split("\n"))
        (pages / f"{number:06d}.html").write_text(f"<html><head><title>{number}</title><style>p {{}}</style></head>"
                                                  f"<body>{paragraphs}</body></html>", encoding="utf-8")
    copies["pages/*.html (5,000 files)"] = sorted(pages.iterdir())
    return copies


def read_speed(files: list[Path]) -> tuple[float, int]:
    """MB of document text per second, and the documents read."""
    start = time.perf_counter()
    text_bytes = documents = 0
    for record in read_records(files):
        if isinstance(record, SourceDocument):
            documents += 1
            text_bytes += len(record.text.encode("utf-8"))
    return text_bytes / 1e6 / (time.perf_counter() - start), documents


def sort_speed(texts: list[str]) -> float:
    import pydivsufsort

    data = np.frombuffer("\xff".join(texts).encode("utf-8", "surrogatepass"), dtype=np.uint8).copy()
    start = time.perf_counter()
    pydivsufsort.divsufsort(data)
    return len(data) / 1e6 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=64, help="text taken from wiki+prose (default 64)")
    args = parser.parse_args()
    texts, size = [], 0
    for text in read_texts(fetch(["wiki", "prose"])):
        texts.append(text)
        size += len(text.encode("utf-8"))
        if size >= args.megabytes * 1e6:
            break
    print(f"{len(texts):,} documents, {size / 1e6:,.1f} MB of text (wiki + prose)")
    with tempfile.TemporaryDirectory() as folder:
        copies = write_copies(texts, Path(folder))
        print(f"{'format':32} {'on disk MB':>10} {'read MB/s':>10}")
        for name, files in copies.items():
            speed, documents = read_speed(files)
            on_disk = sum(path.stat().st_size for path in files) / 1e6
            print(f"{name:32} {on_disk:10.1f} {speed:10.1f}   ({documents:,} documents)")
    print(f"{'sort (pydivsufsort, same bytes)':32} {'':10} {sort_speed(texts):10.1f}")


if __name__ == "__main__":
    main()
