"""`infgram serve --ray`: the HTTP server over an index whose shards are held by Ray actors."""

from __future__ import annotations

import json

import pytest

from cluster_fixtures import cluster  # noqa: F401 (fixtures; sets the loopback variable before ray loads)

pytest.importorskip("ray", reason="the Ray tests need ray: pip install 'infgram[ray]'")
pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'infgram[serve]'")

# One pytest-xdist worker runs every test of a Ray cluster, one cluster at a time (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("ray")

import infgram  # noqa: E402
from infgram.service.batch import run_batch  # noqa: E402


def test_http_over_a_cluster_answers_as_the_local_batch(cluster, tmp_path):  # noqa: F811
    from fastapi.testclient import TestClient

    from infgram.service.server import Settings, create_app

    infgram.build_from_documents(["a rose is a rose", "a rose was red", "is it"] * 20, tmp_path / "index",
                                 shard_tokens=200, progress=False)
    settings = Settings([("main", str(tmp_path / "index"))], ray_address=cluster.address)
    requests = [{"op": "count", "text": "rose"}, {"op": "next_tokens", "prompt": "a "},
                {"op": "documents", "text": "red", "limit": 3, "seed": 1},
                {"op": "search", "cnf": [["rose"], ["red", "it"]], "limit": 2}]
    local = infgram.Index.open(tmp_path / "index")
    with TestClient(create_app(settings)) as client:
        for request in requests:
            reply = client.post(f"/v1/{request['op']}", json={k: v for k, v in request.items() if k != "op"})
            assert reply.status_code == 200, reply.text
            expected = json.loads(next(run_batch(local, [json.dumps(request)])))
            assert {"op": request["op"], **reply.json()} == expected or reply.json() == expected
