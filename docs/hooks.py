"""MkDocs hooks: pages generated at build time, so that they cannot go stale.

- ``reference/cli.md``: every command's ``--help``, from the parser (``infgram.cli.build_parser``);
- ``reference/http.md``: every route of the HTTP API, from the server's OpenAPI schema (a tiny
  index is built in a temporary folder for the server to open; without the serve extra the
  page says how to get it).

A page holds the marker ``<!-- generated: cli -->`` or ``<!-- generated: http -->`` where the
generated text goes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def cli_reference() -> str:
    """One section per command: its help line, then its ``--help`` as printed."""
    import argparse

    from infgram.cli import build_parser

    os.environ["COLUMNS"] = "100"  # the same wrapping on every machine
    parser = build_parser()
    sections = ["## infgram\n", "```text\n" + parser.format_help().rstrip() + "\n```\n"]
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in commands._choices_actions}
    for name, command in commands.choices.items():
        if name not in helps:  # an alias of another command
            continue
        sections.append(f"## infgram {name}\n\n{helps[name] or ''}\n\n```text\n{command.format_help().rstrip()}\n```\n")
    return "\n".join(sections)


def http_reference() -> str:
    """Every route of the OpenAPI schema: method, path, summary, body and replies."""
    try:
        from infgram.service.server import Settings, create_app
    except ImportError as error:
        return (f"The HTTP API needs the serve extra (`python3 -m pip install \".[serve]\"`; missing: {error.name}); "
                "a running server describes itself at `/openapi.json` and `/docs`.\n")
    import infgram

    with tempfile.TemporaryDirectory() as folder:
        infgram.build_from_documents(["a rose is a rose"], Path(folder) / "index", progress=False)
        schema = create_app(Settings(indexes=[("default", str(Path(folder) / "index"))], threads=1,
                                     expensive_threads=1)).openapi()
    lines = [f"Version {schema.get('info', {}).get('version', '')}; a running server serves this schema at "
             "`/openapi.json` and an offline explorer at `/docs`.\n"]
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            lines.append(f"## `{method.upper()} {path}`\n")
            summary = operation.get("summary") or ""
            description = (operation.get("description") or "").strip()
            if summary:
                lines.append(summary + "\n")
            if description and description != summary:
                lines.append(description + "\n")
            body = operation.get("requestBody", {}).get("content", {})
            if body:
                lines.append("Request body: " + ", ".join(f"`{kind}`" for kind in body) + "\n")
                for content in body.values():
                    lines.extend(_fields(schema, content.get("schema", {})))
            replies = operation.get("responses", {})
            if replies:
                lines.append("Replies: " + ", ".join(f"{code} ({reply.get('description', '')})"
                                                      for code, reply in replies.items()) + "\n")
    return "\n".join(lines)


def _fields(schema: dict[str, Any], body: dict[str, Any]) -> list[str]:
    """A table of a request body's fields (its schema, or the one it refers to)."""
    reference = body.get("$ref", "")
    if reference.startswith("#/components/schemas/"):
        body = schema.get("components", {}).get("schemas", {}).get(reference.rsplit("/", 1)[1], {})
    properties = body.get("properties") or {}
    if not properties:
        return []
    required = set(body.get("required") or [])
    rows = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    for name, field in properties.items():
        kinds = [option.get("type", "") for option in field.get("anyOf", [])] or [field.get("type", "")]
        default = "required" if name in required else f"`{field.get('default')!r}`" if "default" in field else ""
        description = " ".join((field.get("description") or field.get("title") or "").split()).replace("|", "\\|")
        rows.append(f"| `{name}` | {' or '.join(k for k in kinds if k)} | {default} | {description} |")
    return rows + [""]


GENERATORS = {"<!-- generated: cli -->": cli_reference, "<!-- generated: http -->": http_reference}


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    for marker, generate in GENERATORS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
