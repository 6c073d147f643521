/*
 * bits.h: fixed-width fields in arrays of 64-bit words, least significant bit first.
 *
 * Field i of width w occupies bits [i w, (i + 1) w) of the array: bit p is bit p % 64 of
 * word p / 64. A field may straddle two words. Plain C99; no Python.h.
 */
#ifndef INFGRAM_BITS_H
#define INFGRAM_BITS_H

#include <stdint.h>

/* The `width` bits (0..64) from bit `position`. Reads words[position / 64] and, when the
 * field straddles, the next word: the caller makes sure both exist. */
static inline uint64_t read_bits(const uint64_t *words, uint64_t position, int width) {
    if (width == 0) return 0;
    uint64_t word = position >> 6;
    int shift = (int)(position & 63);
    uint64_t value = words[word] >> shift;
    if (shift + width > 64) value |= words[word + 1] << (64 - shift);
    return width == 64 ? value : value & (((uint64_t)1 << width) - 1);
}

/* OR `value` (which fits in `width` bits, 0..64) into the field at bit `position`; the field
 * must be zero beforehand. Writes the words read_bits would read. */
static inline void write_bits(uint64_t *words, uint64_t position, int width, uint64_t value) {
    if (width == 0) return;
    uint64_t word = position >> 6;
    int shift = (int)(position & 63);
    words[word] |= value << shift;
    if (shift + width > 64) words[word + 1] |= value >> (64 - shift);
}

static inline int get_bit(const uint64_t *words, uint64_t position) {
    return (int)((words[position >> 6] >> (position & 63)) & 1);
}

#endif
