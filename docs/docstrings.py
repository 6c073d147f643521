"""A Griffe extension for the Python API pages: infgram's docstrings are plain text with
reStructuredText inline markup and doctest examples, not Markdown. Before mkdocstrings renders
them, each run of doctest lines (``>>>``, ``...`` and the output after them) becomes a fenced
Python block, and ``double backquotes`` become Markdown code, so examples show as written."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc):`~?([^`]+)`")


def markdown_of(text: str) -> str:
    """The docstring as Markdown: doctests fenced, roles and double backquotes as code."""
    lines, in_example = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">>>"):
            if not in_example:
                lines.append("```python")
                in_example = True
            lines.append(stripped)
            continue
        if in_example and stripped:  # a continuation (...) or the expected output
            lines.append(stripped)
            continue
        if in_example:
            lines.append("```")
            in_example = False
        lines.append(_ROLE.sub(r"`\1`", line).replace("``", "`"))
    if in_example:
        lines.append("```")
    return "\n".join(lines)


class DoctestsAsCode(griffe.Extension):
    """Rewrite every docstring with :func:`markdown_of` once the object is loaded."""

    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
