"""FM-index builds: interrupted builds never open and resume to identical files; the build
report, manifest and CLI of an FM-index; what reading a shard off its suffix array holds; and
the opt-in real-corpus comparison."""

from __future__ import annotations

import glob
import os
import tracemalloc

import numpy as np
import pytest
from tqdm import tqdm

import infgram
from infgram.build import fm_writer as fm_build

from conftest import SHARD_TOKENS, files_of as _files, on_shard_thread, run_cli, write_word_corpus as _write_corpus


def _build_fm_interrupted_at_sort(monkeypatch, corpus, out, shard_number: int) -> None:
    """An FM build that stops (KeyboardInterrupt) when it starts sorting shard N (1-based),
    told by its thread (``on_shard_thread``)."""
    original = fm_build.FMWriter._sort

    def failing(self, text, sample_rate, isa_rate, bar, sort_threads=1):
        if on_shard_thread(shard_number - 1):
            raise KeyboardInterrupt
        return original(self, text, sample_rate, isa_rate, bar, sort_threads)

    monkeypatch.setattr(fm_build.FMWriter, "_sort", failing)
    with pytest.raises(KeyboardInterrupt):
        infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, kind="fm", progress=False)
    monkeypatch.setattr(fm_build.FMWriter, "_sort", original)


def test_interrupted_fm_build_never_opens_and_resumes_identically(tmp_path, monkeypatch):
    corpus = _write_corpus(tmp_path / "corpus.jsonl")
    out = tmp_path / "resumed"
    _build_fm_interrupted_at_sort(monkeypatch, corpus, out, shard_number=3)
    assert (out / "shard-00001").is_dir() and (out / "shard-00002.partial").is_dir()
    assert not (out / "manifest.json").exists()
    with pytest.raises(infgram.IncompleteIndexError, match="did not finish"):
        infgram.Index.open(out)
    result = run_cli("count", out, "alpha")
    assert result.returncode == 1 and "did not finish" in result.stderr

    report = infgram.build([corpus], out, shard_tokens=SHARD_TOKENS, kind="fm", progress=False)
    assert report.reused_shards == 2 and report.num_shards >= 4
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]
    fresh = tmp_path / "fresh"
    infgram.build([corpus], fresh, shard_tokens=SHARD_TOKENS, kind="fm", progress=False)
    fresh_files = _files(fresh)
    assert sum(name.endswith("fm_wavelet.bin") for name in fresh_files) == report.num_shards
    assert not any(name.endswith(("tokens.bin", "suffix_array.bin")) for name in fresh_files)
    _assert_identical_fm(out, fresh)
    index = infgram.Index.open(out)
    index.verify()
    suffix_array = tmp_path / "sa"
    infgram.build([corpus], suffix_array, shard_tokens=SHARD_TOKENS, progress=False)
    queries = ["alpha beta", "mu nu", "omega", "zeta eta theta", "not there"]
    assert index.count_batch(queries).tolist() == infgram.Index.open(suffix_array).count_batch(queries).tolist()


def _assert_identical_fm(resumed, fresh):
    resumed_files, fresh_files = _files(resumed), _files(fresh)
    assert sorted(resumed_files) == sorted(fresh_files)
    for name in fresh_files:
        assert resumed_files[name] == fresh_files[name], f"{name} differs between the resumed and the fresh build"


def test_fm_and_suffix_array_builds_do_not_mix(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus.jsonl", count=50)  # a fixed budget: the same fingerprint
    out = tmp_path / "index"
    infgram.build([corpus], out, memory="1G", progress=False)
    with pytest.raises(infgram.BuildError, match="--overwrite"):
        infgram.build([corpus], out, kind="fm", memory="1G", progress=False)
    report = infgram.build([corpus], out, kind="fm", overwrite=True, memory="1G", progress=False)
    assert infgram.Index.open(out).kind == "fm"
    assert infgram.build([corpus], out, kind="fm", memory="1G", progress=False).up_to_date
    # The overwrite left no suffix-array file behind, and the report counts every byte on disk.
    assert not list(out.rglob("tokens.bin")) and not list(out.rglob("suffix_array.bin"))
    assert report.index_bytes == sum(f.stat().st_size for f in out.rglob("*") if f.is_file())


def test_fm_cli(tmp_path):
    corpus = _write_corpus(tmp_path / "corpus.jsonl", count=200)
    out = tmp_path / "fm"
    result = run_cli("build", corpus, "--out", out, "--kind", "fm", "--sample-rate", "16", "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = infgram.Index.open(out).manifest
    assert manifest["index_kind"] == "fm" and manifest["fm"] == {"sample_rate": 16, "isa_rate": 128}
    sa = tmp_path / "sa"
    assert run_cli("build", corpus, "--out", sa, "--quiet").returncode == 0
    for args in (["count", "alpha beta"], ["docs", "alpha", "--limit", "3", "--context", "5", "--json"]):
        fm_result, sa_result = run_cli(args[0], out, *args[1:]), run_cli(args[0], sa, *args[1:])
        assert fm_result.returncode == 0 and fm_result.stdout == sa_result.stdout
    result = run_cli("next", out, "alpha")
    assert result.returncode == 1 and "--kind sa" in result.stderr and len(result.stderr.splitlines()) == 1
    assert run_cli("verify", out).returncode == 0


@pytest.mark.large
def test_fm_matches_suffix_array_on_real_corpora(tmp_path):
    """wiki + prose, as FM-index and suffix array: the same counts and windows."""
    files = sorted(glob.glob(os.path.expanduser("~/.cache/infgram-data/wiki/*.jsonl")))
    if not files:
        pytest.skip("the wiki corpus is not downloaded (../shared/datasets/fetch wiki)")
    fm = tmp_path / "fm"
    sa = tmp_path / "sa"
    report = infgram.build(files, fm, kind="fm", progress=False)
    infgram.build(files, sa, progress=False)
    # wiki alone: FM structures ~0.34 bytes per byte; its short documents' table and
    # metadata add ~0.12 (wiki + prose, the benchmark corpus, is 0.339 in all).
    shard = fm / "shard-00000"
    fm_bytes = (shard / "fm_wavelet.bin").stat().st_size + (shard / "fm_samples.bin").stat().st_size
    assert fm_bytes / report.num_tokens < 0.36
    fm_index, sa_index = infgram.Index.open(fm), infgram.Index.open(sa)
    text = fm_index.document(123).text
    queries = [text[i : i + n] for i in range(0, min(len(text), 400), 7) for n in (1, 3, 10, 25)]
    assert fm_index.count_batch(queries).tolist() == sa_index.count_batch(queries).tolist()
    for query in queries[::9]:
        assert fm_index.documents(query, limit=4, seed=1, context=30) == sa_index.documents(query, limit=4, seed=1, context=30)


def test_reading_a_shard_off_its_suffix_array_holds_one_chunk_of_temporaries():
    """The BWT, the samples and the symbol counts are read off the suffix array a chunk of
    rows at a time: besides the suffix array (4 bytes a position), the BWT (1) and the samples,
    a shard holds one chunk's numpy temporaries, not temporaries as large as the text (the
    memory plan counts bytes per position, and two shards may be built at once)."""
    n = 1 << 22
    text = np.random.default_rng(0).integers(0, 4, size=n, dtype=np.uint8)
    text[-1] = 255
    tracemalloc.start()
    try:
        bwt, primary_row, *_ = fm_build._bwt_and_samples(text, 128, 128, tqdm(disable=True))
        fm_build._wavelet_blob(bwt, primary_row, tqdm(disable=True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 5.5 * n + (12 << 20), (peak, n)  # one chunk of 1 M rows took 5 MB; 4 M rows, 22 MB
