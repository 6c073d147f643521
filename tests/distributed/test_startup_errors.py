"""A Ray cluster whose node dies while it starts ends in an infgram error, never a Ray traceback.

The node's death is stood in for by the errors Ray raises then (``RaySystemError`` from
``ray.init``, ``NodeDiedError`` from the first tasks): no cluster is started, and the Ray
session of any other test in this process is left alone.
"""

from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray", reason='ray is not installed: pip install "infgram[ray]" to run these tests')

import infgram  # noqa: E402
from infgram.cli import main  # noqa: E402
from infgram.distributed import builder, cluster  # noqa: E402


@pytest.fixture
def dying_start(monkeypatch):
    """ray.init fails as it does when the head node's raylet dies during start-up."""
    def init(*args, **kwargs):
        raise ray.exceptions.RaySystemError("the raylet of node 127.0.0.1 died during start-up")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)


def _inputs(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"text": f"line {i}"}) for i in range(5)) + "\n")
    return path


def test_a_node_dying_as_ray_starts_is_an_infgram_error(dying_start):
    with pytest.raises(infgram.InfgramError, match="a node may have died") as caught:
        cluster.connect("local")
    assert "RaySystemError" in str(caught.value)


def test_the_command_line_names_the_error_without_a_traceback(dying_start, tmp_path, capsys):
    assert main(["build", "--ray", "local", "--out", str(tmp_path / "index"), str(_inputs(tmp_path))]) != 0
    error = capsys.readouterr().err
    assert "infgram: InfgramError: expected Ray to start" in error and "Traceback" not in error
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_a_node_dying_under_the_first_tasks_is_an_infgram_error(monkeypatch, tmp_path):
    monkeypatch.setattr(builder, "connect", lambda address: ray)

    def read_and_write(*args, **kwargs):
        raise ray.exceptions.NodeDiedError("node 127.0.0.1 died while its workers started")

    monkeypatch.setattr(builder, "_read_and_write", read_and_write)
    with pytest.raises(infgram.InfgramError, match="found Ray failed .NodeDiedError") as caught:
        infgram.distributed.build([_inputs(tmp_path)], tmp_path / "index", address="local", progress=False)
    assert "rerun the same command" in str(caught.value)
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_an_error_of_infgram_inside_a_task_is_raised_as_it_is(monkeypatch):
    error = infgram.IndexFormatError("tokens.bin is damaged")
    wrapped = ray.exceptions.RayTaskError("open", "traceback", error)
    with pytest.raises(infgram.IndexFormatError, match="tokens.bin is damaged"):
        with cluster.ray_errors_named(ray, "the shards opened"):
            raise wrapped
