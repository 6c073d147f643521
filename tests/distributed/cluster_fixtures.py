"""A Ray cluster of three nodes on this machine for the Ray tests, on 127.0.0.1 only.

Test modules import these fixtures by name (a conftest.py here would shadow tests/conftest.py,
which other test folders import as ``conftest``).

Every test module here starts with ``pytest.importorskip("ray")``: without Ray (``pip install
"infgram[ray]"``) the whole directory is skipped with that reason. The cluster is small
(one CPU and 150 MB of object store per node). It is started once, by the first test that
asks for it, and shut down when the session ends: starting one takes seconds, and no test
changes the cluster itself (killed actors and workers are Ray's to restart). The test modules
that use it are in one pytest-xdist group, so one worker runs them all on one cluster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from pathlib import Path

import pytest

# Before Ray is imported anywhere: local clusters bind to 127.0.0.1, not the outward interface.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("INFGRAM_SHARED", ROOT.parent / "shared"))
NODES = 3
OBJECT_STORE_BYTES = 150 << 20


_RUNNING: list = []
"""The one cluster of this process, once started. Each test module that imports ``cluster``
holds its own copy of the fixture (pytest keys fixtures by the module that names them), so the
cluster is kept here, not in the fixture's cache: every copy yields the same one."""


@pytest.fixture(scope="session")
def cluster():
    """A running three-node cluster this process is connected to (its address as ``.address``)."""
    ray = pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')
    from ray.cluster_utils import Cluster

    if not _RUNNING:
        if ray.is_initialized():
            ray.shutdown()
        started = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": OBJECT_STORE_BYTES,
                                                                "include_dashboard": False})
        try:
            for _ in range(NODES - 1):
                started.add_node(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES)
            started.wait_for_nodes()
            ray.init(address=started.address, logging_level=logging.WARNING, log_to_driver=False)
            addresses = [node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]]
            assert len(addresses) == NODES
            assert set(addresses) == {"127.0.0.1"}, f"expected every node on the loopback address, found {addresses}"
            assert started.address.startswith("127.0.0.1:")
        except BaseException:
            ray.shutdown()
            started.shutdown()
            raise
        _RUNNING.append(started)
    try:
        yield _RUNNING[0]
    finally:
        if _RUNNING:  # the first copy torn down (at the session's end) stops it
            ray.shutdown()
            _RUNNING.pop().shutdown()


@pytest.fixture(scope="session")
def index_files():
    """A function: the sha256 of every file of an index directory (see :func:`files_of`)."""
    return files_of


def word_corpus(folder: Path, words: list[str], seed: int, files: int, lines: int, max_words: int) -> Path:
    """A folder of ``files`` JSON Lines files of ``lines`` documents each, of 1 to
    ``max_words`` random words (the same for a seed)."""
    rng = random.Random(seed)
    folder.mkdir()
    for number in range(files):
        rows = [json.dumps({"text": " ".join(rng.choice(words) for _ in range(rng.randint(1, max_words)))})
                for _ in range(lines)]
        (folder / f"part-{number}.jsonl").write_text("\n".join(rows) + "\n")
    return folder


def files_of(directory: Path) -> dict[str, bytes]:
    """The sha256 of every file of an index directory, by relative path (manifest and build
    report included: built from the same input files, they must match byte for byte too)."""
    return {path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).digest()
            for path in sorted(Path(directory).rglob("*")) if path.is_file()}


@pytest.fixture(scope="session")
def sp32k() -> Path:
    """The shared sp32k tokenizer (skips when the shared folder is not beside the checkout)."""
    path = SHARED / "tokenizers" / "sp32k.tokenizer.json"
    if not path.exists():
        pytest.skip(f"{path} is not there: this test needs the shared/ folder beside the checkout")
    return path
