/*
 * fm_index.c: counting, locating and extracting with an FM-index (contract: fm_index.h).
 *
 * The FM-index (Ferragina and Manzini, 2000) of a text T of n bytes keeps the Burrows-
 * Wheeler transform BWT (BWT[i] is the byte before the i-th smallest suffix) instead of T
 * and its suffix array. Three structures, as fm_writer.py and fm_build.c lay them out:
 *
 *   Wavelet tree. The BWT is stored as a Huffman-shaped wavelet tree: symbol c has a
 *   prefix-free code; the root's bitvector holds the first code bit of every BWT symbol, and
 *   each internal node the next bit of the symbols whose codes pass through it. rank_c(i)
 *   (occurrences of c in BWT[0, i)) follows c's code from the root: at each node, i becomes
 *   the number of earlier symbols that took the same branch. All node bitvectors are one
 *   long RRR-compressed bitvector (rrr.h), node v covering [node_starts[v], ...).
 *
 *   Backward search. With C[c] the rows whose suffix starts with a byte < c, the rows whose
 *   suffixes start with cP are C[c] + rank_c(lo) .. C[c] + rank_c(hi) when [lo, hi) are
 *   those that start with P: a query is matched from its last byte to its first.
 *
 *   Sampled suffix array. Text positions that are multiples of `sample_rate` are sampled;
 *   their rows are marked in an Elias-Fano set (low bits plus a unary-coded high part with
 *   a select0 sample every 64 zeros), and the row's text position / sample_rate is stored in
 *   the order of the rows. locate walks the LF mapping back from a row until it reaches a
 *   marked row: at most sample_rate - 1 steps. The inverse samples (the row of every text
 *   position that is a multiple of `isa_rate`) let extract start near any text position.
 *
 * The LF mapping: LF(i) = C[c] + rank_c(i) with c = BWT[i] is the row of the suffix one
 * position earlier in the text. The text ends with the separator 255 but is not closed by a
 * unique smallest sentinel, so LF is exact for every symbol but 255 (queries never hold
 * 255); for 255 the one row whose suffix starts the text (`primary_row`) is special: its LF
 * is the row of the last suffix, "255" alone, the first of the rows that start with 255.
 *
 * Damage. fm_index_open checks the code and the tree, so that every code path ends at its
 * symbol's leaf, children have larger numbers than their parents (every walk down ends)
 * and node sizes add up. Then one invariant keeps every read in bounds: at node v the rank
 * i is at most node_sizes[v] (a leaf of c: at most the count of c). A rank read from the
 * RRR structure that breaks it, an offset outside the offset stream, a row at or past n or
 * a sample out of range is reported, replaced by a value in range, and the search goes on
 * to its (bounded) end and returns INFGRAM_DAMAGED.
 */
#include "fm_index.h"

#include <stddef.h>

#include "bits.h"
#include "prefetch.h"
#include "rrr.h"

#if defined(__GNUC__)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define UNLIKELY(x) (x)
#endif

#define WAVELET_FILE "fm_wavelet.bin"
#define SAMPLES_FILE "fm_samples.bin"

/* ---- ranks over the long bitvector ------------------------------------------------------- */

typedef struct {
    rrr_place place;
    int q; /* the bit's place in its block */
} bit_place;

static inline void place_bit(const fm_index *v, uint64_t p, bit_place *at) {
    rrr_place_block(v->superblocks, v->hyperblocks, p / RRR_BLOCK_BITS, &at->place);
    at->q = (int)(p % RRR_BLOCK_BITS);
}

static inline const uint64_t *record_of(const fm_index *v, uint64_t p) {
    return v->superblocks + RRR_RECORD_WORDS * ((p / RRR_BLOCK_BITS) / RRR_SUPERBLOCK_BLOCKS);
}

static uint64_t bad_offset(const fm_index *v, const rrr_place *place, damage_report *report) {
    report_problem(report, INFGRAM_DAMAGED,
                   WAVELET_FILE ": a block's offset starts at bit %llu, expected one within the %llu bits of the "
                   "offset stream",
                   (unsigned long long)place->position, (unsigned long long)(64 * (v->offset_words - 1)));
    return 0;
}

/* Ones in the long bitvector before the bit, and the bit (*bit). */
static inline uint64_t finish_rank(const fm_index *v, const bit_place *at, int *bit, damage_report *report) {
    int width = rrr_width[at->place.k];
    uint64_t offset = 0;
    if (width) {
        /* The stream has offset_words - 1 words of offsets and a spare (rrr.h). */
        if (UNLIKELY(at->place.position > 64 * (v->offset_words - 1) - (uint64_t)width))
            offset = bad_offset(v, &at->place, report);
        else
            offset = read_bits(v->offsets, at->place.position, width);
    }
    return at->place.ones + rrr_block_rank(at->place.k, offset, at->q, bit);
}

static inline void prefetch_offset(const fm_index *v, const bit_place *at) {
    if (rrr_width[at->place.k] && at->place.position / 64 < v->offset_words) PREFETCH(v->offsets + (at->place.position >> 6));
}

/* The bits of a node's child: an internal node's size, or a leaf symbol's count. */
static inline uint64_t child_size(const fm_index *v, int32_t child) {
    if (child >= 0) return v->node_sizes[child];
    int c = -1 - child;
    return v->symbol_starts[c + 1] - v->symbol_starts[c];
}

static uint64_t bad_rank(int node, uint64_t i, uint64_t found, uint64_t limit,
                         damage_report *report) {
    report_problem(report, INFGRAM_DAMAGED,
                   WAVELET_FILE ": a rank at bit %llu of node %d is %llu, expected at most %llu (the bits "
                   "or their superblock counts are damaged)",
                   (unsigned long long)i, node, (unsigned long long)found, (unsigned long long)limit);
    return limit;
}

/* One level down: the rank i at `node` becomes the rank among the bits that took `branch`,
 * given the ones before bit node_starts[node] + i. Checked: ones in the node's first i bits
 * are at most i, and the new rank fits the child. */
static inline uint64_t descend(const fm_index *v, int32_t node, uint64_t i, uint64_t ones_before, int branch,
                               damage_report *report) {
    uint64_t ones = ones_before - v->node_ones[node]; /* wraps to a huge value when the counts are damaged */
    if (UNLIKELY(ones > i)) ones = bad_rank(node, i, ones, i, report);
    uint64_t next = branch ? ones : i - ones;
    uint64_t limit = child_size(v, v->node_children[2 * node + branch]);
    if (UNLIKELY(next > limit)) next = bad_rank(node, i, next, limit, report);
    return next;
}

/* rank_c(i): occurrences of symbol c (with a code) in BWT[0, i), i <= n. */
static uint64_t wavelet_rank(const fm_index *v, int c, uint64_t i, damage_report *report) {
    int length = v->code_lengths[c];
    uint64_t code = v->codes[c];
    int32_t node = 0;
    for (int d = 0; d < length; d++) {
        int branch = (int)((code >> (length - 1 - d)) & 1), bit;
        bit_place at;
        place_bit(v, v->node_starts[node] + i, &at);
        i = descend(v, node, i, finish_rank(v, &at, &bit, report), branch, report);
        node = v->node_children[2 * node + branch];
    }
    return i;
}

/* rank_c at two rows at once (the two ends of a range), following c's code together, their
 * memory reads overlapped. */
static void wavelet_rank_pair(const fm_index *v, int c, uint64_t *lo, uint64_t *hi, damage_report *report) {
    int length = v->code_lengths[c];
    uint64_t code = v->codes[c], i = *lo, j = *hi;
    int32_t node = 0;
    for (int d = 0; d < length; d++) {
        int branch = (int)((code >> (length - 1 - d)) & 1), bit;
        uint64_t start = v->node_starts[node];
        bit_place a, b;
        PREFETCH(record_of(v, start + j));
        place_bit(v, start + i, &a);
        prefetch_offset(v, &a);
        place_bit(v, start + j, &b);
        prefetch_offset(v, &b);
        uint64_t ones_i = finish_rank(v, &a, &bit, report), ones_j = finish_rank(v, &b, &bit, report);
        i = descend(v, node, i, ones_i, branch, report);
        j = descend(v, node, j, ones_j, branch, report);
        node = v->node_children[2 * node + branch];
    }
    *lo = i;
    *hi = j;
}

static uint64_t bad_row(const fm_index *v, const char *what, uint64_t row, damage_report *report) {
    report_problem(report, INFGRAM_DAMAGED, "%s: %s gives row %llu, expected a row below %llu (the bytes in the shard)",
                   what == NULL ? WAVELET_FILE : what, what == NULL ? "an LF step" : "an inverse sample",
                   (unsigned long long)row, (unsigned long long)v->n);
    return 0;
}

/* LF of a row whose rank of its symbol is known, checked to be a row. The text's first
 * suffix (primary_row) maps to the lone "255" suffix, the first of the separator rows; the
 * other separator rows keep their order after it (see the top of this file). */
static inline uint64_t lf_from_rank(const fm_index *v, uint64_t row, int c, uint64_t rank, damage_report *report) {
    uint64_t next;
    if (c == 255) next = row == v->primary_row ? v->symbol_starts[255]
                                                : v->symbol_starts[255] + rank + (row < v->primary_row ? 1 : 0);
    else next = v->symbol_starts[c] + rank;
    if (UNLIKELY(next >= v->n)) next = bad_row(v, NULL, next, report);
    return next;
}

/* The LF mapping of row (< n); *symbol = BWT[row]. One walk down the tree gives both. */
static uint64_t wavelet_lf(const fm_index *v, uint64_t row, int *symbol, damage_report *report) {
    uint64_t i = row;
    int32_t node = 0;
    for (;;) {
        int bit;
        bit_place at;
        place_bit(v, v->node_starts[node] + i, &at);
        uint64_t ones_before = finish_rank(v, &at, &bit, report);
        i = descend(v, node, i, ones_before, bit, report);
        int32_t child = v->node_children[2 * node + bit];
        if (child < 0) {
            *symbol = -1 - child;
            return lf_from_rank(v, row, *symbol, i, report);
        }
        node = child; /* children have larger numbers than their parents: the walk ends */
    }
}

/* ---- counting ------------------------------------------------------------------------------ */

int fm_find(const fm_index *v, const unsigned char *query, int64_t length, int64_t *out_lo, int64_t *out_hi,
            damage_report *report) {
    if (length == 0) {
        *out_lo = 0;
        *out_hi = (int64_t)v->n;
        return INFGRAM_OK;
    }
    int c = query[length - 1];
    uint64_t lo = v->symbol_starts[c], hi = v->symbol_starts[c + 1];
    /* Invariant: [lo, hi) are the rows of suffixes that start with query[k + 1:]. */
    for (int64_t k = length - 2; k >= 0 && lo < hi; k--) {
        c = query[k];
        if (v->code_lengths[c] == 0) {
            lo = hi = 0;
            break;
        }
        wavelet_rank_pair(v, c, &lo, &hi, report);
        lo += v->symbol_starts[c];
        hi += v->symbol_starts[c];
    }
    if (lo >= hi) lo = hi = 0;
    *out_lo = (int64_t)lo;
    *out_hi = (int64_t)hi;
    return report->status;
}

int fm_find_from(const void *index, const unsigned char *query, int64_t length, int64_t from, int64_t *lo,
                 int64_t *hi, damage_report *report) {
    (void)from;
    return fm_find(index, query, length, lo, hi, report);
}

int fm_rank(const fm_index *v, int symbol, uint64_t row, uint64_t *rank, damage_report *report) {
    if (symbol < 0 || symbol > 255 || row > v->n)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected a symbol 0..255 and a row 0..%llu, found "
                              "%d and %llu", (unsigned long long)v->n, symbol, (unsigned long long)row);
    *rank = v->code_lengths[symbol] == 0 ? 0 : wavelet_rank(v, symbol, row, report);
    return report->status;
}

int fm_access(const fm_index *v, uint64_t row, int *symbol, damage_report *report) {
    if (row >= v->n)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected a row below %llu, found %llu",
                              (unsigned long long)v->n, (unsigned long long)row);
    wavelet_lf(v, row, symbol, report);
    return report->status;
}

/* ---- the sampled suffix array ------------------------------------------------------------- */

static uint64_t bad_select(const fm_index *v, uint64_t t, uint64_t found, damage_report *report) {
    report_problem(report, INFGRAM_DAMAGED,
                   SAMPLES_FILE ": zero %llu of the sample marks is at bit %llu, expected one below %llu",
                   (unsigned long long)t, (unsigned long long)found, (unsigned long long)v->high_length);
    return v->high_length;
}

/* The position of zero number t (0-based; t < zeros, checked at open) in the Elias-Fano high
 * bits, or high_length (reported) when the bits or the select samples are damaged. */
static inline uint64_t select0(const fm_index *v, uint64_t t, damage_report *report) {
    uint64_t p = v->select[t / FM_SELECT_SAMPLE];
    uint64_t remaining = t % FM_SELECT_SAMPLE;
    if (UNLIKELY(p >= v->high_length)) return bad_select(v, t, p, report);
    if (remaining == 0) return p;
    p++;
    uint64_t w = p >> 6;
    uint64_t word = ~v->high[w] & (~(uint64_t)0 << (p & 63));
    for (;;) {
        uint64_t count = (uint64_t)__builtin_popcountll(word);
        if (count >= remaining) {
            for (uint64_t r = 1; r < remaining; r++) word &= word - 1;
            p = (w << 6) + (uint64_t)__builtin_ctzll(word);
            return UNLIKELY(p >= v->high_length) ? bad_select(v, t, p, report) : p;
        }
        remaining -= count;
        if (UNLIKELY(++w >= v->high_words)) return bad_select(v, t, w << 6, report);
        word = ~v->high[w];
    }
}

/* The first bit of bucket h of the high bits (h <= (n - 1) >> low_bits). */
static inline uint64_t bucket_start(const fm_index *v, uint64_t h, damage_report *report) {
    return h == 0 ? 0 : select0(v, h - 1, report) + 1;
}

/* The index of row x among the marked rows, or -1 when x is not marked. */
static inline int64_t marked(const fm_index *v, uint64_t x, damage_report *report) {
    uint64_t h = x >> v->low_bits;
    uint64_t low = v->low_bits ? x & (((uint64_t)1 << v->low_bits) - 1) : 0;
    uint64_t p = bucket_start(v, h, report);
    uint64_t j = p - h; /* elements in buckets before h (bucket h - 1 ends with zero number h - 1) */
    /* Bucket h: a one per element (in row order), then a zero. */
    while (p < v->high_length && get_bit(v->high, p)) {
        if (UNLIKELY(j >= v->num_samples)) {
            report_problem(report, INFGRAM_DAMAGED,
                           SAMPLES_FILE ": the sample marks hold more than the %llu samples",
                           (unsigned long long)v->num_samples);
            return -1;
        }
        uint64_t element = read_bits(v->low, j * v->low_bits, (int)v->low_bits);
        if (element == low) return (int64_t)j;
        if (element > low) return -1;
        p++;
        j++;
    }
    return -1;
}

/* The text position of marked row number j, `steps` LF steps after the row we started at. */
static inline int64_t sampled_position(const fm_index *v, int64_t j, uint64_t steps, damage_report *report) {
    uint64_t value = read_bits(v->values, (uint64_t)j * v->value_width, (int)v->value_width);
    if (UNLIKELY(value > (v->n - 1) / v->sample_rate || value * v->sample_rate + steps >= v->n)) {
        report_problem(report, INFGRAM_DAMAGED,
                       SAMPLES_FILE ": sample %lld holds %llu (x %llu + %llu steps), expected a text position below "
                       "%llu",
                       (long long)j, (unsigned long long)value, (unsigned long long)v->sample_rate,
                       (unsigned long long)steps, (unsigned long long)v->n);
        return 0;
    }
    return (int64_t)(value * v->sample_rate + steps);
}

#define LANES 16

/* locate of every row in [lo, hi) into out[row - lo]. Each walk is a chain of dependent
 * cache misses (one or two per tree level); walking LANES rows in lockstep, one tree level
 * at a time with the next reads prefetched for all of them, overlaps their misses. */
static void locate_range(const fm_index *v, uint64_t lo, uint64_t hi, int64_t *out, damage_report *report) {
    uint64_t row[LANES], steps[LANES], slot[LANES], i[LANES];
    int32_t node[LANES];
    bit_place place[LANES];
    int used = 0;
    uint64_t next = lo;
    for (;;) {
        /* Fill the lanes, prefetch what their sample checks read, and retire those that sit
         * on a sampled row. */
        while (used < LANES && next < hi) {
            row[used] = next;
            steps[used] = 0;
            slot[used] = next - lo;
            next++;
            used++;
        }
        for (int k = 0; k < used; k++) {
            uint64_t h = row[k] >> v->low_bits;
            if (h) PREFETCH(v->select + (h - 1) / FM_SELECT_SAMPLE);
        }
        for (int k = 0; k < used; k++) {
            uint64_t h = row[k] >> v->low_bits;
            uint64_t p = bucket_start(v, h, report);
            PREFETCH(v->high + (p >> 6));
            PREFETCH(v->low + (((p - h) * v->low_bits) >> 6));
        }
        int lane = 0;
        while (lane < used || (lane < LANES && next < hi)) {
            if (lane >= used) {
                row[lane] = next;
                steps[lane] = 0;
                slot[lane] = next - lo;
                next++;
                used++;
            }
            int64_t j = marked(v, row[lane], report);
            int retire = j >= 0;
            if (UNLIKELY(!retire && steps[lane] + 1 >= v->sample_rate)) {
                /* Every row is fewer than sample_rate LF steps after a marked one. */
                report_problem(report, INFGRAM_DAMAGED,
                               WAVELET_FILE " or " SAMPLES_FILE ": row %llu reaches no sampled row within %llu LF "
                               "steps, expected one within sample_rate - 1",
                               (unsigned long long)(lo + slot[lane]), (unsigned long long)steps[lane] + 1);
                retire = 1;
            }
            if (retire) {
                out[slot[lane]] = j >= 0 ? sampled_position(v, j, steps[lane], report) : 0;
                used--;
                row[lane] = row[used];
                steps[lane] = steps[used];
                slot[lane] = slot[used];
                continue; /* look at the lane moved here */
            }
            lane++;
        }
        if (used == 0) return;
        /* One LF step for every lane, level by level. */
        for (int k = 0; k < used; k++) {
            node[k] = 0;
            i[k] = row[k];
        }
        int walking = used;
        while (walking > 0) {
            for (int k = 0; k < used; k++)
                if (node[k] >= 0) PREFETCH(record_of(v, v->node_starts[node[k]] + i[k]));
            for (int k = 0; k < used; k++)
                if (node[k] >= 0) {
                    place_bit(v, v->node_starts[node[k]] + i[k], &place[k]);
                    prefetch_offset(v, &place[k]);
                }
            for (int k = 0; k < used; k++) {
                if (node[k] < 0) continue;
                int bit;
                uint64_t ones_before = finish_rank(v, &place[k], &bit, report);
                i[k] = descend(v, node[k], i[k], ones_before, bit, report);
                int32_t child = v->node_children[2 * node[k] + bit];
                if (child < 0) {
                    /* A leaf: i[k] is the rank of the row's symbol -1 - child. */
                    row[k] = lf_from_rank(v, row[k], -1 - child, i[k], report);
                    steps[k]++;
                    walking--;
                }
                node[k] = child;
            }
        }
    }
}

int fm_locate(const fm_index *v, uint64_t lo, uint64_t hi, int64_t *positions, damage_report *report) {
    if (lo > hi || hi > v->n)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected rows lo <= hi <= %llu, found %llu and %llu",
                              (unsigned long long)v->n, (unsigned long long)lo, (unsigned long long)hi);
    locate_range(v, lo, hi, positions, report);
    return report->status;
}

/* T[start, end) into out, walking back from the nearest inverse sample at or after end. */
int fm_extract(const fm_index *v, uint64_t start, uint64_t end, unsigned char *out, damage_report *report) {
    if (start > end || end > v->n)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected start <= end <= %llu, found %llu and %llu",
                              (unsigned long long)v->n, (unsigned long long)start, (unsigned long long)end);
    if (start == end) return INFGRAM_OK;
    if (end == v->n) {
        /* The last byte is the final separator; no walk reaches it (they start at or before n - 1). */
        out[end - 1 - start] = 255;
        if (--end == start) return INFGRAM_OK;
    }
    uint64_t sample = (end + v->isa_rate - 1) / v->isa_rate;
    uint64_t position, row;
    if (sample < v->num_isa && sample * v->isa_rate <= v->n - 1) {
        position = sample * v->isa_rate;
        row = read_bits(v->isa, sample * v->isa_width, (int)v->isa_width);
        if (UNLIKELY(row >= v->n)) row = bad_row(v, SAMPLES_FILE, row, report);
    } else {
        position = v->n - 1; /* the last suffix, "255" alone: the first separator row */
        row = v->symbol_starts[255];
    }
    /* position - start < end - start + isa_rate steps, each one LF. */
    while (position > start) {
        int c;
        uint64_t next = wavelet_lf(v, row, &c, report); /* c = T[position - 1] */
        if (position - 1 < end) out[position - 1 - start] = (unsigned char)c;
        row = next;
        position--;
    }
    return report->status;
}

/* ---- opening ------------------------------------------------------------------------------ */

typedef struct {
    const uint64_t *words;
    uint64_t num_words, num_scalars, num_sections;
    const char *file;
} blob;

static int blob_open(blob *b, const void *buffer, uint64_t bytes, const char *file, damage_report *report) {
    b->file = file;
    if (bytes % 8 != 0 || bytes < 16)
        return report_problem(report, INFGRAM_DAMAGED, "%s: expected a payload of whole 64-bit words (16 bytes or more), "
                              "found %llu bytes", file, (unsigned long long)bytes);
    b->words = buffer;
    b->num_words = bytes / 8;
    b->num_scalars = b->words[0];
    b->num_sections = b->words[1];
    if (b->num_scalars > b->num_words || b->num_sections > b->num_words ||
        2 + b->num_scalars + 2 * b->num_sections > b->num_words)
        return report_problem(report, INFGRAM_DAMAGED, "%s: expected a section table within its %llu words, found %llu "
                              "scalars and %llu sections", file, (unsigned long long)b->num_words,
                              (unsigned long long)b->num_scalars, (unsigned long long)b->num_sections);
    return INFGRAM_OK;
}

/* The first `count` scalars into *fields[0..count) (0 for the scalars the blob lacks). */
static void blob_scalars(const blob *b, uint64_t *const *fields, uint64_t count) {
    for (uint64_t i = 0; i < count; i++) *fields[i] = i < b->num_scalars ? b->words[2 + i] : 0;
}

/* Section i, which must hold at least `count` items of `unit` bytes; NULL (reported) otherwise. */
static const void *blob_section(const blob *b, uint64_t i, uint64_t count, uint64_t unit, uint64_t *bytes,
                                damage_report *report) {
    if (i >= b->num_sections) {
        report_problem(report, INFGRAM_DAMAGED, "%s: expected section %llu, found %llu sections", b->file,
                       (unsigned long long)i, (unsigned long long)b->num_sections);
        return NULL;
    }
    const uint64_t *entry = b->words + 2 + b->num_scalars + 2 * i;
    uint64_t offset = entry[0], length = entry[1], size = b->num_words * 8;
    if (offset % 8 != 0 || offset > size || length > size - offset || count > length / unit) {
        report_problem(report, INFGRAM_DAMAGED,
                       "%s: expected section %llu to hold %llu x %llu bytes within the %llu bytes of the file, found "
                       "offset %llu and length %llu",
                       b->file, (unsigned long long)i, (unsigned long long)count, (unsigned long long)unit,
                       (unsigned long long)size, (unsigned long long)offset, (unsigned long long)length);
        return NULL;
    }
    if (bytes) *bytes = length;
    return (const unsigned char *)b->words + offset;
}

/* The prefix code and the tree: every code ends at its symbol's leaf through internal nodes;
 * every leaf is reached by its symbol's code; children have larger numbers than their
 * parents; node sizes (from the symbol counts) fit in the bitvector. */
static int check_tree(fm_index *v, damage_report *report) {
    const uint64_t *C = v->symbol_starts;
    if (C[0] != 0 || C[256] != v->n)
        return report_problem(report, INFGRAM_DAMAGED, WAVELET_FILE ": expected symbol counts from 0 to %llu, found "
                              "%llu to %llu", (unsigned long long)v->n, (unsigned long long)C[0],
                              (unsigned long long)C[256]);
    for (uint64_t s = 0; s < 2 * v->num_nodes; s++) {
        int32_t child = v->node_children[s];
        if (child >= (int32_t)v->num_nodes || child < -256 || (child >= 0 && (uint64_t)child <= s / 2))
            return report_problem(report, INFGRAM_DAMAGED, WAVELET_FILE ": node %llu has child %d, expected a leaf or "
                                  "a node after it and below %llu", (unsigned long long)(s / 2), (int)child,
                                  (unsigned long long)v->num_nodes);
    }
    int64_t leaf_slot[256];
    for (uint64_t node = 0; node < v->num_nodes; node++) v->node_sizes[node] = 0;
    for (int c = 0; c < 256; c++) {
        int length = v->code_lengths[c];
        uint64_t count = C[c + 1] - C[c];
        leaf_slot[c] = -1;
        if (C[c + 1] < C[c] || (length == 0 && count != 0) || length > 64)
            return report_problem(report, INFGRAM_DAMAGED, WAVELET_FILE ": symbol %d has %llu rows and a code of %d "
                                  "bits, expected rows in order and a code of 1..64 bits for a symbol that occurs", c,
                                  (unsigned long long)count, length);
        int32_t node = 0;
        for (int d = 0; d < length; d++) {
            int branch = (int)((v->codes[c] >> (length - 1 - d)) & 1);
            int32_t child = v->node_children[2 * node + branch];
            v->node_sizes[node] += count;
            if (d == length - 1 ? child != -1 - c : child < 0)
                return report_problem(report, INFGRAM_DAMAGED, WAVELET_FILE ": the code of symbol %d meets %d at "
                                      "bit %d, expected %s", c, (int)child, d,
                                      d == length - 1 ? "its leaf" : "an internal node");
            if (d == length - 1) leaf_slot[c] = 2 * node + branch;
            else node = child;
        }
    }
    for (uint64_t s = 0; s < 2 * v->num_nodes; s++) {
        int32_t child = v->node_children[s];
        if (child < 0 && leaf_slot[-1 - child] != (int64_t)s)
            return report_problem(report, INFGRAM_DAMAGED, WAVELET_FILE ": node %llu has the leaf of symbol %d, "
                                  "which that symbol's code does not reach", (unsigned long long)(s / 2), -1 - child);
    }
    if (v->node_sizes[0] != v->n)
        return report_problem(report, INFGRAM_DAMAGED, WAVELET_FILE ": the root holds %llu bits, expected %llu",
                              (unsigned long long)v->node_sizes[0], (unsigned long long)v->n);
    for (uint64_t node = 0; node < v->num_nodes; node++) {
        if (v->node_starts[node] > v->num_bits || v->node_sizes[node] > v->num_bits - v->node_starts[node] ||
            v->node_ones[node] > v->node_starts[node])
            return report_problem(report, INFGRAM_DAMAGED, WAVELET_FILE ": node %llu starts at bit %llu with %llu "
                                  "ones before it and holds %llu bits, expected them within the %llu bits",
                                  (unsigned long long)node, (unsigned long long)v->node_starts[node],
                                  (unsigned long long)v->node_ones[node], (unsigned long long)v->node_sizes[node],
                                  (unsigned long long)v->num_bits);
    }
    return INFGRAM_OK;
}

static int open_wavelet(fm_index *v, const blob *wt, damage_report *report) {
    uint64_t *const fields[] = {&v->n, &v->num_nodes, &v->num_bits, &v->num_blocks, &v->primary_row};
    blob_scalars(wt, fields, 5);
    if (v->n < 1 || v->num_nodes < 1 || v->num_nodes > FM_MAX_NODES ||
        v->num_blocks != rrr_num_blocks(v->num_bits) || v->primary_row >= v->n)
        return report_problem(report, INFGRAM_DAMAGED, WAVELET_FILE ": expected consistent sizes, found %llu "
                              "positions, %llu nodes, %llu bits, %llu blocks, primary row %llu",
                              (unsigned long long)v->n, (unsigned long long)v->num_nodes,
                              (unsigned long long)v->num_bits, (unsigned long long)v->num_blocks,
                              (unsigned long long)v->primary_row);
    uint64_t offset_bytes;
    if (!(v->symbol_starts = blob_section(wt, 0, 257, 8, NULL, report)) ||
        !(v->codes = blob_section(wt, 1, 256, 8, NULL, report)) ||
        !(v->code_lengths = blob_section(wt, 2, 256, 1, NULL, report)) ||
        !(v->node_starts = blob_section(wt, 3, v->num_nodes, 8, NULL, report)) ||
        !(v->node_ones = blob_section(wt, 4, v->num_nodes, 8, NULL, report)) ||
        !(v->node_children = blob_section(wt, 5, 2 * v->num_nodes, 4, NULL, report)) ||
        !(v->superblocks = blob_section(wt, 6, rrr_num_superblocks(v->num_blocks), 8 * RRR_RECORD_WORDS, NULL, report)) ||
        !(v->hyperblocks = blob_section(wt, 7, rrr_num_hyperblocks(v->num_blocks), 16, NULL, report)) ||
        !(v->offsets = blob_section(wt, 8, 2, 8, &offset_bytes, report)))
        return report->status;
    v->offset_words = offset_bytes / 8;
    return check_tree(v, report);
}

static int open_samples(fm_index *v, const blob *samples, damage_report *report) {
    uint64_t *const fields[] = {&v->sample_rate, &v->isa_rate, &v->num_samples, &v->low_bits,
                                &v->value_width, &v->num_isa, &v->isa_width, &v->high_length};
    blob_scalars(samples, fields, 8);
    if (v->sample_rate < 1 || v->isa_rate < 1 || v->low_bits > 63 || v->value_width < 1 || v->value_width > 64 ||
        v->isa_width < 1 || v->isa_width > 64 || v->num_samples != (v->n - 1) / v->sample_rate + 1 ||
        v->num_isa != (v->n - 1) / v->isa_rate + 1 ||
        v->high_length != v->num_samples + ((v->n - 1) >> v->low_bits) + 1)
        return report_problem(report, INFGRAM_DAMAGED, SAMPLES_FILE ": expected sizes that fit %llu positions, found "
                              "rates %llu and %llu, %llu samples, %llu low bits, widths %llu and %llu, %llu inverse "
                              "samples, %llu high bits",
                              (unsigned long long)v->n, (unsigned long long)v->sample_rate,
                              (unsigned long long)v->isa_rate, (unsigned long long)v->num_samples,
                              (unsigned long long)v->low_bits, (unsigned long long)v->value_width,
                              (unsigned long long)v->isa_width, (unsigned long long)v->num_isa,
                              (unsigned long long)v->high_length);
    uint64_t zeros = ((v->n - 1) >> v->low_bits) + 1, high_bytes, select_bytes;
    /* num_samples <= n and n is bounded by the wavelet file's size: no product overflows. */
    if (!(v->low = blob_section(samples, 0, (v->num_samples * v->low_bits + 63) / 64, 8, NULL, report)) ||
        !(v->high = blob_section(samples, 1, v->high_length / 64 + 2, 8, &high_bytes, report)) ||
        !(v->select = blob_section(samples, 2, (zeros - 1) / FM_SELECT_SAMPLE + 1, 8, &select_bytes, report)) ||
        !(v->values = blob_section(samples, 3, (v->num_samples * v->value_width + 63) / 64, 8, NULL, report)) ||
        !(v->isa = blob_section(samples, 4, (v->num_isa * v->isa_width + 63) / 64, 8, NULL, report)))
        return report->status;
    v->high_words = high_bytes / 8;
    v->select_count = select_bytes / 8;
    return INFGRAM_OK;
}

int fm_index_open(fm_index *v, const void *wavelet, uint64_t wavelet_bytes, const void *samples,
                  uint64_t samples_bytes, damage_report *report) {
    if ((uintptr_t)wavelet % 8 != 0 || (uintptr_t)samples % 8 != 0)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected 8-byte aligned buffers");
    blob wt, sampled;
    int status;
    if ((status = blob_open(&wt, wavelet, wavelet_bytes, WAVELET_FILE, report)) != INFGRAM_OK ||
        (status = blob_open(&sampled, samples, samples_bytes, SAMPLES_FILE, report)) != INFGRAM_OK ||
        (status = open_wavelet(v, &wt, report)) != INFGRAM_OK)
        return status;
    return open_samples(v, &sampled, report);
}
