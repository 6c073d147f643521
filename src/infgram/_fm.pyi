"""Type stubs of infgram._fm: the compiled FM-index (C: ``c/fm_index.h``, ``c/fm_build.h``, ``c/rrr.h``)."""

from typing_extensions import Buffer

BLOCK_BITS: int
SUPERBLOCK_BLOCKS: int
HYPERBLOCK_BLOCKS: int
CLASSES_PER_WORD: int
CLASSES_IN_SAMPLE: int
SELECT_SAMPLE: int

class FMView:
    """Backward search, locate and extract over one FM shard's wavelet and samples blobs."""

    num_positions: int
    def __init__(self, wavelet: Buffer, samples: Buffer) -> None: ...
    def find(self, query: bytes) -> tuple[int, int]:
        """The rows [lo, hi) whose suffixes start with the query."""
    def find_many(self, data: bytes, offsets: bytes) -> bytes:
        """The rows of many queries, as int64 (lo, hi) pairs."""
    def locate(self, lo: int, hi: int) -> bytes:
        """Text positions of rows lo..hi-1, as int64."""
    def extract(self, start: int, end: int) -> bytes:
        """The text between two positions."""
    def access(self, row: int) -> int:
        """The BWT symbol at a row."""
    def rank(self, symbol: int, row: int) -> int:
        """Occurrences of the symbol in BWT[0, row)."""

def fill_wavelet_bits(*arguments: object) -> None:
    """Set the wavelet-tree node bits of a chunk of the BWT."""

def rrr_compress(bits: Buffer, num_bits: int) -> tuple[bytes, bytes, bytes]:
    """The RRR sections (superblocks, hyperblocks, offsets) of a bitvector."""

def pack_bits(values: Buffer, width: int) -> bytes:
    """Pack uint64 values into fixed-width bit fields."""
