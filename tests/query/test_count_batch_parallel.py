"""count_batch splits large batches over threads; the answers must not change."""

import numpy as np

import infgram
from infgram.query import corpus


def test_large_batches_match_single_counts(tmp_path):
    rng = np.random.default_rng(7)
    documents = ["".join(rng.choice(list("abc"), size=200)) for _ in range(50)]
    infgram.build_from_documents(documents, tmp_path / "index", shard_tokens=3000, progress=False)
    index = infgram.Index.open(tmp_path / "index")
    assert len(index.shards) > 1
    size = 2 * corpus._PARALLEL_BATCH + 17
    texts = ["".join(rng.choice(list("abcd"), size=int(rng.integers(0, 6)))) for _ in range(size)]
    expected = [index.count(t) for t in texts]
    assert index.count_batch(texts).tolist() == expected
    grams = rng.integers(97, 100, size=(size, 3))
    assert index.count_batch(grams).tolist() == [index.count(row.tolist()) for row in grams]


def test_batch_of_texts_through_a_real_tokenizer(tmp_path):
    from conftest import shared_tokenizer

    tokenizer = shared_tokenizer("sp32k")
    documents = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"]
    infgram.build_from_documents(documents, tmp_path / "index", tokenizer=tokenizer, progress=False)
    index = infgram.Index.open(tmp_path / "index")
    queries = ["the", "sat on the", "cat", "dog sat", "", "zebra", [415]]
    assert index.count_batch(queries).tolist() == [index.count(q) for q in queries]
    assert index.count("sat on the") == 2
