/*
 * rrr.h: the compressed bitvector of the FM-index's wavelet tree, its layout defined once
 * for the writer (fm_build.c) and the reader (fm_index.c).
 *
 * RRR bitvector (Raman, Raman and Rao, 2002). The bitvector is cut into blocks of 63 bits.
 * A block is stored as its class k (its number of ones, 6 bits) and its offset: the index
 * of its bit pattern among all C(63, k) patterns with k ones, in rrr_width[k] =
 * ceil(log2 C(63, k)) bits (0 bits when k is 0 or 63, the common case in a BWT: its runs
 * make long stretches of equal bits). The offsets are one bit stream, block after block.
 *
 * Enumerative code of a block: bits are read from position 0 to 62. With L positions left
 * of which k hold ones, the C(L - 1, k) patterns whose next bit is 0 come first; a 1 skips
 * them. So the offset is the sum of C(L - 1, k) over the set bits, and decoding compares
 * the offset with C(L - 1, k) at each position.
 *
 * Ranks come from sampled prefix sums. Every 35 blocks form a superblock, every 980 blocks
 * (28 superblocks) a hyperblock.
 *
 *   hyperblocks  2 uint64 per hyperblock h: the ones, and the offset bits, of all blocks
 *                before block 980 h.
 *   superblocks  one record of RRR_RECORD_WORDS = 4 uint64 per superblock s (32 bytes, so a
 *                rank touches one cache line for all of it):
 *                  word 0, bits  0..15: ones before block 35 s, minus its hyperblock's count
 *                  word 0, bits 16..31: offset bits before block 35 s, minus its hyperblock's
 *                  word 0, bits 32..61: the classes of blocks 35 s + 0..4, 6 bits each
 *                  words 1..3, bits 0..59: the classes of the next 30 blocks, 10 per word
 *                Both relative counts fit in 16 bits: before its last superblock a
 *                hyperblock holds at most 945 x 63 ones and 945 x 60 offset bits.
 *
 * Sizes for num_bits bits: num_blocks = num_bits / 63 + 1 blocks (the last one may be
 * partial or empty), num_blocks / 35 + 1 superblocks (padded with empty blocks),
 * num_blocks / 980 + 1 hyperblocks, and an offset stream of (total offset bits) / 64 + 2
 * words (one spare word, so that a read may straddle).
 *
 * Plain C99; no Python.h. Call rrr_tables_init() once before anything else here.
 */
#ifndef INFGRAM_RRR_H
#define INFGRAM_RRR_H

#include <stdint.h>

#define RRR_BLOCK_BITS 63
#define RRR_SUPERBLOCK_BLOCKS 35
#define RRR_HYPERBLOCK_BLOCKS 980
#define RRR_RECORD_WORDS 4
#define RRR_CLASSES_IN_SAMPLE 5
#define RRR_CLASSES_PER_WORD 10

extern uint64_t rrr_binomial[64][64]; /* rrr_binomial[n][k] = C(n, k) */
extern int rrr_width[64];             /* offset bits of a block of class k */

/* Fill the two tables (idempotent; not thread-safe the first time: call it at import). */
void rrr_tables_init(void);

static inline uint64_t rrr_num_blocks(uint64_t num_bits) { return num_bits / RRR_BLOCK_BITS + 1; }
static inline uint64_t rrr_num_superblocks(uint64_t num_blocks) { return num_blocks / RRR_SUPERBLOCK_BLOCKS + 1; }
static inline uint64_t rrr_num_hyperblocks(uint64_t num_blocks) { return num_blocks / RRR_HYPERBLOCK_BLOCKS + 1; }

/* Where the class of block i (0..34) of a superblock sits in its record. */
static inline void rrr_class_slot(int i, int *word, int *shift) {
    if (i < RRR_CLASSES_IN_SAMPLE) {
        *word = 0;
        *shift = 32 + 6 * i;
    } else {
        *word = 1 + (i - RRR_CLASSES_IN_SAMPLE) / RRR_CLASSES_PER_WORD;
        *shift = 6 * ((i - RRR_CLASSES_IN_SAMPLE) % RRR_CLASSES_PER_WORD);
    }
}

/* Position of a block: the ones and offset bits before it, and its class. */
typedef struct {
    uint64_t ones, position;
    int k;
} rrr_place;

/* Where block `block` is, from its superblock record and hyperblock sample alone. The caller
 * guarantees block < num_blocks (so both arrays are in range); the values it returns come
 * from the file and must be checked before they index anything. */
static inline void rrr_place_block(const uint64_t *superblocks, const uint64_t *hyperblocks, uint64_t block,
                                   rrr_place *place) {
    uint64_t superblock = block / RRR_SUPERBLOCK_BLOCKS, hyperblock = block / RRR_HYPERBLOCK_BLOCKS;
    const uint64_t *record = superblocks + RRR_RECORD_WORDS * superblock;
    uint64_t ones = hyperblocks[2 * hyperblock] + (record[0] & 0xffff);
    uint64_t position = hyperblocks[2 * hyperblock + 1] + ((record[0] >> 16) & 0xffff);
    int before = (int)(block - superblock * RRR_SUPERBLOCK_BLOCKS); /* blocks of the superblock before ours */
    /* The classes as one sequence: 5 in the sample word from bit 32, then 10 per word. */
    uint64_t word = record[0] >> 32;
    int in_word = RRR_CLASSES_IN_SAMPLE, w = 0;
    while (before >= in_word) {
        for (int i = 0; i < in_word; i++) {
            int k = (int)((word >> (6 * i)) & 63);
            ones += (uint64_t)k;
            position += (uint64_t)rrr_width[k];
        }
        before -= in_word;
        word = record[++w];
        in_word = RRR_CLASSES_PER_WORD;
    }
    for (int i = 0; i < before; i++) {
        int k = (int)((word >> (6 * i)) & 63);
        ones += (uint64_t)k;
        position += (uint64_t)rrr_width[k];
    }
    place->ones = ones;
    place->position = position;
    place->k = (int)((word >> (6 * before)) & 63);
}

/* Ones among bits [0, q) of a block of class k and offset `offset` (q < 63); *bit = bit q.
 * Any k (0..63) and offset give an answer <= q in at most 63 steps. */
static inline uint64_t rrr_block_rank(int k, uint64_t offset, int q, int *bit) {
    uint64_t ones = 0;
    for (int j = 0;; j++) {
        int left = RRR_BLOCK_BITS - j;
        if (k == 0) {
            *bit = 0;
            return ones;
        }
        if (k >= left) {
            *bit = 1;
            return ones + (uint64_t)(q - j);
        }
        uint64_t skip = rrr_binomial[left - 1][k];
        int one = offset >= skip;
        if (j == q) {
            *bit = one;
            return ones;
        }
        if (one) {
            offset -= skip;
            k--;
            ones++;
        }
    }
}

/* The offset of a 63-bit block (bit j of `block` is bit j of the block) with k ones. */
static inline uint64_t rrr_block_offset(uint64_t block, int k) {
    uint64_t offset = 0;
    for (int j = 0; j < RRR_BLOCK_BITS && k > 0; j++) {
        if ((block >> j) & 1) {
            offset += rrr_binomial[RRR_BLOCK_BITS - j - 1][k];
            k--;
        }
    }
    return offset;
}

#endif
