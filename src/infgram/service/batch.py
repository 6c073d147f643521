"""The JSON Lines batch: one request per line in, one reply per line out, in order.

It carries the requests and replies of :mod:`infgram.service.protocol` (a request's ``id`` is
echoed in its reply, and a field its operation does not define is that line's error). Consecutive
``count`` requests are answered together by ``count_batch``. Every line gets a reply:
invalid JSON, a request too deeply nested to read, or any other failure is that line's
error reply, and the batch goes on. Replies are UTF-8; a lone surrogate in a request
(which JSON allows and UTF-8 cannot hold) is written back escaped.

Plain counts (a text or ids, perhaps an ``id``, no options) are the bulk of large batches, so
they take a short path. Lines are read 4,096 at a time; a chunk whose every line is a count of
a text (as ``json.dumps`` or a compact writer spells it) is checked by one regular expression
and its strings read by one call of a fast JSON parser (orjson, when installed), and
consecutive such chunks are counted by one ``count_batch`` (up to 90,000 texts: on every
core). In other chunks each line is read by the fast parser and accepted only if it is
exactly a plain count; those are counted together at the end of the chunk. Their replies
are written from a template that gives the bytes ``json.dumps`` would. Any other line, or
one the fast parser reads differently or not at all, takes the general path
(:func:`parse_line`, :func:`~.protocol.run_request`), so every reply is the same whichever
path answers it (``tests/service/test_batch_bulk.py`` holds them equal).

A batch may have a work budget as a whole (``max_batch_work``, see
:class:`~infgram.query.budget.WorkAccount`): its lines draw on it, and once it is spent every
line left gets a ``LimitError`` naming it. ``proceed(lines)``, called before the lines taken
next (one line, or a chunk's plain counts at once), stops the batch when it returns False
(the server's, when its client has gone or it shuts down).

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "index", progress=False)
>>> index = infgram.Index.open(folder / "index")
>>> for reply in run_batch(index, ['{"op": "count", "text": "rose"}', '{"op": "probability", "prompt": "a ", "next": "r"}',
...                                '{"op": "fly"}']):
...     print(reply)
{"op": "count", "count": 2}
{"op": "probability", "prompt_count": 2, "count": 2, "probability": 1.0}
{"op": "fly", "error": {"type": "QueryError", "message": "expected op to be one of count, probability, next_tokens, infgram_probability, infgram_next_tokens, document, documents, search, attribute, trace, longest_matches, infgram_probabilities, cooccurrence, contamination, draft, novelty, creativity, count_batch, found 'fly'"}}
"""

from __future__ import annotations

import json
import re
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from ..errors import InfgramError, QueryError
from ..query.budget import WorkAccount
from .protocol import check_op, error_reply, request_id, run_request, sequence, with_id

try:  # the fast parser and encoder; the json module reads and writes the same, more slowly
    from orjson import dumps as _fast_dumps, loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _fast_loads = json.loads

    def _fast_dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode("ascii")

_CHUNK = 4096
_COUNT_RUN = 90_000
"""Plain counts of text counted at once: a run ends at the first chunk that reaches this many
(a few tenths of a second of work, and with a chunk more, still within a server's 100,000
counts in one call, :class:`~infgram.service.http.Limits`), so that most of a batch of
100,000 counts is one run, which count_batch searches on every core."""
_PLAIN_COUNT = frozenset({"op", "text", "ids", "id"})
"""The fields of a count answered with others in one ``count_batch``."""
_COUNT_REPLY = '{"op": "count", "count": %d}'
"""A plain count's reply as :func:`dump_reply` writes it (a test holds them equal)."""
_COUNTS_START, _, _COUNTS_END = _COUNT_REPLY.partition("%d")
_COUNTS_BETWEEN = _COUNTS_END + "\n" + _COUNTS_START
"""Between two counts in a block of plain count replies."""


def parse_line(line: str) -> dict[str, Any]:
    """One line of the batch as a request object (QueryError if it is not one)."""
    try:
        request = json.loads(line)
    except RecursionError:
        raise QueryError("expected one JSON object per line, found JSON nested too deep to read; flatten it") from None
    except ValueError as error:
        raise QueryError(f"expected one JSON object per line, found invalid JSON ({error})") from None
    if not isinstance(request, dict):
        raise QueryError(f"expected a JSON object per line, found a JSON {type(request).__name__}")
    return request


def split_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text, as ``infgram batch`` reads them from a file: ended by
    ``\\n``, ``\\r\\n`` or ``\\r`` only (not by the other characters ``str.splitlines`` takes, such
    as U+2028, which a JSON string may hold unescaped).

    >>> split_lines('{"text": "a\\u2028b"}\\r\\n{}\\n')
    ['{"text": "a\\u2028b"}', '{}', '']
    """
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def dump_reply(reply: dict[str, Any]) -> str:
    """A reply as one line of JSON; text with lone surrogates is escaped rather than lost.

    >>> dump_reply({"op": "count_batch", "id": "\u00e9", "counts": list(range(3))})
    '{"op": "count_batch", "id": "\u00e9", "counts": [0, 1, 2]}'
    """
    line = _dumps(reply, False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = _dumps(reply, True)
    return line


def _dumps(reply: dict[str, Any], ensure_ascii: bool) -> str:
    """``json.dumps(reply)``; the counts of a ``count_batch`` reply (its last field), which may be
    100,000 numbers, are written by the fast encoder, spaced as the json module spaces them."""
    counts = reply.get("counts")
    if type(counts) is list and len(counts) > 1 and next(reversed(reply)) == "counts":
        try:
            numbers = _fast_dumps(counts)
        except TypeError:  # an integer past 64 bits: the json module writes them
            numbers = b""
        if numbers.startswith(b"[") and not numbers.translate(None, b"[]0123456789,-"):  # integers only
            head = json.dumps({key: value for key, value in reply.items() if key != "counts"},
                              ensure_ascii=ensure_ascii)
            return head[:-1] + ', "counts": ' + numbers.decode("ascii").replace(",", ", ") + "}"
    return json.dumps(reply, ensure_ascii=ensure_ascii)


def _plain_count(line: str, texts: bool) -> tuple[Any, Any] | None:
    """(query, id) of a line that is exactly a plain count (text only when ``texts``), read by
    the fast parser; None for any other line, which then takes the general path. What the fast
    parser reads differently from the json module (an integer below -2**63 becomes a float in
    orjson) is never accepted here, so both paths see the same request."""
    try:
        request = _fast_loads(line)
    except (ValueError, RecursionError):
        return None
    if type(request) is not dict or request.get("op") != "count" or not request.keys() <= _PLAIN_COUNT:
        return None
    if "ids" in request:
        query = request["ids"]
        if "text" in request or type(query) is not list or not all(type(i) is int for i in query):
            return None
    else:
        query = request.get("text")
        if not texts or type(query) is not str:
            return None
    identifier = request.get("id")
    if "id" in request and type(identifier) is not str and type(identifier) is not int:
        return None
    return query, identifier


_TEXT_OF_COUNT = re.compile(r'^\{"op": ?"count", ?"text": ?("(?:[^"\\\n]++|\\.)*+")\}$', re.MULTILINE)
"""A line that is a count of a text and nothing else, in the spellings ``json.dumps`` and
compact writers give; its string. A string holds no raw newline, so a match never leaves its
line, and a line matches at most once."""


def _texts_of_counts(lines: list[str]) -> list[str] | None:
    """The texts of a chunk of lines when every one is a plain count of a text (or blank), read
    in one pass over the chunk and one call of the parser; None otherwise. A string the parser
    refuses as a whole (a bad escape, a raw control character, a lone surrogate) sends the
    chunk down the line-by-line path, which gives those lines their own replies."""
    return _texts_if_all_counts("\n".join(lines), len(lines) - lines.count(""))  # a blank line is ""


def _texts_if_all_counts(text: str, num_requests: int) -> list[str] | None:
    """The texts of the counts in ``text`` when it holds ``num_requests`` of them, one a line
    (then every request line is one), read by one call of the parser; else None."""
    found = _TEXT_OF_COUNT.findall(text)
    if len(found) != num_requests:  # a line that is not such a count
        return None
    try:
        return _fast_loads("[" + ",".join(found) + "]")
    except (ValueError, RecursionError):
        return None


def _answer_chunk(index: Any, lines: list[str], account: WorkAccount | None = None,
                  proceed: Callable[[int], bool] | None = None) -> str | None:
    """The replies to a chunk of lines, as JSON lines each ending with a newline (blank lines
    have none); None when ``proceed`` stops the batch."""
    texts = _counts_texts(index)
    replies: list[str | None] = []
    counts: list[tuple[int, Any, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        number = len(replies)
        replies.append(None)
        plain = _plain_count(line, texts)
        if plain is not None:
            counts.append((number, *plain))
            continue
        if proceed is not None and not proceed(1):
            return None
        try:
            request = parse_line(line)
        except InfgramError as error:
            replies[number] = dump_reply(error_reply(None, error))
            continue
        # Plain counts are answered together; a count with options (whole_words, ignore_case,
        # exact_tokens) or whose reply lists forms (a text on a tokenized index) goes alone.
        plain_fields = set(request) <= _PLAIN_COUNT and ("id" not in request or request_id(request) is not None) and \
            ("text" not in request or texts)
        if request.get("op") == "count" and plain_fields:
            try:
                counts.append((number, sequence(request), request_id(request)))
            except InfgramError as error:
                replies[number] = dump_reply(with_id(error_reply("count", error), request))
        elif account is None:
            replies[number] = dump_reply(run_request(index, request))
        elif account.exhausted:
            replies[number] = dump_reply(with_id(error_reply(request.get("op") if isinstance(request.get("op"), str)
                                                             else None, account.refusal()), request))
        else:
            with account.drawn_on():
                replies[number] = dump_reply(run_request(index, request))
    if counts:
        if proceed is not None and not proceed(len(counts)):
            return None
        try:
            values = index.count_batch([query for _, query, _ in counts]).tolist()
            for (number, _, identifier), value in zip(counts, values):
                replies[number] = _COUNT_REPLY % value if identifier is None else \
                    dump_reply({"op": "count", "id": identifier, "count": value})
        except InfgramError:
            for number, query, identifier in counts:  # find which ones are bad, one by one
                request = {"op": "count", "ids" if isinstance(query, list) else "text": query}
                replies[number] = dump_reply(run_request(index, request if identifier is None
                                                         else {**request, "id": identifier}))
    return "".join(reply + "\n" for reply in replies)  # type: ignore[operator]


def _counts_texts(index: Any) -> bool:
    """Whether counts of text go with others: not on a tokenized index, where each lists its forms."""
    return not getattr(getattr(index, "tokenizer", None), "text_has_forms", False)


def _count_texts(index: Any, texts: list[str], proceed: Callable[[int], bool] | None) -> str | None:
    """The replies to plain counts of these texts, as a block; None when ``proceed`` stops the batch."""
    if proceed is not None and not proceed(len(texts)):
        return None
    try:
        values = index.count_batch(texts).tolist()
    except InfgramError:  # find which ones are bad, one by one
        return "".join(dump_reply(run_request(index, {"op": "count", "text": text})) + "\n" for text in texts)
    return _COUNTS_START + _COUNTS_BETWEEN.join(map(str, values)) + _COUNTS_END + "\n" if values else ""


def _chunks(index: Any, lines: Iterable[str], max_batch_work: int | None,
            proceed: Callable[[int], bool] | None) -> Iterator[str]:
    """The replies, a chunk of lines at a time, as blocks of lines (see :func:`run_batch`).
    Consecutive chunks of plain counts of text are counted together, up to ``_COUNT_RUN``
    texts, so that a large batch is searched on every core as one ``count_batch`` is."""
    account = None if max_batch_work is None else WorkAccount(max_batch_work)
    texts = _counts_texts(index)
    source = iter(lines)
    run: list[str] = []  # texts of plain counts read and not yet counted
    while True:
        chunk = list(islice(source, _CHUNK))
        found = _texts_of_counts(chunk) if chunk and texts else None
        if found is not None:
            run += found
            if len(run) < _COUNT_RUN:
                continue
        if run:
            block = _count_texts(index, run, proceed)
            if block is None:
                return
            if block:
                yield block
            run = []
        if not chunk:
            return
        if found is None:
            block = _answer_chunk(index, chunk, account, proceed)
            if block is None:
                return
            if block:
                yield block


def run_batch(index: Any, lines: Iterable[str], max_batch_work: int | None = None,
              proceed: Callable[[int], bool] | None = None) -> Iterator[str]:
    """Answer JSON Lines requests; yields one JSON line (without newline) per non-blank input
    line, within a work budget of ``max_batch_work`` units for the batch as a whole (none
    when None), until ``proceed(lines)`` returns False.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose is a rose"] * 10, folder / "index", progress=False)
    >>> index = infgram.Index.open(folder / "index")
    >>> lines = ['{"op": "search", "cnf": "rose", "id": 1}', '{"op": "search", "cnf": "rose", "id": 2}']
    >>> [json.loads(reply).get("error", {}).get("option") for reply in run_batch(index, lines, max_batch_work=25)]
    [None, 'max_batch_work']
    """
    for block in _chunks(index, lines, max_batch_work, proceed):
        yield from block[:-1].split("\n")  # a JSON line holds no raw newline


def reply_blocks(index: Any, lines: Iterable[str], max_batch_work: int | None = None,
                 proceed: Callable[[int], bool] | None = None) -> Iterator[str]:
    """The replies of :func:`run_batch`, a few thousand at a time: each block is the reply
    lines of consecutive requests, every one ending with a newline (to write as they come).

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "index", progress=False)
    >>> index = infgram.Index.open(folder / "index")
    >>> list(reply_blocks(index, ['{"op": "count", "text": "rose"}', '{"op": "count", "ids": [97]}']))
    ['{"op": "count", "count": 2}\\n{"op": "count", "count": 2}\\n']
    """
    return _chunks(index, lines, max_batch_work, proceed)


def _texts_of_all_counts(index: Any, text: str) -> list[str] | None:
    """The texts of a whole JSON Lines text when every line of it is a plain count of a text
    (no blank line, no carriage return), read in one pass and one call of the parser; None
    otherwise (the text then goes line by line)."""
    if not text or "\r" in text or not _counts_texts(index):
        return None
    return _texts_if_all_counts(text, text.count("\n") + (not text.endswith("\n")))  # every line a request


def reply_blocks_of_text(index: Any, text: str, max_batch_work: int | None = None,
                         proceed: Callable[[int], bool] | None = None) -> Iterator[str]:
    """:func:`reply_blocks` of a whole JSON Lines text (a request's body), its lines as
    :func:`split_lines` reads them. A text of nothing but plain counts of text is read at once
    and counted in runs, without splitting it into lines first; the work is done as the blocks
    are taken (on the thread that takes them).

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["a rose is a rose"], folder / "index", progress=False)
    >>> index = infgram.Index.open(folder / "index")
    >>> list(reply_blocks_of_text(index, '{"op": "count", "text": "rose"}\\n{"op": "count", "text": "a"}\\n'))
    ['{"op": "count", "count": 2}\\n{"op": "count", "count": 2}\\n']
    """
    texts = _texts_of_all_counts(index, text)
    if texts is None:
        yield from _chunks(index, split_lines(text), max_batch_work, proceed)
        return
    for start in range(0, len(texts), _COUNT_RUN):
        block = _count_texts(index, texts[start:start + _COUNT_RUN], proceed)
        if block is None:
            return
        if block:
            yield block


__all__ = ["run_batch", "reply_blocks", "reply_blocks_of_text", "split_lines", "parse_line", "dump_reply", "check_op"]
