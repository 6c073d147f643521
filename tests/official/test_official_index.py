"""Official infini-gram indexes opened in place: against the official engine's recorded replies
(where it is exact) and against the brute-force oracle (everywhere).

The fixtures were built by the official package (see fixtures/README.md); its replies are in
fixtures/goldens.json, so these tests need no official package.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infgram
from infgram import _reference as reference
from infgram.apps.official import export_official, write_official_index
from infgram.errors import IndexFormatError, QueryError, UnsupportedOperationError

from conftest import run_cli

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDENS = json.loads((FIXTURES / "goldens.json").read_text())
QUERIES = json.loads((FIXTURES / "queries.json").read_text())
NAMES = ["u8-one", "u8-two", "u16-one", "u16-two"]
EOS = {1: 254, 2: 65533}
"""The eos id each fixture's official engine was opened with: it names document ends."""


def calls(name: str, method: str):
    queries = QUERIES["u8" if name.startswith("u8") else "u16"][method]
    return [(call["args"], reply) for call, reply in zip(queries, GOLDENS["indexes"][name][method])]


def corpus_of(index: infgram.Index) -> list[list[int]]:
    """Every document's ids, read from the official files with numpy alone (the oracle's corpus)."""
    documents = []
    for shard in index.shards:
        data = np.fromfile(shard.files["tokenized"], dtype=f"<u{shard.token_width}")
        starts = (np.fromfile(shard.files["offset"], dtype="<u8") // shard.token_width).astype(np.int64).tolist()
        ends = starts[1:] + [len(data)]
        documents += [data[start + 1 : end].astype(np.int64).tolist() for start, end in zip(starts, ends)]
    return documents


def distribution(tokens, eos: int) -> dict[int, int]:
    return {eos if token.id is None else token.id: token.count for token in tokens}


def tree_digest(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module", params=NAMES)
def opened(request):
    return request.param, infgram.Index.open(FIXTURES / request.param)


def test_it_opens_as_an_official_index(opened):
    name, index = opened
    info = index.info()
    assert info["index_kind"] == "infini-gram" == index.kind
    assert info["official"]["read_only"] and "remove" in info["official"]["cannot"]
    assert info["official"]["num_shards"] == (2 if name.endswith("two") else 1)
    assert info["official"]["token_dtype"] == ("u8" if name.startswith("u8") else "u16")
    assert index.num_documents == GOLDENS["indexes"][name]["get_total_doc_cnt"][0]
    assert index.supports("infgram_next_tokens") and index.supports("attribute")


def test_counts_match_the_official_engine(opened):
    name, index = opened
    for (query,), reply in calls(name, "count"):
        if query:  # the official count([]) counts every separator as a token too
            assert index.count(query) == reply["count"], query
        else:
            assert index.count(query) + index.num_documents == reply["count"]
    for (query,), reply in calls(name, "find"):
        assert index.count(query) + (index.num_documents if not query else 0) == reply["cnt"]


def test_probabilities_match_the_official_engine(opened):
    name, index = opened
    for (prompt, next_id), reply in calls(name, "prob"):
        if not prompt:
            continue
        result = index.probability(prompt, next_id)
        assert (result.prompt_count, result.count) == (reply["prompt_cnt"], reply["cont_cnt"]), (prompt, next_id)


def test_next_tokens_match_the_official_engine(opened):
    name, index = opened
    for (prompt,), reply in calls(name, "ntd"):
        if not prompt or reply["approx"]:
            continue
        result = index.next_tokens(prompt)
        assert result.prompt_count == reply["prompt_cnt"]
        expected = {int(token): value["cont_cnt"] for token, value in reply["result_by_token_id"].items()}
        if index.token_width == 1 and expected == {EOS[1]: reply["prompt_cnt"]}:
            continue  # a known fault of the official engine in byte mode (BENCHMARKS.md): all mass on eos
        assert distribution(result.tokens, EOS[index.token_width]) == expected, prompt


def test_infgram_matches_the_official_engine(opened):
    name, index = opened
    for (prompt, next_id), reply in calls(name, "infgram_prob"):
        result = index.infgram_probability(prompt, next_id)
        assert result.suffix_length == reply["suffix_len"]
        separators = index.num_documents if reply["suffix_len"] == 0 else 0
        assert (result.prompt_count + separators, result.count) == (reply["prompt_cnt"], reply["cont_cnt"])
    for (prompt,), reply in calls(name, "infgram_ntd"):
        result = index.infgram_next_tokens(prompt)
        assert result.suffix_length == reply["suffix_len"]
        if reply["suffix_len"] and not reply["approx"]:
            expected = {int(token): value["cont_cnt"] for token, value in reply["result_by_token_id"].items()}
            assert distribution(result.tokens, EOS[index.token_width]) == expected


def test_documents_match_the_official_engine(opened):
    name, index = opened
    for (number,), reply in calls(name, "get_doc_by_ix"):
        document = index.document(number)
        assert document.num_tokens == reply["doc_len"]
        assert document.metadata == json.loads(reply["metadata"])
        expected_text = index.tokenizer.decode(reply["token_ids"])
        assert document.text == expected_text


def test_creativity_matches_the_official_engine(opened):
    name, index = opened
    for (sequence,), reply in calls(name, "creativity"):
        if not sequence:
            continue
        result = index.longest_matches(sequence)
        assert [start + length for start, length in enumerate(result.lengths)] == reply["rs"]


def test_every_operation_matches_the_oracle(opened):
    name, index = opened
    corpus = corpus_of(index)
    queries = [query for (query,), _ in calls(name, "count")]
    assert index.count_batch(queries).tolist() == [reference.count(corpus, q) for q in queries]
    for query in queries:
        assert index.count(query) == reference.count(corpus, query)
        assert [(t.id, t.count) for t in index.next_tokens(query).tokens] == reference.next_tokens(corpus, query)
        length, expected = reference.infgram_next_tokens(corpus, [9] + query)
        result = index.infgram_next_tokens([9] + query)
        assert (result.suffix_length, [(t.id, t.count) for t in result.tokens]) == (length, expected)
        found = index.documents(query, limit=len(corpus) + 1)
        assert [(d.index, d.start) for d in found.documents] == reference.documents(corpus, query)
    sequence = [id for (query,), _ in calls(name, "count") for id in query][:40]
    assert [(int(a), int(b)) for a, b in zip(index.longest_matches(sequence).lengths,
                                             index.longest_matches(sequence).counts)] == \
        reference.longest_matches(corpus, sequence)
    result = index.infgram_probabilities(sequence)
    assert list(zip(result.suffix_lengths, result.prompt_counts, result.counts)) == \
        reference.infgram_probabilities(corpus, sequence)


def test_search_and_attribution_match_the_oracle(opened):
    name, index = opened
    corpus = corpus_of(index)
    queries = [query for (query,), _ in calls(name, "count") if query]
    for first, second in zip(queries, queries[1:]):
        cnf = [[first], [second]]
        expected_documents, _ = reference.search(corpus, cnf)
        assert index.search(cnf, limit=100).num_documents == len(expected_documents)
    text = corpus[0] + corpus[-1]
    spans = index.attribute(text, min_length=2)
    for span in spans.spans:
        assert reference.count(corpus, text[span.start : span.end]) == span.count


def test_several_official_directories_open_as_one():
    both = infgram.Index.open([FIXTURES / "u8-one", FIXTURES / "u8-two"])
    single = infgram.Index.open(FIXTURES / "u8-one")
    assert both.num_documents == 2 * single.num_documents
    assert both.count("rose") == 2 * single.count("rose")
    assert both.document(single.num_documents).metadata["linenum"] == 0


def test_the_official_files_are_never_written(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(FIXTURES / "u8-two", folder)
    before = tree_digest(folder)
    index = infgram.Index.open(folder)
    index.count("rose"), index.next_tokens("the"), index.documents("cat", limit=3), index.attribute("the cat sat")
    for change in (lambda: infgram.remove(folder, documents=[0], progress=False),
                   lambda: infgram.add(folder, ["more"], progress=False),
                   lambda: infgram.compact(folder, progress=False)):
        with pytest.raises(UnsupportedOperationError, match="read-only"):
            change()
    with pytest.raises(UnsupportedOperationError, match="checksums"):
        index.verify()
    assert tree_digest(folder) == before


@pytest.mark.parametrize("damage, message", [
    (lambda folder: (folder / "table.0").write_bytes((folder / "table.0").read_bytes()[:-1]), "table.0 holds"),
    (lambda folder: (folder / "table.0").unlink(), "no table.0"),
    (lambda folder: (folder / "offset.0").write_bytes(np.array([0, 3], "<u8").tobytes()), "not a document separator"),
    (lambda folder: (folder / "offset.0").write_bytes(b"\0" * 7), "whole 8-byte offsets"),
    (lambda folder: (folder / "metaoff.0").write_bytes(np.array([0], "<u8").tobytes()), "metaoff.0"),
    (lambda folder: (folder / "table.0").write_bytes(bytes([200]) * (folder / "table.0").stat().st_size),
     "outside tokenized"),
])
def test_a_damaged_official_index_is_refused(tmp_path, damage, message):
    folder = tmp_path / "copy"
    shutil.copytree(FIXTURES / "u8-one", folder)
    damage(folder)
    with pytest.raises(IndexFormatError, match=message):
        infgram.Index.open(folder)


def test_a_damaged_pointer_found_by_a_search_is_an_index_format_error(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(FIXTURES / "u8-one", folder)
    table = bytearray((folder / "table.0").read_bytes())
    table[5] = 201  # one entry past the end of tokenized.0, between the entries the open check samples
    (folder / "table.0").write_bytes(bytes(table))
    index = infgram.Index.open(folder)  # the open check samples other entries
    with pytest.raises(IndexFormatError, match="table entry"):
        for query in ["a", " ", "e", "t", "the cat", "rose"]:
            index.next_tokens(query)
            index.count(query)


def test_tokenizer_choices_and_their_errors(tmp_path):
    with pytest.raises(IndexFormatError, match="1-byte tokens"):
        infgram.Index.open(FIXTURES / "u16-one", tokenizer="bytes")
    with pytest.raises(QueryError, match="records its own tokenizer"):
        folder = tmp_path / "ours"
        infgram.build_from_documents(["abc"], folder, progress=False)
        infgram.Index.open(folder, tokenizer="bytes")
    with pytest.raises(IndexFormatError, match="cannot use"):
        infgram.Index.open(FIXTURES / "u16-one", tokenizer=tmp_path / "missing.json")
    index = infgram.Index.open(FIXTURES / "u16-one")
    with pytest.raises(UnsupportedOperationError, match="token ids"):
        index.count("text")


def test_export_then_open_gives_the_same_answers(tmp_path):
    infgram.build_from_documents(["a rose is a rose", "the cat sat", "a cat"], tmp_path / "ours", progress=False,
                                 shard_tokens=20)
    ours = infgram.Index.open(tmp_path / "ours")
    export_official(ours, tmp_path / "theirs")
    theirs = infgram.Index.open(tmp_path / "theirs")
    assert theirs.num_documents == ours.num_documents and len(theirs.shards) == len(ours.shards)
    for query in ["a", "rose", "a cat", "t", " ", "zzz", "is a rose"]:
        assert theirs.count(query) == ours.count(query)
        assert theirs.next_tokens(query) == ours.next_tokens(query)
        assert theirs.infgram_probability("the " + query, "a") == ours.infgram_probability("the " + query, "a")
    for number in range(ours.num_documents):
        assert theirs.document(number).text == ours.document(number).text
    with pytest.raises(QueryError, match="empty or new folder"):
        export_official(ours, tmp_path / "theirs")


WIDTH_IDS = {1: [0, 1, 0x7f, 0xfe], 2: [0, 1, 0xff, 0x100, 0x1ff, 0xfffe], 4: [0, 0xff, 0x100ff, 0xfffffffe]}


@st.composite
def official_corpora(draw):
    width = draw(st.sampled_from([1, 2, 4]))
    alphabet = draw(st.lists(st.sampled_from(WIDTH_IDS[width]), min_size=2, max_size=4, unique=True))
    documents = draw(st.lists(st.lists(st.sampled_from(alphabet), min_size=0, max_size=12), min_size=1, max_size=7))
    num_shards = draw(st.integers(1, min(3, len(documents))))
    queries = draw(st.lists(st.lists(st.sampled_from(alphabet), max_size=5), min_size=1, max_size=6))
    return width, alphabet, documents, num_shards, queries


@settings(deadline=None)
@given(official_corpora())
def test_official_layout_matches_the_oracle(case):
    width, alphabet, documents, num_shards, queries = case
    with tempfile.TemporaryDirectory() as folder:
        write_official_index(Path(folder), documents, width, num_shards,
                             [{"n": number} for number in range(len(documents))])
        index = infgram.Index.open(folder)
        # The official engine numbers documents shard after shard; documents are dealt round-robin.
        order = [number for shard in range(num_shards) for number in range(shard, len(documents), num_shards)]
        corpus = [documents[number] for number in order]
        assert index.num_documents == len(corpus) and index.num_tokens == sum(map(len, corpus))
        assert index.count_batch(queries).tolist() == [reference.count(corpus, q) for q in queries]
        for query in queries:
            assert index.count(query) == reference.count(corpus, query)
            result = index.next_tokens(query)
            assert [(t.id, t.count) for t in result.tokens] == reference.next_tokens(corpus, query)
            length, expected = reference.infgram_next_tokens(corpus, query)
            result = index.infgram_next_tokens(query)
            assert (result.suffix_length, [(t.id, t.count) for t in result.tokens]) == (length, expected)
            for next_id in alphabet:
                result = index.infgram_probability(query, next_id)
                assert (result.suffix_length, result.prompt_count, result.count) == \
                    reference.infgram_probability(corpus, query, next_id)
            found = index.documents(query, limit=len(corpus) + 1)
            assert [(d.index, d.start) for d in found.documents] == reference.documents(corpus, query)
            assert [d.metadata["metadata"]["n"] if "metadata" in d.metadata else d.metadata["n"]
                    for d in found.documents] == [order[d.index] for d in found.documents]
        sequence = [token for query in queries for token in query]
        matches = index.longest_matches(sequence)
        assert list(zip(matches.lengths, matches.counts)) == reference.longest_matches(corpus, sequence)
        probabilities = index.infgram_probabilities(sequence)
        assert list(zip(probabilities.suffix_lengths, probabilities.prompt_counts, probabilities.counts)) == \
            reference.infgram_probabilities(corpus, sequence)


def word_tokenizer(path: Path) -> Path:
    """A tiny word-level Hugging Face tokenizer: ids 0..4 for five words, split on spaces."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1, "rose": 2, "is": 3, "red": 4}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(str(path))
    return path


def test_adopt_records_a_tokenizer_beside_the_official_files(tmp_path):
    folder = tmp_path / "official"
    write_official_index(folder, [[1, 2, 3, 4], [1, 2]], token_width=2)
    before = tree_digest(folder)
    tokenizer = word_tokenizer(tmp_path / "words.json")
    assert infgram.Index.open(folder, tokenizer=tokenizer).count("a rose", exact_tokens=True) == 2
    result = run_cli("adopt", folder, "--tokenizer", tokenizer, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tokenizer"]["kind"] == "huggingface"
    after = tree_digest(folder)
    assert {name: digest for name, digest in after.items() if not name.startswith("infgram-")} == before
    index = infgram.Index.open(folder)
    assert index.info()["official"]["adopted"] and index.tokenizer.kind == "huggingface"
    assert index.count("a rose", exact_tokens=True) == 2 and index.document(0).text == "a rose is red"
    result = run_cli("count", folder, "rose is", "--exact-tokens")
    assert (result.returncode, result.stdout.strip()) == (0, "1")
    result = run_cli("adopt", FIXTURES / "u16-one", "--tokenizer", "bytes")
    assert result.returncode == 1 and "1-byte tokens" in result.stderr
    result = run_cli("adopt", tmp_path, "--tokenizer", "bytes")
    assert result.returncode == 1 and "not one" in result.stderr


def test_the_command_line_opens_official_indexes(tmp_path):
    result = run_cli("count", FIXTURES / "u16-two", "--ids", "1 2 3")
    assert (result.returncode, result.stdout.strip()) == (0, "4")
    result = run_cli("info", FIXTURES / "u8-one", "--json")
    assert json.loads(result.stdout)["official"]["token_dtype"] == "u8"
    result = run_cli("next", FIXTURES / "u8-one", "rose", "--tokenizer", "bytes", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["prompt_count"] == 5
    result = run_cli("export", FIXTURES / "u8-two", "--out", tmp_path / "again", "--json")
    assert result.returncode == 0, result.stderr
    assert infgram.Index.open(tmp_path / "again").count("rose") == 5
    assert tree_digest(tmp_path / "again") == tree_digest(FIXTURES / "u8-two")


@pytest.mark.parametrize("num_shards", [1, 2])
def test_every_batch_operation_answers_as_on_an_infgram_index_of_the_same_documents(tmp_path, num_shards):
    from infgram.service.batch import run_batch

    golden = Path(__file__).resolve().parents[1] / "golden"
    records = [json.loads(line) for line in (golden / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    texts = [record["text"] for record in records]
    fields = [{key: value for key, value in record.items() if key != "text"} for record in records]
    write_official_index(tmp_path / "official", [list(text.encode("utf-8")) for text in texts], 1, num_shards, fields)
    parts = []  # one index of ours per official shard (its documents, dealt round-robin), opened as one
    for shard in range(num_shards):
        parts.append(tmp_path / f"ours-{shard}")
        infgram.build_from_documents([{"text": texts[number], **fields[number]}
                                      for number in range(shard, len(texts), num_shards)], parts[-1], progress=False)
    official, ours = infgram.Index.open(tmp_path / "official"), infgram.Index.open(parts)
    assert official.document(0).metadata == ours.document(0).metadata
    lines = (golden / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    for line, mine, theirs in zip([l for l in lines if l.strip()], run_batch(official, lines), run_batch(ours, lines)):
        assert json.loads(mine) == json.loads(theirs), line


def test_a_ray_shard_host_opens_official_shards_from_the_coordinators_manifest():
    from infgram.distributed.shardset import ShardHost
    from infgram.query.partials import count

    index = infgram.Index.open(FIXTURES / "u8-two")
    places = [(str(FIXTURES / "u8-two"), number) for number in range(len(index.manifest["shards"]))]
    host = ShardHost(places, {places[0][0]: index.manifest})
    assert sum(host.run_all(count, b"rose")) == index.count("rose") == 5
    assert [shard.num_documents for shard in host.shards] == [shard.num_documents for shard in index.shards]


def test_an_official_index_without_metadata_or_with_wide_tokens(tmp_path):
    folder = tmp_path / "bare"
    shutil.copytree(FIXTURES / "u16-two", folder)
    for path in folder.glob("meta*"):
        path.unlink()
    index = infgram.Index.open(folder)
    assert index.document(0).metadata == {} and not index.info()["official"]["metadata"]
    assert index.count([1, 2, 3]) == infgram.Index.open(FIXTURES / "u16-two").count([1, 2, 3])
    write_official_index(tmp_path / "wide", [[0xfffffffe, 0x100ff, 7], [0x100ff, 7]], token_width=4)
    wide = infgram.Index.open(tmp_path / "wide")
    assert wide.info()["official"]["token_dtype"] == "u32" and wide.count([0x100ff, 7]) == 2
    infgram.build_from_documents(["a rose"], tmp_path / "ours", progress=False)
    with pytest.raises(IndexFormatError, match="index kind"):
        infgram.Index.open([FIXTURES / "u8-one", tmp_path / "ours"])
    with pytest.raises(IndexFormatError, match="tokenizer of"):
        infgram.Index.open([FIXTURES / "u16-one", tmp_path / "wide"])


@pytest.mark.parametrize("name", NAMES)
def test_an_official_index_answers_the_same_from_disk(name):
    """``load="disk"`` advises random access to the official files; the answers stay the same."""
    in_memory = infgram.Index.open(FIXTURES / name, load="ram")
    from_disk = infgram.Index.open(FIXTURES / name, load="disk")
    assert from_disk.info()["memory"]["load"] == "disk" and in_memory.info()["memory"]["load"] == "ram"
    documents = corpus_of(in_memory)
    for (args, _reply) in calls(name, "count"):
        query = args[0] if args and isinstance(args[0], list) else args
        assert from_disk.count(query) == in_memory.count(query) == reference.count(documents, query)
