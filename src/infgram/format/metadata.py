"""Documents' metadata as values: field names, values shown as strings, conditions on them,
and the per-document value column a shard keeps of them.

Every document of an index carries its metadata, one JSON object (``metadata.bin``). The
questions "how often per language" and "only in German documents" need, per document, the
value of one field; parsing every document's JSON for each question would cost as much as
the corpus has documents. So the build also writes, per shard, ``metadata_values.bin``: for
every field (nested ones too), the distinct values the shard holds and, per document, the
number of its value (0: the document lacks the field). A question then costs one small
array read per field, whatever the documents hold.

**Names** of fields use the syntax of ``--text-field`` (:func:`field_path`): ``lang``,
``meta.lang`` (field ``lang`` inside ``meta``), ``meta\\.lang`` (a key holding a dot).

**Values** are compared as JSON scalars shown as strings (:func:`value_text`): a string is
itself, a number, ``true``, ``false`` or ``null`` its JSON text, so ``2001`` and ``"2001"``
are one value; a list or object is its compact JSON text.

**Conditions** (:func:`parse_where`) are given as JSON, ``{"lang": "de"}``,
``{"lang": {"in": ["de", "fr"]}}``, ``{"lang": {"not": "de"}}``, ``{"year": {"gte": 1990,
"lt": 2000}}``, or as the command line writes them, ``lang=de``, ``lang!=de``, ``lang in
de,fr``, ``year>=1990``, ``year<2000``. All must hold, and each holds only for documents
that have its field (a document without ``lang`` is neither ``lang=de`` nor ``lang!=de``).
A range bound that is a number compares values as numbers (a value that is not a number
is outside every numeric range); a string bound compares strings.

**The column file** (kind ``b"MVAL"``, the common 64-byte header with the token width; its
items are payload bytes)::

    offset  size  field
    0       8     the length J of the directory, little-endian
    8       J     the directory, UTF-8 JSON: {"version": 1, "num_documents": n,
                  "fields": [{"key": [...], "values": [...], "width": w, "offset": o}],
                  "skipped": [{"key": [...], "reason": "..."}]}
    8+J+o   n*w   per field, each document's value number, little-endian of width w (1, 2 or 4);
                  J is a multiple of 8 (the directory is padded with spaces)

A field with more than :data:`MAX_COLUMN_VALUES` distinct values in a shard (an URL, an id)
is ``skipped``: questions about it read ``metadata.bin``. A shard without the file (built
before it existed) is answered the same way, within the work budget.

>>> field_path("meta.lang"), value_text(2001), value_text("2001"), value_text(None)
(('meta', 'lang'), '2001', '2001', 'null')
>>> where = parse_where({"lang": {"in": ["de", "fr"]}, "year": {"gte": 1990, "lt": 2000}})
>>> where.matches({"lang": "de", "year": 1995}), where.matches({"lang": "de", "year": 2001})
(True, False)
>>> parse_where(["lang!=de", "year>=1990"]).matches({"lang": "fr", "year": "1990"})
True
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import IndexFormatError, InputError, QueryError
from ..normalize import ORIGINALS_KEY
from . import AtomicFileWriter, FileHeader, check_payload_sha256, open_payload, read_header

KIND_METADATA_VALUES = b"MVAL"
COLUMN_VERSION = 1
"""The version of the column file's directory (the header carries the file format's)."""
MAX_COLUMN_VALUES = 65_536
"""A field with more distinct values than this in one shard is left out of the column."""
MAX_COLUMN_FIELDS = 256
"""Fields kept in a shard's column at most (the first met, in document order)."""
HIDDEN_KEYS = frozenset({ORIGINALS_KEY})
"""Metadata infgram itself keeps (the originals of a normalized text): never a field."""

_MISSING = object()


def field_path(name: str) -> tuple[str, ...]:
    """The keys along a field name: dots separate keys, ``\\.`` is a dot inside a key.

    >>> field_path("meta.body"), field_path("meta\\\\.body"), field_path("text")
    (('meta', 'body'), ('meta.body',), ('text',))
    """
    keys: list[str] = []
    current: list[str] = []
    escaped = False
    for character in name:
        if escaped:
            current.append(character)
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == ".":
            keys.append("".join(current))
            current = []
        else:
            current.append(character)
    if escaped:
        current.append("\\")
    keys.append("".join(current))
    if not all(keys):
        raise InputError(f"expected a field name such as 'text' or 'meta.body', found {name[:200]!r} (an empty key "
                         "between dots); write a dot inside a key as '\\.'")
    return tuple(keys)


def field_name(path: Sequence[str]) -> str:
    """A key path written as :func:`field_path` reads it (dots inside keys escaped).

    >>> field_name(("meta", "lang")), field_name(("a.b",))
    ('meta.lang', 'a\\\\.b')
    """
    return ".".join(key.replace("\\", "\\\\").replace(".", "\\.") for key in path)


def value_text(value: Any) -> str:
    """A metadata value as the string it is compared and shown as.

    >>> value_text("de"), value_text(1.5), value_text(True), value_text([1, "a"])
    ('de', '1.5', 'true', '[1,"a"]')
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def lookup(metadata: Any, path: Sequence[str]) -> str | None:
    """The value of a field in one document's metadata, as text (None: it lacks the field).

    >>> lookup({"meta": {"lang": "en"}}, ("meta", "lang")), lookup({"meta": 1}, ("meta", "lang"))
    ('en', None)
    """
    found = metadata
    for key in path:
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    return value_text(found)


def leaf_values(metadata: Any, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], str]]:
    """Every field of a document's metadata with its value as text; nested objects are
    walked into (their fields are the leaves), infgram's own keys left out.

    >>> list(leaf_values({"title": "T", "meta": {"lang": "en", "n": 2}, "tags": []}))
    [(('title',), 'T'), (('meta', 'lang'), 'en'), (('meta', 'n'), '2'), (('tags',), '[]')]
    """
    if not isinstance(metadata, dict):
        return
    for key, value in metadata.items():
        if not prefix and key in HIDDEN_KEYS:
            continue
        if isinstance(value, dict) and value:
            yield from leaf_values(value, (*prefix, key))
        else:
            yield (*prefix, key), value_text(value)


# -- conditions ---------------------------------------------------------------------------------------
def _number(text: str) -> float | None:
    """A value text as a number, when it is one (JSON numbers, and strings that spell one)."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_RANGE_OPERATORS = {"gte": (lambda a, b: a >= b), "gt": (lambda a, b: a > b), "lte": (lambda a, b: a <= b),
                    "lt": (lambda a, b: a < b)}
_JSON_OPERATORS = ("eq", "not", "in", "not_in", *_RANGE_OPERATORS)


@dataclass(frozen=True)
class Condition:
    """One condition on one field: ``operator`` is ``eq``, ``not``, ``in``, ``not_in`` (the
    value texts in ``values``) or a range bound, ``gte``, ``gt``, ``lte``, ``lt`` (one
    value: a number, or a string)."""

    path: tuple[str, ...]
    operator: str
    values: tuple[Any, ...]

    def accepts(self, text: str | None) -> bool:
        """Whether a document whose field is ``text`` (None: it lacks it) meets the condition."""
        if text is None:
            return False
        if self.operator == "eq":
            return text == self.values[0]
        if self.operator == "not":
            return text != self.values[0]
        if self.operator == "in":
            return text in self.values
        if self.operator == "not_in":
            return text not in self.values
        bound = self.values[0]
        if isinstance(bound, str):
            return _RANGE_OPERATORS[self.operator](text, bound)
        number = _number(text)
        return number is not None and _RANGE_OPERATORS[self.operator](number, bound)

    def describe(self) -> str:
        """The condition as the command line writes it.

        >>> parse_where({"year": {"gte": 1990}}).conditions[0].describe()
        'year>=1990'
        """
        symbols = {"eq": "=", "not": "!=", "gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
        name = field_name(self.path)
        if self.operator in ("in", "not_in"):
            word = " in " if self.operator == "in" else " not in "
            return name + word + ",".join(str(value) for value in self.values)
        value = self.values[0]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return name + symbols[self.operator] + (value if isinstance(value, str) else json.dumps(value))


@dataclass(frozen=True)
class Where:
    """Conditions that must all hold (see the module's docstring)."""

    conditions: tuple[Condition, ...]

    @functools.cached_property
    def paths(self) -> list[tuple[str, ...]]:
        """The fields the conditions name, each once, in order (worked out once: asked per shard)."""
        return list(dict.fromkeys(condition.path for condition in self.conditions))

    def matches(self, metadata: Any) -> bool:
        """Whether a document's metadata meets every condition."""
        return all(condition.accepts(lookup(metadata, condition.path)) for condition in self.conditions)

    def accepted(self, path: tuple[str, ...], values: Sequence[str]) -> np.ndarray:
        """For the value numbers of one field's column (0: missing, k: ``values[k - 1]``),
        whether a document with that value meets the conditions on that field."""
        mask = np.ones(len(values) + 1, dtype=bool)
        for condition in self.conditions:
            if condition.path == path:
                mask &= np.array([condition.accepts(None)] + [condition.accepts(text) for text in values], dtype=bool)
        return mask

    def describe(self) -> str:
        """The conditions as the command line writes them, joined by spaces."""
        return " ".join(condition.describe() for condition in self.conditions)


_CONDITION = re.compile(r"^(?P<key>.+?)(?:(?P<symbol>!=|>=|<=|=|>|<)(?P<value>.*)|\s+(?P<word>not in|in)\s+(?P<list>.*))$",
                        re.DOTALL)


def _bound(text: str) -> Any:
    """A range bound written on the command line: a number when it reads as one."""
    number = _number(text)
    return number if number is not None and text.strip() == text else text


def parse_condition(text: str) -> Condition:
    """One condition as the command line writes it: ``KEY=VALUE``, ``KEY!=VALUE``, ``KEY in
    A,B``, ``KEY not in A,B``, ``KEY>=N``, ``KEY>N``, ``KEY<=N``, ``KEY<N``.

    >>> parse_condition("meta.source=forum.example")
    Condition(path=('meta', 'source'), operator='eq', values=('forum.example',))
    >>> parse_condition("lang in de,fr").values, parse_condition("year<2000").values
    (('de', 'fr'), (2000.0,))
    """
    match = _CONDITION.match(text) if isinstance(text, str) else None
    if match is None or not match.group("key").strip():
        raise QueryError(f"expected a condition KEY=VALUE, KEY!=VALUE, KEY in A,B or a range such as KEY>=1990 "
                         f"(e.g. source=forum.example), found {text!r:.80}")
    path = field_path(match.group("key").strip() if match.group("word") else match.group("key"))
    if match.group("word"):
        values = tuple(value.strip() for value in match.group("list").split(","))
        return Condition(path, "in" if match.group("word") == "in" else "not_in", values)
    operator = {"=": "eq", "!=": "not", ">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}[match.group("symbol")]
    value = match.group("value")
    return Condition(path, operator, (_bound(value) if operator in _RANGE_OPERATORS else value,))


def _json_condition(path: tuple[str, ...], name: str, spec: Any) -> list[Condition]:
    def scalar(value: Any) -> str:
        if isinstance(value, (dict, list)):
            raise QueryError(f"expected a JSON scalar (string, number, true, false, null) in the condition on "
                             f"{name!r}, found {json.dumps(value)[:80]}")
        return value_text(value)

    if isinstance(spec, list):
        return [Condition(path, "in", tuple(scalar(value) for value in spec))]
    if not isinstance(spec, dict):
        return [Condition(path, "eq", (scalar(spec),))]
    if not spec:
        raise QueryError(f"expected an operator in the condition on {name!r} (one of {', '.join(_JSON_OPERATORS)}), "
                         "found an empty object")
    conditions = []
    for operator, value in spec.items():
        if operator not in _JSON_OPERATORS:
            raise QueryError(f"expected the operators of a condition on {name!r} to be among "
                             f"{', '.join(_JSON_OPERATORS)}, found {operator!r:.40}")
        if operator in ("in", "not_in"):
            if not isinstance(value, list):
                raise QueryError(f"expected a list of values for {operator!r} on {name!r}, found "
                                 f"{json.dumps(value)[:80]}")
            conditions.append(Condition(path, operator, tuple(scalar(item) for item in value)))
        elif operator in _RANGE_OPERATORS:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                raise QueryError(f"expected a number or a string as the bound {operator!r} on {name!r}, found "
                                 f"{json.dumps(value)[:80]}")
            conditions.append(Condition(path, operator, (float(value) if not isinstance(value, str) else value,)))
        else:
            conditions.append(Condition(path, operator, (scalar(value),)))
    return conditions


def parse_where(where: Any) -> Where | None:
    """Conditions from JSON (an object of field name to value or operators) or from the
    command line's strings (a list, or one string); None for none; conditions parsed already
    are themselves.

    >>> parse_where(None), parse_where({"lang": "de"}).describe(), parse_where(["a=1", "b in x,y"]).describe()
    (None, 'lang=de', 'a=1 b in x,y')
    """
    if where is None or isinstance(where, Where):  # parsed already
        return where
    if isinstance(where, str):
        where = [where]
    conditions: list[Condition] = []
    if isinstance(where, dict):
        for name, spec in where.items():
            if not isinstance(name, str) or not name:
                raise QueryError(f"expected field names as the keys of where, found {name!r:.40}")
            conditions += _json_condition(field_path(name), name, spec)
    elif isinstance(where, (list, tuple)):
        conditions = [parse_condition(text) for text in where]
    else:
        raise QueryError(f"expected where to be an object such as {{\"lang\": \"de\"}} or a list of conditions such as "
                         f"[\"lang=de\"], found {type(where).__name__}")
    if not conditions:
        return None
    return Where(tuple(conditions))


# -- the column file ------------------------------------------------------------------------------------
@dataclass
class ValueColumn:
    """One field of a shard: its distinct values, and each document's value number (0:
    missing, k: ``values[k - 1]``)."""

    values: list[str]
    numbers: np.ndarray


@dataclass
class ValueColumns:
    """The value columns of one shard, and the fields left out of them (too many values)."""

    num_documents: int
    fields: dict[tuple[str, ...], ValueColumn]
    skipped: dict[tuple[str, ...], str]

    @property
    def keys(self) -> list[tuple[str, ...]]:
        """Every field some document of the shard has."""
        return list(self.fields) + [key for key in self.skipped if key not in self.fields]


def columns_of(documents: Iterable[Any], num_documents: int) -> ValueColumns:
    """The value columns of documents' metadata (dicts, in order).

    >>> columns = columns_of([{"lang": "de"}, {}, {"lang": "fr", "n": 1}, {"lang": "de"}], 4)
    >>> columns.fields[("lang",)].values, columns.fields[("lang",)].numbers.tolist(), columns.keys
    (['de', 'fr'], [1, 0, 2, 1], [('lang',), ('n',)])
    """
    numbers: dict[tuple[str, ...], np.ndarray] = {}
    values: dict[tuple[str, ...], dict[str, int]] = {}
    skipped: dict[tuple[str, ...], str] = {}
    for number, metadata in enumerate(documents):
        for path, text in leaf_values(metadata):
            if path in skipped:
                continue
            known = values.get(path)
            if known is None:
                if len(values) >= MAX_COLUMN_FIELDS:
                    skipped[path] = f"more than {MAX_COLUMN_FIELDS} fields in one shard"
                    continue
                known = values[path] = {}
                numbers[path] = np.zeros(num_documents, dtype=np.uint32)
            code = known.get(text)
            if code is None:
                if len(known) >= MAX_COLUMN_VALUES:
                    skipped[path] = f"more than {MAX_COLUMN_VALUES:,} distinct values in one shard"
                    del values[path], numbers[path]
                    continue
                code = known[text] = len(known) + 1
            numbers[path][number] = code
    fields = {path: ValueColumn(list(values[path]), numbers[path]) for path in values}
    return ValueColumns(num_documents, fields, skipped)


def _width(num_values: int) -> int:
    return 1 if num_values < 1 << 8 else 2 if num_values < 1 << 16 else 4


def metadata_objects(metadata: bytes | memoryview | np.ndarray, offsets: Sequence[int]) -> Iterable[Any]:
    """The metadata object of each document, from metadata bytes and their offsets (n + 1)."""
    data = memoryview(metadata).cast("B") if not isinstance(metadata, np.ndarray) else metadata
    for start, end in zip(offsets[:-1], offsets[1:]):
        try:
            yield json.loads(bytes(data[int(start):int(end)]))
        except (ValueError, UnicodeDecodeError, RecursionError):
            yield None


def write_value_columns(path: Path, token_width: int, columns: ValueColumns) -> dict[str, Any]:
    """Write a shard's value columns (see the module's docstring); returns what
    :meth:`~infgram.format.AtomicFileWriter.commit` does (size and checksum)."""
    entries, arrays, offset = [], [], 0
    for key, column in columns.fields.items():
        width = _width(len(column.values) + 1)
        arrays.append(column.numbers.astype(f"<u{width}"))
        entries.append({"key": list(key), "values": column.values, "width": width, "offset": offset})
        offset += columns.num_documents * width
    directory = {"version": COLUMN_VERSION, "num_documents": columns.num_documents, "fields": entries,
                 "skipped": [{"key": list(key), "reason": reason} for key, reason in columns.skipped.items()]}
    encoded = json.dumps(directory, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the arrays start 8-byte aligned
    return _commit(path, token_width, encoded, arrays)


def _commit(path: Path, token_width: int, encoded: bytes, arrays: list[np.ndarray]) -> dict[str, Any]:
    size = 8 + len(encoded) + sum(array.nbytes for array in arrays)
    writer = AtomicFileWriter(path, FileHeader(KIND_METADATA_VALUES, token_width, 0, size, 1))
    try:
        writer.write(len(encoded).to_bytes(8, "little") + encoded)
        for array in arrays:
            writer.write(np.ascontiguousarray(array).view(np.uint8))
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def read_value_columns(path: Path, token_width: int, num_documents: int, file_entry: Any = None) -> ValueColumns:
    """A shard's value columns, memory-mapped; raises
    :class:`~infgram.errors.IndexFormatError` naming what does not fit, or when the file does
    not match the sha256 of its manifest entry ``file_entry`` (a damaged value would move a
    document to another value without any other check noticing)."""
    header = read_header(path)
    if header.kind != KIND_METADATA_VALUES or header.token_width != token_width or header.item_width != 1:
        raise IndexFormatError(f"{path} is not the metadata value columns of this index (kind {header.kind!r}, token "
                               f"width {header.token_width}); rebuild the index")
    payload = open_payload(path, header, np.uint8)
    check_payload_sha256(path, payload, file_entry)
    try:
        length = int.from_bytes(bytes(payload[:8]), "little")
        directory = json.loads(bytes(payload[8 : 8 + length]))
        if directory.get("version") != COLUMN_VERSION or directory.get("num_documents") != num_documents:
            raise ValueError("its version or document count differs")
        fields = {}
        for entry in directory["fields"]:
            width, offset = int(entry["width"]), int(entry["offset"])
            offset += 8 + length  # the offsets count from the end of the directory
            if width not in (1, 2, 4) or offset + width * num_documents > len(payload):
                raise ValueError("a column lies outside the file")
            numbers = payload[offset : offset + width * num_documents].view(f"<u{width}")
            fields[tuple(entry["key"])] = ValueColumn([str(value) for value in entry["values"]], numbers)
        skipped = {tuple(entry["key"]): str(entry["reason"]) for entry in directory["skipped"]}
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as error:
        raise IndexFormatError(f"{path} holds a damaged directory ({error}); run `infgram verify` and rebuild the "
                               "index") from None
    return ValueColumns(num_documents, fields, skipped)


# -- shard-by rules ---------------------------------------------------------------------------------------
MAX_SHARD_VALUES = 10_000
"""Distinct values a ``--shard-by`` rule may give at most (each value has shards of its own)."""

_RULE = re.compile(r"^\s*(?P<bucket>year|month|bucket)\s*\(\s*(?P<field>[^,()]+?)\s*(?:,\s*(?P<width>[^,()]+?)\s*)?\)\s*$")
_YEAR = re.compile(r"^(?P<year>-?\d{4})(?P<month>-\d{2})?(?:$|[-T /:])")


@dataclass(frozen=True)
class ShardRule:
    """How ``build --shard-by`` groups documents: by the value of a field (``lang``,
    ``meta.lang``), or by a bucket of it: ``year(date)`` (the year of an ISO date such as
    ``1995-03-02``, or of a whole number), ``month(date)`` (``1995-03``), ``bucket(size, 1000)``
    (a number's bucket of that width, shown as its lower bound). ``text`` is the rule as the
    user gave it (what the manifest records).

    >>> rule = parse_shard_rule("year(meta.date)")
    >>> rule.path, rule.value_of({"meta": {"date": "1995-03-02"}}), rule.value_of({"meta": {}})
    (('meta', 'date'), '1995', None)
    >>> parse_shard_rule("bucket(n, 10)").value_of({"n": 1234}), parse_shard_rule("lang").value_of({"lang": "de"})
    ('1230', 'de')
    """

    text: str
    path: tuple[str, ...]
    bucket: str | None = None
    width: float | None = None

    def value_of(self, metadata: Any) -> str | None:
        """A document's value under the rule, shown as a string (None: it lacks the field).
        Raises ``ValueError`` saying what was expected when a bucket cannot read the value."""
        found = metadata
        for key in self.path:
            if not isinstance(found, dict) or key not in found:
                return None
            found = found[key]
        if self.bucket is None:
            return value_text(found)
        if self.bucket in ("year", "month"):
            if isinstance(found, int) and not isinstance(found, bool) and self.bucket == "year":
                return str(found)
            match = _YEAR.match(found) if isinstance(found, str) else None
            if match is None or (self.bucket == "month" and match["month"] is None):
                example = "1995-03-02 or 1995" if self.bucket == "year" else "1995-03-02 or 1995-03"
                raise ValueError(f"expected {field_name(self.path)} to be a date such as {example} for "
                                 f"--shard-by {self.text}, found {value_text(found)[:80]!r}")
            return match["year"] + (match["month"] if self.bucket == "month" else "")
        number = _number(found) if isinstance(found, (str, int, float)) and not isinstance(found, bool) else None
        if number is None:
            raise ValueError(f"expected {field_name(self.path)} to be a number for --shard-by {self.text}, found "
                             f"{value_text(found)[:80]!r}")
        assert self.width is not None
        lower = math.floor(number / self.width) * self.width
        return value_text(int(lower) if float(lower).is_integer() else lower)

    def matches_field(self, path: tuple[str, ...]) -> bool:
        """Whether a shard's value under the rule is the value of field ``path`` itself (a
        rule without a bucket): then a count by that field, or a condition on it, is decided
        per shard."""
        return self.bucket is None and self.path == path


def parse_shard_rule(text: Any) -> ShardRule:
    """A ``--shard-by`` rule (see :class:`ShardRule`); raises :class:`~infgram.errors.InputError`
    saying what is expected.

    >>> parse_shard_rule("month(date)").bucket, parse_shard_rule("bucket(year, 10)").width
    ('month', 10.0)
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"expected --shard-by to be a metadata field such as 'lang' or a bucket such as "
                         f"'year(date)', found {text!r:.80}")
    match = _RULE.match(text)
    if match is None:
        if "(" in text or ")" in text:
            raise InputError(f"expected --shard-by to be a field ('lang', 'meta.lang') or a bucket rule: year(FIELD), "
                             f"month(FIELD) or bucket(FIELD, WIDTH), found {text[:80]!r}; write the rule as one of "
                             "these")
        return ShardRule(text, field_path(text))
    bucket, width_text = match["bucket"], match["width"]
    width = None
    if bucket == "bucket":
        width = _number(width_text) if width_text is not None else None
        if width is None or width <= 0:
            raise InputError(f"expected bucket(FIELD, WIDTH) with a positive number WIDTH, found {text[:80]!r}; "
                             "write for example bucket(year, 10)")
    elif width_text is not None:
        raise InputError(f"expected {bucket}(FIELD) with one field, found {text[:80]!r}; drop the second argument")
    return ShardRule(text, field_path(match["field"]), bucket, width)
