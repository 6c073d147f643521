"""``Index.from_texts``, an index in memory, against the brute-force oracle and against the
same documents built into a directory: every query answers the same.

Tiny random corpora (conftest's ``corpora``: 2-4 symbol alphabets with the extreme ids of
token widths 1, 2 and 4, tiny shards so documents and matches sit at shard boundaries) and
queries cut from them, the empty query included.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.errors import InputError, UnsupportedOperationError

from conftest import build_id_index, corpora


@st.composite
def corpus_and_queries(draw):
    width, alphabet, documents, shard_tokens, _ = draw(corpora())

    @st.composite
    def pieces(draw_piece):
        document = draw_piece(st.sampled_from(documents))
        start = draw_piece(st.integers(0, len(document)))
        return list(document[start : draw_piece(st.integers(start, len(document)))])

    queries = draw(st.lists(st.one_of(st.lists(st.sampled_from(alphabet), max_size=6), pieces()), min_size=1,
                            max_size=6))
    return width, alphabet, documents, shard_tokens, queries


def pairs(tokens):
    return [(t.id, t.count) for t in tokens]


def in_memory(width, documents, shard_tokens):
    return infgram.Index.from_texts([{"ids": d, "metadata": {"n": i}} for i, d in enumerate(documents)],
                                    token_width=width, shard_tokens=shard_tokens)


@given(corpus_and_queries())
def test_in_memory_queries_match_reference(case):
    width, alphabet, documents, shard_tokens, queries = case
    index = in_memory(width, documents, shard_tokens)
    assert index.num_documents == len(documents)
    assert index.num_tokens == sum(len(d) for d in documents)
    assert index.count_batch(queries).tolist() == [reference.count(documents, q) for q in queries]
    for query in queries:
        assert index.count(query) == reference.count(documents, query)
        assert pairs(index.next_tokens(query).tokens) == reference.next_tokens(documents, query)
        length, expected = reference.infgram_next_tokens(documents, query)
        result = index.infgram_next_tokens(query)
        assert (result.suffix_length, pairs(result.tokens)) == (length, expected)
        for next_id in alphabet:
            prompt_count, count = reference.probability(documents, query, next_id)
            result = index.probability(query, next_id)
            assert (result.prompt_count, result.count) == (prompt_count, count)
            result = index.infgram_probability(query, next_id)
            assert (result.suffix_length, result.prompt_count, result.count) == \
                reference.infgram_probability(documents, query, next_id)
        found = index.documents(query, limit=len(documents) + 1)
        assert [(d.index, d.start) for d in found.documents] == reference.documents(documents, query)
        assert all(d.metadata == {"n": d.index} for d in found.documents)


@given(corpus_and_queries(), st.integers(0, 2**16))
def test_in_memory_answers_as_the_files_do(case, seed):
    """The operations the oracle does not cover answer as the same documents' directory does."""
    width, alphabet, documents, shard_tokens, queries = case
    index = in_memory(width, documents, shard_tokens)
    with tempfile.TemporaryDirectory() as folder:
        files = build_id_index(Path(folder) / "index", width, documents, shard_tokens)
        assert len(index.shards) == len(files.shards)
        text = [token for query in queries for token in query]
        for name, call in [
            ("documents", lambda i: i.documents(queries[0], limit=3, seed=seed, context=2)),
            ("search", lambda i: i.search([[{"ids": q}] for q in queries[:2] if q] or [[{"ids": [alphabet[0]]}]], within=3, limit=5)),
            ("cooccurrence", lambda i: i.cooccurrence([q for q in queries if q] or [[alphabet[0]]],
                                                      document_counts=True)),
            ("attribute", lambda i: i.attribute(text or [alphabet[0]], min_length=1)),
            ("longest_matches", lambda i: i.longest_matches(text)),
            ("infgram_probabilities", lambda i: i.infgram_probabilities(text)),
            ("draft", lambda i: i.draft(queries[0], max_tokens=4)),
            ("document", lambda i: [i.document(n) for n in range(i.num_documents)]),
        ]:
            assert call(index) == call(files), name


@given(st.lists(st.text(alphabet="ab \u00e9\u20ac", min_size=1, max_size=12), min_size=1, max_size=6),
       st.text(alphabet="ab \u00e9\u20ac", max_size=4))
def test_in_memory_text_queries(texts, query):
    index = infgram.Index.from_texts(texts)
    corpus = [list(t.encode()) for t in texts]
    assert index.count(query) == reference.count(corpus, list(query.encode()))
    assert [index.document(n).text for n in range(len(texts))] == texts
    assert index.novelty(" ".join(texts), max_n=3) == infgram.Index.from_texts(list(texts)).novelty(" ".join(texts),
                                                                                                     max_n=3)


def test_in_memory_index_has_no_directory_and_says_so():
    index = infgram.Index.from_texts(["a rose is a rose", {"text": "is it", "url": "u"}])
    info = index.info()
    assert info["in_memory"] is True and info["directory"] is None and info["index_bytes"] > 0
    assert index.document(1).metadata == {"url": "u"}
    assert index.reload() is False
    index.verify()  # nothing on disk to check
    assert index.place("disk", memory=0) is None and index.count("rose") == 2
    with pytest.raises(UnsupportedOperationError, match="built in memory"):
        _ = index.directory


def test_in_memory_problems_stop_or_are_skipped_as_in_a_build():
    with pytest.raises(InputError, match="<python>:2: the document is empty"):
        infgram.Index.from_texts(["a", ""])
    index = infgram.Index.from_texts(["a", "", "b"], on_error="skip")
    assert index.num_documents == 2 and index.build_report.problems == {"empty_document": 1}
    with pytest.raises(infgram.errors.BuildError, match="nothing to index"):
        infgram.Index.from_texts([""], on_error="skip")


def test_in_memory_ids_as_plain_lists_and_a_tokenizer_of_files():
    assert infgram.Index.from_texts([[1, 2, 1], [2]], token_width=2, vocab_size=3).count([2]) == 2
    with pytest.raises(InputError, match="expected token ids from 0 to 2"):
        infgram.Index.from_texts([[1, 3]], token_width=2, vocab_size=3)
