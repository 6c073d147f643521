"""infgram's SA-IS suffix sorter over a token alphabet (C: ``c/sais.c``, contract in ``c/sais.h``)."""

from typing_extensions import Buffer

def sort_suffixes(
    tokens: Buffer, token_width: int, alphabet_size: int, out: Buffer, *, int32_limit: int = 2**31 - 1
) -> None:
    """Write the token-level suffix array of ``tokens`` into ``out``.

    ``tokens``: big-endian tokens of ``token_width`` (1, 2 or 4) bytes. ``out``: a writable
    buffer of one int32 (at most ``int32_limit`` tokens) or one int64 per token. Token ids
    must be below ``alphabet_size`` (at most 2**30 for 4-byte tokens) or be the separator,
    the largest value of the width, which sorts after every id; ``alphabet_size`` 0 means
    every value of a 1- or 2-byte width. Suffixes sort by token id, a proper prefix first.
    ``int32_limit`` only lowers the int32 limit, so tests can try both sides of it.

    Raises ValueError for bad arguments or an id out of range, MemoryError when the bucket
    arrays cannot be allocated. Releases the GIL while sorting.
    """
