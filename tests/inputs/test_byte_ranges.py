"""Cutting a JSON Lines file into byte ranges at line starts: every line is read exactly once,
in order, with the number reading the whole file gives it, and the records of the ranges are
the records of the whole file, whatever the range size (ranges inside one long line included),
with CRLF line ends, without a final line break, and for an empty file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from infgram.build.inputs import byte_ranges, range_lines, read_range_records, read_records
from infgram.build.json_array import starts_with_array

LINES = st.lists(
    st.one_of(
        st.binary(max_size=12).map(lambda raw: raw.replace(b"\n", b"")),  # any bytes, lone \r included
        st.sampled_from([b"", b"\r", b"x" * 200]),  # blank, a lone CR, one long line
    ),
    max_size=30,
)


def _file(lines: list[bytes], ends: list[bytes], final_break: bool) -> bytes:
    """Lines joined by LF or CRLF (``ends`` cycled), with or without a final line break."""
    parts = []
    for number, line in enumerate(lines):
        last = number == len(lines) - 1
        parts.append(line + (b"" if last and not final_break else ends[number % len(ends)]))
    return b"".join(parts)


def _written(data: bytes) -> Path:
    path = Path(tempfile.mkdtemp()) / "corpus.jsonl"
    path.write_bytes(data)
    return path


@settings(max_examples=300, deadline=None)
@given(lines=LINES, ends=st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=1, max_size=3),
       final_break=st.booleans(), range_bytes=st.integers(1, 400))
def test_every_line_is_in_exactly_one_range_in_order(lines, ends, final_break, range_bytes):
    data = _file(lines, ends, final_break)
    path = _written(data)
    ranges = byte_ranges(path, range_bytes)
    # The ranges tile the file, each starting at a line start, none empty (but an empty file's one).
    assert ranges[0].byte_start == 0 and ranges[-1].byte_end == len(data)
    assert all(a.byte_end == b.byte_start for a, b in zip(ranges, ranges[1:]))
    assert all(r.byte_end > r.byte_start for r in ranges) or data == b""
    assert all(r.byte_start == 0 or data[r.byte_start - 1:r.byte_start] == b"\n" for r in ranges)
    # A cut moves forward to the next line start only: a range ends before its target's next line.
    for r in ranges[:-1]:
        target = r.byte_start + range_bytes
        assert r.byte_end >= target and b"\n" not in data[target:r.byte_end - 1]
    # Lines, numbered as reading the whole file numbers them, exactly once and in order.
    with open(path, "rb") as handle:
        whole = list(enumerate(handle, start=1))
    assert [pair for r in ranges for pair in range_lines(r)] == whole


def _record_key(record) -> tuple:
    return (type(record).__name__, record.line, getattr(record, "kind", None), getattr(record, "message", None),
            getattr(record, "text", None), getattr(record, "metadata", None))


JSON_LINES = st.lists(
    st.one_of(
        st.builds(lambda text, n: json.dumps({"text": text, "n": n}, ensure_ascii=False).encode(),
                  st.text(max_size=30), st.integers(0, 9)),
        st.sampled_from([b"", b"  ", b"{not json", b"[1, 2]", b'{"text": ""}', b'{"other": 1}', b"\xff\xfe"]),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(lines=JSON_LINES, ends=st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=1, max_size=2),
       final_break=st.booleans(), range_bytes=st.integers(1, 300))
def test_the_ranges_records_are_the_whole_files_records(lines, ends, final_break, range_bytes):
    data = _file(lines, ends, final_break)
    assume(not starts_with_array(data))  # then it is one JSON array, never cut (see whole_file_reason)
    path = _written(data)
    whole = [_record_key(record) for record in read_records([path])]
    ranged = [_record_key(record) for byte_range in byte_ranges(path, range_bytes)
              for record in read_range_records(byte_range)]
    assert ranged == whole
