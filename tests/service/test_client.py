"""infgram.Client against a live server answers as the local Index, with the same result and exception types."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import infgram
from infgram.errors import InfgramError, LimitError, QueryError, UnsupportedOperationError
from infgram.service.http import NotFoundError
from service_fixtures import golden_index, indexes, server  # noqa: F401 (fixtures)

from infgram.query.budget import LIFT_BUDGET  # noqa: E402
from infgram.service.server import SERVED_LIFT_BUDGET  # noqa: E402

CALLS = [
    ("count", ("the",), {}),
    ("count", ([116, 104, 101],), {}),
    ("count", (np.array([116, 104, 101]),), {}),
    ("count", ("",), {}),
    ("probability", ("sat on the ", "m"), {}),
    ("probability", ([116, 104, 101], 32), {}),
    ("probability", ("zebra", "s"), {}),
    ("next_tokens", ("The ",), {"top_k": 3}),
    ("next_tokens", ("",), {}),
    ("infgram_probability", ("my big fat cat", " "), {}),
    ("infgram_next_tokens", ("kind of rose",), {"top_k": 2}),
    ("infgram_probabilities", ("The cat sat.",), {}),
    ("longest_matches", ("The cat sat.",), {}),
    ("documents", ("cat",), {"limit": 2, "offset": 1}),
    ("documents", ("the",), {"limit": 3, "seed": 7, "context": 5}),
    ("documents", ("café",), {"limit": 1, "context": 3, "exact": True}),
    ("search", ("cat AND (sat OR was)",), {"limit": 5}),
    ("search", ([["The cat"], [[104, 97, 112, 112, 121], "rose"]],), {"within": 20, "limit": 2, "context": 10}),
    ("search", ([["the", "the c", {"ids": [104, 101]}]],), {"limit": 1, "offset": 1, "seed": 7}),
    ("cooccurrence", (["cat", "dog", "sat on"],), {"pairs": [(0, 1), (0, 2)], "document_counts": True}),
    ("cooccurrence", (["cat", [100, 111, 103]],), {}),
    ("attribute", ("The cat sat on the mat and the dog sat on the log.",), {"min_length": 10, "context": 5}),
    ("attribute", ("The cat sat on the mat and the dog sat on the log.",), {"min_length": 6, "whole_words": True}),
    ("count", ("the",), {"by": "source"}),
    ("count", ("the",), {"where": {"source": {"not": "news"}}}),
    ("count", ("the",), {"by": "id", "where": ["source in fables,news"], "max_work": 10_000}),
    ("documents", ("the",), {"where": ["source in fables,news"], "limit": 3, "seed": 5}),
    ("documents", ("the",), {"by": "source", "limit": 1}),
    ("next_tokens", ("The ",), {"where": {"source": "fables"}, "top_k": 3}),
    ("supports", ("search",), {}),
    ("info", (), {}),
]


@pytest.fixture(scope="module")
def remote(server):
    with infgram.Client(server) as client:
        yield client


@pytest.mark.parametrize("method, args, kwargs", CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CALLS)])
def test_client_answers_as_the_local_index(remote, golden_index, method, args, kwargs):
    local = getattr(golden_index, method)(*args, **kwargs)
    served = getattr(remote, method)(*args, **kwargs)
    if method == "info":  # a server shows no path of its machine: the index's directory is left out
        local.pop("directory")
    assert type(served) is type(local)
    assert served == local


def test_count_batch_takes_the_count_options(remote, golden_index):
    queries = ["cat", "at", "the", "The"]
    for options in ({"whole_words": True}, {"ignore_case": True}, {"whole_words": True, "exact": True}):
        assert remote.count_batch(queries, **options).tolist() == golden_index.count_batch(queries, **options).tolist()


def test_count_batch_is_an_int64_array(remote, golden_index):
    queries = ["the", "The cat", "", [116, 104, 101], "zebra"] * 50
    served = remote.count_batch(queries)
    assert served.dtype == np.int64 and served.tolist() == golden_index.count_batch(queries).tolist()
    assert remote.count_batch([]).tolist() == []
    with pytest.raises(QueryError):
        remote.count_batch(["the", [300]])


@pytest.mark.parametrize("method, args, kwargs, kind", [
    ("count", ([300],), {}, QueryError),
    ("count", ("the",), {"by": "sourse"}, QueryError),
    ("count", ("the",), {"where": {"source": {"like": "x"}}}, QueryError),
    ("count", ("the",), {"by": "source", "max_work": 1}, LimitError),
    ("count", ([255],), {}, QueryError),
    ("probability", ("The", "cat sat"), {}, QueryError),
    ("next_tokens", ("cat",), {"top_k": -1}, QueryError),
    ("documents", ("cat",), {"limit": 100_000}, QueryError),
    ("search", ("cat dog",), {}, QueryError),
    ("search", ([],), {}, QueryError),
    ("search", ("the OR a OR e",), {"max_work": 3}, LimitError),
    ("cooccurrence", (["cat"],), {"pairs": [(0, 1)]}, QueryError),
])
def test_client_raises_the_same_exception_classes(remote, golden_index, method, args, kwargs, kind):
    with pytest.raises(kind) as local:
        getattr(golden_index, method)(*args, **kwargs)
    with pytest.raises(kind) as served:
        getattr(remote, method)(*args, **kwargs)
    assert type(served.value) is type(local.value)
    # Over HTTP a refusal suggests what the server's ceiling allows (not exact=True).
    assert str(served.value) == str(local.value).replace(LIFT_BUDGET, SERVED_LIFT_BUDGET)
    assert getattr(served.value, "fields", None) == getattr(local.value, "fields", None)


def test_client_on_other_indexes_and_servers(server, indexes, golden_index):
    fm = infgram.Client(server, index="fm")
    assert fm.count("the") == 18 and not fm.supports("next_tokens")
    with pytest.raises(UnsupportedOperationError):
        fm.next_tokens("the")
    with pytest.raises(NotFoundError) as error:
        infgram.Client(server, index="nowhere").count("the")
    assert isinstance(error.value, QueryError)
    assert infgram.Client(server).document(0) == golden_index.document(0)  # the one-document op
    with pytest.raises(QueryError, match="expected 'document' to be an integer"):
        infgram.Client(server).document("0")
    with pytest.raises(InfgramError, match="expected an infgram server"):
        infgram.Client("http://127.0.0.1:9", timeout=5).count("the")


@pytest.mark.parametrize("query, options", [
    ("the", {"limit": 3, "seed": 7, "context": 5}),
    ("e", {"limit": 4, "offset": 2, "seed": 2**40}),
    ("the", {"limit": 2, "seed": 1, "whole_words": True}),
    ("", {"limit": 3, "offset": 1, "seed": 5}),
])
def test_a_seeded_page_is_the_same_served_from_an_fm_index(server, golden_index, query, options):
    """The FM-index of the golden corpus has the suffix-array index's one shard: one seed, one page."""
    with infgram.Client(server, index="fm") as fm:
        assert fm.documents(query, **options) == golden_index.documents(query, **options)


def test_client_from_threads_each_on_its_own_connection(remote):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(remote.count, ["the"] * 40)) == [18] * 40


def test_import_infgram_does_not_import_fastapi():
    code = "import sys, infgram; assert 'fastapi' not in sys.modules and 'uvicorn' not in sys.modules; infgram.Client"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
