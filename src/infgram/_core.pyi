"""Type stubs of infgram._core: the compiled suffix-array searches (C: ``c/sa_search.h``)."""

from typing_extensions import Buffer

class ShardView:
    """The searches over one suffix-array shard's tokens and pointers (buffers held for its lifetime)."""

    num_positions: int
    def __init__(self, tokens: Buffer, suffix_array: Buffer, token_width: int, pointer_width: int) -> None: ...
    def find(self, query: bytes, lo: int = 0, hi: int = -1) -> tuple[int, int]:
        """The run [lo, hi) of suffixes that start with the query (big-endian token bytes)."""
    def find_many(self, data: bytes, offsets: bytes) -> bytes:
        """The runs of many queries (``data[offsets[i]:offsets[i+1]]``), as int64 (lo, hi) pairs."""
    def next_tokens(self, lo: int, hi: int, depth: int) -> tuple[bytes, bytes]:
        """Distinct tokens at ``depth`` over the run (uint64) and their counts (int64)."""
    def longest_suffix(self, query: bytes) -> tuple[int, int, int]:
        """(length in tokens, lo, hi) of the longest suffix of the query that occurs."""
    def longest_matches(self, query: bytes) -> tuple[bytes, bytes]:
        """Per start, the longest prefix that occurs and its count, as int64 arrays."""
    def infgram_probabilities(self, query: bytes, unigram_hi: int) -> tuple[bytes, bytes, bytes]:
        """Per token: the longest context suffix, its count and the count with the token (int64)."""
    def use_keys(self, keys: Buffer, step: int, with_pointers: bool = False) -> None:
        """Start searches from the first 8 bytes of every ``step``-th suffix (each followed by its position)."""
    def read_from_disk(self, on: bool) -> None:
        """Read the probes of each search step at once (pages may be on disk), or search as in memory."""

def suffix_keys(tokens: Buffer, token_width: int, positions: bytes) -> bytes:
    """The suffix keys (native uint64) of the given positions."""

def encode_ids(ids: list[int] | tuple[int, ...], token_width: int, limit: int) -> bytes | None:
    """Big-endian bytes of the ids, or None if one is not an int in [0, limit)."""
