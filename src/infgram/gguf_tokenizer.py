"""The tokenizer stored in a GGUF model file, read without any model library.

A GGUF file (the format of llama.cpp) begins with a table of metadata: keys, each with a
typed value (numbers, strings, or arrays of them). The tokenizer is there in full —
``tokenizer.ggml.model`` (``gpt2`` for byte-level BPE), ``tokenizer.ggml.tokens`` (the
vocabulary, by id), ``tokenizer.ggml.merges``, ``tokenizer.ggml.token_type`` (1 normal,
3 control, 4 user-defined) and ``tokenizer.ggml.pre`` (how text is split before BPE). This
module reads that table (and nothing else: the tensors after it are never touched) and
gives the same tokenizer as a Hugging Face ``tokenizer.json``, so that an index built with
``--tokenizer model.gguf`` has the model's ids (:func:`infgram.tokenizer.load_tokenizer`
converts a ``.gguf`` path with :func:`tokenizer_json_text`).

It sits in the tokenizer's layer, below :mod:`infgram.lm.gguf` (which adds the check that an
index and a model share one vocabulary, and the ``python -m infgram.lm.gguf`` converter).

The metadata layout (GGUF versions 2 and 3, little-endian): the magic ``GGUF``, a uint32
version, uint64 counts of tensors and of metadata entries, then each entry as a string key
(uint64 length and UTF-8 bytes), a uint32 type and the value; an array is a uint32 item type,
a uint64 length and the items.

>>> import io
>>> blob = _example_gguf({"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": ["a", "b", "ab"]})
>>> read_metadata(io.BytesIO(blob))["tokenizer.ggml.tokens"]
['a', 'b', 'ab']
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np

from .errors import InputError, UnsupportedOperationError

_MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
PRE_TOKENIZERS: dict[str, list[dict[str, Any]]] = {
    "default": [_BYTE_LEVEL],
    "gpt2": [_BYTE_LEVEL],
    "smollm": [{"type": "Digits", "individual_digits": True}, _BYTE_LEVEL],
    "llama-bpe": [{"type": "Split", "pattern": {"Regex": _LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
                  {**_BYTE_LEVEL, "use_regex": False}],
}
"""How each ``tokenizer.ggml.pre`` splits text before BPE, as Hugging Face pre-tokenizers
(the splits llama.cpp applies for these names)."""


class _Reader:
    def __init__(self, stream: BinaryIO, name: str):
        self.stream, self.name = stream, name

    def take(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise InputError(f"expected {size} more bytes of GGUF metadata in {self.name}, found the end of the "
                             "file; the file is truncated: download it again")
        return data

    def scalar(self, kind: int) -> Any:
        layout = _SCALARS[kind]
        return struct.unpack(layout, self.take(struct.calcsize(layout)))[0]

    def string(self) -> str:
        return self.take(self.scalar(10)).decode("utf-8", errors="surrogateescape")

    def value(self, kind: int) -> Any:
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, length = self.scalar(4), self.scalar(10)
            if item_kind == _STRING:
                return [self.string() for _ in range(length)]
            if item_kind in _SCALARS:
                dtype = np.dtype(_SCALARS[item_kind])
                return np.frombuffer(self.take(length * dtype.itemsize), dtype=dtype).tolist()
            return [self.value(item_kind) for _ in range(length)]
        if kind not in _SCALARS:
            raise InputError(f"expected a GGUF value type from 0 to 12 in {self.name}, found {kind}; "
                             "the file is damaged or not GGUF")
        return self.scalar(kind)


def read_metadata(source: str | Path | BinaryIO) -> dict[str, Any]:
    """The metadata table of a GGUF file (a path or an open binary file), as a dict."""
    if isinstance(source, (str, Path)):
        try:
            with open(source, "rb") as stream:
                return read_metadata_from(stream, str(source))
        except OSError as error:
            raise InputError(f"cannot read the GGUF file {source}: {error.strerror}; give a readable .gguf file") \
                from None
    return read_metadata_from(source, "the stream")


def read_metadata_from(stream: BinaryIO, name: str) -> dict[str, Any]:
    """:func:`read_metadata` of an open binary stream."""
    reader = _Reader(stream, name)
    magic = reader.take(4)
    if magic != _MAGIC:
        raise InputError(f"expected a GGUF file (starting with the bytes GGUF), found {magic!r} at the start of "
                         f"{name}; give a model in llama.cpp's GGUF format")
    version = reader.scalar(4)
    if version not in (2, 3):
        raise InputError(f"expected GGUF version 2 or 3 in {name}, found {version}; convert the model with a "
                         "current llama.cpp")
    reader.scalar(10)  # tensors: not read
    entries = reader.scalar(10)
    metadata: dict[str, Any] = {}
    for _ in range(entries):
        key = reader.string()
        metadata[key] = reader.value(reader.scalar(4))
    return metadata


def tokenizer_json(metadata: dict[str, Any]) -> dict[str, Any]:
    """The Hugging Face ``tokenizer.json`` (as a dict) of a GGUF byte-level BPE tokenizer.

    >>> metadata = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt2",
    ...             "tokenizer.ggml.tokens": ["a", "b", "ab", "<s>"], "tokenizer.ggml.merges": ["a b"],
    ...             "tokenizer.ggml.token_type": [1, 1, 1, 3]}
    >>> from tokenizers import Tokenizer
    >>> tokenizer = Tokenizer.from_str(json.dumps(tokenizer_json(metadata)))
    >>> tokenizer.encode("abba<s>", add_special_tokens=False).ids
    [2, 1, 0, 3]
    """
    model = metadata.get("tokenizer.ggml.model")
    if model != "gpt2":
        raise UnsupportedOperationError(f"expected a byte-level BPE tokenizer (tokenizer.ggml.model 'gpt2') in the "
                                        f"GGUF file, found {model!r}; build the index with the model's own "
                                        "tokenizer.json instead")
    pre = metadata.get("tokenizer.ggml.pre", "default")
    if pre not in PRE_TOKENIZERS:
        raise UnsupportedOperationError(f"expected a pre-tokenizer this converter knows ({', '.join(PRE_TOKENIZERS)}) "
                                        f"in the GGUF file, found {pre!r}; build the index with the model's own "
                                        "tokenizer.json instead")
    tokens: list[str] = metadata["tokenizer.ggml.tokens"]
    types = metadata.get("tokenizer.ggml.token_type", [1] * len(tokens))
    merges = [merge.split(" ", 1) for merge in metadata.get("tokenizer.ggml.merges", [])]
    added = [{"id": number, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": kind == 3}
             for number, (token, kind) in enumerate(zip(tokens, types)) if kind in (3, 4)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": PRE_TOKENIZERS[pre]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {token: number for number, token in enumerate(tokens)}, "merges": merges},
    }


def tokenizer_json_text(gguf_path: str | Path) -> str:
    """The ``tokenizer.json`` of a GGUF model, as the text written to a file (deterministic:
    the same GGUF file always gives the same text, hence the same SHA-256 in a manifest)."""
    return json.dumps(tokenizer_json(read_metadata(gguf_path)), ensure_ascii=False)


def is_gguf(path: str | Path) -> bool:
    """Whether a file starts with the GGUF magic (a tokenizer.json starts with ``{``)."""
    try:
        with open(path, "rb") as stream:
            return stream.read(4) == _MAGIC
    except OSError:
        return False


def vocabulary_fingerprint(tokens: Sequence[str | None]) -> str:
    """A SHA-256 of a vocabulary: its token strings in id order (None for an unused id).

    >>> vocabulary_fingerprint(["a", "b"])[:12]
    '3554d2b8a1e3'
    """
    return hashlib.sha256(json.dumps(list(tokens), ensure_ascii=False).encode("utf-8", "surrogateescape")).hexdigest()


def _example_gguf(metadata: dict[str, Any]) -> bytes:
    """A GGUF header holding only the given metadata (strings and lists of strings), for examples."""
    def string(text: str) -> bytes:
        data = text.encode("utf-8")
        return struct.pack("<Q", len(data)) + data

    parts = [_MAGIC, struct.pack("<IQQ", 3, 0, len(metadata))]
    for key, value in metadata.items():
        parts.append(string(key))
        if isinstance(value, str):
            parts.append(struct.pack("<I", _STRING) + string(value))
        else:
            parts.append(struct.pack("<IIQ", _ARRAY, _STRING, len(value)) + b"".join(map(string, value)))
    return b"".join(parts)
