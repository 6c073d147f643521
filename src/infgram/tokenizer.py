"""Turning text into token ids and back, the same way at build time and at query time.

Three kinds, recorded in the index manifest so that string queries always use the
tokenizer the index was built with:

- ``bytes``: the UTF-8 bytes of the text are the tokens (8-bit ids 0..254). Needs no model
  files. Id 255 never occurs in UTF-8, so it serves as the document separator.
- ``huggingface``: any ``tokenizer.json`` of the Hugging Face ``tokenizers`` library, encoded
  without special tokens. Ids are 16-bit when the vocabulary has at most 65,535 entries, else
  32-bit; the largest id of the width is the separator and must not be in the vocabulary.
  A GGUF model file (``model.gguf``) is taken as the ``tokenizer.json`` of its own tokenizer
  (converted by :mod:`infgram.gguf_tokenizer`), so the index's ids are the model's; the index
  stores the converted ``tokenizer.json``.
- ``pretokenized``: documents arrive as token ids; there is no text form, so queries must be
  given as ids.

>>> tokenizer = ByteTokenizer()
>>> tokenizer.encode("héllo").tolist()
[104, 195, 169, 108, 108, 111]
>>> tokenizer.decode([104, 195, 169])
'hé'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import BuildError, IndexFormatError, InfgramError, UnsupportedOperationError
from .gguf_tokenizer import is_gguf, tokenizer_json_text
from .normalize import OffsetMap, check_normalization, normalize_text

TOKENIZER_FILE_NAME = "tokenizer.json"


def separator_for_width(token_width: int) -> int:
    """The reserved document-separator id of a token width: its largest value.

    >>> separator_for_width(1), separator_for_width(2)
    (255, 65535)
    """
    return (1 << (8 * token_width)) - 1


class Tokenizer:
    """What every tokenizer kind provides; see the module docstring."""

    kind: str
    token_width: int
    vocab_size: int

    # Capabilities: what callers ask instead of comparing ``kind`` names.
    tokens_are_bytes = False
    """Each token is one byte of the UTF-8 text: a span of tokens may cut a character, and
    character windows map onto token windows."""
    text_has_forms = False
    """A text has more than one tokenization (pieces merge by context): matching text searches
    several encodings, reports each form, and tests word edges on the tokens' texts."""
    takes_text = True
    """Text can be encoded (False when documents and queries arrive as token ids only)."""

    @property
    def separator_id(self) -> int:
        return separator_for_width(self.token_width)

    def encode(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode(text) for text in texts]

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ids of the text, and the [start, end) character offsets of the text each comes from.

        >>> ByteTokenizer().encode_with_offsets("aé")[1].tolist()
        [0, 1, 1]
        """
        raise UnsupportedOperationError(f"the {self.kind} tokenizer does not map tokens to characters; "
                                        "give the text as token ids")

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        raise NotImplementedError

    def token_text(self, token_id: int) -> str:
        """The text of one token, for display (may be partial UTF-8 in byte mode)."""
        return self.decode([token_id])

    def token_texts(self) -> list[str]:
        """:meth:`token_text` of every id below ``vocab_size``, in one go."""
        return [self.token_text(i) for i in range(self.vocab_size)]

    def readable_texts(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """The text each token of a sequence adds, for people: bytes joined into characters
        (a character shows on the token that completes it, ``""`` on the ones before), an
        incomplete UTF-8 sequence at the end shown as U+FFFD, never as ``\\xNN``.

        >>> ByteTokenizer().readable_texts(list("ón".encode()))
        ['', 'ó', 'n']
        >>> ByteTokenizer().readable_texts([ord("a"), 0xC3])
        ['a', '\ufffd']
        """
        ids = [int(token_id) for token_id in ids]
        texts: list[str] = []
        shown = ""
        for end in range(1, len(ids) + 1):
            # Decoding each prefix (drafts are short) lets the tokenizer join bytes and pieces;
            # a prefix that stops inside a character ends in U+FFFD, left for the next token.
            text = self.decode(ids[:end])
            if end < len(ids):
                text = text.rstrip("\ufffd")
            if not text.startswith(shown):  # a decoder that rewrites earlier text: each token alone
                return [self.decode([token_id]) for token_id in ids]
            texts.append(text[len(shown):])
            shown = text
        return texts

    def token_piece(self, token_id: int) -> str:
        """How the vocabulary spells one token, for tables: its word-start marker kept
        ("▁language", "Ġlanguage"), a byte that is not a whole character shown as ``<0xD0>``.

        >>> ByteTokenizer().token_piece(0xD0), ByteTokenizer().token_piece(97)
        ('<0xD0>', 'a')
        """
        return self.token_text(token_id)

    def manifest_entry(self) -> dict[str, Any]:
        raise NotImplementedError

    def stored_file(self) -> bytes | None:
        """The bytes of the file (``tokenizer.json``) the index directory must hold for this
        tokenizer, or None when it needs none; the build writes it (with the index's one
        atomic writer, :mod:`infgram.format`).

        >>> ByteTokenizer().stored_file() is None
        True
        """
        return None


class ByteTokenizer(Tokenizer):
    kind = "bytes"
    tokens_are_bytes = True
    token_width = 1
    vocab_size = 255

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return bytes(np.asarray(ids, dtype=np.uint8)).decode("utf-8", errors="replace")

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = self.encode(text)
        # Each byte belongs to the character whose first byte (not 10xxxxxx) precedes it.
        character = np.cumsum((ids & 0xC0) != 0x80, dtype=np.int64) - 1
        return ids, character, character + 1

    def token_text(self, token_id: int) -> str:
        # A lone byte of a multi-byte character has no text; show it as an escape.
        return bytes([token_id]).decode("utf-8", errors="backslashreplace")

    def token_piece(self, token_id: int) -> str:
        return chr(token_id) if token_id < 0x80 else f"<0x{token_id:02X}>"

    def manifest_entry(self) -> dict[str, Any]:
        return {"kind": self.kind}


class HuggingFaceTokenizer(Tokenizer):
    kind = "huggingface"
    text_has_forms = True

    def __init__(self, path: str | Path, json_text: str | None = None):
        """``path``: a ``tokenizer.json``; or, with ``json_text`` (its content, e.g. converted
        from a GGUF file), the file it came from, named in messages."""
        from tokenizers import Tokenizer as _HFTokenizer

        self.path = Path(path)
        self._json = None if json_text is None else json_text.encode("utf-8")
        try:
            self._tokenizer = _HFTokenizer.from_file(str(self.path)) if self._json is None else \
                _HFTokenizer.from_str(json_text)
        except Exception as error:  # the library raises plain Exception for bad files
            raise BuildError(
                f"cannot load tokenizer {self.path}: {error}; expected a Hugging Face tokenizer.json file"
            ) from None
        self.vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        self.token_width = 2 if self.vocab_size <= separator_for_width(2) else 4
        if self.vocab_size > separator_for_width(4):
            raise BuildError(f"tokenizer {self.path} has {self.vocab_size} ids, more than 32-bit ids can hold")
        self.sha256 = hashlib.sha256(self.path.read_bytes() if self._json is None else self._json).hexdigest()

    @property
    def library_tokenizer(self) -> Any:
        """The ``tokenizers`` library's tokenizer (its pieces and its JSON definition), for
        the code that spells tokens (:mod:`infgram.query.forms`)."""
        return self._tokenizer

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.uint32)

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        return np.asarray(encoding.ids, dtype=np.uint32), offsets[:, 0].copy(), offsets[:, 1].copy()

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        # encode_batch_fast (tokenizers >= 0.20) skips computing offsets, which we never use.
        encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        encodings = encode(list(texts), add_special_tokens=False)
        return [np.asarray(encoding.ids, dtype=np.uint32) for encoding in encodings]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_texts(self) -> list[str]:
        return self._tokenizer.decode_batch([[i] for i in range(self.vocab_size)], skip_special_tokens=False)

    def token_piece(self, token_id: int) -> str:
        return self._tokenizer.id_to_token(int(token_id)) or self.token_text(token_id)

    def vocabulary(self) -> list[str | None]:
        """Every token string as the vocabulary spells it, by id (None for an unused id)."""
        pieces = self._tokenizer.get_vocab(with_added_tokens=True)
        tokens: list[str | None] = [None] * (max(pieces.values(), default=-1) + 1)
        for token, number in pieces.items():
            tokens[number] = token
        return tokens

    def manifest_entry(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": TOKENIZER_FILE_NAME, "sha256": self.sha256, "vocab_size": self.vocab_size}

    def stored_file(self) -> bytes | None:
        return self.path.read_bytes() if self._json is None else self._json


class PretokenizedVocabulary(Tokenizer):
    """Documents given as ids; text is shown as the ids separated by spaces."""

    kind = "pretokenized"
    takes_text = False

    def __init__(self, token_width: int, vocab_size: int | None = None):
        if token_width not in (1, 2, 4):
            raise BuildError(f"token_width must be 1, 2 or 4 bytes, found {token_width}")
        self.token_width = token_width
        self.vocab_size = separator_for_width(token_width) if vocab_size is None else int(vocab_size)
        if not 0 < self.vocab_size <= separator_for_width(token_width):
            raise BuildError(
                f"vocab_size must be between 1 and {separator_for_width(token_width)} for "
                f"{token_width}-byte tokens (the largest id is the separator), found {self.vocab_size}"
            )

    def encode(self, text: str) -> np.ndarray:
        raise UnsupportedOperationError(
            "this index was built from token ids and has no tokenizer; give queries as token ids"
        )

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return " ".join(str(int(i)) for i in ids)

    def token_texts(self) -> list[str]:
        # Up to 4 G ids: build the text on demand instead of a table.
        return _IdTexts()

    def manifest_entry(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "token_width": self.token_width}


class _IdTexts:
    """A list-like view whose item i is str(i), for vocabularies too large to tabulate."""

    def __getitem__(self, token_id: int) -> str:
        return str(token_id)


class NormalizedTokenizer(Tokenizer):
    """A tokenizer that normalizes text before encoding it (see :mod:`infgram.normalize`):
    the tokenizer of an index built with ``--normalize``. Its manifest entry is the inner
    tokenizer's with ``"normalize": FORM``.

    >>> tokenizer = NormalizedTokenizer(ByteTokenizer(), "lowercase")
    >>> tokenizer.encode("Ab").tolist(), tokenizer.manifest_entry()
    ([97, 98], {'kind': 'bytes', 'normalize': 'lowercase'})
    """

    def __init__(self, inner: Tokenizer, normalization: str):
        self.inner = inner
        self.normalization = check_normalization(normalization)
        self.kind = inner.kind
        self.tokens_are_bytes, self.text_has_forms = inner.tokens_are_bytes, inner.text_has_forms
        self.takes_text = inner.takes_text
        self.token_width = inner.token_width
        self.vocab_size = inner.vocab_size
        if hasattr(inner, "sha256"):
            self.sha256 = inner.sha256
        if isinstance(inner, HuggingFaceTokenizer):
            self._tokenizer = inner.library_tokenizer

    def __getattr__(self, name: str) -> Any:  # anything else the inner tokenizer has (its path, vocabulary)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def normalize(self, text: str) -> str:
        """The text as the index holds it."""
        return normalize_text(text, self.normalization)

    def encode(self, text: str) -> np.ndarray:
        return self.inner.encode(self.normalize(text))

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self.inner.encode_batch([self.normalize(text) for text in texts])

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Offsets are into ``text`` as given: a token inside a changed piece covers all of it."""
        mapping = OffsetMap(text, self.normalization)
        ids, starts, ends = self.inner.encode_with_offsets(mapping.normalized)
        return (ids, np.array([mapping.original(int(x), True) for x in starts], dtype=np.int64),
                np.array([mapping.original(int(x), False) for x in ends], dtype=np.int64))

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self.inner.decode(ids)

    def token_text(self, token_id: int) -> str:
        return self.inner.token_text(token_id)

    def token_texts(self) -> list[str]:
        return self.inner.token_texts()

    def token_piece(self, token_id: int) -> str:
        return self.inner.token_piece(token_id)

    def manifest_entry(self) -> dict[str, Any]:
        return {**self.inner.manifest_entry(), "normalize": self.normalization}

    def stored_file(self) -> bytes | None:
        return self.inner.stored_file()


def normalized_tokenizer(tokenizer: Tokenizer, normalization: str | None) -> Tokenizer:
    """``tokenizer``, normalizing text first by ``normalization`` when it is given (else as it
    is: a tokenizer of a normalized index keeps its normalization)."""
    if normalization is None:
        return tokenizer
    if isinstance(tokenizer, NormalizedTokenizer):
        tokenizer = tokenizer.inner
    if not tokenizer.takes_text:
        raise BuildError(f"normalize={normalization!r} applies to text, but these documents are token ids; leave "
                         "normalize out")
    return NormalizedTokenizer(tokenizer, normalization)


def tokenizer_from_manifest(entry: dict[str, Any], directory: Path) -> Tokenizer:
    """Rebuild the tokenizer an index was built with from its manifest entry."""
    if entry.get("normalize") is not None:
        try:
            return normalized_tokenizer(tokenizer_from_manifest({k: v for k, v in entry.items() if k != "normalize"},
                                                                directory), entry["normalize"])
        except BuildError as error:
            raise IndexFormatError(f"the manifest's tokenizer entry is not one this infgram reads ({error}); "
                                   "upgrade infgram or rebuild the index") from None
    kind = entry.get("kind")
    if kind == "bytes":
        return ByteTokenizer()
    if kind == "huggingface":
        path = Path(directory) / entry.get("file", TOKENIZER_FILE_NAME)
        if not path.exists():
            raise IndexFormatError(f"the index's tokenizer file {path} is missing; rebuild the index")
        tokenizer = HuggingFaceTokenizer(path)
        if tokenizer.sha256 != entry.get("sha256"):
            raise IndexFormatError(
                f"{path} does not match the tokenizer the index was built with (sha256 differs); "
                "restore the original tokenizer.json or rebuild the index"
            )
        return tokenizer
    if kind == "pretokenized":
        return PretokenizedVocabulary(entry["token_width"], entry["vocab_size"])
    raise IndexFormatError(f"unknown tokenizer kind {kind!r} in the manifest; expected bytes, huggingface or pretokenized")


def load_tokenizer(spec: str | Path | Tokenizer | None) -> Tokenizer:
    """``None`` or ``"bytes"`` gives byte mode; a path gives a Hugging Face tokenizer: a
    ``tokenizer.json``, or a GGUF model file (recognized by its first bytes), whose own
    tokenizer is converted.

    >>> load_tokenizer(None).kind
    'bytes'
    """
    if isinstance(spec, Tokenizer):
        return spec
    if spec is None or str(spec) == "bytes":
        return ByteTokenizer()
    path = Path(spec)
    if not path.is_file():
        raise BuildError(
            f"tokenizer {spec!r} is not a file; pass a Hugging Face tokenizer.json path, a GGUF model file, or "
            "'bytes' for byte mode"
        )
    if is_gguf(path):
        try:
            return HuggingFaceTokenizer(path, tokenizer_json_text(path))
        except BuildError:
            raise
        except InfgramError as error:
            raise BuildError(f"cannot use the tokenizer of the GGUF file {path}: {error}") from None
    return HuggingFaceTokenizer(path)
