"""A build on the cluster writes the local build's index, byte for byte, and its report.

Several shard counts (one shard, a few, many small ones), the FM-index, a Hugging Face
tokenizer, problems skipped or failing with the local message, and the command line.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster_fixtures import cluster, index_files, sp32k  # noqa: E402,F401 (fixtures; sets the loopback variable)

pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

# One pytest-xdist worker runs every test of a Ray cluster, one cluster at a time (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402
from infgram.errors import InputError  # noqa: E402

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa λ μ 猫 🐈".split()


CASED_WORDS = "Alpha BETA gamma Straße STRASSE ﬁle ΣΑΣ Ünïcode ① λ Μ 猫 🐈 ǅ".split()
"""Words that normalization changes (case, compatibility characters, a final sigma)."""


def _corpus(folder: Path, files: int = 4, lines: int = 300, seed: int = 5, words: list[str] = WORDS) -> Path:
    """A folder of JSON Lines files of random words, with a blank line, a bad line and an
    empty document in each, and metadata."""
    rng = random.Random(seed)
    folder.mkdir()
    for number in range(files):
        rows = [json.dumps({"text": " ".join(rng.choice(words) for _ in range(rng.randint(1, 40))), "n": n},
                           ensure_ascii=False) for n in range(lines)]
        rows.insert(rng.randrange(lines), "")
        rows.insert(rng.randrange(lines), "{not json")
        rows.insert(rng.randrange(lines), json.dumps({"text": ""}))
        (folder / f"part-{number}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _both(tmp_path: Path, inputs: list, **options) -> tuple[Path, Path]:
    local, remote = tmp_path / "local", tmp_path / "ray"
    infgram.build(inputs, local, progress=False, **options)
    infgram.distributed.build(inputs, remote, progress=False, **options)
    return local, remote


@pytest.mark.parametrize("shard_tokens", [None, 20_000, 3_000])
def test_cluster_build_is_byte_identical(cluster, tmp_path, index_files, shard_tokens):
    corpus = _corpus(tmp_path / "corpus")
    local, remote = _both(tmp_path, [corpus], on_error="skip", shard_tokens=shard_tokens,
                          memory="4G" if shard_tokens is None else None)
    files = index_files(local)
    assert index_files(remote) == files
    shards = json.loads((local / "manifest.json").read_text())["shards"]
    assert len(shards) == 1 if shard_tokens is None else len(shards) > 1
    assert not list(tmp_path.glob(".*.ray-work")), "the unit files are removed"
    assert infgram.Index.open(remote).count("alpha") == infgram.Index.open(local).count("alpha")


def test_cluster_fm_build_is_byte_identical(cluster, tmp_path, index_files):
    corpus = _corpus(tmp_path / "corpus", files=3)
    local, remote = _both(tmp_path, [corpus], on_error="skip", kind="fm", shard_tokens=15_000, sample_rate=8)
    assert len(json.loads((local / "manifest.json").read_text())["shards"]) > 1
    assert index_files(remote) == index_files(local)


def test_cluster_build_with_a_tokenizer_and_a_memory_budget(cluster, tmp_path, index_files, sp32k):
    corpus = _corpus(tmp_path / "corpus", files=2)
    local, remote = _both(tmp_path, [corpus], on_error="skip", tokenizer=sp32k, memory="4G")
    assert index_files(remote) == index_files(local)


@pytest.mark.parametrize("form", ["nfkc_casefold", "lowercase"])
def test_a_normalized_cluster_build_is_byte_identical(cluster, tmp_path, index_files, form):
    corpus = _corpus(tmp_path / "corpus", files=3, words=CASED_WORDS)
    local, remote = _both(tmp_path, [corpus], on_error="skip", shard_tokens=12_000, normalize=form)
    assert len(json.loads((local / "manifest.json").read_text())["shards"]) > 1
    assert index_files(remote) == index_files(local)
    index, written = infgram.Index.open(remote), infgram.Index.open(local)
    assert index.info()["normalization"] == form
    assert index.count("STRASSE") == written.count("strasse") > 0
    shown = [index.document(number).text for number in range(20)]
    assert shown == [written.document(number).text for number in range(20)]
    assert any(character.isupper() for text in shown for character in text)  # shown as written


def test_a_normalized_cluster_build_with_a_tokenizer(cluster, tmp_path, index_files, sp32k):
    corpus = _corpus(tmp_path / "corpus", files=2, words=CASED_WORDS)
    local, remote = _both(tmp_path, [corpus], on_error="skip", tokenizer=sp32k, shard_tokens=5_000,
                          normalize="nfkc")
    assert index_files(remote) == index_files(local)


def test_the_command_line_normalizes_on_the_cluster(cluster, tmp_path, index_files):
    corpus = _corpus(tmp_path / "corpus", files=2, words=CASED_WORDS)
    command = [sys.executable, "-m", "infgram.cli", "build", str(corpus), "--quiet", "--on-error", "skip",
               "--shard-tokens", "8000", "--normalize", "nfkc_casefold"]
    for out, extra in (("local", []), ("ray", ["--ray", cluster.address])):
        built = subprocess.run([*command, "--out", str(tmp_path / out), *extra], capture_output=True, text=True,
                               timeout=300)
        assert built.returncode == 0, built.stderr
    assert index_files(tmp_path / "ray") == index_files(tmp_path / "local")


def test_whole_word_answers_on_actors_are_the_local_ones(cluster, tmp_path):
    """Whole-word attribution and counts, and inside_tokens, read shards through the actors."""
    corpus = _corpus(tmp_path / "corpus", files=2, words=CASED_WORDS)
    infgram.build([corpus], tmp_path / "i", progress=False, on_error="skip", shard_tokens=6_000,
                  normalize="nfkc_casefold")
    local = infgram.Index.open(tmp_path / "i")
    remote = infgram.distributed.open(tmp_path / "i", shards_per_host=2)
    try:
        assert len(remote.shards) == len(local.shards) > 1
        text = local.document(3).text + " Alpha beta ﬁle " + local.document(11).text[:40]
        for options in ({"whole_words": True}, {"whole_words": True, "min_length": 4}, {}):
            assert remote.attribute(text, **options) == local.attribute(text, **options), options
        words = ["alpha", "STRASSE", "ss", "file", "σας"]
        assert remote.count_batch(words, whole_words=True).tolist() == local.count_batch(words, whole_words=True).tolist()
    finally:
        remote.shard_set.shutdown()


def test_a_failing_record_fails_with_the_local_message(cluster, tmp_path):
    corpus = _corpus(tmp_path / "corpus", files=3)
    with pytest.raises(InputError) as local:
        infgram.build([corpus], tmp_path / "local", progress=False)
    with pytest.raises(InputError) as remote:
        infgram.distributed.build([corpus], tmp_path / "ray", progress=False)
    assert str(remote.value) == str(local.value)
    assert "part-0.jsonl" in str(local.value)


def test_a_finished_cluster_build_is_up_to_date_and_resumable_locally(cluster, tmp_path, index_files):
    corpus = _corpus(tmp_path / "corpus", files=2)
    remote = tmp_path / "ray"
    infgram.distributed.build([corpus], remote, progress=False, on_error="skip", shard_tokens=10_000)
    before = index_files(remote)
    assert infgram.build([corpus], remote, progress=False, on_error="skip", shard_tokens=10_000).up_to_date
    again = infgram.distributed.build([corpus], remote, progress=False, on_error="skip", shard_tokens=10_000)
    assert again.up_to_date and index_files(remote) == before


def test_the_command_line_builds_and_answers_on_the_cluster(cluster, tmp_path, index_files):
    corpus = _corpus(tmp_path / "corpus", files=2)
    command = [sys.executable, "-m", "infgram.cli"]
    for out, extra in (("local", []), ("ray", ["--ray", cluster.address])):
        built = subprocess.run([*command, "build", str(corpus), "--out", str(tmp_path / out), "--quiet",
                                "--on-error", "skip", "--shard-tokens", "8000", *extra],
                               capture_output=True, text=True, timeout=300)
        assert built.returncode == 0, built.stderr
    assert index_files(tmp_path / "ray") == index_files(tmp_path / "local")
    requests = "".join(json.dumps(request) + "\n" for request in (
        {"op": "count", "text": "alpha beta"}, {"op": "next_tokens", "text": "gamma "},
        {"op": "documents", "text": "zeta", "limit": 3, "seed": 2}, {"op": "count", "text": 7}))
    replies = [subprocess.run([*command, "batch", str(tmp_path / "local"), *extra], input=requests,
                              capture_output=True, text=True, timeout=300).stdout
               for extra in ([], ["--ray", cluster.address])]
    assert replies[0].count("\n") == 4
    assert replies[1] == replies[0]


@settings(max_examples=300, deadline=None)
@given(counts=st.lists(st.tuples(st.integers(1, 30), st.integers(0, 3000)), max_size=60),
       positions=st.integers(32, 200), budget=st.one_of(st.none(), st.integers(100_000, 400_000)))
def test_the_plan_cuts_where_the_local_buffer_does(counts, positions, budget):
    """plan_shards against a local ShardBuffer filled document by document (no cluster needed)."""
    from infgram.build.shard_writer import ShardBuffer
    from infgram.distributed.builder import plan_shards

    firsts, buffer = [], None
    for number, (tokens, metadata) in enumerate(counts):
        if buffer is None or (buffer.num_documents and not buffer.fits(tokens, metadata)):
            firsts.append(number)
            buffer = ShardBuffer(1, positions, 255, budget)
        buffer.add(np.zeros(tokens, dtype=np.uint8), b"m" * metadata)
    token_counts = np.array([c for c, _ in counts], dtype=np.int64)
    metadata_lengths = np.array([m for _, m in counts], dtype=np.int64)
    assert plan_shards(token_counts, metadata_lengths, positions, budget) == firsts


def test_a_cluster_build_reads_files_an_include_names_as_text(cluster, tmp_path, index_files):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "a.py").write_text("def alpha():\n    return 1\n")
    (folder / "b.py").write_bytes(b"beta = '\xff'\n")
    local, remote = _both(tmp_path, [folder], include=["*.py"])
    assert index_files(remote) == index_files(local)
    assert infgram.Index.open(remote).count("def alpha") == 1
