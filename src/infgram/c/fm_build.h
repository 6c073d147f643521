/*
 * fm_build.h: writing the compressed structures of an FM-index (read by fm_index.h).
 *
 * The build (src/infgram/build/fm_writer.py) sorts the suffixes, takes the BWT, chooses a
 * Huffman-shaped wavelet tree and calls these functions for the bit-level work; the layout
 * of what they write is defined in rrr.h and bits.h, the same headers the reader uses.
 *
 * Plain C99; no Python.h. Call rrr_tables_init() first.
 */
#ifndef INFGRAM_FM_BUILD_H
#define INFGRAM_FM_BUILD_H

#include <stdint.h>

#include "status.h"

/*
 * fill_wavelet_bits: for each of the `count` BWT symbols, set its code bits in the nodes on
 * its path. Symbol c has the code_lengths[c] low bits of codes[c] (most significant first);
 * children[2 v + b] is node v's child on bit b (>= 0 an internal node, < 0 a leaf).
 * cursors[v] is node v's next bit position in `bits`, advanced per bit written; `bits` must
 * be zeroed beforehand and hold num_words words.
 *
 *   codes 256 uint64, code_lengths 256 uint8 (<= 64), children 2 * num_nodes int32,
 *   cursors num_nodes uint64.
 *
 * Returns INFGRAM_OK, or INFGRAM_INVALID_ARGUMENT (report filled; bits partly written) when
 * a code leads outside the nodes or a cursor outside `bits`.
 */
int fill_wavelet_bits(const unsigned char *bwt, int64_t count, const uint64_t *codes, const uint8_t *code_lengths,
                      const int32_t *children, int64_t num_nodes, uint64_t *cursors, uint64_t *bits,
                      uint64_t num_words, damage_report *report);

/*
 * rrr_layout: the superblock records and hyperblock samples of the bitvector bits[0, num_bits)
 * (rrr.h), and *offset_bits, the length of its offset stream.
 *
 *   bits         num_words uint64 (bits at or past num_bits are ignored)
 *   superblocks  rrr_num_superblocks(rrr_num_blocks(num_bits)) * RRR_RECORD_WORDS uint64, output
 *   hyperblocks  2 * rrr_num_hyperblocks(rrr_num_blocks(num_bits)) uint64, output
 *
 * Returns INFGRAM_OK, or INFGRAM_INVALID_ARGUMENT when num_words * 64 < num_bits.
 */
int rrr_layout(const uint64_t *bits, uint64_t num_words, uint64_t num_bits, uint64_t *superblocks,
               uint64_t *hyperblocks, uint64_t *offset_bits, damage_report *report);

/*
 * rrr_offsets: the offset stream of blocks [first_block, end_block) of the same bitvector,
 * each written where rrr_place_block (the reader's own function) says it starts, so blocks
 * can be written in any order and in chunks.
 *
 *   offsets  offset_words uint64, zeroed beforehand: offset_bits / 64 + 2 words for the
 *            whole stream (rrr_layout's offset_bits)
 *
 * Returns INFGRAM_OK, or INFGRAM_INVALID_ARGUMENT when the blocks are outside the bitvector
 * or an offset would land outside `offsets`.
 */
int rrr_offsets(const uint64_t *bits, uint64_t num_words, uint64_t num_bits, const uint64_t *superblocks,
                const uint64_t *hyperblocks, uint64_t first_block, uint64_t end_block, uint64_t *offsets,
                uint64_t offset_words, damage_report *report);

/*
 * pack_bits: the count values, each masked to `width` bits (0..64), back to back into
 * `words` (bits.h), which must hold (count * width + 63) / 64 words and be zeroed.
 */
void pack_bits(const uint64_t *values, uint64_t count, int width, uint64_t *words);

#endif
