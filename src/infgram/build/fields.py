"""Naming the text of a record: one field, a nested field, several fields, or a template.

``infgram build --text-field`` and ``infgram contamination --text-field`` take the same names,
read here by one implementation:

* ``body`` names a top-level field (a JSON key, a Parquet, Arrow or CSV column).
* ``meta.body`` names field ``body`` inside field ``meta`` (a JSON object, or a struct
  column of Parquet and Arrow). A key that itself holds a dot is written with a
  backslash: ``meta\\.body`` names the top-level key ``"meta.body"``; ``\\\\`` is a backslash.
* Several names (``title body``) join their texts with a newline, in the order given.
* One name holding ``{`` is a template: ``{title}: {body}`` puts each named field in its
  place; ``{{`` and ``}}`` stand for braces.

What a field may hold differs by command, and is chosen by the caller. The build indexes
text as it is, so a field must hold a string (``strings_only``): a number or a list in the
text field is more likely a wrong field name than text. A benchmark's fields may also hold
numbers or lists of them, such as the choices of a multiple-choice question, joined one item
per line.

>>> TextFields(["meta.body"]).text({"meta": {"body": "hello", "lang": "en"}})
'hello'
>>> TextFields(["title", "body"]).text({"title": "T", "body": "B"})
'T\\nB'
>>> TextFields(["{title}: {body}"]).text({"title": "T", "body": "B"})
'T: B'
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from ..errors import InputError
from ..format.metadata import field_path  # the one reader of field names (metadata conditions use it too)

_TEMPLATE_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class FieldMissing(KeyError):
    """A named field is not in the record. ``args[0]`` is the name as written."""


class FieldNotText(TypeError):
    """A named field holds something that is not text; ``found`` is what it holds."""

    def __init__(self, name: str, found: Any):
        super().__init__(name)
        self.found = found


def _text_of(value: Any, strings_only: bool) -> str | None:
    """A field's value as text: strings; unless ``strings_only``, numbers and lists of
    strings and numbers too (one item per line)."""
    if isinstance(value, str):
        return value
    if strings_only:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, (str, int, float)) and not isinstance(item, bool) for item in value):
        return "\n".join(map(str, value))
    return None


class TextFields:
    """The fields that make a record's text (see the module's docstring for the syntax)."""

    def __init__(self, fields: str | Sequence[str], strings_only: bool = True):
        names = [fields] if isinstance(fields, str) else list(fields)
        if not names or not all(isinstance(name, str) and name for name in names):
            raise InputError(f"expected one or more field names or a template, found {names!r}; pass a field such as text")
        self.names = names
        self.strings_only = strings_only
        self.template = names[0] if len(names) == 1 and "{" in names[0] else None
        used = [match.group(1) for match in _TEMPLATE_PART.finditer(self.template) if match.group(1) is not None] \
            if self.template is not None else names
        self.paths = {name: field_path(name) for name in used}

    @property
    def top_level(self) -> list[str]:
        """The top-level keys (columns) that the fields need.

        >>> TextFields(["meta.body", "title"]).top_level
        ['meta', 'title']
        """
        return list(dict.fromkeys(path[0] for path in self.paths.values()))

    def describe(self) -> str:
        """The fields as the user wrote them, for messages.

        >>> TextFields(["title", "body"]).describe()
        "'title' + 'body'"
        """
        return " + ".join(repr(name) for name in self.names)

    def value(self, record: dict[str, Any], name: str) -> str:
        """The text of field ``name`` in ``record``; :class:`FieldMissing` or :class:`FieldNotText`."""
        value: Any = record
        for key in self.paths[name]:
            if not isinstance(value, dict) or key not in value:
                raise FieldMissing(name)
            value = value[key]
        text = _text_of(value, self.strings_only)
        if text is None:
            raise FieldNotText(name, value)
        return text

    def text(self, record: dict[str, Any]) -> str:
        """The record's text: the fields joined by newlines, or the template filled in."""
        if self.template is None:
            return "\n".join(self.value(record, name) for name in self.names)

        def replace(match: re.Match) -> str:
            if match.group(0) in ("{{", "}}"):
                return match.group(0)[0]
            return self.value(record, match.group(1))

        return _TEMPLATE_PART.sub(replace, self.template)

    def remove(self, record: dict[str, Any]) -> None:
        """Take the text fields out of ``record`` (what is left becomes the metadata).

        >>> record = {"meta": {"body": "hi", "lang": "en"}, "id": 1}
        >>> TextFields("meta.body").remove(record); record
        {'meta': {'lang': 'en'}, 'id': 1}
        """
        for path in self.paths.values():
            parent: Any = record
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
