"""What the command line shows: marked spans, attribution views, and text made safe for a terminal.

Corpus text and paths can hold control characters (escape sequences that set a terminal's
title, clear its screen, or move its cursor, and C1 controls that some terminals obey).
Everything the command line prints of them goes through :func:`safe`, which shows such
characters escaped, so a document can never drive the user's terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import shown

if TYPE_CHECKING:  # the query engine is imported where spans are marked: not by `infgram build`
    from .query.results import AttributionResult


def safe(text: str, keep_newlines: bool = True) -> str:
    r"""Text with control characters shown escaped (newlines and tabs kept unless asked);
    :func:`infgram.errors.shown` does the escaping.

    >>> safe("a\x1b]0;title\x07b\u009b2J")
    'a\\x1b]0;title\\x07b\\x9b2J'
    >>> safe("two\nlines", keep_newlines=False)
    'two\\nlines'
    """
    if not keep_newlines or text.isprintable():
        return shown(text)
    return "\n".join("\t".join(shown(piece) for piece in line.split("\t")) for line in text.split("\n"))


_MARK_ON, _MARK_OFF = "\x1b[7m", "\x1b[0m"


def mark_spans(text: str, spans: list[tuple[int, int]], color: bool = False) -> str:
    """The text with [start, end) character spans marked: reverse video, or ⟦ ⟧ without color.

    >>> mark_spans("a rose is a rose", [(2, 6), (12, 16)])
    'a ⟦rose⟧ is a ⟦rose⟧'
    """
    from .query.documents import merge_spans

    on, off = (_MARK_ON, _MARK_OFF) if color else ("⟦", "⟧")
    pieces, at = [], 0
    for start, end in merge_spans(spans):  # overlapping or touching spans are marked as one
        pieces += [safe(text[at:start]), on, safe(text[start:end]), off]
        at = end
    return "".join(pieces) + safe(text[at:])


def render(result: AttributionResult, color: bool = False, width: int = 100) -> str:
    """A terminal view: the text with its attributed stretches marked, then each span with its
    count and examples (matches marked the same way). Without color, marks are ⟦ ⟧.

    >>> from infgram.query.results import AttributionResult, AttributedSpan
    >>> print(render(AttributionResult("the cat sat", 3, 2, [AttributedSpan(0, 3, 0, 7, "the cat", 5, 2, True, [])])))
    ⟦the cat⟧ sat
    <BLANKLINE>
    1 span of 2 or more tokens found verbatim
      [0:7] "the cat": 5 occurrences in 2 documents (common)
    """
    def mark(text: str, ranges: list[tuple[int, int]]) -> str:
        return mark_spans(text, ranges, color)

    def shorten(text: str) -> str:
        text = safe(text.replace("\n", " "))
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = [mark(result.text, [(s.character_start, s.character_end) for s in result.spans]), ""]
    plural = "" if len(result.spans) == 1 else "s"
    lines.append(f"{len(result.spans)} span{plural} of {result.min_length} or more tokens found verbatim")
    for span in result.spans:
        lines.append(f"  [{span.character_start}:{span.character_end}] \"{shorten(span.text)}\": {span.count} occurrence"
                     f"{'' if span.count == 1 else 's'} in {span.num_documents} document"
                     f"{'' if span.num_documents == 1 else 's'}{' (common)' if span.common else ''}")
        for document in span.documents:
            lines.append(f"      document {document.index}: {mark(document.text, document.spans).replace(chr(10), ' ')}")
    return "\n".join(lines)
