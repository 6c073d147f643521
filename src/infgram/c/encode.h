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
 * suffix_keys: keys[k] = the key of the suffix that starts at token positions[k], padded with
 * zero bytes past the end of the tokens.
 *
 *   tokens     num_tokens * token_width bytes of big-endian tokens
 *   positions  `count` int64 token positions, each in [0, num_tokens)
 *   keys       `count` uint64 outputs (native order)
 *
 * Returns INFGRAM_OK, or INFGRAM_INVALID_ARGUMENT (with `report` filled and keys undefined)
 * when token_width is not 1, 2 or 4 or a position is outside [0, num_tokens).
 */
int suffix_keys(const unsigned char *tokens, int64_t num_tokens, int token_width, const int64_t *positions,
                int64_t count, uint64_t *keys, damage_report *report);

#endif
