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


def _unit_spans(sequence: Sequence[int], units: Sequence[tuple[int, int]] | None) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(len(sequence))] if units is None else list(units)


def novelty(corpus: Corpus, sequence: Sequence[int], max_n: int,
            units: Sequence[tuple[int, int]] | None = None) -> list[float | None]:
    """For n = 1 .. max_n: the share of the n-grams of units that occur nowhere (None if
    fewer than n units). ``units`` are [start, end) token spans (default: every token); an
    n-gram of units is the tokens from the start of its first to the end of its last.

    >>> novelty([[1, 2, 3]], [1, 2, 4], 4)
    [0.3333333333333333, 0.5, 1.0, None]
    """
    sequence, spans = list(sequence), _unit_spans(sequence, units)
    shares: list[float | None] = []
    for n in range(1, max_n + 1):
        grams = [sequence[spans[a][0] : spans[a + n - 1][1]] for a in range(len(spans) - n + 1)]
        shares.append(sum(count(corpus, gram) == 0 for gram in grams) / len(grams) if grams else None)
    return shares


def uniqueness(corpus: Corpus, sequence: Sequence[int], min_length: int,
               units: Sequence[tuple[int, int]] | None = None) -> float | None:
    """The share of units not inside any run of at least ``min_length`` units that occurs
    (None for no units); ``units`` as in :func:`novelty`.

    >>> uniqueness([[1, 2, 3]], [1, 2, 3, 4], 3), uniqueness([[1, 2, 3]], [1, 2, 3, 4], 4)
    (0.25, 1.0)
    """
    sequence, spans = list(sequence), _unit_spans(sequence, units)
    if not spans:
        return None
    covered = set()
    for a in range(len(spans)):
        for b in range(a + min_length - 1, len(spans)):
            if count(corpus, sequence[spans[a][0] : spans[b][1]]) > 0:
                covered.update(range(a, b + 1))
    return (len(spans) - len(covered)) / len(spans)


def duplicated_ranges(corpus: Corpus, min_length: int, keep: str = "none") -> list[tuple[int, int, int]]:
    """Exact-substring deduplication by brute force (the definitions of ``infgram.apps.dedup``):
    (document, start, end) of every range a document loses, sorted, touching ranges merged.

    Every L-gram (``min_length`` consecutive tokens of one document) is compared with every
    other. ``keep="none"``: the windows [p, p + L) of every L-gram that occurs twice or more.
    ``keep="first"``: the windows of every occurrence but the first in corpus order, where a
    copy at p that starts less than L after the first occurrence q removes [q + L, p + L).

    >>> duplicated_ranges([[1, 1, 1, 1, 1]], 2, "first"), duplicated_ranges([[1, 1, 1, 1, 1]], 2, "none")
    ([(0, 2, 5)], [(0, 0, 5)])
    >>> duplicated_ranges([[3, 1, 2], [1, 2, 4]], 2, "first")
    [(1, 0, 2)]
    """
    grams: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for number, document in enumerate(corpus):
        document = list(document)
        for start in range(len(document) - min_length + 1):
            grams.setdefault(tuple(document[start : start + min_length]), []).append((number, start))
    windows: dict[int, list[tuple[int, int]]] = {}
    for places in grams.values():
        if len(places) < 2:
            continue
        first_number, first_start = places[0]  # found in corpus order
        for number, start in places if keep == "none" else places[1:]:
            cut = start
            if keep != "none" and number == first_number and first_start + min_length > start:
                cut = first_start + min_length
            windows.setdefault(number, []).append((cut, start + min_length))
    result = []
    for number in sorted(windows):
        merged: list[list[int]] = []
        for start, end in sorted(windows[number]):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        result.extend((number, start, end) for start, end in merged)
    return result


def deduplicate(documents: Sequence[str], min_length: int, keep: str = "first") -> tuple[list[str], int]:
    """(the deduplicated texts, in order, empty ones dropped; the passes that removed something):
    :func:`duplicated_ranges` over the UTF-8 bytes, each range widened to whole characters,
    repeated until nothing is removed.

    >>> deduplicate(["abcab", "bca"], 2)
    (['abc'], 1)
    """
    texts = [text.encode("utf-8") for text in documents]
    passes = 0
    while True:
        ranges = duplicated_ranges([list(text) for text in texts], min_length, keep)
        if not ranges:
            return [text.decode("utf-8") for text in texts if text], passes
        passes += 1
        cut: dict[int, list[tuple[int, int]]] = {}
        for number, start, end in ranges:
            text = texts[number]
            while start > 0 and text[start] & 0xC0 == 0x80:
                start -= 1
            while end < len(text) and text[end] & 0xC0 == 0x80:
                end += 1
            cut.setdefault(number, []).append((start, end))
        for number, spans in cut.items():
            keep_mask = [True] * len(texts[number])
            for start, end in spans:
                for i in range(start, end):
                    keep_mask[i] = False
            texts[number] = bytes(b for b, k in zip(texts[number], keep_mask) if k)


# -- strings on tokenized indexes (see infgram.query.forms) -------------------------------------
def spelled_tokens(tokenizer, text: str) -> list[str]:
    """The text each token of ``text`` spells: a SentencePiece piece with its "▁" read as a
    space (so a text SentencePiece prepends "▁" to is spelled with a leading space), any
    other token as the tokenizer decodes it alone (a byte-level "Ġlanguage" is " language").

    >>> from infgram.tokenizer import ByteTokenizer
    >>> spelled_tokens(ByteTokenizer(), "ab")
    ['a', 'b']
    """
    spelled = []
    for token_id in tokenizer.encode(text).tolist():
        piece = tokenizer.token_piece(token_id)
        spelled.append(piece.replace("\u2581", " ") if "\u2581" in piece else tokenizer.decode([token_id]))
    return spelled


def aligned_occurrences(documents: Sequence[Sequence[str]], query: str) -> list[tuple[int, int, int]]:
    """Every (document, first token, end token) where a run of a document's tokens (given as
    the texts they spell) spells the query, or spells " " + query with its first token
    holding that space and more: the aligned occurrences of a string.

    >>> aligned_occurrences([[" natural", " language", ".", "natural", " language"]], "natural language")
    [(0, 0, 2), (0, 3, 5)]
    """
    found = []
    for number, tokens in enumerate(documents):
        for first in range(len(tokens)):
            text = ""
            for end in range(first + 1, len(tokens) + 1):
                text += tokens[end - 1]
                if text == query or (text == " " + query and tokens[first].startswith(" ") and len(tokens[first]) > 1):
                    found.append((number, first, end))
                if len(text) > len(query) + 1:
                    break
    return found


def aligned_documents(documents: Sequence[Sequence[str]], query: str) -> list[int]:
    """The documents that hold an aligned occurrence of the query, in order."""
    return sorted({number for number, _, _ in aligned_occurrences(documents, query)})


# -- whole words and case (see infgram.query.words) ----------------------------------------------
def whole_word_occurrences(documents: Sequence[str], query: str) -> list[tuple[int, int]]:
    """Every (document, character start) where the query occurs with no word character (the
    regular expression ``\\w``) just before or just after it: ``(?<!\\w)QUERY(?!\\w)``,
    overlapping occurrences included.

    >>> whole_word_occurrences(["sed used (sed) sed_", "sedé sed"], "sed")
    [(0, 0), (0, 10), (1, 5)]
    """
    import re

    pattern = re.compile(r"(?<!\w)(?=" + re.escape(query) + r"(?!\w))")
    return [(number, match.start()) for number, text in enumerate(documents) for match in pattern.finditer(text)]


def aligned_whole_word_occurrences(documents: Sequence[Sequence[str]], query: str) -> list[tuple[int, int, int]]:
    """The :func:`aligned_occurrences` of the query (documents as the texts their tokens
    spell) with no word character just before the text (the word-start space a first token
    carries is a space) or just after it.

    >>> aligned_whole_word_occurrences([[" sed", " used", " sed", "_"]], "sed")
    [(0, 0, 1)]
    """
    import re

    word = re.compile(r"\w")
    found = []
    for number, first, end in aligned_occurrences(documents, query):
        tokens = documents[number]
        spaced = "".join(tokens[first:end]) != query
        before = " " if spaced else "".join(tokens[:first])[-1:]
        after = "".join(tokens[end:])[:1]
        if not word.match(before) and not word.match(after):
            found.append((number, first, end))
    return found


def case_variants(character: str) -> set[str]:
    """The characters a query character matches when case is ignored: itself and its lower,
    upper and title case, each when it is one character.

    >>> sorted(case_variants("ǅ"))
    ['Ǆ', 'ǅ', 'ǆ']
    """
    return {character} | {v for v in (character.lower(), character.upper(), character.title()) if len(v) == 1}


def case_insensitive_occurrences(documents: Sequence[str], query: str, whole_words: bool = False
                                 ) -> list[tuple[int, int]]:
    """Every (document, character start) where each character of the document is a case
    variant of the query's character at that place (and, with ``whole_words``, no word
    character is just before or after).

    >>> case_insensitive_occurrences(["Sed SED sEdx"], "sed", whole_words=True)
    [(0, 0), (0, 4)]
    """
    import re

    word = re.compile(r"\w")
    found = []
    for number, text in enumerate(documents):
        for start in range(len(text) - len(query) + 1):
            if not query or not all(text[start + j] in case_variants(c) for j, c in enumerate(query)):
                continue
            end = start + len(query)
            if whole_words and (word.match(text[start - 1 : start] or " ") or word.match(text[end : end + 1] or " ")):
                continue
            found.append((number, start))
    return found


def whole_word_spans(documents: Sequence[str], text: str, min_length: int) -> list[tuple[int, int, int, list[int]]]:
    """Whole-word attribution of ``text`` on a byte index (see ``infgram.query.attribution``),
    by regular expressions on characters: every stretch [a, b) of the text's characters that
    neither begins nor ends with whitespace, has no word character (``\\w``) just before or
    just after it in the text, and has a :func:`whole_word_occurrences` occurrence in the
    documents; those inside no other such stretch, at least ``min_length`` UTF-8 bytes long
    (and 1), as (a, b, whole-word count, documents holding one).

    >>> whole_word_spans(["the cat sat", "cat"], "he cat sat!", 3)
    [(3, 10, 1, [0])]
    """
    import re

    word = re.compile(r"\w")
    stretches = []
    for a in range(len(text)):
        for b in range(a + 1, len(text) + 1):
            piece = text[a:b]
            if piece[0].isspace() or piece[-1].isspace() or (a > 0 and word.match(text[a - 1])) or \
                    (b < len(text) and word.match(text[b])):
                continue
            found = whole_word_occurrences(documents, piece)
            if found:
                stretches.append((a, b, found))
    spans = []
    for a, b, found in stretches:
        inside = any(c <= a and b <= d and (c, d) != (a, b) for c, d, _ in stretches)
        if not inside and len(text[a:b].encode("utf-8")) >= max(min_length, 1):
            spans.append((a, b, len(found), sorted({number for number, _ in found})))
    return spans


def whole_word_token_spans(documents: Sequence[Sequence[int]], sequence: Sequence[int], spell, min_length: int
                           ) -> list[tuple[int, int, int, list[int]]]:
    """Whole-word attribution of the token sequence on a token index (see
    ``infgram.query.attribution``), documents given as token ids and ``spell(id)`` the text a
    token spells: every stretch [i, j) of the sequence whose text (its tokens' texts, less the
    word-start space its first token carries when that token spells " " and more) is not
    empty, neither begins nor ends with whitespace, and has no word character just before it
    (that carried space, or the text of the tokens before) or just after it, and that occurs
    in a document as the same ids with the same rule; those inside no other, at least
    ``min_length`` tokens long (and 1), as (i, j, whole-word count, documents holding one).

    >>> spell = {1: "x", 2: " x", 3: "."}.get
    >>> whole_word_token_spans([[1, 2, 3], [2, 2]], [2, 3], spell, 1)
    [(0, 2, 1, [0])]
    """
    import re

    word = re.compile(r"\w")

    def carried(token: int) -> bool:
        return spell(token).startswith(" ") and len(spell(token)) > 1

    def whole(tokens: Sequence[int], i: int, j: int) -> bool:
        before = " " if carried(tokens[i]) else "".join(spell(t) for t in tokens[:i])[-1:]
        after = "".join(spell(t) for t in tokens[j:])[:1]
        return not word.match(before) and not word.match(after)

    sequence = list(sequence)
    stretches = []
    for i in range(len(sequence)):
        for j in range(i + 1, len(sequence) + 1):
            piece = "".join(spell(t) for t in sequence[i:j])[1 if carried(sequence[i]) else 0 :]
            if not piece or piece[0].isspace() or piece[-1].isspace() or not whole(sequence, i, j):
                continue
            found = [(number, p) for number, document in enumerate(documents) for p in range(len(document))
                     if list(document[p : p + j - i]) == sequence[i:j] and whole(document, p, p + j - i)]
            if found:
                stretches.append((i, j, found))
    spans = []
    for i, j, found in stretches:
        inside = any(c <= i and j <= d and (c, d) != (i, j) for c, d, _ in stretches)
        if not inside and j - i >= max(min_length, 1):
            spans.append((i, j, len(found), sorted({number for number, _ in found})))
    return spans


def inside_token_occurrences(documents: Sequence[Sequence[str]], query: str) -> list[tuple[int, int]]:
    """Every (document, character start) where the query occurs in the text a document's
    tokens spell (given as those texts) but not as an :func:`aligned_occurrences` one: it
    starts strictly inside a token (not right after the word-start space the token carries)
    or ends strictly inside one.

    >>> inside_token_occurrences([[" natural", " languages", " language"]], "language")
    [(0, 9)]
    """
    found = []
    for number, tokens in enumerate(documents):
        text = "".join(tokens)
        boundaries, position = {}, 0
        for token in tokens:
            boundaries[position] = token
            position += len(token)
        boundaries[position] = ""
        start = text.find(query) if query else -1
        while start >= 0:
            before = boundaries.get(start - 1, "")
            aligned_start = start in boundaries or (before.startswith(" ") and len(before) > 1)
            if not (aligned_start and start + len(query) in boundaries):
                found.append((number, start))
            start = text.find(query, start + 1)
    return found


# -- normalization (see infgram.normalize) --------------------------------------------------------
def normalize(text: str, form: str | None) -> str:
    """The text as an index built with ``--normalize form`` holds it: each piece (an ASCII
    character and the non-ASCII characters after it, or the non-ASCII characters starting
    the text) lowered (``lowercase``), NFKC-normalized (``nfkc``), or NFKC-normalized,
    casefolded and NFKC-normalized again (``nfkc_casefold``).

    >>> normalize("ﬁ Straße", "nfkc_casefold"), normalize("ΟΔΟΣ", "lowercase")
    ('fi strasse', 'οδος')
    """
    import re
    import unicodedata

    if form is None:
        return text
    functions = {"lowercase": str.lower, "nfkc": lambda piece: unicodedata.normalize("NFKC", piece),
                 "nfkc_casefold": lambda piece: unicodedata.normalize(
                     "NFKC", unicodedata.normalize("NFKC", piece).casefold())}
    return "".join(functions[form](piece) for piece in re.findall(r"^[^\x00-\x7f]+|[\x00-\x7f][^\x00-\x7f]*", text))


# -- seeded pages of documents (see infgram.query.documents and infgram.sampling) ----------------
def seeded_permutation_value(seed: int, size: int, step: int) -> int:
    """The value a seeded random order of ``range(size)`` draws at ``step``, one at a time in
    Python integers, from the description in :mod:`infgram.sampling` (six Feistel rounds
    over halves of k bits, 4**k >= size, the SplitMix64 finalizer as round function, keys
    from BLAKE2b; cycle walking into ``range(size)``).

    >>> sorted(seeded_permutation_value(7, 10, step) for step in range(10)) == list(range(10))
    True
    """
    import hashlib

    mask = (1 << 64) - 1
    bits = max(1, ((max(size, 1) - 1).bit_length() + 1) // 2)
    digest = hashlib.blake2b(b"infgram seeded permutation %d" % seed, digest_size=48).digest()
    keys = [int.from_bytes(digest[8 * i : 8 * i + 8], "little") for i in range(6)]

    def mix(value: int) -> int:
        value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & mask
        value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & mask
        return value ^ (value >> 31)

    def encipher(value: int) -> int:
        left, right = value >> bits, value & ((1 << bits) - 1)
        for key in keys:
            left, right = right, left ^ (mix((right + key) & mask) >> (64 - bits))
        return (left << bits) | right

    value = encipher(step)
    while value >= size:
        value = encipher(value)
    return value


def suffix_order(documents: Corpus, separator: int) -> list[tuple[int, int]]:
    """Every position of one shard, as (document, offset), in suffix-array order: the shard is
    its documents' tokens, each document followed by the ``separator`` id, and positions are
    sorted by the tokens from there to the end (a suffix that is a prefix of another first).

    >>> suffix_order([[1, 0], [1]], separator=9)
    [(0, 1), (0, 0), (1, 0), (1, 1), (0, 2)]
    """
    stream: list[int] = []
    places = []
    for number, document in enumerate(documents):
        for offset, token in enumerate(list(document) + [separator]):
            stream.append(token)
            places.append((number, offset))
    order = sorted(range(len(stream)), key=lambda position: stream[position:])
    return [places[position] for position in order]


def seeded_documents(shards: Sequence[Corpus], forms: Sequence[Sequence[int]], seed: int, separator: int,
                     keep=None, costs: Sequence[int] | None = None, max_work: int | None = None
                     ) -> list[tuple[int, int, int]]:
    """The documents holding any of the ``forms`` (token id lists, none empty), in the seeded
    order of a ``documents`` page, as (global document, offset of the occurrence drawn
    first in it, length of its form).

    The occurrences are listed shard by shard (``shards``: each a list of documents;
    documents are numbered globally across them), within a shard form by form, within a
    form in suffix-array order (:func:`suffix_order`). With N of them, occurrence number
    ``seeded_permutation_value(seed, N, t)`` is drawn at step t = 0, 1, ...; a drawn
    occurrence counts when ``keep(document, offset, length)`` says so (removed documents,
    whole words); a document is listed when one of its occurrences is first drawn. With
    ``max_work``, only the longest run of draws whose ``costs`` (per shard) sum to at most
    it are made.
    """
    occurrences = []
    first = 0
    for shard_number, documents in enumerate(shards):
        order = suffix_order(documents, separator)
        for form in forms:
            form = list(form)
            for number, offset in order:
                if list(documents[number][offset : offset + len(form)]) == form:
                    occurrences.append((first + number, offset, len(form), shard_number))
        first += len(documents)
    listed: list[tuple[int, int, int]] = []
    seen = set()
    spent = 0
    for step in range(len(occurrences)):
        number, offset, length, shard_number = occurrences[seeded_permutation_value(seed, len(occurrences), step)]
        if max_work is not None:
            spent += costs[shard_number] if costs is not None else 1
            if spent > max_work:
                break
        if number not in seen and (keep is None or keep(number, offset, length)):
            seen.add(number)
            listed.append((number, offset, length))
    return listed


# -- metadata: counts by a field, filters ----------------------------------------------------------------
def metadata_value(metadata: dict, key: Sequence[str]) -> str | None:
    """A document's value of a field (a key path) as text, or None when it lacks the field:
    a string is itself, anything else its JSON text (compact, keys sorted).

    >>> metadata_value({"a": {"b": 2}}, ["a", "b"]), metadata_value({"a": 1}, ["a", "b"]), metadata_value({"a": "x"}, ["a"])
    ('2', None, 'x')
    """
    import json

    value = metadata
    for part in key:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def meets(metadata: dict, conditions: Sequence[tuple[Sequence[str], str, object]]) -> bool:
    """Whether a document meets every condition (key path, operator, operand): ``eq``/``not``
    (a value text), ``in`` (a list of them), ``gte``/``gt``/``lte``/``lt`` (a number: the
    value must read as a number; or a string: compared as strings). A document lacking the
    field meets none.

    >>> meets({"y": 1999}, [(["y"], "gte", 1990), (["y"], "lt", 2000)]), meets({}, [(["y"], "not", "1")])
    (True, False)
    """
    import operator as operators

    compare = {"gte": operators.ge, "gt": operators.gt, "lte": operators.le, "lt": operators.lt}
    for key, operator, operand in conditions:
        text = metadata_value(metadata, key)
        if text is None:
            return False
        if operator == "eq" and text != operand or operator == "not" and text == operand:
            return False
        if operator == "in" and text not in operand:  # type: ignore[operator]
            return False
        if operator in compare:
            if isinstance(operand, str):
                if not compare[operator](text, operand):
                    return False
                continue
            try:
                number = float(text)
            except ValueError:
                return False
            if number != number or number in (float("inf"), float("-inf")) or not compare[operator](number, operand):
                return False
    return True


def count_by(corpus: Corpus, metadata: Sequence[dict], query: Sequence[int], key: Sequence[str] | None,
             conditions: Sequence[tuple[Sequence[str], str, object]] = ()) -> tuple[int, dict[str, int], int]:
    """(occurrences in documents meeting the conditions, those per value of the field,
    those in documents lacking it).

    >>> count_by([[1, 2], [1], [1, 1]], [{"k": "a"}, {"k": 2}, {}], [1], ["k"])
    (4, {'a': 1, '2': 1}, 2)
    """
    total, missing = 0, 0
    by: Counter = Counter()
    for number, _ in occurrences(corpus, query):
        if not meets(metadata[number], conditions):
            continue
        total += 1
        if key is None:
            continue
        value = metadata_value(metadata[number], key)
        if value is None:
            missing += 1
        else:
            by[value] += 1
    return total, dict(by), missing


def documents_where(corpus: Corpus, metadata: Sequence[dict], query: Sequence[int],
                    conditions: Sequence[tuple[Sequence[str], str, object]]) -> list[int]:
    """The documents that contain the query and meet the conditions, in order."""
    return [number for number, _ in documents(corpus, query) if meets(metadata[number], conditions)]


# -- filtered questions: the sub-corpus of the documents meeting conditions ---------------------------------
def subcorpus(corpus: Corpus, metadata: Sequence[dict], conditions: Sequence[tuple[Sequence[str], str, object]]
              ) -> tuple[list[Sequence[int]], list[int]]:
    """(the documents meeting the conditions, in order; their numbers in the whole corpus).
    A filtered question is the unfiltered one asked of these documents alone.

    >>> subcorpus([[1], [2], [3]], [{"k": "a"}, {}, {"k": "b"}], [(["k"], "not", "b")])
    ([[1]], [0])
    """
    numbers = [number for number, values in enumerate(metadata) if meets(values, conditions)]
    return [corpus[number] for number in numbers], numbers


def probability_where(corpus: Corpus, metadata: Sequence[dict], prompt: Sequence[int], next_id: int,
                      conditions: Sequence[tuple[Sequence[str], str, object]]) -> tuple[int, int]:
    """:func:`probability` in the documents meeting the conditions."""
    return probability(subcorpus(corpus, metadata, conditions)[0], prompt, next_id)


def infgram_probability_where(corpus: Corpus, metadata: Sequence[dict], prompt: Sequence[int], next_id: int,
                              conditions: Sequence[tuple[Sequence[str], str, object]]) -> tuple[int, int, int]:
    """:func:`infgram_probability` over the documents meeting the conditions: the longest
    suffix that occurs in one of them, counted in them only.

    >>> infgram_probability_where([[1, 2, 3], [2, 4]], [{"k": "a"}, {"k": "b"}], [1, 2], 4, [(["k"], "eq", "b")])
    (1, 1, 1)
    """
    return infgram_probability(subcorpus(corpus, metadata, conditions)[0], prompt, next_id)


def infgram_next_tokens_where(corpus: Corpus, metadata: Sequence[dict], prompt: Sequence[int],
                              conditions: Sequence[tuple[Sequence[str], str, object]]
                              ) -> tuple[int, list[tuple[int | None, int]]]:
    """:func:`infgram_next_tokens` over the documents meeting the conditions."""
    return infgram_next_tokens(subcorpus(corpus, metadata, conditions)[0], prompt)


def infgram_probabilities_where(corpus: Corpus, metadata: Sequence[dict], sequence: Sequence[int],
                                conditions: Sequence[tuple[Sequence[str], str, object]]) -> list[tuple[int, int, int]]:
    """:func:`infgram_probabilities` over the documents meeting the conditions."""
    return infgram_probabilities(subcorpus(corpus, metadata, conditions)[0], sequence)


def search_where(corpus: Corpus, metadata: Sequence[dict], cnf: Sequence[Sequence[Sequence[int]]],
                 conditions: Sequence[tuple[Sequence[str], str, object]], within: int | None = None
                 ) -> tuple[list[int], list[tuple[int, int, int]]]:
    """:func:`search` of the documents meeting the conditions, numbered as in the whole corpus."""
    documents, numbers = subcorpus(corpus, metadata, conditions)
    matching, sites = search(documents, cnf, within)
    return [numbers[number] for number in matching], [(numbers[number], start, end) for number, start, end in sites]


def maximal_matches_where(corpus: Corpus, metadata: Sequence[dict], sequence: Sequence[int], min_length: int,
                          conditions: Sequence[tuple[Sequence[str], str, object]]) -> list[tuple[int, int]]:
    """:func:`maximal_matches` in the documents meeting the conditions (the spans of a filtered attribution)."""
    return maximal_matches(subcorpus(corpus, metadata, conditions)[0], sequence, min_length)


def contamination_where(documents: Sequence[str], metadata: Sequence[dict], text: str,
                        conditions: Sequence[tuple[Sequence[str], str, object]], width: int = 50) -> tuple[int, int]:
    """:func:`contamination` against the documents meeting the conditions."""
    return contamination([document for document, values in zip(documents, metadata) if meets(values, conditions)],
                         text, width)


# -- tracing as OLMoTrace does (infgram.query.tracing), step by step ----------------------------------
def trace_token_candidates(corpus: Corpus, sequence: Sequence[int], breaks: set[int], min_length: int
                           ) -> list[tuple[int, int]]:
    """Step 1 on a token index: every [start, end) of at least ``min_length`` (and 1) tokens that
    occurs, holds no token of ``breaks`` but perhaps its last, and lies inside no other such.

    >>> trace_token_candidates([[1, 2, 3, 1, 2]], [1, 2, 3, 1], {2}, 1)
    [(0, 2), (2, 4)]
    """
    sequence = list(sequence)
    found = [(start, end) for start in range(len(sequence)) for end in range(start + 1, len(sequence) + 1)
             if not any(token in breaks for token in sequence[start : end - 1]) and count(corpus, sequence[start:end])]
    return [(start, end) for start, end in found if end - start >= max(min_length, 1)
            and not any(c <= start and end <= d and (c, d) != (start, end) for c, d in found)]


def trace_word_candidates(documents: Sequence[str], text: str, min_length: int) -> list[tuple[int, int]]:
    """Step 1 on a byte index, by characters: every [a, b) of the text's characters that occurs in
    a document, neither begins nor ends with whitespace nor cuts a word (no word character on
    both sides of either edge), holds no ``.`` or newline but perhaps as its last character,
    is at least ``min_length`` (and 1) UTF-8 bytes long, and lies inside no other such.

    >>> trace_word_candidates(["the cat sat. on"], "a cat sat. on", 1)
    [(0, 1), (2, 10), (11, 13)]
    """
    import re

    word = re.compile(r"\w")

    def cut(at: int) -> bool:  # a word character on both sides of the boundary at ``at``
        return 0 < at < len(text) and bool(word.match(text[at - 1])) and bool(word.match(text[at]))

    found = []
    for a in range(len(text)):
        for b in range(a + 1, len(text) + 1):
            piece = text[a:b]
            if piece[0].isspace() or piece[-1].isspace() or cut(a) or cut(b) or "." in piece[:-1] or "\n" in piece[:-1]:
                continue
            if any(piece in document for document in documents):
                found.append((a, b))
    return [(a, b) for a, b in found if len(text[a:b].encode("utf-8")) >= max(min_length, 1)
            and not any(c <= a and b <= d and (c, d) != (a, b) for c, d in found)]


def trace_rarest(unit_counts: Sequence[Sequence[int]], num_tokens: int, fraction_of: int) -> list[int]:
    """Step 2: the numbers of the ceil(0.05 x ``fraction_of``) spans with the lowest product of
    count / ``num_tokens`` over their units (exact fractions; ties: the earlier span), sorted.

    >>> trace_rarest([[5], [1, 1], [2]], 10, 40)
    [1, 2]
    """
    import math
    from fractions import Fraction

    keep = math.ceil(Fraction(5, 100) * fraction_of)
    probabilities = [math.prod((Fraction(c, num_tokens) for c in counts), start=Fraction(1)) for counts in unit_counts]
    chosen = []
    for number, probability in enumerate(probabilities):
        # Its rank: the spans that come before it (lower probability, or equal and earlier).
        rank = sum(1 for other, p in enumerate(probabilities) if p < probability or (p == probability and other < number))
        if rank < keep:
            chosen.append(number)
    return chosen


def trace_merged(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Step 3: the unions of the groups of spans linked by sharing a token (touching is not sharing).

    >>> trace_merged([(5, 7), (0, 3), (2, 5), (9, 10)])
    [(0, 5), (5, 7), (9, 10)]
    """
    groups = [{number} for number in range(len(spans))]
    changed = True
    while changed:
        changed = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if any(max(spans[a][0], spans[b][0]) < min(spans[a][1], spans[b][1]) for a in groups[i] for b in groups[j]):
                    groups[i] |= groups.pop(j)
                    changed = True
                    break
            if changed:
                break
    return sorted((min(spans[n][0] for n in group), max(spans[n][1] for n in group)) for group in groups)


def trace_bm25(query: str, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> list[float]:
    """Step 5: Okapi BM25 of each text for the query, the texts being the collection; terms are
    lowercased runs of word characters, each distinct query term counted once, idf =
    ln(1 + (n - df + 0.5) / (df + 0.5)).

    >>> [round(score, 3) for score in trace_bm25("red rose", ["a red rose", "a rose", "a dog"])]
    [1.299, 0.499, 0.0]
    """
    import math
    import re

    bags = [re.findall(r"\w+", text.lower()) for text in texts]
    average = (sum(len(bag) for bag in bags) / len(bags)) if bags and any(bags) else 1.0
    scores = []
    for bag in bags:
        score = 0.0
        for term in set(re.findall(r"\w+", query.lower())):
            df = sum(1 for other in bags if term in other)
            tf = bag.count(term)
            if df and tf:
                idf = math.log(1 + (len(bags) - df + 0.5) / (df + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(bag) / average))
        scores.append(score)
    return scores
