"""Several index directories opened together answer as one index over all their documents."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import infgram
from conftest import build_id_index, corpora


def _without_metadata(value):
    """Documents as dicts without metadata (each part numbers its documents from 0 in it)."""
    if isinstance(value, dict):
        return {key: _without_metadata(item) for key, item in value.items() if key != "metadata"}
    if isinstance(value, list):
        return [_without_metadata(item) for item in value]
    return value


@given(corpora(), st.data())
def test_split_directories_answer_as_one_index(case, data):
    width, alphabet, documents, shard_tokens, key_step = case
    split = data.draw(st.integers(1, len(documents))) if len(documents) > 1 else 1
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        whole = build_id_index(folder / "whole", width, documents, shard_tokens, key_step)
        build_id_index(folder / "a", width, documents[:split], shard_tokens, key_step)
        parts = [folder / "a"]
        if split < len(documents):
            build_id_index(folder / "b", width, documents[split:], shard_tokens, key_step)
            parts.append(folder / "b")
        joined = infgram.Index.open(parts)
        assert infgram.Index.open(",".join(map(str, parts))).num_documents == whole.num_documents
        queries = [[], *[[token] for token in alphabet], *[d[:3] for d in documents], *[d[-2:] for d in documents]]
        for query in queries:
            assert joined.count(query) == whole.count(query)
            assert joined.next_tokens(query).to_dict() == whole.next_tokens(query).to_dict()
            assert _without_metadata(joined.documents(query, limit=20).to_dict()) == \
                _without_metadata(whole.documents(query, limit=20).to_dict())
            # A seeded order draws suffix-array rows shard by shard: it depends on the shard
            # layout, which splitting the directories changes; the documents do not.
            seeded = [index.documents(query, limit=20, seed=3) for index in (joined, whole)]
            assert [sorted(d.index for d in result.documents) for result in seeded] == \
                [sorted(d.index for d in seeded[1].documents)] * 2
            assert seeded[0].num_documents == seeded[1].num_documents
            assert joined.infgram_next_tokens(query + [alphabet[0]]).to_dict() == \
                whole.infgram_next_tokens(query + [alphabet[0]]).to_dict()
        for number in range(whole.num_documents):
            assert _without_metadata(joined.document(number).to_dict()) == _without_metadata(whole.document(number).to_dict())
        text = [token for document in documents for token in document]
        assert joined.longest_matches(text) == whole.longest_matches(text)
        assert joined.infgram_probabilities(text) == whole.infgram_probabilities(text)


def test_indexes_that_differ_are_refused_naming_the_difference(tmp_path):
    infgram.build_from_documents(["abc"], tmp_path / "bytes", progress=False)
    infgram.build_from_documents(["abc"], tmp_path / "fm", kind="fm", progress=False)
    infgram.build_from_documents([{"ids": [1, 2]}], tmp_path / "ids", token_width=2, progress=False)
    with pytest.raises(infgram.IndexFormatError, match="index kind"):
        infgram.Index.open([tmp_path / "bytes", tmp_path / "fm"])
    with pytest.raises(infgram.IndexFormatError, match="tokenizer"):
        infgram.Index.open([tmp_path / "bytes", tmp_path / "ids"])
    with pytest.raises(infgram.IndexFormatError, match="one or more index directories"):
        infgram.Index.open(",")
