"""Queries as the compiled searches take them: big-endian token bytes, checked.

A query is a string (encoded with the index's tokenizer) or a sequence of token ids. Either
way it becomes the bytes of its ids, big-endian in the index's token width, the form in
which ``tokens.bin`` stores them, so that comparing bytes compares ids. This module also
holds the checks every operation applies to its arguments, so that they say the same thing
whatever the transport (Python, batch, HTTP).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import _core
from ..errors import QueryError
from ..format import token_dtype
from ..normalize import normalize_text
from ..tokenizer import Tokenizer

Query = str | Sequence[int] | np.ndarray

MAX_QUERY_TOKENS = 1_000_000
"""Longer queries are refused: nothing that long occurs, and the search would only waste time."""

MAX_QUERY_CHARACTERS = 10_000_000
"""The longest text query on a byte index (10 MB of text; the token limit applies too)."""

MAX_TOKENIZED_QUERY_CHARACTERS = MAX_QUERY_TOKENS
"""The longest text query on a tokenized index, checked before tokenizing: a text this long
tokenizes in about a second, and almost any text of more characters has more tokens than
``MAX_QUERY_TOKENS`` anyway."""
MAX_DOCUMENTS_LIMIT = 10_000


def check_text(text: str, maximum: int = MAX_QUERY_CHARACTERS) -> None:
    """Raise QueryError for a text query that is too long or has no UTF-8 form."""
    if len(text) > maximum:
        raise QueryError(f"expected a query of at most {maximum:,} characters, found "
                         f"{len(text):,}; search for a shorter piece of it")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise QueryError(f"expected text that has a UTF-8 form, found an unpaired surrogate "
                             f"{text[error.start:error.end]!r} at character {error.start} (often a command-line "
                             "argument that is not valid UTF-8); pass valid text or token ids") from None


def check_length(num_tokens: int) -> None:
    """Raise QueryError for a query of more than MAX_QUERY_TOKENS tokens."""
    if num_tokens > MAX_QUERY_TOKENS:
        raise QueryError(f"expected a query of at most {MAX_QUERY_TOKENS:,} tokens, found {num_tokens:,}; "
                         "no sequence that long occurs: search for a shorter piece of it")


def check_whole_number(name: str, value: Any, maximum: int | None = None, optional: bool = False) -> int | None:
    """``value`` as a Python int, or QueryError unless it is a whole number from 0 (to
    ``maximum``), or None if ``optional``. Numpy integers are taken as their value.

    >>> check_whole_number("limit", np.uint8(5), 10)
    5
    >>> check_whole_number("limit", -1)
    Traceback (most recent call last):
    ...
    infgram.errors.QueryError: expected limit to be a whole number of 0 or more, found -1
    """
    if optional and value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0 or \
            (maximum is not None and value > maximum):
        bound = f"from 0 to {maximum:,}" if maximum is not None else "of 0 or more"
        raise QueryError(f"expected {name} to be a whole number {bound}, found {value!r:.80}")
    return int(value)


class QueryEncoder:
    """Turns queries into the token bytes the searches take, for one tokenizer and width."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.token_width = tokenizer.token_width
        self.vocab_size = tokenizer.vocab_size
        self.separator_id = tokenizer.separator_id
        self.dtype = token_dtype(self.token_width)
        self._bytes = tokenizer.tokens_are_bytes
        self.max_characters = MAX_QUERY_CHARACTERS if self._bytes else MAX_TOKENIZED_QUERY_CHARACTERS
        self.normalization: str | None = getattr(tokenizer, "normalization", None)

    def tokenize(self, query: Query) -> np.ndarray:
        """The token ids of a query (int64): a string is encoded; ids are checked."""
        if isinstance(query, str):
            check_text(query, self.max_characters)
            ids = self.tokenizer.encode(query).astype(np.int64)
        else:
            if isinstance(query, (bytes, bytearray, memoryview, dict, set)) or np.isscalar(query):
                raise QueryError(f"expected a string or a flat sequence of integer token ids, found "
                                 f"{type(query).__name__}")
            try:
                ids = np.asarray(query)
            except (ValueError, TypeError):  # ragged nesting
                raise QueryError(f"expected a string or a flat sequence of integer token ids, found "
                                 f"{type(query).__name__} of uneven nesting") from None
            if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
                raise QueryError(f"expected a string or a flat sequence of integer token ids, found "
                                 f"{type(query).__name__} of {ids.dtype} with shape {ids.shape}")
            if ids.dtype == np.uint64 and ids.size and int(ids.max()) > np.iinfo(np.int64).max:
                raise QueryError(f"expected token ids from 0 to {self.vocab_size - 1}, found {int(ids.max())}")
            ids = ids.astype(np.int64)
            self.check_ids(ids)
        check_length(len(ids))
        return ids

    def check_ids(self, ids: np.ndarray) -> None:
        """Raise QueryError unless every id (any shape) is in the vocabulary."""
        if ids.size:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.vocab_size:
                bad = low if low < 0 else high
                what = " (the document separator)" if bad == self.separator_id else ""
                raise QueryError(f"expected token ids from 0 to {self.vocab_size - 1}, found {bad}{what}; "
                                 "use ids of the index's vocabulary")

    def normalized(self, query: Query) -> Query:
        """A string as the index holds text: normalized as the documents were (see
        :mod:`infgram.normalize`; unchanged without normalization, and ids unchanged)."""
        if self.normalization is not None and isinstance(query, str):
            check_text(query, self.max_characters)
            return normalize_text(query, self.normalization)
        return query

    def encode(self, query: Query) -> bytes:
        """The query as stored bytes (big-endian ids), the form the compiled core searches for."""
        if self._bytes and isinstance(query, str):
            check_text(query)
            query = self.normalized(query)
            encoded = query.encode("utf-8")  # UTF-8 never holds the separator byte 0xFF
            check_length(len(encoded))
            return encoded
        if (type(query) is list or type(query) is tuple) and 0 < len(query) <= MAX_QUERY_TOKENS:
            # The common case of id lists, in one pass in C; anything odd goes the long way,
            # which says what is wrong.
            encoded = _core.encode_ids(query, self.token_width, self.vocab_size)
            if encoded is not None:
                return encoded
        return self.tokenize(query).astype(self.dtype).tobytes()

    def encode_many(self, queries: list[Query]) -> list[bytes]:
        """:meth:`encode` of many queries; strings go through the tokenizer's batch encoder."""
        if not self.tokenizer.text_has_forms:
            return [self.encode(q) for q in queries]
        texts = [q for q in queries if isinstance(q, str)]
        for text in texts:
            check_text(text, self.max_characters)
        encoded_texts = iter(self.tokenizer.encode_batch(texts))
        result = []
        for query in queries:
            if isinstance(query, str):
                ids = next(encoded_texts)
                check_length(len(ids))
                result.append(ids.astype(self.dtype).tobytes())
            else:
                result.append(self.encode(query))
        return result

    def encode_next(self, next_token: str | int) -> bytes:
        """A continuation of exactly one token, as stored bytes."""
        if isinstance(next_token, (int, np.integer)) and not isinstance(next_token, bool):
            if 0 <= next_token < self.vocab_size:  # the common case, without an array
                return int(next_token).to_bytes(self.token_width, "big")
            ids = self.tokenize([int(next_token)])  # says what is wrong
        else:
            if not isinstance(next_token, str):
                raise QueryError(f"expected the next token as a string or an id, found {type(next_token).__name__}")
            ids = self.tokenize(next_token)
            if len(ids) != 1:
                raise QueryError(f"expected the continuation to be exactly one token, but {next_token!r:.80} is "
                                 f"{len(ids)} tokens {ids.tolist()[:20]}; pass a single token id instead")
        return ids.astype(self.dtype).tobytes()

    def ids_of(self, encoded: bytes) -> np.ndarray:
        """The token ids (int64) of stored bytes."""
        return np.frombuffer(encoded, dtype=self.dtype).astype(np.int64)

    def length_of(self, encoded: bytes) -> int:
        """The number of tokens of stored bytes."""
        return len(encoded) // self.token_width
