"""Schemathesis against /openapi.json: generated requests never get a 500, and every reply fits its schema.

The default run is short (about 20 examples per operation, a few hundred requests in all);
``-m large`` runs 500 per operation.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed: pip install -e '.[test]'")

from service_fixtures import golden_index, indexes, server, settings_for  # noqa: F401 (fixtures)
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infgram.service.server import create_app  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
_app = None


def _application():
    """One app for the module (the golden corpus), built on first use."""
    global _app
    if _app is None:
        import tempfile
        from pathlib import Path

        import infgram
        from service_fixtures import golden_documents

        folder = Path(tempfile.mkdtemp(prefix="infgram-openapi-"))
        infgram.build_from_documents(golden_documents(), folder / "golden", progress=False)
        infgram.build_from_documents(golden_documents(), folder / "fm", kind="fm", progress=False)
        _app = create_app(settings_for({"golden": folder / "golden", "fm": folder / "fm"}, "golden", "fm",
                                       max_work=100_000))
    return _app


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.serializer("application/x-ndjson")
def _json_lines(context, value) -> bytes:
    """A /v1/batch body: the generated string as it is (or any other value as one JSON line)."""
    import json

    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else json.dumps(value).encode("utf-8")


@pytest.fixture(scope="module")
def api_schema():
    return schemathesis.openapi.from_asgi("/openapi.json", _application())


def _check(case) -> None:
    response = case.call_and_validate(checks=CHECKS)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_generated_requests_never_fail_the_server(case):
    _check(case)


@pytest.mark.large
@schema.parametrize()
@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
def test_many_generated_requests_never_fail_the_server(case):
    _check(case)
