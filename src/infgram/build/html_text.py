"""The visible text of an HTML page, as a reader of the page would see it.

The page is parsed by the standard library's HTML parser (:mod:`html.parser`), which
tokenizes tags, comments, character references and the raw text of ``<script>`` and
``<style>`` the way browsers do, so nothing inside a script, a style, a comment or a tag's
attributes reaches the text. The rules:

* The contents of ``script``, ``style``, ``template``, ``noscript``, ``svg``, ``math``
  and ``head`` are left out; the page's ``<title>`` is kept apart, as metadata.
* Character references (``&amp;``, ``&#233;``) become their characters.
* Runs of whitespace become one space, as a browser shows them, except inside ``<pre>``
  and ``<textarea>``, which keep theirs.
* Block elements (paragraphs, headings, list items, table rows, ``<br>``, ...) end a line;
  lines are stripped and empty ones dropped.

>>> visible_text("<html><head><title>T</title><style>p {}</style></head>"
...              "<body><h1>Hi &amp; bye</h1><p>one\\n  two</p><script>x()</script></body></html>")
('Hi & bye\\none two', 'T')
"""

from __future__ import annotations

from html.parser import HTMLParser

HIDDEN = frozenset({"script", "style", "template", "noscript", "svg", "math", "head"})
"""Elements whose contents a reader does not see."""

PREFORMATTED = frozenset({"pre", "textarea"})

BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl", "dt",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul",
})
"""Elements that start and end a line of text."""

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.hidden = 0
        self.preformatted = 0
        self.in_title = False
        self.open: list[str] = []

    def end_line(self) -> None:
        if self.parts and self.parts[-1].endswith(" "):
            self.parts[-1] = self.parts[-1].rstrip(" ")
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in BLOCKS:
            self.end_line()
        if tag in _VOID:
            return
        self.open.append(tag)
        if tag == "title":
            self.in_title = True
        elif tag in HIDDEN:
            self.hidden += 1
        elif tag in PREFORMATTED:
            self.preformatted += 1

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in BLOCKS:
            self.end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.end_line()
        if tag not in self.open:
            return  # a stray end tag closes nothing
        while self.open:  # close what was left open inside it, as browsers do
            closed = self.open.pop()
            if closed == "title":
                self.in_title = False
            elif closed in HIDDEN:
                self.hidden -= 1
            elif closed in PREFORMATTED:
                self.preformatted -= 1
            if closed == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif self.hidden:
            return
        elif self.preformatted:
            self.parts.append(data)
        else:
            at_line_start = not self.parts or self.parts[-1].endswith(("\n", " "))
            collapsed = " ".join(data.split())
            if data[:1].isspace() and not at_line_start:
                collapsed = " " + collapsed
            if data[-1:].isspace() and collapsed.strip():
                collapsed += " "
            if collapsed:
                self.parts.append(collapsed)


def visible_text(page: str) -> tuple[str, str | None]:
    """The visible text of an HTML page, and its title (None without one).

    >>> visible_text("<p>a<br>b</p><pre>  x\\n  y</pre><!-- hidden --> <b>c</b> d")
    ('a\\nb\\n  x\\n  y\\nc d', None)
    """
    parser = _VisibleText()
    parser.feed(page)
    parser.close()
    parser.end_line()
    text = "".join(parser.parts).strip("\n")
    title = " ".join("".join(parser.title).split())
    return text, title or None
