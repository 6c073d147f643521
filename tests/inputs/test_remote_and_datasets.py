"""Remote inputs (fsspec: ``memory://``, a local S3 server) and ``datasets`` objects.

Nothing here leaves the machine: ``memory://`` lives in this process, and the S3 server is
moto's, started on 127.0.0.1 on a free port for this module and stopped after it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import infgram
from infgram.build import inputs as inputs_module
from infgram.build import remote

from test_input_formats import ROWS, TEXTS, index_bytes, write_arrow, write_jsonl

fsspec = pytest.importorskip("fsspec", reason="remote inputs need fsspec: pip install 'infgram[remote]'")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    infgram.build([write_jsonl(folder / "c.jsonl")], folder / "index", progress=False)
    return index_bytes(folder / "index")


def _jsonl_bytes(rows=ROWS) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


@pytest.fixture
def memory():
    fs = fsspec.filesystem("memory")
    root = "/infgram-test"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_memory_directory_with_selection_and_a_saved_dataset(memory, tmp_path, reference):
    fs, root = memory
    fs.pipe(f"{root}/corpus/a.jsonl", _jsonl_bytes(ROWS[:2]))
    fs.pipe(f"{root}/corpus/b.jsonl", _jsonl_bytes(ROWS[2:]))
    fs.pipe(f"{root}/corpus/skip.md", b"excluded")
    fs.pipe(f"{root}/corpus/.hidden/x.jsonl", b"not json")
    report = infgram.build([f"memory://{root}/corpus/"], tmp_path / "index", exclude=["*.md"], progress=False)
    assert report.num_documents == len(TEXTS) and index_bytes(tmp_path / "index") == reference
    assert set(report.files) == {f"memory://{root}/corpus/a.jsonl", f"memory://{root}/corpus/b.jsonl"}
    # The same build again is up to date; the fingerprint holds the URLs as they are.
    again = infgram.build([f"memory://{root}/corpus/"], tmp_path / "index", exclude=["*.md"], progress=False)
    assert again.up_to_date
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["build"]["inputs"][0][0] == f"memory://{root}/corpus/a.jsonl"

    saved = f"{root}/saved"
    for number, rows in enumerate((ROWS[:2], ROWS[2:])):
        fs.pipe(f"{saved}/data-0000{number}-of-00002.arrow", write_arrow(tmp_path / f"{number}.arrow", rows).read_bytes())
    fs.pipe(f"{saved}/state.json", json.dumps({"_data_files": [{"filename": f"data-0000{n}-of-00002.arrow"}
                                                                for n in range(2)]}).encode())
    fs.pipe(f"{saved}/dataset_info.json", b"{}")
    fs.pipe(f"{saved}/cache-1.arrow", b"not listed")
    infgram.build([f"memory://{saved}"], tmp_path / "saved", progress=False)
    assert index_bytes(tmp_path / "saved") == reference


def test_memory_glob_and_missing_url(memory, tmp_path):
    fs, root = memory
    fs.pipe(f"{root}/p-1.jsonl", _jsonl_bytes(ROWS[:1]))
    fs.pipe(f"{root}/p-2.jsonl", _jsonl_bytes(ROWS[1:2]))
    found = inputs_module.expand_inputs([f"memory://{root}/p-*.jsonl"])
    assert [str(f) for f in found] == [f"memory://{root}/p-1.jsonl", f"memory://{root}/p-2.jsonl"]
    with pytest.raises(infgram.InputError, match="does not exist; check the URL"):
        inputs_module.expand_inputs([f"memory://{root}/nothing.jsonl"])
    with pytest.raises(infgram.InputError, match="expected a URL of a filesystem fsspec knows"):
        inputs_module.expand_inputs(["nosuchscheme://bucket/a.jsonl"])


class _Flaky(io.RawIOBase):
    """A file whose reads fail ``failures`` times (a dropped connection), then work."""

    def __init__(self, data: bytes, failures: list[int]):
        self.stream, self.failures = io.BytesIO(data), failures

    def readable(self):
        return True

    def seek(self, position, whence=0):
        return self.stream.seek(position, whence)

    def readinto(self, buffer):
        if self.failures[0] > 0:
            self.failures[0] -= 1
            raise ConnectionResetError("connection reset by peer")
        return self.stream.readinto(buffer)


@pytest.mark.parametrize("failures, documents", [(2, len(TEXTS)), (remote.READ_ATTEMPTS, 0)])
def test_remote_reads_are_retried_then_a_problem(memory, tmp_path, monkeypatch, failures, documents):
    fs, root = memory
    fs.pipe(f"{root}/flaky.jsonl", _jsonl_bytes())
    left = [failures]
    real_open = type(fs).open
    monkeypatch.setattr(remote, "RETRY_PAUSE_SECONDS", 0.0)
    monkeypatch.setattr(type(fs), "open", lambda self, path, mode="rb", **kw:
                        _Flaky(real_open(self, path, mode).read(), left) if path.endswith("flaky.jsonl")
                        else real_open(self, path, mode, **kw))
    records = list(inputs_module.read_records(inputs_module.expand_inputs([f"memory://{root}/flaky.jsonl"])))
    assert sum(isinstance(r, inputs_module.SourceDocument) for r in records) == documents
    if not documents:
        (problem,) = records
        assert problem.kind == "unreadable_file" and f"gave up after {remote.READ_ATTEMPTS} attempts" in problem.message


# -- a local S3 server ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3_server():
    pytest.importorskip("s3fs", reason="s3:// needs s3fs: pip install 'infgram[remote]'")
    server_module = pytest.importorskip("moto.server", reason="the local S3 server needs moto[server]")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    options = {"endpoint_url": s3_server, "key": "testing", "secret": "testing"}
    monkeypatch.setitem(fsspec.config.conf, "s3", options)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("corpus")
    yield fs, options
    fs.rm("corpus", recursive=True)


def test_s3_gives_the_same_index_and_truncation_is_a_problem(s3, tmp_path, reference):
    pytest.importorskip("pyarrow.parquet")
    fs, _ = s3
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    fs.pipe("corpus/jsonl/c.jsonl.zst", zstandard.ZstdCompressor().compress(_jsonl_bytes()))
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS), buffer)
    fs.pipe("corpus/parquet/c.parquet", buffer.getvalue())
    for name in ("jsonl", "parquet"):
        report = infgram.build([f"s3://corpus/{name}/"], tmp_path / name, progress=False)
        assert report.num_documents == len(TEXTS) and index_bytes(tmp_path / name) == reference
    cut = zstandard.ZstdCompressor().compress(_jsonl_bytes([{"text": f"document {n} of the corpus"} for n in range(100_000)]))
    fs.pipe("corpus/cut.jsonl.zst", cut[: len(cut) // 2])
    report = infgram.build(["s3://corpus/cut.jsonl.zst"], tmp_path / "cut", on_error="skip", progress=False)
    assert report.problems == {"truncated_file": 1}
    assert report.first_problems[0].startswith("s3://corpus/cut.jsonl.zst: the file is truncated")


def test_cli_reads_s3_with_the_endpoint_from_the_environment(s3, s3_server, tmp_path):
    from conftest import run_cli
    import os

    fs, _ = s3
    fs.pipe("corpus/cli/c.jsonl", _jsonl_bytes())
    env = {"FSSPEC_S3": json.dumps({"endpoint_url": s3_server, "key": "testing", "secret": "testing"}),
           "AWS_DEFAULT_REGION": "us-east-1"}
    old = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        result = run_cli("build", "s3://corpus/cli/", "--out", tmp_path / "index", "--quiet")
    finally:
        for name, value in old.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
    assert result.returncode == 0, result.stderr
    assert infgram.Index.open(tmp_path / "index").count("rose") == 2


# -- datasets objects -----------------------------------------------------------------------------
# Run in a child process: importing datasets takes ~100 MiB, which would stay in this process
# and change what later tests measure of the interpreter's memory.

DATASET_CHECKS = """
import json, sys, warnings
from pathlib import Path
import datasets, infgram
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[2])
from test_input_formats import ROWS, index_bytes
out = Path(sys.argv[1])
dataset = datasets.Dataset.from_list(ROWS)
report = infgram.build(dataset, out / "map", progress=False)
results = {"files": report.files, "map": index_bytes(out / "map")[0].hex()}
results["metadata"] = infgram.Index.open(out / "map").documents("rose", limit=1).documents[0].metadata
results["up_to_date"] = infgram.build(dataset, out / "map", progress=False).up_to_date
infgram.build([dataset.to_iterable_dataset()], out / "iterable", progress=False)
dataset.save_to_disk(str(out / "saved"))
infgram.build([out / "saved"], out / "saved-index", progress=False)
results["same"] = index_bytes(out / "map") == index_bytes(out / "iterable") == index_bytes(out / "saved-index")
try:
    infgram.build(dataset, out / "body", text_field="body", progress=False)
except infgram.InputError as error:
    results["no_column"] = str(error)
bad = datasets.Dataset.from_dict({"text": ["good", "", None, "good too"]})
report = infgram.build(bad, out / "bad", on_error="skip", progress=False)
results["problems"], results["first_problem"] = report.problems, report.first_problems[0]
print(json.dumps(results))
"""


def test_dataset_objects_give_the_same_index(tmp_path, reference):
    import subprocess
    import sys

    pytest.importorskip("datasets", reason="datasets objects need pip install 'infgram[datasets]'")
    here = str(Path(__file__).parent)
    result = subprocess.run([sys.executable, "-c", DATASET_CHECKS, str(tmp_path), here], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.splitlines()[-1])
    assert bytes.fromhex(results["map"]) == reference[0] and results["same"]
    assert results["files"] == {"<dataset 1>": {"records_read": 4, "documents": 4, "blank_lines": 0, "problems": 0}}
    assert results["metadata"] == {"id": 0} and results["up_to_date"]
    assert "has no column 'body'" in results["no_column"]
    assert results["problems"] == {"empty_document": 1, "missing_text_field": 1}
    assert results["first_problem"].startswith("<dataset 1>:2: ")
