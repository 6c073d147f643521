/*
 * encode.h: how token ids and the first bytes of suffixes are written, for the searches.
 *
 * A token is stored big-endian in `width` bytes (1, 2 or 4), so that memcmp() on two token
 * sequences orders them exactly as comparing their ids one by one. A suffix key is the
 * first 8 bytes of a suffix read as one big-endian number (see "Sampled suffix keys" in
 * sa_search.c); along the suffix array keys never decrease.
 *
 * Plain C99; no Python.h. Little-endian hosts are assumed only where a function says so.
 */
#ifndef INFGRAM_ENCODE_H
#define INFGRAM_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* The id stored big-endian in bytes[0, width). width: 1, 2 or 4. */
static inline uint64_t token_decode(const unsigned char *bytes, int width) {
    switch (width) {
        case 1: return bytes[0];
        case 2: return ((uint64_t)bytes[0] << 8) | bytes[1];
        default:
            return ((uint64_t)bytes[0] << 24) | ((uint64_t)bytes[1] << 16) | ((uint64_t)bytes[2] << 8) | bytes[3];
    }
}

/* Store the low 8 * width bits of `value` big-endian into out[0, width). width: 1, 2 or 4. */
static inline void token_encode(uint64_t value, int width, unsigned char *out) {
    for (int b = width - 1; b >= 0; b--) {
        out[b] = (unsigned char)(value & 0xff);
        value >>= 8;
    }
}

/* The first 8 bytes of bytes[0, available) read big-endian, missing bytes taken as `fill`. */
static inline uint64_t prefix_key(const unsigned char *bytes, size_t available, unsigned char fill) {
    uint64_t key = 0;
    for (size_t b = 0; b < 8; b++) key = (key << 8) | (b < available ? bytes[b] : fill);
    return key;
}

/*
 * suffix_key_records: the records of suffix_keys.bin for one stretch of a suffix array.
 *
 * The stretch holds the entries of ranks [first_rank, first_rank + count). Every rank in it
 * that is a multiple of `step` gives one record, in rank order: the key of its suffix (the
 * suffix's first 8 bytes, big-endian, padded with zero bytes past the end of the tokens) and
 * the suffix's token position, as two little-endian uint64 (16 bytes, whatever the host).
 *
 *   tokens        num_tokens * token_width bytes of big-endian tokens
 *   suffix_array  `count` token positions, native int32 (entry_bytes 4) or int64 (8), each
 *                 in [0, num_tokens)
 *   records       room for suffix_key_record_count(first_rank, count, step) records
 *
 * Returns INFGRAM_OK, or INFGRAM_INVALID_ARGUMENT (with `report` filled and the records
 * undefined) when token_width is not 1, 2 or 4, entry_bytes not 4 or 8, step below 1,
 * first_rank or count negative, or a sampled position is outside [0, num_tokens).
 */
int suffix_key_records(const unsigned char *tokens, int64_t num_tokens, int token_width, const void *suffix_array,
                       int entry_bytes, int64_t first_rank, int64_t count, int64_t step, unsigned char *records,
                       damage_report *report);

/* How many ranks in [first_rank, first_rank + count) are multiples of step (step >= 1,
 * first_rank >= 0, count >= 0): the records suffix_key_records writes. */
static inline int64_t suffix_key_record_count(int64_t first_rank, int64_t count, int64_t step) {
    int64_t before_end = (first_rank + count + step - 1) / step; /* multiples below the end */
    int64_t before_start = (first_rank + step - 1) / step;      /* multiples below first_rank */
    return before_end - before_start;
}

#endif
