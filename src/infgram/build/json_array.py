"""Reading a JSON file that holds one array, element by element, without loading it whole.

``json.load`` needs the whole file in memory, several times over as Python objects; a
corpus exported as one JSON array can be many gigabytes. Here the file is decoded as UTF-8
in chunks, and each element is parsed by the standard library's decoder
(:meth:`json.JSONDecoder.raw_decode`) as soon as the buffer holds all of it. An element
is taken only when a delimiter (``,``, ``]`` or whitespace) follows it in the buffer, so a
number cut by a chunk boundary (``12`` of ``1234``) is never taken early. When an element
is incomplete, the next read is at least as large as the buffer, so a large element costs
a few parses, not one per chunk. One element may not exceed :data:`MAX_ELEMENT_CHARACTERS`.

Each element is yielded with its number (1-based); an element holding bytes that are not
UTF-8 is yielded as an :class:`InvalidUtf8` (the bytes are carried through the parse as
lone surrogates, so one bad element does not cost the rest of the file). Invalid JSON or a
file that ends inside the array raises :class:`DamagedArray` naming the element: after a
syntax error inside an array there is no reliable place to resume, so the rest is lost.

>>> import io
>>> list(iter_array(io.BytesIO(b' [ {"text": "a"},\\n 12 , "x" ] ')))
[(1, {'text': 'a'}), (2, 12), (3, 'x')]
"""

from __future__ import annotations

import codecs
import json
from typing import Any, BinaryIO, Iterator

CHUNK_BYTES = 1 << 20
MAX_ELEMENT_CHARACTERS = 1 << 30
"""The largest element read (1 Gi characters): larger ones are refused, not read into memory."""

_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


class InvalidUtf8(ValueError):
    """An element holds bytes that are not UTF-8."""


class DamagedArray(ValueError):
    """The array cannot be read past element ``element`` (the last one read); the message says why."""

    def __init__(self, message: str, element: int):
        super().__init__(message)
        self.element = element


def starts_with_array(head: bytes) -> bool:
    """Whether a file's first bytes (after whitespace and a UTF-8 byte order mark) open a JSON array.

    >>> starts_with_array(b'\\n [{"a": 1}]'), starts_with_array(b'{"a": 1}')
    (True, False)
    """
    return head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")[:1] == b"["


def iter_array(stream: BinaryIO) -> Iterator[tuple[int, Any]]:
    """(element number, element) for each element of the JSON array in a binary stream."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
    buffer = ""
    position = 0
    at_end = False
    element = 0

    def read_more(at_least: int) -> bool:
        nonlocal buffer, position, at_end
        if at_end:
            return False
        data = stream.read(max(CHUNK_BYTES, at_least))
        at_end = not data
        buffer = buffer[position:] + decoder.decode(data, final=at_end)
        position = 0
        return True

    def skip_whitespace() -> str:
        """The next character that is not whitespace ("" at the end of the file)."""
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in _WHITESPACE:
                position += 1
            if position < len(buffer):
                return buffer[position]
            if not read_more(0):
                return ""

    if skip_whitespace() != "[":
        raise DamagedArray("expected a JSON array starting with '['", 0)
    position += 1
    expect_element = True
    while True:
        character = skip_whitespace()
        if character == "]" and (element == 0 or not expect_element):
            position += 1
            if skip_whitespace():
                raise DamagedArray(f"expected nothing after the array's closing ']', found {buffer[position:position + 20]!r}",
                                   element)
            return
        if character == "":
            raise EOFError(f"the file ends inside the JSON array, after element {element:,}")
        if not expect_element:
            if character != ",":
                raise DamagedArray(f"expected ',' or ']' after element {element:,}, found {character!r}", element)
            position += 1
            expect_element = True
            continue
        while True:
            try:
                value, end = _DECODER.raw_decode(buffer, position)
                complete = end < len(buffer) or at_end
            except RecursionError:
                raise DamagedArray(f"element {element + 1:,} is nested too deeply to read (about a thousand levels)",
                                   element) from None
            except json.JSONDecodeError as error:
                # Cut by the end of the buffer (a string, a literal or an escape not yet whole), or invalid.
                maybe_cut = error.msg.startswith("Unterminated string") or len(buffer) - error.pos < 8
                if at_end or not maybe_cut:
                    raise DamagedArray(f"element {element + 1:,} is not valid JSON ({error.msg})", element) from None
                complete = False
            if complete:
                break
            if len(buffer) - position > MAX_ELEMENT_CHARACTERS:
                raise DamagedArray(f"element {element + 1:,} is not valid JSON, or longer than "
                                   f"{MAX_ELEMENT_CHARACTERS:,} characters", element)
            read_more(len(buffer) - position)
        raw, position = buffer[position:end], end
        element += 1
        expect_element = False
        yield element, (value if raw.isascii() or _is_utf8(raw) else InvalidUtf8(f"element {element:,} is not valid UTF-8"))


def _is_utf8(text: str) -> bool:
    """Whether decoded text holds no undecodable bytes (carried as lone surrogates)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
