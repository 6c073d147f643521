"""The forms of a string in a token index: which token sequences spell it in the documents.

A tokenizer spells the same words differently in different places: llama3 writes
"natural" at the start of a line but "Ġnatural" (with the space) inside a sentence, and a
SentencePiece tokenizer writes "▁natural" after a space but "natural" after a newline. A
string query means the text, so it is searched in every spelling the corpus holds.

**The text a token spells** is its bytes: a byte-level BPE piece ("Ġlanguage") decoded
through the GPT-2 byte table (" language"), a SentencePiece piece with "▁" read as a space
and ``<0xNN>`` as the byte NN. A SentencePiece tokenizer that prepends "▁" to every text
spells each document as starting with a space.

**An aligned occurrence** of a string s in a document is a run of the document's own
tokens t_i..t_j whose spelled text is exactly s, or exactly " " + s where t_i begins with
that space and holds more than it (the word-start space a token carries: "Ġnatural",
"▁natural"). So an occurrence counts when it ends at a token boundary and starts at one, or
right after the space its first token carries; an occurrence that begins or ends inside a
token ("language" inside "Ġlanguages") is not aligned, and only a byte index counts it.
No occurrence is counted twice: the two cases start at different token boundaries.

**The forms** of s are the token sequences that spell s (or " " + s, as above) and occur in
the corpus; count(s) is the sum of their counts, and every form is a different set of
occurrences. They are found exactly, without guessing contexts: a breadth-first walk over
the spellings of s, token by token, keeps only the prefixes that occur in the index (one
batch of counts per token of depth), so it visits only what the corpus holds.
(``_reference.aligned_occurrences`` computes the same thing by tokenizing every document.)

**Forms inside tokens.** A string *has forms inside tokens* when some document holds an
occurrence of it, in the text its tokens spell, that is not aligned: it starts strictly
inside a token (not at the word-start space the token carries) or ends strictly inside
one ("language" in "Ġlanguages", "ural" in "Ġnatural"). A token index cannot count those;
replies that list ``forms`` say so with ``inside_tokens: true`` and a ``notice`` pointing to
a byte index. It is decided exactly, from the index: such an occurrence exists exactly when
some token sequence occurs whose spelling holds the string that way; the walk above is run
from every token whose spelling ends with a beginning of the string (and from the aligned
starts), and stops at the first such sequence that occurs. (``_reference.
inside_token_occurrences`` lists those occurrences by tokenizing every document.)

In a byte index every byte is a token: a string has one form, its UTF-8 bytes.

>>> from infgram.tokenizer import ByteTokenizer
>>> token_spellings(ByteTokenizer())[104]
b'h'
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from ..errors import LimitError
from ..tokenizer import Tokenizer

MAX_FORM_CANDIDATES = 100_000
"""A walk that would count more candidate spellings than this is refused (only corpora of
garbage spell a string in that many ways); ``exact_tokens=True`` searches one encoding."""


def _byte_decoder() -> dict[str, int]:
    """The GPT-2 byte-level alphabet, inverted: the character that stands for each byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return {chr(character): byte for byte, character in zip(printable, characters)}


def _uses_byte_level(configuration: dict[str, Any]) -> bool:
    """Whether a tokenizer.json spells pieces in the byte-level alphabet."""
    return '"ByteLevel"' in json.dumps([configuration.get("pre_tokenizer"), configuration.get("decoder")])


_SPELLINGS: dict[tuple[Any, ...], list[bytes]] = {}
"""Spellings by tokenizer (kind, file checksum, vocabulary size): the same file spells the same."""
_SPELLERS: dict[tuple[Any, ...], "Speller"] = {}


def speller_of(tokenizer: Tokenizer) -> "Speller":
    """The :class:`Speller` of a tokenizer, built once per tokenizer file."""
    key = (tokenizer.kind, getattr(tokenizer, "sha256", None), tokenizer.vocab_size)
    if key not in _SPELLERS:
        _SPELLERS[key] = Speller(tokenizer)
    return _SPELLERS[key]


def token_spellings(tokenizer: Tokenizer) -> list[bytes]:
    """The bytes each token id spells (see the module docstring), computed once per tokenizer.

    A piece the rules above cannot read spells its decoded text.
    """
    key = (tokenizer.kind, getattr(tokenizer, "sha256", None), tokenizer.vocab_size)
    if key in _SPELLINGS:
        return _SPELLINGS[key]
    if tokenizer.tokens_are_bytes:
        spellings = [bytes([i]) for i in range(tokenizer.vocab_size)]
    else:
        inner = tokenizer.library_tokenizer  # type: ignore[attr-defined]
        byte_level = _uses_byte_level(json.loads(inner.to_str()))
        decoder = _byte_decoder()
        texts = tokenizer.token_texts()
        spellings = []
        for token_id in range(tokenizer.vocab_size):
            piece = inner.id_to_token(token_id)
            if piece is None:
                spellings.append(texts[token_id].encode("utf-8"))
            elif byte_level and all(character in decoder for character in piece):
                spellings.append(bytes(decoder[character] for character in piece))
            elif len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                spellings.append(bytes([int(piece[3:5], 16)]))
            else:
                spellings.append(piece.replace("\u2581", " ").encode("utf-8"))
    _SPELLINGS[key] = spellings
    return spellings


class Speller:
    """Looks up the tokens that spell a piece of bytes, for one tokenizer."""

    def __init__(self, tokenizer: Tokenizer):
        self.spellings = token_spellings(tokenizer)
        self.ids_of: dict[bytes, list[int]] = defaultdict(list)
        for token_id, spelling in enumerate(self.spellings):
            if spelling:
                self.ids_of[spelling].append(token_id)
        for spelling, ids in self.ids_of.items():
            if len(ids) > 1:  # the usual token first, a byte-fallback "<0x2E>" after a "."
                ids.sort(key=lambda token_id: (tokenizer.token_piece(token_id).startswith("<0x"), token_id))
        self.longest = max((len(s) for s in self.ids_of), default=1)

    def single_token(self, text: bytes) -> list[int]:
        """The ids whose spelling is exactly ``text`` (usually one; byte-fallback tokens last)."""
        return self.ids_of.get(text, [])

    # -- occurrences inside tokens ------------------------------------------------------------
    def _sorted(self) -> tuple[list[bytes], list[int], list[bytes], list[int]]:
        """The spellings sorted, and reversed and sorted, with their ids (for prefix and
        suffix lookups), built on first use."""
        if getattr(self, "_sorted_tables", None) is None:
            pairs = sorted((spelling, token_id) for token_id, spelling in enumerate(self.spellings) if spelling)
            backwards = sorted((spelling[::-1], token_id) for spelling, token_id in pairs)
            self._sorted_tables = ([s for s, _ in pairs], [i for _, i in pairs],
                                   [s for s, _ in backwards], [i for _, i in backwards])
        return self._sorted_tables

    @staticmethod
    def _starting_with(keys: list[bytes], ids: list[int], prefix: bytes) -> list[int]:
        """The ids whose key starts with ``prefix`` and is longer."""
        found = []
        for number in range(bisect.bisect_right(keys, prefix), len(keys)):
            if not keys[number].startswith(prefix):
                break
            found.append(ids[number])
        return found

    def containing(self, text: bytes) -> list[int]:
        """The ids whose spelling holds ``text`` but is neither ``text`` nor " " + ``text``
        (so ``text`` starts or ends strictly inside the token, not at its word-start space)."""
        if getattr(self, "_blob", None) is None:
            self._blob = b"".join(self.spellings)
            self._ends = np.cumsum([len(spelling) for spelling in self.spellings], dtype=np.int64)
        places, place = [], self._blob.find(text)
        while place >= 0:
            places.append(place)
            place = self._blob.find(text, place + 1)
        if not places:
            return []
        starts = np.asarray(places, dtype=np.int64)
        owners = np.searchsorted(self._ends, starts, side="right")  # the token each place starts in
        inside = starts + len(text) <= self._ends[owners]
        return [token_id for token_id in np.unique(owners[inside]).tolist()
                if self.spellings[token_id] not in (text, b" " + text)]

    def inside_tokens(self, text: bytes, count_many: Callable[[list[tuple[int, ...]]], list[int]],
                      next_many: Callable[[tuple[int, ...]], list[int]]) -> bool | None:
        """Whether ``text`` occurs somewhere in the corpus starting or ending strictly inside
        a token (see the module docstring); None when deciding would take more than
        ``MAX_FORM_CANDIDATES`` counts. ``count_many`` counts token sequences, ``next_many``
        gives the tokens that follow one somewhere."""
        if not text:
            return False
        forwards, forward_ids, backwards, backward_ids = self._sorted()
        examined = 0

        def any_occurs(sequences: list[tuple[int, ...]]) -> bool | None:
            nonlocal examined
            for first in range(0, len(sequences), 1024):  # a few at a time: one that occurs ends it
                chunk = sequences[first : first + 1024]
                examined += len(chunk)
                if examined > MAX_FORM_CANDIDATES:
                    return None
                if any(count_many(chunk)):
                    return True
            return False

        # A token that holds the whole text, not as itself or as its word-start space + itself.
        found = any_occurs([(token_id,) for token_id in self.containing(text)])
        if found is not False:
            return found
        # Walk along the text: states (bytes of it spelled, ids, whether it began inside a token),
        # from a token boundary, from the word-start space, and from inside every token whose
        # spelling ends with a beginning of the text.
        starts: list[tuple[int, tuple[int, ...], bool]] = []
        for length in range(1, min(len(text), self.longest)):
            piece = text[:length]
            for token_id in self.ids_of.get(b" " + piece, ()):
                starts.append((length, (token_id,), False))
            for token_id in self._starting_with(backwards, backward_ids, piece[::-1]):
                if self.spellings[token_id] != b" " + piece:  # the text starts strictly inside it
                    starts.append((length, (token_id,), True))
        examined += len(starts)
        if examined > MAX_FORM_CANDIDATES:
            return None
        counts = count_many([ids for _, ids, _ in starts]) if starts else []
        frontier = [(0, (), False)] + [state for state, count in zip(starts, counts) if count]
        while frontier:
            evidence: list[tuple[int, ...]] = []
            candidates: list[tuple[int, tuple[int, ...], bool]] = []
            pieces: dict[int, tuple[list[tuple[int, int]], list[int]]] = {}
            for offset, ids, inside in frontier:
                rest = text[offset:]
                if offset not in pieces:
                    pieces[offset] = ([(offset + size, token_id) for size in range(1, min(self.longest, len(rest)) + 1)
                                       for token_id in self.ids_of.get(rest[:size], ())],
                                      self._starting_with(forwards, forward_ids, rest))
                exact, longer = pieces[offset]
                for end, token_id in exact:
                    if end == len(text):
                        if inside:
                            evidence.append(ids + (token_id,))  # began inside a token, ends at a boundary
                    else:
                        candidates.append((end, ids + (token_id,), inside))
                if not ids:
                    continue  # a single token longer than the text holds it: looked at above
                if len(longer) <= 256:
                    evidence.extend(ids + (token_id,) for token_id in longer)  # ends inside its last token
                else:  # many tokens start with a short rest: ask which follow instead
                    examined += 1
                    following = set(next_many(ids))
                    if any(token_id in following for token_id in longer):
                        return True
            found = any_occurs(evidence)
            if found is not False:
                return found
            examined += len(candidates)
            if examined > MAX_FORM_CANDIDATES:
                return None
            counts = count_many([ids for _, ids, _ in candidates]) if candidates else []
            frontier = [state for state, count in zip(candidates, counts) if count]
        return False

    def forms(self, text: bytes, count_many: Callable[[list[tuple[int, ...]]], list[int]]
              ) -> list[tuple[tuple[int, ...], int]]:
        """The token sequences that spell ``text`` (or " " + text, its first token holding
        that space and more) and occur, with their counts (``count_many`` counts sequences),
        in order of first token then length."""
        if not text:
            return []
        targets = [text, b" " + text]
        frontier: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, ()), (1, 0, ())]  # (target, offset, ids)
        found: list[tuple[tuple[int, ...], int]] = []
        examined = 0
        while frontier:
            candidates: list[tuple[int, int, tuple[int, ...]]] = []
            for target_number, offset, ids in frontier:
                target = targets[target_number]
                shortest = 2 if target_number == 1 and offset == 0 else 1  # the space and more
                for length in range(shortest, min(self.longest, len(target) - offset) + 1):
                    for token_id in self.ids_of.get(target[offset : offset + length], ()):
                        candidates.append((target_number, offset + length, ids + (token_id,)))
            examined += len(candidates)
            if examined > MAX_FORM_CANDIDATES:
                raise LimitError(f"expected the spellings of {text[:80]!r} to take at most {MAX_FORM_CANDIDATES:,} "
                                 f"searches, found more; pass exact_tokens=True (--exact-tokens) to search one "
                                 "encoding, or search a byte index", "exact_tokens", MAX_FORM_CANDIDATES, examined)
            if not candidates:
                break
            counts = count_many([ids for _, _, ids in candidates])
            frontier = []
            for (target_number, offset, ids), count in zip(candidates, counts):
                if count == 0:
                    continue
                if offset == len(targets[target_number]):
                    found.append((ids, int(count)))
                else:
                    frontier.append((target_number, offset, ids))
        return sorted(found)


def inside_tokens_notice(texts: list[str]) -> str:
    """The notice of a reply whose strings have forms inside tokens (see the module docstring).

    >>> inside_tokens_notice(["language"])[:60]
    "'language' also occurs starting or ending inside tokens, whi"
    """
    named = ", ".join(repr(text[:80]) for text in texts[:5]) + (f" and {len(texts) - 5} more" if len(texts) > 5 else "")
    return (f"{named} also {'occurs' if len(texts) == 1 else 'occur'} starting or ending inside tokens, which a "
            "token index cannot count; count every occurrence with a byte index of the corpus (`infgram build` "
            "without --tokenizer)")


def running_text_ids(tokenizer: Tokenizer, text: str, speller: Speller | None) -> np.ndarray:
    """The ids of ``text`` as it reads in running text: the tokenizer's own encoding when
    that spells exactly ``text``, else the single token that does (so " language" is
    "Ġlanguage" or "▁language", not "▁" + "▁language"); else the tokenizer's encoding."""
    ids = tokenizer.encode(text).astype(np.int64)
    if speller is None:
        return ids
    wanted = text.encode("utf-8")
    if b"".join(speller.spellings[i] for i in ids.tolist()) == wanted:
        return ids
    single = speller.single_token(wanted)
    if single:
        return np.array(single[:1], dtype=np.int64)
    return ids
