"""Many threads querying one Index at once (as a server does) get the answers one thread gets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import infgram


def _answers(index: infgram.Index, queries: list[str]) -> list:
    answers = []
    for query in queries:
        answers.append(index.count(query))
        answers.append(index.next_tokens(query, top_k=3).to_dict())
        answers.append(index.infgram_probability(query + " x", "y").to_dict())
        answers.append(index.documents(query, limit=2, seed=1, context=4).to_dict())
        answers.append(index.longest_matches(query + "zz").to_dict())
    answers.append(index.count_batch(queries).tolist())
    answers.append(index.search([[queries[0]], [queries[1], queries[2]]], limit=3).to_dict())
    answers.append(index.cooccurrence(queries[:4]).to_dict())
    return answers


def test_threads_share_one_index(tmp_path):
    rng = np.random.default_rng(3)
    documents = [" ".join(rng.choice(["ab", "ba", "abc", "c", "bb"], size=int(rng.integers(1, 30))))
                 for _ in range(300)]
    infgram.build_from_documents(documents, tmp_path / "index", shard_tokens=2000, progress=False)
    index = infgram.Index.open(tmp_path / "index")
    assert len(index.shards) > 1
    workloads = [[" ".join(rng.choice(["ab", "ba", "c", "bb"], size=int(rng.integers(1, 4)))) for _ in range(12)]
                 for _ in range(16)]
    expected = [_answers(index, queries) for queries in workloads]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert list(pool.map(lambda queries: _answers(index, queries), workloads)) == expected
