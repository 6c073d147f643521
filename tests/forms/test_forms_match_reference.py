"""String queries on tokenized indexes against the brute-force definition of an aligned
occurrence (``_reference.aligned_occurrences``, which tokenizes every document).

Tiny corpora of words from a 2-4 word vocabulary, joined by spaces, double spaces,
newlines and punctuation; queries are pieces of the documents cut anywhere (so many begin
or end inside a token) and joins of words. Tiny shard sizes put documents at shard edges.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference

from conftest import build_tokenized_index as build, draw_word_text, loaded_tokenizer as loaded

WORDS = ["natural", "language", "nat", "ural", "a", "lang"]
SEPARATORS = [" ", " ", "  ", "\n", ". ", ",", " (", "-"]


@st.composite
def word_corpora(draw):
    vocabulary, documents, queries = draw_word_text(draw, WORDS, SEPARATORS, 5, 8)
    queries += draw(st.lists(st.sampled_from([" ".join(p) for p in zip(vocabulary, vocabulary[1:])] + vocabulary),
                             max_size=3))
    shard_tokens = draw(st.one_of(st.none(), st.integers(40, 80)))
    return documents, queries, shard_tokens


@pytest.mark.parametrize("name", ["sp32k", "llama3"])
@settings(max_examples=15)
@given(case=word_corpora())
def test_strings_count_their_aligned_occurrences(name, case):
    documents, queries, shard_tokens = case
    tokenizer = loaded(name)
    spelled = [reference.spelled_tokens(tokenizer, document) for document in documents]
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "i", documents, name, shard_tokens)
        expected = [len(reference.aligned_occurrences(spelled, query)) for query in queries]
        assert [index.count(query) for query in queries] == expected, (documents, queries, spelled, [index.forms(q) for q in queries])
        assert index.count_batch(queries).tolist() == expected
        for query, count in zip(queries, expected):
            forms = index.forms(query)
            assert sum(form.count for form in forms) == count
            assert all("".join(form.text) in (query, " " + query) for form in forms if form.count)
            result = index.documents(query, limit=100)
            assert sorted(d.index for d in result.documents) == reference.aligned_documents(spelled, query)
            assert result.num_documents == len(reference.aligned_documents(spelled, query))
            assert index.search([[query]], limit=100).num_documents == result.num_documents
        exact = index.count(queries[0], exact_tokens=True)
        ids = tokenizer.encode(queries[0]).tolist()
        assert exact == index.count(ids)


@pytest.mark.parametrize("name", ["sp32k", "llama3"])
@settings(max_examples=15)
@given(case=word_corpora())
def test_whole_words_on_token_indexes(name, case):
    """Whole words are the aligned occurrences with no word character just before or after."""
    documents, queries, shard_tokens = case
    tokenizer = loaded(name)
    spelled = [reference.spelled_tokens(tokenizer, document) for document in documents]
    with tempfile.TemporaryDirectory() as folder:
        index = build(Path(folder) / "i", documents, name, shard_tokens)
        sets = []
        for query in queries:
            expected = reference.aligned_whole_word_occurrences(spelled, query)
            sets.append({number for number, _, _ in expected})
            assert index.count(query, whole_words=True) == len(expected), (query, spelled, expected)
            result = index.documents(query, whole_words=True, limit=100)
            assert sorted(d.index for d in result.documents) == sorted(sets[-1])
            found = index.search([[query]], whole_words=True, limit=0)
            assert (found.num_documents, found.sites) == (len(sets[-1]), len(expected))
        result = index.cooccurrence(queries, whole_words=True, document_counts=True)
        assert result.document_counts == [len(s) for s in sets]
        assert result.pair_document_counts == [len(sets[a] & sets[b]) for a, b in result.pairs]


@pytest.mark.parametrize("name", ["sp32k", "llama3"])
def test_the_issue_examples(name, tmp_path):
    documents = ["Natural language is studied. We study natural language.\nnatural language models",
                 "a regular expression, the regular expression"]
    index = build(tmp_path / "i", documents, name)
    assert index.count("natural language") == 2
    assert index.count(" regular expression") == 2 and index.count("regular expression") == 2
    result = index.probability("natural", " language")
    assert (result.prompt_count, result.count) == (2, 2)
    assert {form.text.strip() for form in result.forms} == {"natural"}
    with pytest.raises(infgram.QueryError, match="exactly one token"):
        index.probability("natural", " language models")
    assert index.next_tokens("natural").tokens[0].text.strip() == "language"
    assert index.documents("natural language").num_documents == 1
    from infgram.service.protocol import run_request
    reply = run_request(index, {"op": "count", "text": "natural language"})
    assert reply["count"] == 2 and sum(form["count"] for form in reply["forms"]) == 2
    exact = run_request(index, {"op": "count", "text": "natural language", "exact_tokens": True})
    assert exact["count"] == index.count(index.tokenizer.encode("natural language").tolist())
