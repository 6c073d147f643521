"""Every transport follows the one registry of operations (``infgram.query.operations``).

- ``Index`` and ``Client`` have the same query methods, with the registry's parameters, in
  its order, with its defaults;
- the HTTP request models (and so the OpenAPI schema) have exactly the registry's fields;
- the command line's defaults are the registry's (or a documented display choice);
- a field an operation does not define is refused, before any other check, naming the
  nearest valid field, with status 400: over HTTP (each operation's route and ``/v1/batch``
  lines), in ``infgram batch`` and through ``Client``, for every field of every operation;
- a request's ``id`` comes back in its reply, in the batch and over HTTP.

Adding a field to one transport only fails one of these tests.
"""

from __future__ import annotations

import argparse
import http.client
import inspect
import json
import urllib.parse

import pytest

import infgram
from infgram.cli import NOT_OPTIONS, QUERY_COMMANDS, build_parser, command_operation, operation_arguments
from infgram.errors import QueryError
from infgram.query.operations import CHEAP, METHOD_ORDER, OPERATIONS, REQUESTS, REQUIRED, unknown_field
from infgram.service.batch import run_batch
from infgram.service.http import status_of_type
from infgram.service.protocol import run_request
from service_fixtures import golden_index, indexes, query_lines, server, settings_for  # noqa: F401 (fixtures)

fastapi_testclient = pytest.importorskip("fastapi.testclient")

from infgram.service.server import REPLY_MODELS, REQUEST_MODELS, create_app  # noqa: E402


def _parameters(method) -> list[tuple[str, object]]:
    """(name, default) of a method's parameters after self, REQUIRED for those without one."""
    return [(p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for p in list(inspect.signature(method).parameters.values())[1:]]


def _registry_parameters(op: str) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in OPERATIONS[op].python_parameters()]


# -- Index and Client ---------------------------------------------------------------------------------
def test_every_method_of_the_registry_is_named():
    assert set(METHOD_ORDER) == {name for name, operation in OPERATIONS.items() if operation.index_method}


@pytest.mark.parametrize("op", METHOD_ORDER)
@pytest.mark.parametrize("kind", [infgram.Index, infgram.Client], ids=["Index", "Client"])
def test_methods_take_the_registry_parameters_in_order(kind, op):
    assert _parameters(getattr(kind, op)) == _registry_parameters(op)


@pytest.mark.parametrize("op", METHOD_ORDER)
def test_index_and_client_signatures_match(op):
    local, remote = inspect.signature(getattr(infgram.Index, op)), inspect.signature(getattr(infgram.Client, op))
    assert [(p.name, p.kind, p.default) for p in local.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in remote.parameters.values()]


def test_cost_classes():
    assert CHEAP == {"count", "probability", "next_tokens", "infgram_probability", "infgram_next_tokens", "document"}
    assert all(operation.cost in ("cheap", "expensive") for operation in OPERATIONS.values())


# -- HTTP models and OpenAPI ----------------------------------------------------------------------------
@pytest.mark.parametrize("op", list(REQUESTS))
def test_request_models_have_exactly_the_registry_fields(op):
    assert list(REQUEST_MODELS[op].model_fields) == [*REQUESTS[op].fields(), "id"]
    assert REQUEST_MODELS[op].model_config.get("extra") == "forbid"
    for parameter in REQUESTS[op].parameters:
        if parameter.field is not None and not parameter.required:
            assert REQUEST_MODELS[op].model_fields[parameter.field].default == parameter.default, parameter.name


def test_every_request_has_a_reply_model():
    assert set(REPLY_MODELS) == set(REQUESTS)
    assert all("id" in model.model_fields for model in REPLY_MODELS.values())


def test_openapi_lists_the_registry_fields(indexes):
    with fastapi_testclient.TestClient(create_app(settings_for(indexes, "golden"))) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for op in REQUESTS:
        schema = schemas[REQUEST_MODELS[op].__name__]
        assert list(schema["properties"]) == [*REQUESTS[op].fields(), "id"], op
        assert schema["additionalProperties"] is False
    assert "exact_tokens" in schemas["InfgramProbabilityRequest"]["properties"]


# -- the command line -------------------------------------------------------------------------------------
def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _commands() -> dict[str, tuple[str, ...]]:
    """Each query command and the operations it runs: those written by hand, and those made
    from the registry (whose parser names its operation)."""
    made = {name: (parser.get_default("operation"),) for name, parser in _subcommands().items()
            if parser.get_default("func") is command_operation}
    return {**QUERY_COMMANDS, **made}


NO_COMMAND = {
    "contamination": "a command of its own reads a benchmark file of entries",
    "count_batch": "many queries go through `infgram batch` (count lines)",
}
"""Operations that no query command runs, and why."""

DISPLAY_DEFAULTS = {
    ("next", "top_k"): "a terminal shows the 10 most frequent next tokens; Python and the batch give all",
    ("infgram", "top_k"): "as for next",
    ("documents", "context"): "a terminal shows a window of 100 tokens (--whole: the whole document)",
    ("search", "context"): "as for documents",
}
"""Command-line defaults that differ from Python's on purpose, and why."""

ARGUMENT_NAMES = {("search", "cnf"): "query"}
"""Required parameters a command takes as an argument of another name, by command."""

TYPES_OF_KINDS = {"integer": int, "number": float, "document_number": int, "lengths": int}


def test_every_operation_has_a_command():
    commands = _commands()
    run = {op for ops in commands.values() for op in ops}
    assert run | set(NO_COMMAND) == set(OPERATIONS), set(OPERATIONS) - run - set(NO_COMMAND)
    assert not run & set(NO_COMMAND)
    for name, ops in commands.items():  # a made command is the operation's name with dashes
        if name not in QUERY_COMMANDS:
            assert name == ops[0].replace("_", "-")


@pytest.mark.parametrize("command", list(_commands()))
def test_commands_take_every_parameter_with_the_registry_default_and_type(command):
    """Every parameter of every operation a command runs is an option or argument of it, under
    the parameter's name, with its default and a type of its kind."""
    actions = {action.dest: action for action in _subcommands()[command]._actions}
    for op in _commands()[command]:
        for parameter in OPERATIONS[op].python_parameters():
            if parameter.name in NOT_OPTIONS:
                continue
            if parameter.kind == "next_token":
                assert {"next", "next_id"} <= set(actions), (command, parameter.name)
                assert actions["next_id"].type is int
                continue
            dest = ARGUMENT_NAMES.get((command, parameter.name), parameter.name)
            assert dest in actions, f"{command} lacks an option for {op}'s {parameter.name}"
            action = actions[dest]
            if parameter.required:
                assert not action.option_strings, (command, parameter.name)  # an argument
                continue
            assert action.option_strings == ["--" + parameter.name.replace("_", "-")], (command, parameter.name)
            if (command, parameter.name) not in DISPLAY_DEFAULTS:
                assert action.default == parameter.default, (command, parameter.name)
            if parameter.type is bool:
                assert isinstance(action, argparse._StoreTrueAction), (command, parameter.name)
            elif parameter.kind in TYPES_OF_KINDS:
                assert action.type is TYPES_OF_KINDS[parameter.kind], (command, parameter.name)
            elif parameter.kind == "where":
                assert isinstance(action, argparse._AppendAction), (command, parameter.name)


COMMAND_LINE_ONLY = {
    "*": {"help", "index", "json", "ids", "index_tokenizer", "load", "query_memory"},  # every query command
    "count": {"file"}, "draft": {"file"}, "trace": {"file"},  # the text from a file
    "attribute": {"file", "text_option", "longest_matches"},  # --text (deprecated); --json adds longest matches
    "documents": {"whole"}, "search": {"whole"},  # whole documents instead of a window (context None)
    "novelty": {"file", "text_option", "jsonl", "text_field", "limit", "plot"},  # many texts, a report
}
"""The options of query commands that are not parameters of their operations (how the command
reads its input or shows its answer), by command."""


@pytest.mark.parametrize("command", list(_commands()))
def test_commands_take_no_option_the_registry_lacks(command):
    """An option added to the command line only fails here: it belongs in the registry (or,
    if it only changes how the command reads or shows, in COMMAND_LINE_ONLY)."""
    names = {parameter.name for op in _commands()[command] for parameter in OPERATIONS[op].parameters}
    names |= {"next", "next_id"} if "next_token" in names else set()
    names |= {ARGUMENT_NAMES[key] for key in ARGUMENT_NAMES if key[0] == command}
    allowed = names | COMMAND_LINE_ONLY["*"] | COMMAND_LINE_ONLY.get(command, set())
    extra = {action.dest for action in _subcommands()[command]._actions} - allowed
    assert not extra, f"{command} takes {extra}, which no operation it runs defines"


def test_options_are_passed_as_the_registry_names_them():
    """Parsing a command line gives the keyword arguments of the operation's method, each
    option under its parameter's name."""
    args = build_parser().parse_args(["documents", "i", "rose", "--limit", "3", "--whole-words", "--where", "a=b",
                                      "--max-work", "9", "--by", "lang", "--estimate"])
    assert operation_arguments(args, "documents", context=None, progress=False) == {
        "query": "rose", "limit": 3, "offset": 0, "seed": None, "context": None, "max_work": 9, "exact": False,
        "exact_tokens": False, "whole_words": True, "ignore_case": False, "inside_tokens": False, "progress": False,
        "where": ["a=b"], "by": "lang", "estimate": True}
    args = build_parser().parse_args(["cooccurrence", "i", "--ids", "1 2", "3", "--pairs", "0,1", "--document-counts"])
    assert operation_arguments(args, "cooccurrence")["phrases"] == [[1, 2], [3]]
    assert operation_arguments(args, "cooccurrence")["pairs"] == [(0, 1)]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["cooccurrence", "i", "a", "--pairs", "0"])


@pytest.mark.parametrize("command, arguments, request_fields", [
    ("document", ["4"], {"document": 4}),
    ("longest-matches", ["the cat"], {"text": "the cat"}),
    ("infgram-probabilities", ["--ids", "1,2"], {"ids": [1, 2]}),
    ("cooccurrence", ["the", "cat", "--pairs", "0,1", "--document-counts"],
     {"phrases": ["the", "cat"], "pairs": [[0, 1]], "document_counts": True}),
])
def test_made_commands_print_the_batch_reply(indexes, golden_index, run, command, arguments, request_fields):
    shown = run(command, indexes["golden"], *arguments, "--json")
    assert shown.returncode == 0, shown.stderr
    reply = json.loads(json.dumps(run_request(golden_index, {"op": command.replace("-", "_"), **request_fields})))
    assert json.loads(shown.stdout) == {key: value for key, value in reply.items() if key != "op"}
    plain = run(command, indexes["golden"], *arguments).stdout.splitlines()
    assert [line.split()[0] for line in plain] == list(json.loads(shown.stdout))


@pytest.mark.parametrize("tokenizer", ["bytes", "sp32k"])
def test_count_json_is_the_batch_reply(tmp_path, run, tokenizer):
    from conftest import build_tokenized_index

    documents = ["We study Natural language and natural languages."]
    if tokenizer == "bytes":
        index = infgram.build_from_documents(documents, tmp_path / "i", progress=False) and \
            infgram.Index.open(tmp_path / "i")
    else:
        index = build_tokenized_index(tmp_path / "i", documents, tokenizer)
    cases = [([], {}), (["--whole-words"], {"whole_words": True})]
    if tokenizer == "bytes":  # case variants need a byte index
        cases.append((["--ignore-case"], {"ignore_case": True}))
    for options, fields in cases:
        shown = json.loads(run("count", tmp_path / "i", "natural language", "--json", *options).stdout)
        batch = run_request(index, {"op": "count", "text": "natural language", **fields})
        assert shown == {key: value for key, value in batch.items() if key != "op"}, options
        assert ("forms" in shown) == (tokenizer != "bytes" or "--ignore-case" in options)


def test_documents_limit_is_ten_everywhere():
    options = {action.dest: action.default for action in _subcommands()["documents"]._actions}
    assert options["limit"] == OPERATIONS["documents"].python_parameters()[1].default == 10
    assert inspect.signature(infgram.Index.documents).parameters["limit"].default == 10
    shown = " ".join(_subcommands()["documents"].format_help().split())
    assert "--limit LIMIT documents to show (default: 10)" in shown  # --help shows the defaults


# -- unknown fields, on every transport -------------------------------------------------------------------
CASES = [(op, name) for op, operation in REQUESTS.items() for name in operation.fields()]
"""Every field of every operation; each test sends it misspelled (a ``_`` added)."""


def _expect_refusal(message: str, op: str, name: str) -> None:
    assert repr(name + "_") in message and f"did you mean {name!r}" in message, message
    assert f"fields of a {op} request" in message


def test_the_example_of_the_issue(golden_index):
    reply = run_request(golden_index, {"op": "next_tokens", "text": "a", "topk": 3})
    assert reply["error"]["type"] == "QueryError"
    assert "'topk'" in reply["error"]["message"] and "did you mean 'top_k'" in reply["error"]["message"]


@pytest.mark.parametrize("op, name", CASES)
def test_unknown_fields_are_refused_first_in_a_batch(golden_index, op, name):
    # Nothing else of the request is valid either (no sequence, a bad value): the unknown field is named first.
    line = json.dumps({"op": op, name + "_": 1, "limit": "many", "id": 5})
    reply = json.loads(next(run_batch(golden_index, [line])))
    assert reply["op"] == op and reply["id"] == 5 and reply["error"]["type"] == "QueryError"
    _expect_refusal(reply["error"]["message"], op, name)


def test_unknown_fields_over_http_every_field(indexes):
    with fastapi_testclient.TestClient(create_app(settings_for(indexes, "golden"))) as client:
        for op, name in CASES:
            response = client.post(f"/v1/{op}", json={name + "_": 1})
            assert response.status_code == 400, (op, name, response.text)
            assert response.headers["content-type"].startswith("application/json")
            _expect_refusal(response.json()["error"]["message"], op, name)
        response = client.post("/v1/next_tokens", json={"text": "a", "topk": 3})
        assert response.status_code == 400 and "did you mean 'top_k'" in response.json()["error"]["message"]
        lines = client.post("/v1/batch", content='{"op": "count", "text": "the", "txt": 1}\n{"op": "count", "text": "the"}\n')
        first, second = map(json.loads, lines.text.splitlines())
        assert "did you mean 'text'" in first["error"]["message"] and second["count"] == 18


def test_unknown_fields_through_the_client_every_field(server):
    with infgram.Client(server) as client:
        for op, name in CASES:
            with pytest.raises(QueryError) as caught:
                client.call(op, **{name + "_": 1})
            _expect_refusal(str(caught.value), op, name)
        with pytest.raises(QueryError, match="did you mean 'top_k'"):
            client.call("next_tokens", text="a", topk=3)


def _refusals_over_http(server: str) -> list[tuple[int, str]]:
    parts = urllib.parse.urlsplit(server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    found = []
    for op, name in CASES:
        connection.request("POST", f"/v1/{op}", body=json.dumps({name + "_": 1}).encode(),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        found.append((response.status, json.loads(response.read())["error"]["message"]))
    connection.close()
    return found


def _refusals_in_lines(replies: list[str]) -> list[tuple[int, str]]:
    found = []
    for (op, _), line in zip(CASES, replies, strict=True):
        reply = json.loads(line)
        assert reply["op"] == op and reply["id"] == 7, reply
        found.append((status_of_type(reply["error"]["type"]), reply["error"]["message"]))
    return found


def _batch_lines() -> str:
    return "".join(json.dumps({"op": op, name + "_": 1, "id": 7}) + "\n" for op, name in CASES)


def _refusals_through_the_client(server: str) -> list[tuple[int, str]]:
    found = []
    with infgram.Client(server) as client:
        for op, name in CASES:
            with pytest.raises(QueryError) as caught:
                client.call(op, **{name + "_": 1})
            found.append((status_of_type(type(caught.value).__name__), str(caught.value)))
    return found


@pytest.mark.parametrize("transport", ["http", "batch over http", "infgram batch", "client"])
def test_every_operation_refuses_an_unknown_field_on_every_transport(transport, server, indexes, run):
    """Every field of every operation, misspelled, on each transport: a 400 (QueryError) naming
    the field sent and the nearest valid one."""
    assert {op for op, _ in CASES} == set(REQUESTS), "an operation without fields would go unchecked"
    if transport == "http":
        found = _refusals_over_http(server)
    elif transport == "batch over http":
        parts = urllib.parse.urlsplit(server)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        connection.request("POST", "/v1/batch", body=_batch_lines().encode())
        response = connection.getresponse()
        assert response.status == 200
        found = _refusals_in_lines(response.read().decode().splitlines())
        connection.close()
    elif transport == "infgram batch":
        answered = run("batch", indexes["golden"], stdin=_batch_lines())
        assert answered.returncode in (0, None), answered.stderr
        found = _refusals_in_lines(answered.stdout.splitlines())
    else:
        found = _refusals_through_the_client(server)
    assert len(found) == len(CASES)
    for (op, name), (status, message) in zip(CASES, found):
        assert status == 400, (transport, op, name, message)
        _expect_refusal(message, op, name)


def test_a_far_off_name_gets_no_suggestion():
    message = unknown_field("count", {"op": "count", "zzzzzz": 1})
    assert "'zzzzzz'" in message and "did you mean" not in message and "remove it" in message


# -- ids ----------------------------------------------------------------------------------------------------
def test_the_batch_echoes_ids_and_answers_as_without(golden_index):
    lines = query_lines()
    plain = list(run_batch(golden_index, lines))
    with_ids, expected = [], []
    for number, (line, reply) in enumerate(zip([line for line in lines if line.strip()], plain)):
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        if isinstance(request, dict):
            with_ids.append(json.dumps({**request, "id": f"q{number}"}))
            parsed = json.loads(reply)
            expected.append({"op": parsed.pop("op"), "id": f"q{number}", **parsed})
        else:
            with_ids.append(line)
            expected.append(json.loads(reply))
    assert [json.loads(reply) for reply in run_batch(golden_index, with_ids)] == expected
    # Plain counts are answered together, and keep their ids.
    replies = [json.loads(r) for r in run_batch(golden_index, [json.dumps({"op": "count", "text": t, "id": i})
                                                               for i, t in enumerate(["the", "cat", "zebra"])])]
    assert replies == [{"op": "count", "id": number, "count": golden_index.count(text)}
                       for number, text in enumerate(["the", "cat", "zebra"])]


def test_an_id_must_be_a_string_or_an_integer(golden_index):
    for bad in ([1], {"a": 1}, True, 1.5):
        reply = run_request(golden_index, {"op": "count", "text": "the", "id": bad})
        assert "expected 'id' to be a string or an integer" in reply["error"]["message"] and "id" not in reply


def test_http_echoes_ids(indexes):
    with fastapi_testclient.TestClient(create_app(settings_for(indexes, "golden"))) as client:
        assert client.post("/v1/count", json={"text": "the", "id": "a"}).json() == {"op": "count", "id": "a", "count": 18}
        error = client.post("/v1/count", json={"text": 5, "id": 9})
        assert error.status_code == 400 and error.json()["id"] == 9
