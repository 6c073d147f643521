"""``--load`` and ``--query-memory`` on the command line, and what opening from disk holds in memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import infgram


@pytest.fixture(scope="module")
def index_directory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("load")
    texts = [f"document {i}: the quick brown fox {i % 7} jumps over the lazy dog {i % 13}" for i in range(3000)]
    infgram.build_from_documents(texts, folder / "index", progress=False)
    return folder / "index"


def run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infgram", *arguments], capture_output=True, text=True, timeout=120)


def test_count_from_disk_equals_count_in_memory(index_directory):
    in_memory = run("count", str(index_directory), "the lazy dog 1", "--load", "ram", "--json")
    from_disk = run("count", str(index_directory), "the lazy dog 1", "--load", "disk", "--query-memory", "4K",
                    "--json")
    assert in_memory.returncode == 0 and from_disk.returncode == 0, from_disk.stderr
    assert json.loads(in_memory.stdout)["count"] == json.loads(from_disk.stdout)["count"] > 0


def test_info_says_what_is_in_memory(index_directory):
    shown = run("info", str(index_directory), "--load", "disk", "--query-memory", "64K", "--json")
    assert shown.returncode == 0, shown.stderr
    memory = json.loads(shown.stdout)["memory"]
    assert memory["load"] == "disk" and memory["requested"] == "disk"
    assert 0 < memory["tier_bytes"] <= 64 * 1024
    assert "reads_per_query" in memory and "in_memory" in memory
    auto = json.loads(run("info", str(index_directory), "--json").stdout)["memory"]
    assert auto["load"] == "ram" and auto["requested"] == "auto"  # a small index on this machine


def test_a_bad_query_memory_is_an_error_naming_it(index_directory):
    failed = run("count", str(index_directory), "fox", "--load", "disk", "--query-memory", "plenty")
    assert failed.returncode != 0
    assert "cannot read the query memory budget 'plenty'" in failed.stderr
    assert "Traceback" not in failed.stderr


_RSS = textwrap.dedent("""
    import json, sys
    import infgram

    def rss():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

    infgram.Index.open(sys.argv[1], load="ram")  # imports and first-use costs, then dropped
    before = rss()
    index = infgram.Index.open(sys.argv[1], load="disk", memory=sys.argv[2])
    after = rss()
    print(json.dumps({"growth": after - before, "tier": index.info()["memory"]["tier_bytes"],
                      "documents": index.num_documents}))
""")


@pytest.mark.parametrize("budget", [4096, 65536])
def test_opening_from_disk_stays_within_the_budget_plus_a_constant(index_directory, budget):
    """Opening from disk holds the RAM tier (within its budget), the document table (16 bytes
    per document) and a constant 8 MiB for the objects of an open index, nothing more."""
    ran = subprocess.run([sys.executable, "-c", _RSS, str(index_directory), str(budget)], capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    measured = json.loads(ran.stdout)
    assert measured["tier"] <= budget
    assert measured["growth"] <= budget + 16 * measured["documents"] + (8 << 20)
