"""The FM-index against the brute-force oracle and against a byte-mode suffix-array index.

Random corpora mix ASCII with 2-, 3- and 4-byte UTF-8 characters, long runs of one byte
(longer than the sample rates, so locate and extract walk many LF steps, and the BWT's
bitvectors get all-zero and all-one blocks), one-byte documents, and small shard sizes, so
that matches sit at document and shard ends. Small sample rates exercise the samples, the
default one the long walks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

PIECES = ["a", "b", " ", "\n", "é", "€", "😀", "ab", "a" * 40, "b" * 300, "é" * 20]


@st.composite
def corpora(draw):
    texts = draw(st.lists(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join),
                          min_size=1, max_size=7))
    longest = max(len(t.encode()) for t in texts)
    shard_tokens = draw(st.one_of(st.none(), st.integers(longest + 1, longest + 400)))
    sample_rate = draw(st.sampled_from([1, 2, 3, 8, 128]))
    return texts, shard_tokens, sample_rate


@st.composite
def corpus_and_queries(draw):
    texts, shard_tokens, sample_rate = draw(corpora())
    encoded = [t.encode() for t in texts]

    @st.composite
    def pieces(draw_piece):
        document = draw_piece(st.sampled_from(encoded))
        start = draw_piece(st.integers(0, len(document)))
        return document[start : draw_piece(st.integers(start, min(len(document), start + 60)))]

    @st.composite
    def document_ends(draw_piece):
        document = draw_piece(st.sampled_from(encoded))
        return document[draw_piece(st.integers(max(0, len(document) - 12), len(document) - 1)) :]

    random_queries = st.text(alphabet="ab é€", max_size=5).map(str.encode)
    queries = draw(st.lists(st.one_of(pieces(), document_ends(), random_queries), min_size=1, max_size=8))
    return texts, shard_tokens, sample_rate, queries


def _build_both(folder: Path, texts, shard_tokens, sample_rate):
    documents = [{"text": t, "metadata": {"n": i}} for i, t in enumerate(texts)]
    infgram.build_from_documents(documents, folder / "fm", kind="fm", sample_rate=sample_rate,
                                 shard_tokens=shard_tokens, progress=False)
    infgram.build_from_documents(documents, folder / "sa", shard_tokens=shard_tokens, progress=False)
    return infgram.Index.open(folder / "fm"), infgram.Index.open(folder / "sa")


@given(corpus_and_queries())
def test_fm_matches_reference_and_suffix_array(case):
    texts, shard_tokens, sample_rate, queries = case
    corpus = [list(t.encode()) for t in texts]
    with tempfile.TemporaryDirectory() as folder:
        fm, sa = _build_both(Path(folder), texts, shard_tokens, sample_rate)
        assert fm.kind == "fm" and not fm.supports("next_tokens")
        assert (fm.num_documents, fm.num_tokens) == (sa.num_documents, sa.num_tokens)
        # Queries as bytes that are not whole characters go in as id lists.
        as_ids = [list(q) for q in queries]
        expected = [reference.count(corpus, q) for q in as_ids]
        assert fm.count_batch(as_ids).tolist() == expected
        for query, count in zip(as_ids, expected):
            assert fm.count(query) == count
            found = fm.documents(query, limit=len(texts) + 1)
            assert [(d.index, d.start) for d in found.documents] == reference.documents(corpus, query)
            assert found.num_documents == len(reference.documents(corpus, query))
            for document in found.documents:
                assert document.metadata == {"n": document.index}
            for context in (0, 1, 5):
                assert fm.documents(query, limit=3, seed=11, context=context) == \
                    sa.documents(query, limit=3, seed=11, context=context)
        text_queries = [q.decode() for q in queries if _is_text(q)]
        assert fm.count_batch(text_queries).tolist() == sa.count_batch(text_queries).tolist()
        for number, text in enumerate(texts):
            assert fm.document(number) == sa.document(number)
            assert fm.document(number).text == text


def _is_text(data: bytes) -> bool:
    try:
        data.decode()
        return True
    except UnicodeDecodeError:
        return False


@given(st.lists(st.sampled_from(["a", "é", "x" * 700, "ab" * 200]), min_size=1, max_size=3),
       st.integers(0, 2**32 - 1))
def test_windows_in_long_documents_match_suffix_array(parts, seed):
    """Context windows deep inside documents longer than the inverse-sample spacing."""
    texts = ["".join(parts) * 3, "".join(reversed(parts)) + "é"]
    with tempfile.TemporaryDirectory() as folder:
        fm, sa = _build_both(Path(folder), texts, None, 4)
        for query in ("a", "é", "xa", "ba", "éa", "x" * 5):
            assert fm.documents(query, limit=5, seed=seed, context=7) == sa.documents(query, limit=5, seed=seed, context=7)
