"""OLMoTrace-style tracing (infgram.query.tracing) against the brute-force oracle, step by step.

Byte indexes: tiny texts over a space, a sentence break (``.`` or a newline) and 0-2 word
characters (one of them multi-byte), the output made of pieces of the documents and random
characters; tiny shard sizes put documents at shard edges. Each step is compared with its
brute-force definition in ``_reference``: the candidates (``trace_word_candidates``, by
characters), the rarest (``trace_rarest``, exact fractions over substring counts of the
output's words), the merge (``trace_merged``), the documents per piece (``documents``, in
index order) and BM25 (``trace_bm25``, over the retrieved documents, whole since the windows
are wider than any document). Token indexes (widths 1, 2 and 4, ids without text): the
candidates for random sets of break tokens (``trace_token_candidates``), and the whole
trace, whose units are tokens.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.query import tracing

from conftest import build_id_index, corpora, piece_or_text

WORD_CHARACTERS = ["a", "b", "é"]


@st.composite
def byte_cases(draw):
    alphabet = [" ", draw(st.sampled_from([".", "\n"]))] + \
        draw(st.lists(st.sampled_from(WORD_CHARACTERS), min_size=1, max_size=2, unique=True))
    documents = draw(st.lists(st.text(alphabet=alphabet, min_size=1, max_size=14), min_size=1, max_size=6))
    text = "".join(draw(st.lists(piece_or_text(documents, alphabet), min_size=1, max_size=5)))
    prompt = draw(st.text(alphabet=alphabet, max_size=8))
    longest = max(len(d.encode()) for d in documents)
    shard_tokens = draw(st.one_of(st.none(), st.integers(longest + 1, longest + 20)))
    return documents, text, prompt, shard_tokens, draw(st.integers(0, 3)), draw(st.integers(1, 3))


def substring_count(documents: list[str], piece: str) -> int:
    return sum(1 for document in documents for i in range(len(document)) if document.startswith(piece, i))


@given(case=byte_cases())
def test_each_tracing_step_on_byte_indexes_matches_the_reference(case):
    import re

    documents, text, prompt, shard_tokens, min_length, per_span = case
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "i", shard_tokens=shard_tokens, progress=False)
        index = infgram.Index.open(Path(folder) / "i")
        result = index.trace(text, prompt=prompt, min_length=min_length, documents_per_span=per_span, context=100)
        found = tracing.candidates(index, index.tokenize(text), min_length)

    def byte_range(a: int, b: int) -> tuple[int, int]:
        return len(text[:a].encode()), len(text[:b].encode())

    # Step 1: the candidates.
    expected = reference.trace_word_candidates(documents, text, min_length)
    assert result.num_candidates == len(expected)
    assert found == [byte_range(a, b) for a, b in expected]
    # Step 2: the rarest, by the product of the unigram probabilities of their words.
    words = [found.span() for found in re.finditer(r"\w+", text)]
    assert (result.unit, result.num_units) == ("word", len(words))
    num_tokens = sum(len(document.encode()) for document in documents)
    counts = [[substring_count(documents, text[c:d]) for c, d in words if a <= c and d <= b] for a, b in expected]
    kept = [expected[number] for number in reference.trace_rarest(counts, num_tokens, len(words))]
    assert result.num_kept == len(kept) == min(len(expected), math.ceil(0.05 * len(words)))
    pieces = [piece for span in result.spans for piece in span.pieces]
    assert [(piece.character_start, piece.character_end) for piece in pieces] == kept
    for piece, (a, b), units in zip(pieces, kept, [counts[expected.index(span)] for span in kept]):
        assert piece.text == text[a:b]
        assert piece.count == substring_count(documents, text[a:b])
        assert piece.num_documents == sum(1 for document in documents if text[a:b] in document)
        assert piece.num_units == len(units)
        assert math.isclose(piece.log10_probability, sum(math.log10(c / num_tokens) for c in units), abs_tol=1e-9)
    # Step 3: the merge.
    assert [(span.character_start, span.character_end) for span in result.spans] == reference.trace_merged(kept)
    # Step 4: up to per_span documents per piece, in index order.
    retrieved = set()
    for span in result.spans:
        for number, piece in enumerate(span.pieces):
            holding = [d for d, document in enumerate(documents) if piece.text in document][:per_span]
            assert sorted(document.index for document in span.documents if number in document.pieces) == holding
            retrieved.update(holding)
    # Step 5: BM25 over the retrieved documents (whole: windows are wider than any document).
    numbers = sorted(retrieved)
    scores = dict(zip(numbers, reference.trace_bm25(prompt + "\n" + text, [documents[n] for n in numbers])))
    best = max(scores.values(), default=0.0)
    for span in result.spans:
        assert [document.index for document in span.documents] == sorted(
            {document.index for document in span.documents}, key=lambda n: (-scores[n], n))
        for document in span.documents:
            assert document.text == documents[document.index]
            assert math.isclose(document.score, scores[document.index], abs_tol=1e-9)
            assert document.relevance == tracing.relevance(document.score, best)
            assert all(any(document.text[a:b] == piece.text for piece in span.pieces) or
                       any(piece.text in document.text[a:b] for piece in span.pieces) for a, b in document.spans)


@st.composite
def token_cases(draw):
    width, alphabet, documents, shard_tokens, key_step = draw(corpora())
    sequence = draw(st.lists(st.sampled_from(alphabet), min_size=0, max_size=12))
    breaks = set(draw(st.lists(st.sampled_from(alphabet), max_size=2)))
    return width, alphabet, documents, shard_tokens, key_step, sequence, breaks, draw(st.integers(0, 3)), \
        draw(st.integers(1, 3))


@given(case=token_cases())
def test_each_tracing_step_on_token_indexes_matches_the_reference(case):
    width, _, documents, shard_tokens, key_step, sequence, breaks, min_length, per_span = case
    with tempfile.TemporaryDirectory() as folder:
        index = build_id_index(Path(folder) / "index", width, documents, shard_tokens, key_step)
        lengths = index.longest_matches(sequence).lengths if sequence else []
        mask = [token in breaks for token in sequence]
        found = tracing.candidate_spans(np.array(lengths, dtype=np.int64), np.array(mask, dtype=bool), min_length)
        assert found == reference.trace_token_candidates(documents, sequence, breaks, min_length)
        result = index.trace(sequence, min_length=min_length, documents_per_span=per_span, context=100)
    # Ids without text have no sentence breaks: every maximal span is a candidate.
    expected = reference.trace_token_candidates(documents, sequence, set(), min_length)
    assert (result.unit, result.num_units, result.num_candidates) == ("token", len(sequence), len(expected))
    num_tokens = sum(len(document) for document in documents)
    counts = [[reference.count(documents, [token]) for token in sequence[a:b]] for a, b in expected]
    kept = [expected[number] for number in reference.trace_rarest(counts, num_tokens, len(sequence))]
    pieces = [piece for span in result.spans for piece in span.pieces]
    assert [(piece.start, piece.end) for piece in pieces] == kept
    assert [(span.start, span.end) for span in result.spans] == reference.trace_merged(kept)
    for span in result.spans:
        for number, piece in enumerate(span.pieces):
            holding = [d for d, _ in reference.documents(documents, sequence[piece.start : piece.end])][:per_span]
            assert sorted(document.index for document in span.documents if number in document.pieces) == holding
            assert piece.count == reference.count(documents, sequence[piece.start : piece.end])


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 5)), max_size=8))
def test_merging_matches_the_reference(starts_and_lengths):
    spans = sorted({(start, start + length) for start, length in starts_and_lengths})
    merged = tracing.merge_overlapping(spans)
    assert [(start, end) for start, end, _ in merged] == reference.trace_merged(spans)
    assert sorted(number for _, _, members in merged for number in members) == list(range(len(spans)))


@given(st.lists(st.lists(st.integers(1, 6), max_size=4), max_size=8), st.integers(6, 30), st.integers(0, 60))
def test_keeping_the_rarest_matches_the_reference(counts, num_tokens, num_units):
    assert tracing.lowest_probability(counts, num_tokens, tracing.num_kept(num_units)) == \
        reference.trace_rarest(counts, num_tokens, num_units)


WORDS = st.text(alphabet=["a", "b", "c", " ", "A", "é", "."], max_size=12)


@given(WORDS, st.lists(WORDS, max_size=5))
def test_bm25_matches_the_reference(query, texts):
    expected = reference.trace_bm25(query, texts)
    assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(tracing.bm25_scores(query, texts), expected))


@settings(max_examples=15)
@given(st.lists(st.sampled_from(["the cat", "sat on", "a mat.", "the log.\n", "dog", "was happy."]), min_size=1,
                max_size=5), st.lists(st.sampled_from(["the", "cat", "sat", "on", "a", "log.", "dog", "mat.", "\n"]),
                                      min_size=1, max_size=12), st.integers(0, 3))
def test_candidates_on_a_tokenized_index_match_the_reference(pieces, words, min_length):
    """With a real tokenizer (sp32k), the breaks are the tokens whose text holds a period or a newline."""
    from conftest import build_tokenized_index, loaded_tokenizer
    from infgram.query.forms import token_spellings

    documents = [" ".join(pieces), " ".join(reversed(pieces))]
    text = " ".join(words)
    tokenizer = loaded_tokenizer("sp32k")
    with tempfile.TemporaryDirectory() as folder:
        index = build_tokenized_index(Path(folder) / "i", documents, "sp32k")
        sequence = tokenizer.encode(text).tolist()
        spellings = token_spellings(tokenizer)
        breaks = {token for token in sequence if b"." in spellings[token] or b"\n" in spellings[token]}
        corpus = [tokenizer.encode(document).tolist() for document in documents]
        expected = reference.trace_token_candidates(corpus, sequence, breaks, min_length)
        assert tracing.candidates(index, np.array(sequence), min_length) == expected
        result = index.trace(text, min_length=min_length, context=100)
        assert result.num_candidates == len(expected) and result.unit == "token"
        counts = [[reference.count(corpus, [token]) for token in sequence[a:b]] for a, b in expected]
        kept = [expected[n] for n in reference.trace_rarest(counts, sum(map(len, corpus)), len(sequence))]
        assert [(p.start, p.end) for span in result.spans for p in span.pieces] == kept
