"""Changes are safe: killed at any point they leave an index that opens, their rerun finishes
to the same bytes, two writers never interleave, readers see one generation or the next,
the server reloads, and every bad request gets a clear error."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import infgram
from infgram.change import add, compact, remove
from infgram.errors import DocumentRemovedError, IndexLockedError, QueryError, UnsupportedOperationError
from infgram.format import KILL_AT_VARIABLE, WriterLock, read_manifest

from conftest import assert_one_line_error, run_cli

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()
QUERIES = ["alpha beta", "gamma", "zeta eta", "mu nu xi", "pi"]


def _write_corpus(path: Path, count: int, seed: int, source: str) -> Path:
    rng = random.Random(seed)
    lines = [json.dumps({"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))), "source": source,
                         "meta": {"lang": rng.choice(["en", "fr"])}}) for _ in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def corpus(tmp_path) -> dict[str, Path]:
    """A two-shard byte index of 600 documents and a second corpus of 300 to add."""
    old = _write_corpus(tmp_path / "old.jsonl", 600, 1, "old.example")
    new = _write_corpus(tmp_path / "new.jsonl", 300, 2, "new.example")
    infgram.build([old], tmp_path / "index", shard_tokens=20_000, progress=False)
    return {"old": old, "new": new, "index": tmp_path / "index"}


def _answers(index: infgram.Index) -> list:
    return [index.count_batch(QUERIES).tolist(), index.documents("gamma", limit=1000).num_documents,
            index.infgram_next_tokens("alpha be").tokens[0].count, index.num_tokens]


def _files(directory: Path) -> dict[str, str]:
    """Path -> sha256 of every file the manifest names: the bytes of the index's content."""
    manifest = read_manifest(directory)
    return {file["path"]: file["sha256"] for entry in manifest["shards"] for file in entry["files"].values()}


def _run(*args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    if kill_at:
        env[KILL_AT_VARIABLE] = kill_at
    return subprocess.run([sys.executable, "-m", "infgram.cli", *args, "--quiet"], capture_output=True, text=True,
                          env=env, timeout=300)


CHANGES = {
    "add": lambda c: ("add", str(c["index"]), str(c["new"])),
    "remove": lambda c: ("remove", str(c["index"]), "--where", "meta.lang=fr"),
    "compact": lambda c: ("compact", str(c["index"]), "--shard-tokens", "200000"),
}
KILL_POINTS = ["file-write:1", "file-write:3", "file-before-rename:1", "json-before-rename:1", "json-written:1",
               "shard-published:1"]


@pytest.mark.parametrize("action", list(CHANGES))
def test_a_killed_change_leaves_an_index_that_opens_and_its_rerun_finishes_to_the_same_bytes(corpus, tmp_path, action):
    directory = corpus["index"]
    if action == "compact":  # something to compact: removed documents
        remove(directory, where=["meta.lang=fr"], progress=False)
    reference_copy = tmp_path / "uninterrupted"
    shutil.copytree(directory, reference_copy)
    before = _answers(infgram.Index.open(directory))
    command = CHANGES[action]({**corpus, "index": reference_copy})
    assert _run(*command).returncode == 0
    expected_files, after = _files(reference_copy), _answers(infgram.Index.open(reference_copy))
    if action == "compact":  # the same answers from new files
        assert after == before and set(expected_files) != set(_files(directory))
    else:
        assert after != before
    killed = 0
    for point in KILL_POINTS:
        work = tmp_path / f"work-{point.replace(':', '-')}"
        shutil.copytree(directory, work)
        result = _run(*CHANGES[action]({**corpus, "index": work}), kill_at=point)
        if result.returncode == -signal.SIGKILL:
            killed += 1
            # Killed: the index opens at the old generation or the new one, never between.
            assert _answers(infgram.Index.open(work)) in (before, after), point
            result = _run(*CHANGES[action]({**corpus, "index": work}))
        assert result.returncode == 0, (point, result.stderr)
        assert _answers(infgram.Index.open(work)) == after, point
        assert _files(work) == {path.replace(str(reference_copy), str(work)): sha for path, sha in
                                expected_files.items()}, point
        shutil.rmtree(work)
    assert killed >= 3, "the kill points must stop the change"


def test_two_writers_are_refused_and_a_killed_writer_releases_the_lock(corpus):
    directory = corpus["index"]
    with WriterLock(directory, "test"):
        result = run_cli("remove", directory, "--documents", "1", "--quiet")
        assert_one_line_error(result, "another process is changing the index", "test, process")
        with pytest.raises(IndexLockedError) as caught:
            compact(directory, progress=False)
        assert caught.value.holder.startswith("test, process")
    # A writer killed while holding the lock: the operating system releases it.
    result = _run("add", str(directory), str(corpus["new"]), kill_at="file-write:2")
    assert result.returncode == -signal.SIGKILL
    assert remove(directory, documents=[0], progress=False).changed


def test_readers_keep_their_generation_until_they_reload(corpus):
    directory = corpus["index"]
    index = infgram.Index.open(directory)
    before = _answers(index)
    stop, seen, failures = threading.Event(), set(), []

    def query() -> None:
        reader = infgram.Index.open(directory)
        while not stop.is_set():
            try:
                seen.add(json.dumps(_answers(reader)))
                reader.reload()
            except Exception as error:  # any error is a failure of the test
                failures.append(error)
                return

    threads = [threading.Thread(target=query) for _ in range(2)]
    for thread in threads:
        thread.start()
    add(directory, [corpus["new"]], progress=False)
    remove(directory, where=["source=new.example", "meta.lang=en"], progress=False)
    compact(directory, progress=False)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures
    assert _answers(index) == before  # the handle opened before the changes answers as then
    assert index.reload() and index.generation == 3
    assert json.dumps(_answers(index)) in seen or len(seen) >= 1
    # Every answer a reader saw is that of one of the four generations.
    assert len(seen) <= 4


def test_removed_documents_leave_every_answer_and_their_numbers_stay_gaps(corpus):
    directory = corpus["index"]
    index = infgram.Index.open(directory)
    chosen = [number for number in range(index.num_documents)
              if index.document(number).metadata["meta"]["lang"] == "fr"]
    report = remove(directory, where=["meta.lang=fr"], progress=False)
    assert report.num_documents == len(chosen)
    again = remove(directory, documents=chosen[:3], progress=False)
    assert not again.changed and "removed already" in again.summary()
    index.reload()
    with pytest.raises(DocumentRemovedError) as caught:
        index.document(chosen[0])
    assert caught.value.document == chosen[0]
    kept = [json.loads(line) for line in corpus["old"].read_text().splitlines()]
    kept = [record["text"] for record in kept if record["meta"]["lang"] != "fr"]
    for query in QUERIES:
        assert index.count(query) == sum(text.count(query) for text in kept)  # the words do not overlap themselves
    page = index.documents("gamma", limit=1000)
    assert not set(d.index for d in page.documents) & set(chosen)
    info = index.info()
    assert info["num_removed_documents"] == len(chosen) and info["generation"] == 1
    assert info["changes"][-1]["action"] == "remove"


def test_bad_change_requests_get_clear_errors(corpus, tmp_path):
    directory = corpus["index"]
    assert_one_line_error(run_cli("remove", directory, "--documents", "99999"), "expected document numbers from 0")
    assert_one_line_error(run_cli("remove", directory, "--documents", "1,x"), "numbers separated by commas")
    assert_one_line_error(run_cli("remove", directory, "--where", "nokey"), "KEY=VALUE")
    assert_one_line_error(run_cli("remove", directory), "expected documents to remove")
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("1\n# a comment\n\nseven\n")
    assert_one_line_error(run_cli("remove", directory, "--documents-file", numbers), "line 4")
    assert_one_line_error(run_cli("remove", tmp_path / "nothing", "--documents", "1"), "does not exist")
    assert_one_line_error(run_cli("add", directory, tmp_path / "missing.jsonl"), "missing.jsonl")
    numbers.write_text("1\n2\n")
    assert "generation 1" in run_cli("remove", directory, "--documents-file", numbers, "--quiet").stdout
    with pytest.raises(QueryError):
        remove(directory, documents=[True], progress=False)


def test_fm_indexes_take_additions_and_refuse_removal_naming_the_alternative(corpus, tmp_path):
    infgram.build([corpus["old"]], tmp_path / "fm", kind="fm", progress=False)
    add(tmp_path / "fm", [corpus["new"]], progress=False)
    both = infgram.Index.open(tmp_path / "fm")
    infgram.build([corpus["old"], corpus["new"]], tmp_path / "sa", progress=False)
    assert both.count_batch(QUERIES).tolist() == infgram.Index.open(tmp_path / "sa").count_batch(QUERIES).tolist()
    # One refusal, from the registry of index kinds, for both changes: it names the alternatives.
    with pytest.raises(UnsupportedOperationError, match="rebuilding it without them") as removing:
        remove(tmp_path / "fm", documents=[1], progress=False)
    with pytest.raises(UnsupportedOperationError, match="building it again") as compacting:
        compact(tmp_path / "fm", progress=False)
    assert str(removing.value).replace("cannot remove", "cannot compact") == str(compacting.value)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_server_reloads_on_sighup_and_on_a_new_generation(corpus):
    directory = corpus["index"]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "infgram.cli", "serve", str(directory), "--port", str(port),
                               "--workers", "1", "--reload-seconds", "0.5", "--no-access-log"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.2)

        def count() -> int:
            return httpx.post(url + "/v1/count", json={"text": "gamma"}, timeout=10).json()["count"]

        def wait_for(expected: int) -> None:
            deadline = time.monotonic() + 30
            while count() != expected:
                assert time.monotonic() < deadline, "the server did not reload"
                time.sleep(0.1)

        first = count()
        remove(directory, where=["meta.lang=fr"], progress=False)
        expected = infgram.Index.open(directory).count("gamma")
        assert expected < first
        wait_for(expected)  # found by the watcher
        reply = httpx.post(url + "/v1/document", json={"document": int(infgram.Index.open(directory).shard_set
                                                                         .removed_documents()[0])}, timeout=10)
        assert reply.status_code == 410 and reply.json()["error"]["type"] == "DocumentRemovedError"
        add(directory, [corpus["new"]], progress=False)
        server.send_signal(signal.SIGHUP)
        wait_for(infgram.Index.open(directory).count("gamma"))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    assert "Traceback" not in server.stderr.read().decode("utf-8", "replace")


def test_deduplication_asks_for_compaction_after_a_removal(corpus):
    from infgram.apps.dedup import find_duplicates

    remove(corpus["index"], documents=[3], progress=False)
    with pytest.raises(UnsupportedOperationError, match="infgram compact"):
        find_duplicates(corpus["index"], progress=False)
    compact(corpus["index"], progress=False)
    assert find_duplicates(corpus["index"], progress=False).num_documents == 600


def test_damaged_removal_lists_give_index_format_errors(corpus):
    from infgram.errors import IndexFormatError

    directory = corpus["index"]
    remove(directory, documents=[2, 5], progress=False)
    manifest = read_manifest(directory)
    entry = next(entry for entry in manifest["shards"] if "removed_rows" in entry["files"])
    rows, documents = (directory / entry["files"][key]["path"] for key in ("removed_rows", "removed_documents"))
    original = rows.read_bytes()
    rows.write_bytes(original[:-3])  # truncated
    with pytest.raises(IndexFormatError, match="truncated"):
        infgram.Index.open(directory)
    rows.write_bytes(original[:64] + (10**12).to_bytes(8, "little") * ((len(original) - 64) // 8))  # out of range
    with pytest.raises(IndexFormatError, match="outside the shard"):
        infgram.Index.open(directory)
    rows.write_bytes(original)
    saved = documents.read_bytes()
    documents.write_bytes(saved[:64] + (5).to_bytes(8, "little") + (2).to_bytes(8, "little"))  # not increasing
    with pytest.raises(IndexFormatError, match="not increasing"):
        infgram.Index.open(directory)
    documents.write_bytes(saved)
    infgram.Index.open(directory).verify()
    with open(rows, "r+b") as handle:  # a flipped payload byte: the checksum, verified at open, catches it
        handle.seek(70)
        byte = handle.read(1)
        handle.seek(70)
        handle.write(bytes([byte[0] ^ 1]))
    with pytest.raises(IndexFormatError, match="does not match its checksum"):
        infgram.Index.open(directory)


def test_an_add_killed_after_its_manifest_is_not_added_twice_by_the_rerun(corpus, tmp_path):
    for point in range(1, 12):  # the JSON writes of the sub-build, then the index's manifest
        directory = tmp_path / f"copy-{point}"
        shutil.copytree(corpus["index"], directory)
        result = _run("add", str(directory), str(corpus["new"]), kill_at=f"json-written:{point}")
        assert result.returncode == -signal.SIGKILL
        if infgram.Index.open(directory).generation == 1:
            break  # killed right after the new manifest
    index = infgram.Index.open(directory)
    assert index.generation == 1 and index.num_documents == 900
    result = _run("add", str(directory), str(corpus["new"]))
    assert result.returncode == 0 and "nothing to do" in result.stdout and "--again" in result.stdout
    assert infgram.Index.open(directory).num_documents == 900
    assert add(directory, [corpus["new"]], again=True, progress=False).num_documents == 300
