"""The brute-force oracle: every query computed the slow, obvious way, for tests.

A corpus is a list of documents, each a list of token ids. Nothing here uses a suffix
array; counts come from comparing the query against every position of every document.
Results use the same types as the engine so that tests compare them with ``==``.

>>> corpus = [[1, 2, 1, 2], [2, 1]]
>>> count(corpus, [1, 2]), count(corpus, []), count(corpus, [2, 1])
(2, 6, 2)
>>> next_tokens(corpus, [2])
[(1, 2), (None, 1)]

For benchmark contamination the corpus is a list of document strings instead, searched
with Python's ``in``:

>>> contamination(["the cat sat on the mat"], "a cat sat on a mat", width=7)
(4, 2)
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

Corpus = Sequence[Sequence[int]]


def occurrences(corpus: Corpus, query: Sequence[int]) -> list[tuple[int, int]]:
    """Every (document, start) where the query occurs; the empty query occurs at every token."""
    query = list(query)
    found = []
    for number, document in enumerate(corpus):
        document = list(document)
        for start in range(len(document) - len(query) + 1 if query else len(document)):
            if document[start : start + len(query)] == query:
                found.append((number, start))
    return found


def count(corpus: Corpus, query: Sequence[int]) -> int:
    return len(occurrences(corpus, query))


def next_tokens(corpus: Corpus, prompt: Sequence[int]) -> list[tuple[int | None, int]]:
    """(next id or None for the end of a document, count), by count descending then id (None last)."""
    counter: Counter = Counter()
    for number, start in occurrences(corpus, prompt):
        position = start + len(prompt)
        counter[corpus[number][position] if position < len(corpus[number]) else None] += 1
    return sorted(counter.items(), key=lambda item: (-item[1], float("inf") if item[0] is None else item[0]))


def probability(corpus: Corpus, prompt: Sequence[int], next_id: int) -> tuple[int, int]:
    """(count of prompt, count of prompt + next)."""
    return count(corpus, prompt), count(corpus, list(prompt) + [next_id])


def longest_suffix(corpus: Corpus, prompt: Sequence[int]) -> int:
    """The length of the longest suffix of the prompt that occurs (0 for the empty suffix)."""
    prompt = list(prompt)
    for start in range(len(prompt) + 1):
        if count(corpus, prompt[start:]) > 0:
            return len(prompt) - start
    return 0


def infgram_probability(corpus: Corpus, prompt: Sequence[int], next_id: int) -> tuple[int, int, int]:
    """(suffix length, count of that suffix, count of suffix + next)."""
    length = longest_suffix(corpus, prompt)
    suffix = list(prompt)[len(prompt) - length :]
    return (length, *probability(corpus, suffix, next_id))


def infgram_next_tokens(corpus: Corpus, prompt: Sequence[int]) -> tuple[int, list[tuple[int | None, int]]]:
    length = longest_suffix(corpus, prompt)
    return length, next_tokens(corpus, list(prompt)[len(prompt) - length :])


def documents(corpus: Corpus, query: Sequence[int]) -> list[tuple[int, int]]:
    """(document, first match start) of every document that contains the query, in order."""
    first: dict[int, int] = {}
    for number, start in occurrences(corpus, query):
        first.setdefault(number, start)
    if not query:
        return [(number, 0) for number in range(len(corpus))]
    return sorted(first.items())


def infgram_probabilities(corpus: Corpus, sequence: Sequence[int]) -> list[tuple[int, int, int]]:
    """For every token i: :func:`infgram_probability` of it given ``sequence[:i]``."""
    sequence = list(sequence)
    return [infgram_probability(corpus, sequence[:i], sequence[i]) for i in range(len(sequence))]


def longest_matches(corpus: Corpus, sequence: Sequence[int]) -> list[tuple[int, int]]:
    """For every start i: (length, count) of the longest prefix of ``sequence[i:]`` that occurs
    (count 0 for length 0)."""
    sequence = list(sequence)
    result = []
    for start in range(len(sequence)):
        length = 0
        while start + length < len(sequence) and count(corpus, sequence[start : start + length + 1]) > 0:
            length += 1
        result.append((length, count(corpus, sequence[start : start + length]) if length else 0))
    return result


def search(corpus: Corpus, cnf: Sequence[Sequence[Sequence[int]]], within: int | None = None
           ) -> tuple[list[int], list[tuple[int, int, int]]]:
    """(matching documents, sites as (document, start, end)) of an AND of ORs of phrases.

    Straight from the definitions in ``infgram.query.search``: a clause occurs at a start
    where one of its phrases begins (the span of the longest); a document matches when some
    combination of one occurrence per clause exists, with ``within``, one whose starts lie
    within that many tokens; the sites are the occurrences in any such combination.
    """
    import itertools

    matching, sites = [], []
    for number, document in enumerate(corpus):
        clause_occurrences = []
        for clause in cnf:
            ends: dict[int, int] = {}
            for phrase in clause:
                for found, start in occurrences([document], phrase):
                    ends[start] = max(ends.get(start, 0), start + len(phrase))
            clause_occurrences.append(ends)
        supported: dict[int, int] = {}
        for combination in itertools.product(*[sorted(o) for o in clause_occurrences]):
            if within is None or max(combination) - min(combination) <= within:
                for ends, start in zip(clause_occurrences, combination):
                    supported[start] = max(supported.get(start, 0), ends[start])
        if supported:
            matching.append(number)
            sites.extend((number, start, end) for start, end in sorted(supported.items()))
    return matching, sites


def document_sets(corpus: Corpus, phrases: Sequence[Sequence[int]]) -> list[set[int]]:
    """The set of documents that contain each phrase."""
    return [{number for number, _ in documents(corpus, phrase)} for phrase in phrases]


def maximal_matches(corpus: Corpus, sequence: Sequence[int], min_length: int) -> list[tuple[int, int]]:
    """Every [start, end) of the sequence that occurs, is at least ``min_length`` (and 1) long,
    and cannot be extended on either side and still occur."""
    sequence = list(sequence)
    found = []
    for start in range(len(sequence)):
        for end in range(start + max(min_length, 1), len(sequence) + 1):
            if count(corpus, sequence[start:end]) == 0:
                continue
            left = start > 0 and count(corpus, sequence[start - 1 : end]) > 0
            right = end < len(sequence) and count(corpus, sequence[start : end + 1]) > 0
            if not left and not right:
                found.append((start, end))
    return found


def word_windows(text: str, width: int = 50) -> list[str]:
    """The contamination windows of a text, character by character: ``width`` characters from
    every word start (a non-space after a space or at the start) that has room; if none has
    room, the whole text without surrounding whitespace (nothing if that is empty)."""
    windows = []
    for start in range(len(text)):
        starts_word = not text[start].isspace() and (start == 0 or text[start - 1].isspace())
        if starts_word and start + width <= len(text):
            windows.append(text[start : start + width])
    if not windows and text.strip():
        windows.append(text.strip())
    return windows


def contamination(documents: Sequence[str], text: str, width: int = 50) -> tuple[int, int]:
    """(windows, windows found): a window is found when it is a substring of some document."""
    windows = word_windows(text, width)
    return len(windows), sum(1 for window in windows if any(window in document for document in documents))
