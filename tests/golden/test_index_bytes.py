"""Golden index bytes: the golden corpus must index to exactly the recorded files.

``index_sha256.json`` beside this test holds the sha256 of every file a build of
``corpus.jsonl`` writes (byte mode and sp32k as suffix arrays, byte mode as an FM-index),
except the build report and the manifest's record of input paths and times. A change of
any byte of the format must therefore be deliberate: regenerate with::

    INFGRAM_REGENERATE_GOLDEN=1 python -m pytest tests/golden/test_index_bytes.py -q

and record the format change in CHANGELOG.md (bumping the format version if old readers
would misread the new files).

The bytes do not depend on the machine: each build also runs on two pretend machines (a
3 GiB and a 16 GiB container, made as ``test_machine_independence.py`` makes them), whose
default memory budgets differ, against the same record.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import infgram
from infgram.build import plan
from conftest import shared_tokenizer
from test_machine_independence import pretend_machine

GOLDEN = Path(__file__).resolve().parent
RECORD = GOLDEN / "index_sha256.json"
BUILDS = {
    "sa-bytes": {"kind": "sa"},
    "sa-sp32k": {"kind": "sa", "tokenizer": "sp32k"},
    "fm-bytes": {"kind": "fm"},
}
PRETEND_MACHINES = {
    "3GiB": {"physical": 64 * 2**30, "cgroup": 3 * 2**30},  # default budget 1.5 GiB
    "16GiB": {"physical": 64 * 2**30, "cgroup": 16 * 2**30},  # default budget 8 GiB (allocatable here)
}


def _fingerprint(directory: Path) -> dict[str, str]:
    files = {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if not path.is_file() or name == "build-report.json":
            continue
        data = path.read_bytes()
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["build"].pop("inputs", None)  # absolute paths and modification times
            data = json.dumps(manifest, sort_keys=True).encode()
        files[name] = hashlib.sha256(data).hexdigest()
    return files


@pytest.mark.parametrize("machine", ["this", *PRETEND_MACHINES])
@pytest.mark.parametrize("name", list(BUILDS))
def test_golden_corpus_indexes_to_recorded_bytes(tmp_path, monkeypatch, name, machine):
    if machine != "this":
        if os.environ.get("INFGRAM_REGENERATE_GOLDEN"):
            pytest.skip("the record is written from this machine's build")
        pretend_machine(monkeypatch, PRETEND_MACHINES[machine])
        assert plan.default_memory_budget() == PRETEND_MACHINES[machine]["cgroup"] // 2
    options = dict(BUILDS[name])
    if options.get("tokenizer") == "sp32k":
        options["tokenizer"] = shared_tokenizer("sp32k")
    (tmp_path / "corpus.jsonl").write_bytes((GOLDEN / "corpus.jsonl").read_bytes())
    infgram.build([tmp_path / "corpus.jsonl"], tmp_path / "index", progress=False, **options)
    found = _fingerprint(tmp_path / "index")
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    if os.environ.get("INFGRAM_REGENERATE_GOLDEN"):
        record[name] = found
        RECORD.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        pytest.skip(f"regenerated {RECORD.name} for {name}")
    assert name in record, f"no recorded bytes for {name}: regenerate (see the module docstring)"
    assert found == record[name]
