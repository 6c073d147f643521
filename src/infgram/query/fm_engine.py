"""Queries over an FM-index: counts, documents and context windows, from compressed bytes.

An FM-index (``infgram build --kind fm``, see ``index/fm_build.py``) finds the rows of a
query by backward search instead of binary search, but they are the same rows a suffix
array of the same bytes would give; so :class:`FMIndex` reuses the engine's code for
``count``, ``count_batch``, ``documents`` and ``document`` and gets the same answers as a
byte-mode suffix-array index. What differs is cost: a count takes two rank operations per
query byte; a document needs its bytes extracted (one LF step per byte, from the nearest
inverse sample) and every match located (at most ``sample_rate`` LF steps each), so
``documents`` of a query with very many matches is much slower than on a suffix array.

Next-token distributions, probabilities, ∞-gram queries, longest matches and attribution
read the bytes after each match, and search and co-occurrence scan the text of candidate
documents; an FM-index would have to extract those byte by byte, so they raise
:class:`~infgram.errors.UnsupportedOperationError` pointing to a suffix-array index.

>>> import tempfile, pathlib, infgram
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = infgram.build_from_documents(["a rose is a rose", "is it"], folder / "fm", kind="fm", progress=False)
>>> index = infgram.Index.open(folder / "fm")
>>> type(index).__name__, index.count("rose"), index.count_batch(["is", "a r", "x"]).tolist()
('FMIndex', 2, [2, 2, 0])
>>> [(d.index, d.start, d.text) for d in index.documents("is", context=2).documents]
[(0, 7, 'e is a'), (1, 0, 'is i')]
"""

from __future__ import annotations

from typing import Any, NoReturn

from ..errors import IndexFormatError, UnsupportedOperationError
from ..shards.fm import FMShard
from .index import Index
from .results import Document

_UTF8_CONTINUATION_MAX = 3
"""A UTF-8 character has at most 3 continuation bytes: windows are extracted with this margin."""


class FMIndex(Index):
    """An open FM-index: ``count``, ``count_batch``, ``documents`` and ``document`` as on a
    byte-mode suffix-array index; the other queries raise UnsupportedOperationError."""

    index_kind = "fm"
    shard_type = FMShard

    @classmethod
    def open(cls, directory) -> "FMIndex":
        """Open an FM-index directory (``Index.open`` does this for any kind of index)."""
        index = super().open(directory)
        if index.tokenizer.kind != "bytes":
            raise IndexFormatError(f"the FM-index in {directory} names the {index.tokenizer.kind} tokenizer, but "
                                   "FM-indexes hold bytes; rebuild the index")
        fm = index.manifest.get("fm")
        if not isinstance(fm, dict) or not isinstance(fm.get("sample_rate"), int):
            raise IndexFormatError(f"the manifest of {directory} has no FM sampling settings; rebuild the index")
        return index

    def _unsupported(self, operation: str) -> NoReturn:
        raise UnsupportedOperationError(
            f"{operation} needs a suffix-array index, but {self.directory} is an FM-index, which answers count, "
            "documents and document; build a suffix-array index of the corpus with `infgram build --kind sa` "
            "(the default) for it")

    def probability(self, prompt, next_token):
        self._unsupported("probability")

    def probability_batch(self, pairs):
        self._unsupported("probability")

    def next_tokens(self, prompt, top_k=None):
        self._unsupported("next_tokens")

    def next_tokens_batch(self, prompts, top_k=None):
        self._unsupported("next_tokens")

    def infgram_probability(self, prompt, next_token):
        self._unsupported("infgram_probability (∞-gram)")

    def infgram_probability_batch(self, pairs):
        self._unsupported("infgram_probability (∞-gram)")

    def infgram_next_tokens(self, prompt, top_k=None):
        self._unsupported("infgram_next_tokens (∞-gram)")

    def infgram_probabilities(self, text):
        self._unsupported("infgram_probabilities (∞-gram)")

    def longest_matches(self, text):
        self._unsupported("longest_matches")

    def attribute(self, text, min_length=None, max_count=100, examples=3, context=None):
        self._unsupported("attribute")

    def search(self, cnf, within=None, limit=10, offset=0, seed=None, context=None):
        self._unsupported("search (it scans the text of candidate documents)")

    def cooccurrence(self, phrases, pairs=None, document_counts=False):
        self._unsupported("cooccurrence (it scans the text of candidate documents)")

    def _document(self, index: int, start: int | None, length: int, context: int | None,
                  spans: list[tuple[int, int]] | None = None) -> Document:
        """As the engine's, but extracts only the window (plus a margin to finish UTF-8 characters)."""
        shard, local = self._shard_of_document(index)
        num_tokens = int(shard.document_starts[local + 1] - shard.document_starts[local]) - 1
        if spans is None:
            spans = [] if start is None else [(start, start + length)]
        if context is None or start is None:
            tokens = shard.document_tokens(local)
            return Document(index, self.tokenizer.decode(tokens), start, shard.metadata(local), 0, num_tokens,
                            self._character_spans(tokens, 0, spans))
        window_start = max(0, start - context)
        window_end = min(num_tokens, start + length + context)
        margin_start = max(0, window_start - _UTF8_CONTINUATION_MAX)
        margin_end = min(num_tokens, window_end + _UTF8_CONTINUATION_MAX)
        piece = shard.document_slice(local, margin_start, margin_end)
        # Do not cut a UTF-8 character in two: move the edges off continuation bytes.
        while window_start > margin_start and 0x80 <= piece[window_start - margin_start] < 0xC0:
            window_start -= 1
        while window_end < margin_end and 0x80 <= piece[window_end - margin_start] < 0xC0:
            window_end += 1
        window = piece[window_start - margin_start : window_end - margin_start]
        return Document(index, self.tokenizer.decode(window), start, shard.metadata(local), window_start, num_tokens,
                        self._character_spans(window, window_start, spans))

    def info(self) -> dict[str, Any]:
        """What the index holds and how big it is, with its sampling rates."""
        info = super().info()
        info["sample_rate"] = self.manifest["fm"]["sample_rate"]
        info["isa_rate"] = self.manifest["fm"].get("isa_rate")
        return info
