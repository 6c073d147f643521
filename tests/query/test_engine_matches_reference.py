"""The engine against the brute-force oracle on tiny random corpora.

Alphabets of 2-4 symbols force repeats; ids include the extremes of each token width
(0 and the largest id below the separator) so byte order and widths are exercised; tiny
shard sizes put documents, and therefore matches, at shard boundaries.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

from conftest import build_id_index as build, corpora

@st.composite
def corpus_and_queries(draw):
    width, alphabet, documents, shard_tokens, key_step = draw(corpora())
    random_queries = st.lists(st.sampled_from(alphabet), min_size=0, max_size=6)

    @st.composite
    def pieces(draw_piece):
        document = draw_piece(st.sampled_from(documents))
        start = draw_piece(st.integers(0, len(document)))
        end = draw_piece(st.integers(start, len(document)))
        return list(document[start:end])

    @st.composite
    def document_ends(draw_piece):
        document = draw_piece(st.sampled_from(documents))
        return list(document[draw_piece(st.integers(0, len(document) - 1)) :])

    queries = draw(st.lists(st.one_of(random_queries, pieces(), document_ends()), min_size=1, max_size=8))
    # Where the index lives (infgram.shards.residency): answers must not depend on it.
    placement = draw(st.sampled_from(PLACEMENTS))
    return width, alphabet, documents, shard_tokens, key_step, queries, placement


PLACEMENTS = [("ram", None), ("disk", None), ("disk", 0), ("disk", 16), ("auto", "1K")]
"""(load, memory) pairs: in memory; from disk with the whole RAM tier, with none of it (every
key dropped but the sparsest sample), and with part of it."""


def as_pairs(tokens):
    return [(t.id, t.count) for t in tokens]


@given(corpus_and_queries())
def test_every_query_type_matches_reference(case):
    width, alphabet, documents, shard_tokens, key_step, queries, placement = case
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        index.place(*placement)
        assert index.num_documents == len(documents)
        assert index.num_tokens == sum(len(d) for d in documents)
        assert index.count_batch(queries).tolist() == [reference.count(documents, q) for q in queries]
        for query in queries:
            expected = reference.count(documents, query)
            assert index.count(query) == expected
            assert index.count(tuple(query)) == expected

            result = index.next_tokens(query)
            expected_next = reference.next_tokens(documents, query)
            assert result.prompt_count == expected
            assert as_pairs(result.tokens) == expected_next
            if result.tokens:
                assert abs(sum(t.probability for t in result.tokens) - 1.0) < 1e-9
            assert as_pairs(index.next_tokens(query, top_k=1).tokens) == expected_next[:1]

            length, expected_infgram_next = reference.infgram_next_tokens(documents, query)
            infgram_next = index.infgram_next_tokens(query)
            assert infgram_next.suffix_length == length
            assert as_pairs(infgram_next.tokens) == expected_infgram_next

            for next_id in alphabet:
                prompt_count, count = reference.probability(documents, query, next_id)
                assert index.probability(query, next_id) == infgram.ProbabilityResult(
                    prompt_count, count, count / prompt_count if prompt_count else None
                )
                length, prompt_count, count = reference.infgram_probability(documents, query, next_id)
                assert index.infgram_probability(query, next_id) == infgram.InfgramProbabilityResult(
                    length, prompt_count, count, count / prompt_count if prompt_count else None
                )

            expected_documents = reference.documents(documents, query)
            found = index.documents(query, limit=len(documents) + 1)
            assert found.num_documents == len(expected_documents)
            assert [(d.index, d.start) for d in found.documents] == expected_documents
            for document in found.documents:
                assert document.metadata == {"n": document.index}


@given(corpora(), st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(0, 3))
def test_document_paging_is_a_seeded_permutation(case, seed, limit, context):
    width, alphabet, documents, shard_tokens, key_step = case
    query = [documents[0][0]]
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "index", width, documents, shard_tokens, key_step)
        total = index.documents(query, limit=0).num_documents
        pages = [index.documents(query, limit=limit, offset=offset, seed=seed, context=context)
                 for offset in range(0, total, limit)]
        seen = [d.index for page in pages for d in page.documents]
        assert sorted(seen) == [n for n, _ in reference.documents(documents, query)]
        again = [d.index for d in index.documents(query, limit=limit, seed=seed).documents]
        assert again == seen[:limit]
        for page in pages:
            for document in page.documents:
                window = documents[document.index][document.window_start :]
                assert document.window_start <= document.start
                assert window[document.start - document.window_start] == query[0]
                whole = index.document(document.index)
                assert whole.metadata == {"n": document.index}
                assert whole.text == " ".join(str(i) for i in documents[document.index])


@given(st.lists(st.text(alphabet="ab\u00e9\u20ac", min_size=1, max_size=10), min_size=1, max_size=6),
       st.text(alphabet="ab\u00e9\u20ac", max_size=4))
def test_byte_mode_text_queries(texts, query):
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(texts, Path(folder) / "index", progress=False)
        index = infgram.Index.open(Path(folder) / "index")
        corpus = [list(t.encode()) for t in texts]
        assert index.count(query) == reference.count(corpus, list(query.encode()))
        for number, text in enumerate(texts):
            assert index.document(number).text == text
        for document in index.documents(query, limit=10, context=1).documents:
            document.text.encode("utf-8")  # windows never cut a character in two
