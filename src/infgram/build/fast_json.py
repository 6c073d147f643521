"""JSON read and written as the standard library's ``json`` does it, through orjson where
orjson gives exactly the same result.

orjson parses and writes JSON about three to five times faster than ``json``, which matters
when a build reads millions of JSON Lines records and writes each document's metadata. But
the two differ at the edges: ``json`` accepts NaN, Infinity and lone surrogates, keeps
integers of any size, writes floats in its own notation and gives up on deep nesting at
about a thousand levels. So each function here takes orjson's answer only where it is known
to equal ``json``'s, and hands everything else to ``json``: the records and the bytes of
an index never depend on whether orjson is installed.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # an optional speed-up: json gives the same records and bytes
    _orjson = None

NESTING_LIMIT = 200
"""Values nested deeper than this go to json, whose limit (about a thousand levels, less the
depth of the calling code) decides whether they can be read or written; orjson has none."""

_FLOAT_OF_A_HUGE_INT = float(2**63)


def parse_json_line(line: bytes) -> Any:
    """``json.loads(line)``: the same values, and the same errors, about three times faster.

    orjson parses the line first. Where it refuses one, json parses it instead, so json's
    extensions (NaN, Infinity, a byte-order mark, lone surrogates in escapes, numbers too
    large for a double) and json's own error messages (invalid UTF-8, invalid JSON) are
    kept. Two things orjson does differently, without an error, are caught after parsing:
    it turns an integer outside 64 bits into a float, so a float of magnitude 2**63 or more
    is parsed again by json (a genuine float that large too: the same value either way);
    and it reads any depth of nesting, where json gives up at about a thousand levels, so a
    record nested deeper than :data:`NESTING_LIMIT` levels is parsed again by json.

    >>> parse_json_line(b'{"a": 1, "a": 2, "b": [NaN, 123456789012345678901234567890]}')
    {'a': 2, 'b': [nan, 123456789012345678901234567890]}
    """
    if _orjson is not None:
        try:
            value = _orjson.loads(line)
        except _orjson.JSONDecodeError:
            pass
        else:
            if not _differs_from_json(value):
                return value
    return json.loads(line)


def _differs_from_json(value: Any) -> bool:
    """Whether json may parse the line of this orjson value differently: it holds a float of
    magnitude 2**63 or more, or is nested more than :data:`NESTING_LIMIT` levels."""
    if type(value) is dict:  # most records: a flat object of strings and small numbers
        for child in value.values():
            kind = type(child)
            if kind is dict or kind is list or kind is float:
                break
        else:
            return False
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        kind = type(item)
        if kind is float:
            if not -_FLOAT_OF_A_HUGE_INT < item < _FLOAT_OF_A_HUGE_INT:
                return True
            continue
        if depth >= NESTING_LIMIT:
            return True
        children = item.values() if kind is dict else item
        pending.extend((child, depth + 1) for child in children if type(child) in (float, dict, list))
    return False


_METADATA_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
"""What ``json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), default=str)`` uses,
made once: building an encoder per document took half of the time of encoding metadata."""
_PLAIN_TYPES = (str, int, bool, type(None), dict, list)


def encode_metadata(metadata: dict[str, Any]) -> bytes:
    """A document's metadata as stored in ``metadata.bin``: compact JSON in UTF-8, exactly
    ``json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), default=str)``, with
    its errors (``ValueError``, ``RecursionError``, ``UnicodeEncodeError``).

    Metadata made only of strings, integers, booleans, nulls, objects and arrays (what most
    records hold) is encoded by orjson, which writes the same bytes for these five times
    faster; anything else (floats, which orjson writes in another notation, other types
    that ``default=str`` turns into strings, integers beyond 64 bits, a lone surrogate, deep
    or circular nesting) goes to json.

    >>> encode_metadata({"title": "Été", "n": [1, True, None]}), encode_metadata({"x": 1e16})
    (b'{"title":"\xc3\x89t\xc3\xa9","n":[1,true,null]}', b'{"x":1e+16}')
    """
    if _orjson is not None and _plain(metadata):
        try:
            return _orjson.dumps(metadata)
        except _orjson.JSONEncodeError:
            pass
    return _METADATA_ENCODER.encode(metadata).encode("utf-8")


def _plain(value: Any) -> bool:
    """Whether a value holds only the types orjson and json write alike (exact types: no
    subclasses), at most :data:`NESTING_LIMIT` levels deep (a circular one is not plain)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        kind = type(item)
        if kind is dict or kind is list:
            if depth >= NESTING_LIMIT:
                return False
            for child in (item.values() if kind is dict else item):
                child_kind = type(child)
                if child_kind is dict or child_kind is list:
                    pending.append((child, depth + 1))
                elif child_kind not in _PLAIN_TYPES:
                    return False
        elif kind not in _PLAIN_TYPES:
            return False
    return True
