/*
 * fm_index.h: searches over one shard of an FM-index (Ferragina and Manzini, 2000), read
 * straight from its two files' payloads.
 *
 * The data (read-only; layout written by fm_build.h and fm_writer.py; see fm_index.c):
 *
 *   wavelet  fm_wavelet.bin's payload: a blob of little-endian 64-bit words — a count of
 *            scalars S, a count of sections K, the S scalars, K (byte offset, byte length)
 *            pairs, then the sections (8-byte aligned). Scalars: num_positions n,
 *            num_nodes, num_bits, num_blocks, primary_row. Sections: symbol_starts (257
 *            uint64: C[c], the rows whose suffix starts with a byte < c), codes (256
 *            uint64), code_lengths (256 uint8, 0 = absent symbol), node_starts, node_ones
 *            (uint64 per node), node_children (2 int32 per node: >= 0 an internal node with
 *            a larger number, < 0 the leaf of symbol -1 - v), superblocks, hyperblocks,
 *            offsets (rrr.h).
 *   samples  fm_samples.bin's payload, a blob of the same kind. Scalars: sample_rate,
 *            isa_rate, num_samples, low_bits, value_width, num_isa_samples, isa_width,
 *            high_length. Sections: low, high, select (the Elias-Fano set of the sampled
 *            rows), values (text position / sample_rate per sampled row, value_width bits
 *            each), isa (the row of every isa_rate-th text position, isa_width bits each).
 *
 * Both buffers must be 8-byte aligned and stay valid and unchanged while the index is used.
 * The text T of n bytes ends with the separator 255; rows are the suffixes of T in order.
 *
 * Damaged data: fm_index_open checks every scalar, section extent, the prefix code and the
 * tree; the searches check every rank against its node's size, every offset read against
 * the offset stream, every sample against its range, and bound every LF walk (locate: fewer
 * than sample_rate steps per row). On damage a function returns INFGRAM_DAMAGED with the
 * report naming the file, and has read nothing outside the buffers.
 *
 * Threads: the searches never write the fm_index; any number may run at once.
 * Plain C99 (with GCC/Clang builtins); no Python.h. Call rrr_tables_init() first.
 */
#ifndef INFGRAM_FM_INDEX_H
#define INFGRAM_FM_INDEX_H

#include <stdint.h>

#include "status.h"

#define FM_SELECT_SAMPLE 64 /* the select samples: the position of every 64th zero of the high bits */
#define FM_MAX_NODES 255 /* a prefix code over 256 symbols has at most 255 internal nodes */

typedef struct {
    /* wavelet tree */
    uint64_t n, num_nodes, num_bits, num_blocks, primary_row;
    const uint64_t *symbol_starts; /* C: 257 entries */
    const uint64_t *codes;
    const uint8_t *code_lengths;
    const uint64_t *node_starts, *node_ones;
    const int32_t *node_children;
    const uint64_t *superblocks, *hyperblocks, *offsets;
    uint64_t offset_words;
    uint64_t node_sizes[FM_MAX_NODES]; /* bits of each node, from the symbol counts and codes */
    /* samples */
    uint64_t sample_rate, isa_rate, num_samples, low_bits, value_width, num_isa, isa_width, high_length;
    const uint64_t *low, *high, *select, *values, *isa;
    uint64_t high_words, select_count;
} fm_index;

/*
 * fm_index_open: check the two blobs (see above) and fill `index` with pointers into them.
 * wavelet_bytes and samples_bytes are the payload sizes. Returns INFGRAM_OK,
 * INFGRAM_DAMAGED (report filled) or INFGRAM_INVALID_ARGUMENT (a buffer not 8-byte aligned).
 */
int fm_index_open(fm_index *index, const void *wavelet, uint64_t wavelet_bytes, const void *samples,
                  uint64_t samples_bytes, damage_report *report);

/*
 * fm_find: backward search; the rows [*lo, *hi) whose suffixes start with query[0, length)
 * (the empty query: [0, n); no match: [0, 0)). `from` is ignored (see find_many.h, which
 * fm_find_from serves with the fm_index as context). Returns INFGRAM_OK or INFGRAM_DAMAGED.
 */
int fm_find(const fm_index *index, const unsigned char *query, int64_t length, int64_t *lo, int64_t *hi,
            damage_report *report);
int fm_find_from(const void *index, const unsigned char *query, int64_t length, int64_t from, int64_t *lo,
                 int64_t *hi, damage_report *report);

/*
 * fm_rank: *rank = occurrences of `symbol` (0..255) in BWT[0, row), row <= n.
 * fm_access: *symbol = BWT[row], row < n.
 * Returns INFGRAM_OK, INFGRAM_DAMAGED, or INFGRAM_INVALID_ARGUMENT for arguments out of range.
 */
int fm_rank(const fm_index *index, int symbol, uint64_t row, uint64_t *rank, damage_report *report);
int fm_access(const fm_index *index, uint64_t row, int *symbol, damage_report *report);

/*
 * fm_locate: positions[row - lo] = the text position of the suffix of each row in [lo, hi)
 * (lo <= hi <= n; positions holds hi - lo int64). At most sample_rate - 1 LF steps per row.
 * Returns INFGRAM_OK, INFGRAM_DAMAGED or INFGRAM_INVALID_ARGUMENT.
 */
int fm_locate(const fm_index *index, uint64_t lo, uint64_t hi, int64_t *positions, damage_report *report);

/*
 * fm_extract: out[0, end - start) = T[start, end), start <= end <= n. At most
 * end - start + isa_rate LF steps. Returns INFGRAM_OK, INFGRAM_DAMAGED or
 * INFGRAM_INVALID_ARGUMENT.
 */
int fm_extract(const fm_index *index, uint64_t start, uint64_t end, unsigned char *out, damage_report *report);

#endif
