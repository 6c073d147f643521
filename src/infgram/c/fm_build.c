/*
 * fm_build.c: the bit-level steps of an FM-index build (contract: fm_build.h).
 *
 * Wavelet tree: a Huffman-shaped tree over the BWT's byte values. The root's bitvector
 * holds the first code bit of every BWT symbol, in BWT order; each internal node holds the
 * next code bit of the symbols whose codes pass through it, in the same relative order.
 * All node bitvectors are concatenated into one long bitvector; filling it is one walk
 * down the tree per symbol, appending a bit at every node on the way (a cursor per node).
 *
 * RRR compression of the long bitvector (rrr.h): a first pass takes the class (popcount)
 * of every 63-bit block and writes the superblock records and hyperblock samples, which are
 * running sums of the classes and of their offset widths; a second pass writes each block's
 * enumerative offset at the bit position that rrr_place_block, the reader's function,
 * computes from those records. So what the reader finds is, by construction, where the
 * writer put it.
 */
#include "fm_build.h"

#include "bits.h"
#include "rrr.h"

int fill_wavelet_bits(const unsigned char *bwt, int64_t count, const uint64_t *codes, const uint8_t *code_lengths,
                      const int32_t *children, int64_t num_nodes, uint64_t *cursors, uint64_t *bits,
                      uint64_t num_words, damage_report *report) {
    for (int64_t i = 0; i < count; i++) {
        int c = bwt[i], length = code_lengths[c];
        int32_t node = 0;
        if (length > 64)
            return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected codes of at most 64 bits, found %d for %d",
                                  length, c);
        for (int d = 0; d < length; d++) {
            if (node < 0 || node >= num_nodes)
                return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                                      "the code of symbol %d leads to node %d, expected one of the %lld nodes", c,
                                      (int)node, (long long)num_nodes);
            int branch = (int)((codes[c] >> (length - 1 - d)) & 1);
            uint64_t p = cursors[node]++;
            if (p >= 64 * num_words)
                return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                                      "node %d's cursor reached bit %llu, expected one below %llu", (int)node,
                                      (unsigned long long)p, (unsigned long long)(64 * num_words));
            if (branch) bits[p >> 6] |= (uint64_t)1 << (p & 63);
            node = children[2 * node + branch];
        }
    }
    return INFGRAM_OK;
}

/* The 63 bits of a block (zeros at or past num_bits). */
static uint64_t block_bits(const uint64_t *bits, uint64_t num_bits, uint64_t block) {
    uint64_t start = block * RRR_BLOCK_BITS;
    if (start >= num_bits) return 0;
    uint64_t value = read_bits(bits, start, RRR_BLOCK_BITS); /* num_bits <= 64 * num_words: in range, see callers */
    uint64_t valid = num_bits - start;
    return valid >= RRR_BLOCK_BITS ? value : value & (((uint64_t)1 << valid) - 1);
}

int rrr_layout(const uint64_t *bits, uint64_t num_words, uint64_t num_bits, uint64_t *superblocks,
               uint64_t *hyperblocks, uint64_t *offset_bits, damage_report *report) {
    /* block_bits reads the word after the last bit when a block straddles: one spare word. */
    if (num_words < num_bits / 64 + 2)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected %llu words for %llu bits, found %llu",
                              (unsigned long long)(num_bits / 64 + 2), (unsigned long long)num_bits,
                              (unsigned long long)num_words);
    uint64_t num_blocks = rrr_num_blocks(num_bits), num_superblocks = rrr_num_superblocks(num_blocks);
    uint64_t ones = 0, position = 0, hyperblock_ones = 0, hyperblock_position = 0;
    const uint64_t superblocks_per_hyperblock = RRR_HYPERBLOCK_BLOCKS / RRR_SUPERBLOCK_BLOCKS;
    for (uint64_t s = 0; s < num_superblocks; s++) {
        uint64_t *record = superblocks + RRR_RECORD_WORDS * s;
        if (s % superblocks_per_hyperblock == 0) {
            hyperblock_ones = ones;
            hyperblock_position = position;
            hyperblocks[2 * (s / superblocks_per_hyperblock)] = ones;
            hyperblocks[2 * (s / superblocks_per_hyperblock) + 1] = position;
        }
        for (int w = 0; w < RRR_RECORD_WORDS; w++) record[w] = 0;
        record[0] = (ones - hyperblock_ones) | ((position - hyperblock_position) << 16);
        for (int i = 0; i < RRR_SUPERBLOCK_BLOCKS; i++) {
            uint64_t block = s * RRR_SUPERBLOCK_BLOCKS + (uint64_t)i;
            int k = block < num_blocks ? __builtin_popcountll(block_bits(bits, num_bits, block)) : 0;
            int word, shift;
            rrr_class_slot(i, &word, &shift);
            record[word] |= (uint64_t)k << shift;
            ones += (uint64_t)k;
            position += (uint64_t)rrr_width[k];
        }
    }
    *offset_bits = position;
    return INFGRAM_OK;
}

int rrr_offsets(const uint64_t *bits, uint64_t num_words, uint64_t num_bits, const uint64_t *superblocks,
                const uint64_t *hyperblocks, uint64_t first_block, uint64_t end_block, uint64_t *offsets,
                uint64_t offset_words, damage_report *report) {
    if (num_words < num_bits / 64 + 2 || offset_words < 2 || first_block > end_block ||
        end_block > rrr_num_blocks(num_bits))
        return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                              "expected blocks within the %llu of %llu bits (and a spare word), found %llu..%llu",
                              (unsigned long long)rrr_num_blocks(num_bits), (unsigned long long)num_bits,
                              (unsigned long long)first_block, (unsigned long long)end_block);
    for (uint64_t block = first_block; block < end_block; block++) {
        rrr_place place;
        rrr_place_block(superblocks, hyperblocks, block, &place);
        int width = rrr_width[place.k];
        if (width == 0) continue;
        if (place.position + (uint64_t)width > 64 * (offset_words - 1))
            return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                                  "block %llu's offset ends at bit %llu, expected one within %llu words (and a spare)",
                                  (unsigned long long)block, (unsigned long long)(place.position + (uint64_t)width),
                                  (unsigned long long)offset_words);
        write_bits(offsets, place.position, width, rrr_block_offset(block_bits(bits, num_bits, block), place.k));
    }
    return INFGRAM_OK;
}

void pack_bits(const uint64_t *values, uint64_t count, int width, uint64_t *words) {
    uint64_t mask = width == 64 ? ~(uint64_t)0 : (((uint64_t)1 << width) - 1);
    for (uint64_t i = 0; i < count; i++) write_bits(words, i * (uint64_t)width, width, values[i] & mask);
}
