"""Killed workers: a build still writes the same bytes, and queries lose no answer.

A build task is killed (SIGKILL) right after it published its shard, before the driver
heard of it, and a reader actor right after it wrote its unit: Ray runs them again and the
index is byte for byte the local one. A query actor is killed while threads send it
requests: it is restarted, requests in flight are retried, and every answer is the local one.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from cluster_fixtures import cluster, index_files, word_corpus  # noqa: E402,F401 (fixtures; sets the loopback variable)

pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

# One pytest-xdist worker runs every test of a Ray cluster, one cluster at a time (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
import infgram.distributed  # noqa: E402
from infgram.distributed.builder import KILL_ONCE_VARIABLE  # noqa: E402

WORDS = "red green blue cyan magenta yellow black white".split()


def _corpus(folder, files=3, lines=400):
    return word_corpus(folder, WORDS, seed=3, files=files, lines=lines, max_words=20)


@pytest.mark.parametrize("point", ["shard-written", "unit-read"])
def test_a_killed_build_worker_is_retried_to_the_same_bytes(cluster, tmp_path, monkeypatch, index_files, point):
    corpus = _corpus(tmp_path / "corpus")
    infgram.build([corpus], tmp_path / "local", progress=False, shard_tokens=8_000)
    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_ONCE_VARIABLE, f"{point}:{marker}")
    infgram.distributed.build([corpus], tmp_path / "ray", progress=False, shard_tokens=8_000)
    assert marker.exists(), "a worker was killed"
    assert index_files(tmp_path / "ray") == index_files(tmp_path / "local")


def test_a_killed_query_actor_is_restarted_and_no_answer_is_lost(cluster, tmp_path):
    corpus = _corpus(tmp_path / "corpus", files=2)
    out = tmp_path / "index"
    infgram.build([corpus], out, progress=False, shard_tokens=10_000)
    local = infgram.Index.open(out)
    remote = infgram.distributed.open(out)
    queries = [" ".join(random.Random(n).sample(WORDS, 2)) for n in range(50)] + ["red", "blue g", ""]
    expected = {query: (local.count(query), local.next_tokens(query)) for query in queries}
    batch_expected = local.count_batch(queries).tolist()
    wrong, answered, stop = [], [0], threading.Event()

    def ask(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            query = rng.choice(queries)
            try:
                got = (remote.count(query), remote.next_tokens(query))
                if got != expected[query]:
                    wrong.append((query, got))
                if remote.count_batch(queries).tolist() != batch_expected:
                    wrong.append(("batch", query))
            except Exception as error:  # noqa: BLE001 (a lost answer is what this test looks for)
                wrong.append((query, repr(error)))
            answered[0] += 1

    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    try:
        pids = remote.shard_set.pids()
        time.sleep(0.5)
        before = answered[0]
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while remote.shard_set.pids()[0] == pids[0] and time.monotonic() < deadline:
            time.sleep(0.2)
        after = answered[0]
        while answered[0] < after + 20 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert remote.shard_set.pids()[0] != pids[0], "the killed actor was restarted"
    assert answered[0] > before
    assert not wrong, wrong[:5]
    remote.shard_set.shutdown()
