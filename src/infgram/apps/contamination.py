"""Benchmark contamination: how much of each benchmark entry occurs word for word in the corpus.

The method is that of infini-gram mini (Xu et al., 2025, "Infini-gram mini: exact n-gram
search at the Internet scale with FM-index"), section "benchmark contamination":

1. **Windows.** Cut the entry's text into overlapping windows of 50 *characters* (Unicode
   code points of the Python string, not bytes and not tokens), one starting at every word
   boundary: stride one word. A word starts at a character that is not whitespace
   (``str.isspace``) and is the first character of the text or follows whitespace. Only
   windows that fit inside the text are taken, so the words of the last 49 characters
   start no window of their own; they are covered by the windows that start before them.
   An entry with no such window (shorter than 50 characters from its first word) gets one
   window: its whole text without surrounding whitespace. An entry with no characters but
   whitespace has no windows and is refused.
2. **Lookups.** Each window is an exact query: its UTF-8 bytes are searched in a byte-level
   index (suffix array or FM-index). A window is *found* when it occurs at least once. The
   separator byte 0xFF never occurs in UTF-8, so no match spans two documents.
3. **Label.** fraction = found / windows, and the entry is *clean* when fraction < 20%,
   *suspicious* when 20% <= fraction < 80%, *dirty* when fraction >= 80% (compared exactly,
   as fractions of whole numbers).

Why windows rather than the whole entry: a benchmark question copied into a web page is
rarely copied byte for byte from its first character to its last (formatting, answer
letters, a changed line break), but long stretches of it are. Why 50 characters: long
enough that natural text almost never repeats it by chance, short enough to survive edits.

Speed: the windows of many entries are deduplicated and counted in one
:meth:`~infgram.Index.count_batch` call (the compiled search runs on every core), so the
cost is one binary search per distinct window.

On an index with a subword tokenizer the method does not apply exactly: a 50-character
window starts and ends inside tokens, and the same characters tokenize differently in
different contexts, so counting the window's tokens would miss occurrences. Such indexes
raise :class:`~infgram.errors.UnsupportedOperationError`.

>>> text_windows("the cat sat on the mat", width=10)
['the cat sa', 'cat sat on', 'sat on the', 'on the mat']
>>> label_of(found=1, windows=5), label_of(found=4, windows=5)
('suspicious', 'dirty')
"""

from __future__ import annotations

import html
import json
import re
import statistics
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Sequence

from tqdm import tqdm

from ..build.fields import FieldMissing, FieldNotText, TextFields
from ..errors import InputError, UnsupportedOperationError
from ..query.results import Result
from .charts import Bar, log_bar_chart_svg

WINDOW_CHARACTERS = 50
"""Characters per window, as in infini-gram mini."""


@dataclass(frozen=True)
class EntryContamination(Result):
    """How much of one benchmark entry occurs in the corpus (see :func:`contamination`).

    ``index`` is the entry's number (0-based, blank lines not counted); ``windows`` its
    number of 50-character windows and ``found`` how many of them occur; ``fraction`` is
    found / windows and ``label`` one of clean, suspicious, dirty. ``example`` is None or
    ``{"document", "window", "count", "snippet", "metadata"}``: the found window that occurs
    least often and one document that contains it.
    """

    index: int
    windows: int
    found: int
    fraction: float
    label: str
    example: dict[str, Any] | None = None


SUSPICIOUS_FRACTION = Fraction(1, 5)
"""Entries with at least this share of windows found are suspicious."""

DIRTY_FRACTION = Fraction(4, 5)
"""Entries with at least this share of windows found are dirty."""

CLEAN, SUSPICIOUS, DIRTY = "clean", "suspicious", "dirty"
LABELS = (CLEAN, SUSPICIOUS, DIRTY)

NO_GROUP = "(none)"
"""The group of an entry without the ``group_by`` field."""

TOP_GROUPS = 10
"""Groups listed in the terminal summary (all are in summary.json and report.html)."""

EXAMPLE_CONTEXT_BYTES = 100
"""Bytes of the matching document shown on each side of the example window."""

BATCH_WINDOWS = 200_000
"""Windows counted per :meth:`count_batch` call: large enough to use every core, small
enough that the progress bar moves and memory stays small."""

_WORD_START = re.compile(r"(?<!\S)\S")  # \s of a str pattern is exactly str.isspace


# -- windows and labels ---------------------------------------------------------------------------

def text_windows(text: str, width: int = WINDOW_CHARACTERS) -> list[str]:
    """The windows of one entry: ``width`` characters from every word start that has room.

    >>> text_windows("a short question?")          # shorter than 50 characters: one window
    ['a short question?']
    >>> text_windows("  café au lait  ", width=6)  # windows start at words and may end in whitespace
    ['café a', 'au lai', 'lait  ']
    >>> text_windows(" \\n ")
    []
    """
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise InputError(f"expected the window width to be a whole number of characters of 1 or more, found {width!r}")
    last_start = len(text) - width
    windows = [text[match.start() : match.start() + width] for match in _WORD_START.finditer(text)
               if match.start() <= last_start]
    if windows:
        return windows
    stripped = text.strip()
    return [stripped] if stripped else []


def window_starts(text: str, width: int = WINDOW_CHARACTERS) -> list[int]:
    """Where each window of :func:`text_windows` starts in the text (an entry shorter than one
    window: where its stripped text starts).

    >>> window_starts("the cat sat on the mat", width=10), window_starts("  hi ")
    ([0, 4, 8, 12], [2])
    """
    last_start = len(text) - width
    starts = [match.start() for match in _WORD_START.finditer(text) if match.start() <= last_start]
    if starts or not text.strip():
        return starts
    return [len(text) - len(text.lstrip())]


@dataclass(frozen=True)
class Evidence:
    """The strongest evidence an entry is in the corpus: its longest stretch of consecutive
    found windows (``span``, as text), that stretch's length in words (``span_words``) and
    how often its rarest window occurs in the corpus (``span_count``: 1 is one copy
    somewhere). A one-word entry found is weak evidence; twenty words found in one copy is
    strong. Entries with nothing found have ``span_words`` 0."""

    span_words: int = 0
    span_count: int | None = None
    span: str = ""

    def rank_key(self) -> tuple[int, int]:
        """Stronger first: longer spans, then rarer ones."""
        return (-self.span_words, self.span_count if self.span_count is not None else 1 << 62)


def evidence_of(text: str, windows: Sequence[str], counts: dict[str, int], width: int = WINDOW_CHARACTERS) -> Evidence:
    """The :class:`Evidence` of one entry from its windows' counts in the corpus.

    >>> text = "one two three four five six"
    >>> windows = text_windows(text, width=9)
    >>> evidence_of(text, windows, {"one two t": 0, "two three": 5, "three fou": 2, "four five": 0, "five six": 0}, 9)
    Evidence(span_words=3, span_count=2, span='two three fou')
    """
    starts = window_starts(text, width)
    best = Evidence()
    run_start = None
    rarest = 0
    for number, window in enumerate(list(windows) + [None]):  # None closes the last run
        count = counts.get(window, 0) if window is not None else 0
        if count > 0:
            if run_start is None:
                run_start, rarest = number, count
            rarest = min(rarest, count)
            continue
        if run_start is not None:
            begin, end = starts[run_start], min(len(text), starts[number - 1] + len(windows[number - 1]))
            span = text[begin:end]
            candidate = Evidence(len(span.split()), rarest, span)
            if candidate.rank_key() < best.rank_key():
                best = candidate
            run_start = None
    return best


def label_of(found: int, windows: int) -> str:
    """clean, suspicious or dirty, from the number of windows found out of ``windows``.

    >>> [label_of(found, 10) for found in (0, 1, 2, 7, 8, 10)]
    ['clean', 'clean', 'suspicious', 'suspicious', 'dirty', 'dirty']
    """
    if windows <= 0:
        raise InputError(f"expected an entry with at least one window, found {windows}; leave out empty entries")
    fraction = Fraction(found, windows)
    if fraction >= DIRTY_FRACTION:
        return DIRTY
    if fraction >= SUSPICIOUS_FRACTION:
        return SUSPICIOUS
    return CLEAN


# -- the lookups ----------------------------------------------------------------------------------

def require_byte_index(index: Any) -> dict[str, Any]:
    """The index's :meth:`info`, after checking that its tokens are UTF-8 bytes.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["text"], folder / "i", progress=False)
    >>> require_byte_index(infgram.Index.open(folder / "i"))["tokenizer"]
    'bytes'
    """
    info = index.info()
    if info.get("tokenizer") != "bytes":
        raise UnsupportedOperationError(
            f"contamination windows are characters of text, which need an index over UTF-8 bytes, but this "
            f"index is tokenized with {info.get('tokenizer')!r}, where a 50-character window does not map to whole "
            "tokens; build a byte index of the same corpus (infgram build without --tokenizer, or --kind fm) "
            "and run on it")
    return info


def _check_text(text: Any, number: int) -> str:
    if not isinstance(text, str):
        raise InputError(f"expected entry {number} to be a string, found {type(text).__name__}; pass the text of each entry")
    if not text.strip():
        raise InputError(f"expected entry {number} to hold text, found {'nothing' if not text else 'only whitespace'}; "
                         "leave the entry out or choose another field")
    return text


def contamination(index: Any, texts: Iterable[str], *, width: int = WINDOW_CHARACTERS, examples: bool = True,
                  progress: bool = False, where: Any = None) -> list[EntryContamination]:
    """The contamination of every benchmark entry in ``texts``, in order.

    ``index`` is an open byte-level :class:`~infgram.Index` (any kind). With ``examples``,
    each entry with a window found gets an example: the found window that occurs least
    often, one document that contains it (the first in index order) and a snippet of that
    document around it. ``where`` (metadata conditions, as for ``count``) measures against
    the documents that meet it only: a window is found when it occurs in one of them, each
    found window's count read within the work budget (see :mod:`infgram.query.metadata`).

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["the quick brown fox jumps over the lazy dog"], folder / "i", progress=False)
    >>> index = infgram.Index.open(folder / "i")
    >>> [(r.found, r.windows, r.label) for r in contamination(index, ["a quick brown fox", "brown fox"], width=9)]
    [(2, 3, 'suspicious'), (1, 1, 'dirty')]
    >>> contamination(index, ["brown fox"])[0].example["document"]
    0
    """
    return measure(index, texts, width=width, examples=examples, progress=progress, where=where)[0]


def measure(index: Any, texts: Iterable[str], *, width: int = WINDOW_CHARACTERS, examples: bool = True,
            progress: bool = False, where: Any = None) -> tuple[list[EntryContamination], list[Evidence]]:
    """:func:`contamination`, with each entry's :class:`Evidence` beside its result.

    >>> import tempfile, pathlib, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["the quick brown fox jumps over the lazy dog"], folder / "i", progress=False)
    >>> measure(infgram.Index.open(folder / "i"), ["a quick brown fox"], width=9)[1]
    [Evidence(span_words=3, span_count=1, span='quick brown fox')]
    """
    require_byte_index(index)
    texts = list(texts)
    for number, text in enumerate(texts):
        _check_text(text, number)
    evidence: list[Evidence] = []
    results: list[EntryContamination] = []
    example_cache: dict[str, dict[str, Any] | None] = {}
    bar = tqdm(total=len(texts), desc="contamination", unit="entry", disable=not progress)
    try:
        start = 0
        while start < len(texts):
            # Gather entries until the chunk holds enough windows to be worth one batch call.
            chunk_windows: list[list[str]] = []
            num_windows = 0
            while start + len(chunk_windows) < len(texts) and num_windows < BATCH_WINDOWS:
                windows = text_windows(texts[start + len(chunk_windows)], width)
                chunk_windows.append(windows)
                num_windows += len(windows)
            distinct = list(dict.fromkeys(window for windows in chunk_windows for window in windows))
            counts = dict(zip(distinct, index.count_batch(distinct).tolist()))
            if where is not None:  # a window absent from the corpus is absent from its matching documents
                counts.update({window: index.count(window, where=where) for window in distinct if counts[window]})
            for offset, windows in enumerate(chunk_windows):
                found_windows = [window for window in windows if counts[window] > 0]
                example = None
                if examples and found_windows:
                    rarest = min(found_windows, key=counts.__getitem__)
                    if rarest not in example_cache:
                        example_cache[rarest] = _example(index, rarest, counts[rarest], where)
                    example = example_cache[rarest]
                found = len(found_windows)
                results.append(EntryContamination(start + offset, len(windows), found, found / len(windows),
                                                  label_of(found, len(windows)), example))
                evidence.append(evidence_of(texts[start + offset], windows, counts, width) if found else Evidence())
            start += len(chunk_windows)
            bar.update(len(chunk_windows))
    finally:
        bar.close()
    return results, evidence


def _example(index: Any, window: str, count: int, where: Any = None) -> dict[str, Any] | None:
    result = index.documents(window, limit=1, context=EXAMPLE_CONTEXT_BYTES) if where is None else \
        index.documents(window, limit=1, context=EXAMPLE_CONTEXT_BYTES, where=where)
    if not result.documents:
        return None
    document = result.documents[0]
    return {"document": document.index, "window": window, "count": count, "snippet": document.text,
            "metadata": document.metadata}


# -- reading a benchmark --------------------------------------------------------------------------

def entry_text(record: dict[str, Any], fields: Sequence[str]) -> str:
    """The text of one benchmark entry: the named fields one per line, or a template.

    A single field holding ``{`` is a template: ``{name}`` is replaced by that field and
    ``{{``/``}}`` stand for braces. Lists (the choices of a multiple-choice question) become
    one item per line. ``meta.body`` names a nested field (the syntax of
    :mod:`infgram.build.fields`, shared with ``infgram build --text-field``).

    >>> question = {"text": "2 + 2 =", "choices": ["3", "4"], "answer": "B"}
    >>> entry_text(question, ["text"]), entry_text(question, ["text", "choices"])
    ('2 + 2 =', '2 + 2 =\\n3\\n4')
    >>> entry_text(question, ["Q: {text} A: {answer}"])
    'Q: 2 + 2 = A: B'
    """
    return TextFields(fields, strings_only=False).text(record)


def _field_error(error: FieldMissing | FieldNotText, record: dict[str, Any], where: str) -> InputError:
    name = error.args[0]
    available = ", ".join(repr(key) for key in record) or "none"
    if isinstance(error, KeyError):
        return InputError(f"{where}: expected a field {name!r}, found fields {available}; pass --text-field with the "
                          "fields that hold the entry's text")
    return InputError(f"{where}: expected field {name!r} to hold text, a number or a list of them, found a "
                      f"{type(error.found).__name__}; pass --text-field with the fields that hold the entry's text")


def read_benchmark(path: str | Path, fields: Sequence[str] = ("text",)) -> list[str]:
    """The text of every entry of a benchmark JSON Lines file (optionally .gz or .zst).

    Blank lines are skipped; every other line must be a JSON object with the fields. See
    :func:`entry_text` for ``fields``.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "bench.jsonl"
    >>> _ = path.write_text('{"question": "Why?", "choices": ["a", "b"]}\\n\\n{"question": "How?", "choices": []}\\n')
    >>> read_benchmark(path, ["question"])
    ['Why?', 'How?']
    """
    return read_benchmark_groups(path, fields)[0]


def read_benchmark_groups(path: str | Path, fields: Sequence[str] = ("text",),
                          group_by: str | None = None) -> tuple[list[str], list[str] | None]:
    """:func:`read_benchmark`, and with ``group_by`` (a field such as MMLU's ``subject``;
    ``meta.subject`` a nested one) each entry's value of it, as text (``(none)`` when missing).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "bench.jsonl"
    >>> _ = path.write_text('{"question": "Why?", "subject": "law"}\\n{"question": "How?"}\\n')
    >>> read_benchmark_groups(path, ["question"], group_by="subject")
    (['Why?', 'How?'], ['law', '(none)'])
    """
    group_field = TextFields([group_by], strings_only=False) if group_by else None
    groups: list[str] | None = [] if group_field is not None else None
    from ..build.inputs import input_format, open_input

    path = Path(path)
    if isinstance(fields, str):
        fields = [fields]
    fields = list(fields)
    if not fields or not all(isinstance(name, str) and name for name in fields):
        raise InputError(f"expected one or more field names or a template, found {fields!r}; pass --text-field text")
    if not path.is_file():
        raise InputError(f"benchmark {path} does not exist or is not a file; check the path")
    try:
        fmt, compression = input_format(path)
    except InputError:
        fmt, compression = None, None
    if fmt not in ("jsonl", "json"):
        raise InputError(f"expected a benchmark in JSON Lines (.jsonl or .json, optionally .gz or .zst), found {path.name}; "
                         "convert it to one JSON object per line")
    texts: list[str] = []
    with open_input(path, compression) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except UnicodeDecodeError as error:
                raise InputError(f"{where}: expected UTF-8, found byte {line[error.start:error.start + 1]!r} at {error.start}; "
                                 "re-encode the file as UTF-8") from None
            except ValueError as error:
                raise InputError(f"{where}: expected one JSON object per line, found invalid JSON ({error}); fix the line") from None
            if not isinstance(record, dict):
                raise InputError(f"{where}: expected a JSON object per line, found a JSON {type(record).__name__}; "
                                 "write each entry as an object with a text field")
            try:
                text = entry_text(record, fields)
            except (FieldMissing, FieldNotText) as error:
                raise _field_error(error, record, where) from None
            if not text.strip():
                raise InputError(f"{where}: expected text in {' + '.join(fields)}, found "
                                 f"{'nothing' if not text else 'only whitespace'}; remove the entry or choose another field")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                raise InputError(f"{where}: the text holds an unpaired surrogate at character {error.start} that has no "
                                 "UTF-8 form; fix the entry") from None
            texts.append(text)
            if group_field is not None and groups is not None:
                try:
                    groups.append(group_field.text(record).strip() or NO_GROUP)
                except (FieldMissing, FieldNotText):
                    groups.append(NO_GROUP)
    if not texts:
        raise InputError(f"expected at least one entry in {path}, found none (the file is empty or blank); "
                         "check the path")
    return texts, groups


# -- summary and report ---------------------------------------------------------------------------

def group_summary(results: Sequence[EntryContamination], groups: Sequence[str]) -> list[dict[str, Any]]:
    """Per value of the ``group_by`` field: entries, the entries of each label, the share that
    is dirty and the mean fraction found; the most contaminated groups first (dirty share,
    then mean fraction, then name), as a list (JSON keeps its order).

    >>> from infgram.apps.contamination import EntryContamination
    >>> results = [EntryContamination(0, 2, 2, 1.0, "dirty", None), EntryContamination(1, 2, 0, 0.0, "clean", None),
    ...            EntryContamination(2, 2, 0, 0.0, "clean", None)]
    >>> group_summary(results, ["law", "law", "art"])[0]
    {'group': 'law', 'entries': 2, 'clean': 1, 'suspicious': 0, 'dirty': 1, 'dirty_share': 0.5, 'mean_fraction': 0.5}
    """
    members: dict[str, list[EntryContamination]] = {}
    for result in results:
        members.setdefault(groups[result.index], []).append(result)
    table = []
    for name, group in members.items():
        labels = [result.label for result in group]
        table.append({"group": name, "entries": len(group), **{label: labels.count(label) for label in LABELS},
                      "dirty_share": labels.count(DIRTY) / len(group),
                      "mean_fraction": statistics.fmean(result.fraction for result in group)})
    return sorted(table, key=lambda row: (-row["dirty_share"], -row["mean_fraction"], row["group"]))


def summarize(results: Sequence[EntryContamination], texts: Sequence[str] | None = None) -> dict[str, Any]:
    """Counts and shares of each label, windows found, and the mean and median fraction.

    With the entries' ``texts``, also how many entries are shorter than one window (their
    one window is the whole entry, so a short common phrase such as a one-word question is
    found, and labelled dirty, easily), in all and per label.

    >>> from infgram.apps.contamination import EntryContamination
    >>> summary = summarize([EntryContamination(0, 4, 0, 0.0, "clean", None), EntryContamination(1, 2, 2, 1.0, "dirty", None)])
    >>> summary["labels"]["dirty"], summary["num_windows_found"], summary["mean_fraction"]
    ({'entries': 1, 'share': 0.5}, 2, 0.5)
    """
    num_entries = len(results)
    counts = {label: 0 for label in LABELS}
    for result in results:
        counts[result.label] += 1
    fractions = [result.fraction for result in results]
    short: dict[str, Any] = {}
    if texts is not None:
        short_labels = [result.label for result in results if len(texts[result.index].lstrip()) < WINDOW_CHARACTERS]
        short = {"short_entries": {"entries": len(short_labels), **{label: short_labels.count(label) for label in LABELS}}}
    return {
        "num_entries": num_entries,
        "num_windows": sum(result.windows for result in results),
        "num_windows_found": sum(result.found for result in results),
        "labels": {label: {"entries": counts[label], "share": counts[label] / num_entries if num_entries else 0.0}
                   for label in LABELS},
        "mean_fraction": statistics.fmean(fractions) if fractions else 0.0,
        "median_fraction": statistics.median(fractions) if fractions else 0.0,
        **short,
        "window_characters": WINDOW_CHARACTERS,
        "thresholds": {SUSPICIOUS: float(SUSPICIOUS_FRACTION), DIRTY: float(DIRTY_FRACTION)},
    }


def summary_table(summary: dict[str, Any]) -> str:
    """The summary as a small text table, for the terminal.

    >>> print(summary_table({"num_entries": 4, "num_windows": 10, "num_windows_found": 3, "mean_fraction": 0.25,
    ...     "labels": {"clean": {"entries": 3, "share": 0.75}, "suspicious": {"entries": 0, "share": 0.0},
    ...                "dirty": {"entries": 1, "share": 0.25}}}))
    label         entries    share
    clean               3   75.00%
    suspicious          0    0.00%
    dirty               1   25.00%
    total               4
    windows found: 3 of 10 (30.00%); mean fraction per entry 0.2500
    """
    lines = [f"{'label':<10}  {'entries':>9}  {'share':>7}"]
    for label in LABELS:
        entry = summary["labels"][label]
        lines.append(f"{label:<10}  {entry['entries']:>9,}  {entry['share']:>7.2%}")
    lines.append(f"{'total':<10}  {summary['num_entries']:>9,}")
    windows = summary["num_windows"]
    found = summary["num_windows_found"]
    lines.append(f"windows found: {found:,} of {windows:,} ({found / windows if windows else 0:.2%}); "
                 f"mean fraction per entry {summary['mean_fraction']:.4f}")
    short = summary.get("short_entries")
    if short and short["entries"]:
        lines.append(f"entries shorter than one window ({WINDOW_CHARACTERS} characters, looked up whole): "
                     f"{short['entries']:,}, of which {short[DIRTY]:,} dirty")
    groups = summary.get("groups")
    if groups:
        lines.append(f"by {summary.get('group_by')} (most dirty first; {len(groups):,} groups):")
        width = min(40, max(len(group["group"]) for group in groups))
        for group in groups[:TOP_GROUPS]:
            lines.append(f"  {group['group'][:width]:<{width}}  {group['entries']:>7,} entries  {group[DIRTY]:>6,} dirty "
                         f"({group['dirty_share']:.1%})  mean fraction {group['mean_fraction']:.4f}")
    return "\n".join(lines)


_COLORS = {CLEAN: "#3b8b3b", SUSPICIOUS: "#e69f00", DIRTY: "#c8402a"}
_HISTOGRAM_BINS = 20


def _fraction_bin(result: EntryContamination) -> int:
    # Whole-number arithmetic so that 0.2 and 0.8 fall exactly on bin edges (4 and 16 of 20).
    return min(_HISTOGRAM_BINS - 1, result.found * _HISTOGRAM_BINS // result.windows)


def _histogram_svg(results: Sequence[EntryContamination]) -> str:
    """An inline SVG histogram of the fraction of windows found, 20 bins, log-scaled counts."""
    counts = [0] * _HISTOGRAM_BINS
    for result in results:
        counts[_fraction_bin(result)] += 1
    bars = []
    for number, count in enumerate(counts):
        lower = Fraction(number, _HISTOGRAM_BINS)
        label = DIRTY if lower >= DIRTY_FRACTION else SUSPICIOUS if lower >= SUSPICIOUS_FRACTION else CLEAN
        bars.append(Bar("", count, _COLORS[label],
                        f"{float(lower):.2f}-{float(lower) + 1 / _HISTOGRAM_BINS:.2f}: {count:,} entries"))
    return log_bar_chart_svg(bars, "histogram of the fraction of windows found per entry",
                             f"fraction of an entry's {WINDOW_CHARACTERS}-character windows found in the corpus",
                             y_label="entries (log scale)", ticks=[(tick / 10, f"{tick / 10:.1f}") for tick in range(0, 11, 2)])


def _labels_svg(summary: dict[str, Any]) -> str:
    """An inline SVG bar chart of the share of entries with each label."""
    width, row, left = 680, 34, 100
    plot_width = width - left - 170
    height = row * len(LABELS) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'role="img" aria-label="share of entries per label" font-family="sans-serif" font-size="12">']
    for number, label in enumerate(LABELS):
        entry = summary["labels"][label]
        y = 10 + number * row
        bar = plot_width * entry["share"]
        if entry["entries"]:
            bar = max(bar, 2.0)  # a label that occurs stays visible, however small its share
        parts.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{label}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{plot_width}" height="{row - 10}" fill="#f0f0f0"/>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{bar:.1f}" height="{row - 10}" fill="{_COLORS[label]}">'
                     f'<title>{label}: {entry["entries"]:,} entries</title></rect>')
        parts.append(f'<text x="{left + plot_width + 8}" y="{y + 17}">{entry["share"]:.2%} ({entry["entries"]:,} entries)</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _report_html(results: Sequence[EntryContamination], texts: Sequence[str], summary: dict[str, Any],
                top_entries: int = 30, evidence: Sequence[Evidence] | None = None,
                groups: Sequence[str] | None = None) -> str:
    """A self-contained HTML report: summary, the two plots, the groups, and the entries with
    the strongest evidence (the longest stretch found, then the rarest)."""
    escape = html.escape
    rows = "".join(
        f"<tr><td>{label}</td><td class=n>{summary['labels'][label]['entries']:,}</td>"
        f"<td class=n>{summary['labels'][label]['share']:.2%}</td></tr>" for label in LABELS)
    def shown_value(value: Any) -> str:
        if isinstance(value, list):
            return " + ".join(map(str, value))
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    details = "".join(f"<tr><th>{escape(str(key))}</th><td>{escape(shown_value(value))}</td></tr>"
                      for key, value in summary.items() if not isinstance(value, dict))
    if evidence is None:
        evidence = [Evidence()] * len(results)
    worst = sorted((r for r in results if r.found),
                   key=lambda r: (*evidence[r.index].rank_key(), -r.fraction, -r.found, r.index))[:top_entries]
    entries = []
    for result in worst:
        proof = evidence[result.index]
        proof_html = (f"<br><small>{proof.span_words:,} words in a row, rarest window {proof.span_count:,}x</small>"
                      if proof.span_words else "")
        group_html = f"<br><small>{escape(groups[result.index])}</small>" if groups is not None else ""
        text = texts[result.index] if result.index < len(texts) else ""
        shown = text if len(text) <= 300 else text[:300] + " …"
        example = result.example
        if example:
            where = f"document {example['document']:,}"
            if example.get("metadata"):
                where += " " + escape(json.dumps(example["metadata"], ensure_ascii=False)[:200])
            snippet = escape(example["snippet"]).replace(escape(example["window"]), f"<mark>{escape(example['window'])}</mark>", 1)
            example_html = f"<div class=where>{where}</div><pre>{snippet}</pre>"
        else:
            example_html = "—"
        short = "<br><small>whole entry: shorter than a window</small>" if len(text.lstrip()) < WINDOW_CHARACTERS else ""
        entries.append(f"<tr><td class=n>{result.index}{group_html}</td><td class=n>{result.found}/{result.windows}{short}"
                       f"{proof_html}</td>"
                       f"<td style='color:{_COLORS[result.label]}'>{result.label}</td><td><pre>{escape(shown)}</pre></td>"
                       f"<td>{example_html}</td></tr>")
    entries_table = ("<table class=entries><tr><th>entry</th><th>found</th><th>label</th><th>text</th>"
                     "<th>example: the rarest window found, in a document of the corpus</th></tr>"
                     + "".join(entries) + "</table>") if entries else "<p>No window of any entry occurs in the corpus.</p>"
    no_window = sum(1 for r in results if r.found == 0)
    first_bin = sum(1 for r in results if _fraction_bin(r) == 0)
    first_label = f"0.00-{1 / _HISTOGRAM_BINS:.2f}"  # the leftmost bar's own label (see _histogram_svg)
    group_rows = "".join(
        f"<tr><td>{escape(group['group'])}</td><td class=n>{group['entries']:,}</td>"
        + "".join(f"<td class=n>{group[label]:,}</td>" for label in LABELS)
        + f"<td class=n>{group['dirty_share']:.1%}</td><td class=n>{group['mean_fraction']:.4f}</td></tr>"
        for group in summary.get("groups") or [])
    groups_html = (f"<h2>By {escape(str(summary.get('group_by')))}</h2><table><tr><th>{escape(str(summary.get('group_by')))}"
                   "</th><th>entries</th>" + "".join(f"<th>{label}</th>" for label in LABELS)
                   + f"<th>dirty share</th><th>mean fraction</th></tr>{group_rows}</table>") if group_rows else ""
    short = summary.get("short_entries")
    short_html = (f"<p>{short['entries']:,} entries are shorter than one window and were looked up whole; "
                  f"{short[DIRTY]:,} of them are dirty. A short entry (a one-word question, say) is found whenever "
                  "its words occur anywhere, so read their labels with care.</p>") if short else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>infgram contamination report</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }}
td.n {{ text-align: right; }} pre {{ white-space: pre-wrap; margin: 0; font-size: 12px; max-width: 420px; }}
mark {{ background: #ffe08a; }} .where {{ font-size: 12px; color: #555; margin-bottom: 4px; }}
</style></head><body>
<h1>Benchmark contamination</h1>
<p>Each entry is cut into {WINDOW_CHARACTERS}-character windows, one starting at every word (an entry shorter than
that is one window); a window is <em>found</em> when it occurs word for word in the corpus. An entry is
<b>clean</b> when less than {float(SUSPICIOUS_FRACTION):.0%} of its windows are found, <b>suspicious</b> from
{float(SUSPICIOUS_FRACTION):.0%} to below {float(DIRTY_FRACTION):.0%}, and <b>dirty</b> from {float(DIRTY_FRACTION):.0%}
(the method of infini-gram mini).</p>
<table>{details}</table>
<h2>Labels</h2>
<table><tr><th>label</th><th>entries</th><th>share</th></tr>{rows}</table>
{short_html}
{_labels_svg(summary)}
<h2>Fraction of windows found per entry</h2>
<p>The leftmost bar, {first_label}, holds {first_bin:,} of {len(results):,} entries; {no_window:,} of them have no
window in the corpus. Bar colors follow the labels.</p>
{_histogram_svg(results)}
{groups_html}
<h2>The entries with the strongest evidence</h2>
<p>Ranked by the longest stretch of an entry found word for word (in words), then by how rare that stretch is in
the corpus (its rarest window's count), so that a one-word entry found everywhere comes last.</p>
{entries_table}
</body></html>
"""


def write_report(out: str | Path, results: Sequence[EntryContamination], texts: Sequence[str],
                 summary: dict[str, Any], evidence: Sequence[Evidence] | None = None,
                 groups: Sequence[str] | None = None) -> dict[str, Path]:
    """Write ``entries.jsonl``, ``summary.json`` and ``report.html`` into ``out`` (each whole or not at all).

    >>> import tempfile, pathlib
    >>> from infgram.apps.contamination import EntryContamination
    >>> results = [EntryContamination(0, 1, 0, 0.0, "clean", None)]
    >>> paths = write_report(pathlib.Path(tempfile.mkdtemp()) / "r", results, ["a question"], summarize(results))
    >>> paths["entries"].read_text()
    '{"index": 0, "windows": 1, "found": 0, "fraction": 0.0, "label": "clean", "example": null}\\n'
    """
    from ..format import write_json_atomically, write_text_atomically

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"expected --out to be a directory, found a file {out}; pass a directory path")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"entries": out / "entries.jsonl", "summary": out / "summary.json", "report": out / "report.html"}

    def row(result: EntryContamination) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if evidence is not None:
            proof = evidence[result.index]
            extra = {"span_words": proof.span_words, "span_count": proof.span_count, "span": proof.span}
        if groups is not None:
            extra["group"] = groups[result.index]
        return {**result.to_dict(), **extra}

    write_text_atomically(paths["entries"], (json.dumps(row(r), ensure_ascii=False) + "\n" for r in results))
    write_json_atomically(paths["summary"], summary)
    write_text_atomically(paths["report"], _report_html(results, texts, summary, evidence=evidence, groups=groups))
    return paths


def contamination_report(index_directory: str | Path, benchmark: str | Path, fields: Sequence[str] = ("text",),
                         out: str | Path | None = None, *, examples: bool = True, progress: bool = True,
                         group_by: str | None = None, where: Any = None) -> dict[str, Any]:
    """Read a benchmark, measure it against an index, write the report files; returns the summary.
    ``group_by`` names a field of the entries (MMLU's ``subject``) to break the labels down by;
    ``where`` measures against the index's documents that meet these metadata conditions only.

    >>> import tempfile, pathlib, json, infgram
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = infgram.build_from_documents(["What is the capital of France? Paris."], folder / "i", progress=False)
    >>> _ = (folder / "b.jsonl").write_text(json.dumps({"text": "What is the capital of France?"}) + "\\n")
    >>> summary = contamination_report(folder / "i", folder / "b.jsonl", out=folder / "report", progress=False)
    >>> summary["labels"]["dirty"]["entries"], sorted(p.name for p in (folder / "report").iterdir())
    (1, ['entries.jsonl', 'report.html', 'summary.json'])
    """
    from ..query.index import Index

    texts, groups = read_benchmark_groups(benchmark, fields, group_by)
    index = Index.open(index_directory)
    info = require_byte_index(index)
    started = time.perf_counter()
    results, evidence = measure(index, texts, examples=examples, progress=progress, where=where)
    seconds = time.perf_counter() - started
    summary = {
        "index": str(index_directory),
        "index_kind": info.get("index_kind"),
        "index_documents": info.get("num_documents"),
        "index_bytes_of_text": info.get("num_tokens"),
        "benchmark": str(benchmark),
        "fields": list(fields),
        **({} if where is None else {"where": where}),
        **summarize(results, texts),
        "seconds": round(seconds, 3),
        "entries_per_minute": round(len(results) / seconds * 60) if seconds > 0 else None,
    }
    if groups is not None:
        summary["group_by"] = group_by
        summary["groups"] = group_summary(results, groups)
    if out is not None:
        write_report(out, results, texts, summary, evidence, groups)
    return summary
