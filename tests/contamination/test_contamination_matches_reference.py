"""Contamination windows and fractions against the brute-force reference (plain substring search).

Texts mix one-byte, two-byte, three-byte and four-byte UTF-8 characters with several kinds of
whitespace (including the ideographic space U+3000 and line breaks), so that characters,
bytes and word boundaries all differ; small window widths make windows found and not found
both common, and width 50 checks the default on short entries.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.apps.contamination import contamination, label_of, text_windows

CHARACTERS = ["a", "b", "é", "€", "𝄞", " ", " ", "\n", "\u3000", "\u00a0", "\t"]

texts = st.text(alphabet=st.sampled_from(CHARACTERS), min_size=0, max_size=40)


@given(texts, st.sampled_from([1, 2, 3, 5, 8, 50]))
def test_windows_match_reference(text, width):
    assert text_windows(text, width) == reference.word_windows(text, width)


@st.composite
def corpus_and_entries(draw):
    documents = draw(st.lists(texts.filter(bool), min_size=1, max_size=5))

    @st.composite
    def copied(draw_piece):
        # A piece of a document, maybe with random text around it: partly contaminated entries.
        document = draw_piece(st.sampled_from(documents))
        start = draw_piece(st.integers(0, len(document)))
        end = draw_piece(st.integers(start, len(document)))
        return draw_piece(texts) + document[start:end] + draw_piece(texts)

    entries = draw(st.lists(st.one_of(texts, copied()).filter(lambda t: t.strip()), min_size=1, max_size=6))
    width = draw(st.sampled_from([1, 2, 3, 4, 6, 50]))
    return documents, entries, width


@given(corpus_and_entries())
def test_found_and_label_match_reference(case):
    documents, entries, width = case
    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(documents, Path(folder) / "index", progress=False)
        index = infgram.Index.open(Path(folder) / "index")
        results = contamination(index, entries, width=width)
    for number, (entry, result) in enumerate(zip(entries, results)):
        windows, found = reference.contamination(documents, entry, width)
        assert (result.index, result.windows, result.found) == (number, windows, found), entry
        assert result.fraction == found / windows
        assert result.label == label_of(found, windows)
        assert (result.example is None) == (found == 0)
        if result.example is not None:
            assert result.example["window"] in documents[result.example["document"]]
            assert result.example["window"] in result.example["snippet"]
