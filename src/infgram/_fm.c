/*
 * infgram._fm: the compiled core of the FM-index (see infgram/index/fm_build.py for the
 * algorithm and the file layout; this file holds only the hot loops).
 *
 * The three structures, as laid out by fm_build.py:
 *
 *   Wavelet tree. The BWT of a shard is stored as a Huffman-shaped wavelet tree: symbol c
 *   has a prefix-free code; the root's bitvector holds the first code bit of every BWT
 *   symbol, and each internal node the next bit of the symbols whose codes pass through it.
 *   rank_c(i) (occurrences of c in BWT[0, i)) follows c's code from the root: at each node,
 *   i becomes the number of earlier symbols that took the same branch. All node bitvectors
 *   are concatenated into one long bitvector, node v covering [node_start[v], ...).
 *
 *   RRR bitvector (Raman, Raman and Rao, 2002). The long bitvector is cut into blocks of 63
 *   bits. A block is stored as its class k (number of ones, 6 bits) and its offset: the
 *   index of its bit pattern among all C(63, k) patterns with k ones, in ceil(log2 C(63, k))
 *   bits (0 bits when k is 0 or 63, the common case in a BWT: its runs make long stretches of
 *   equal bits). Ranks come from sampled prefix sums: each superblock of 35 blocks records
 *   the ones and offset bits before it relative to its hyperblock of 980 blocks (16 bits
 *   each), each hyperblock the absolute values (64 bits each). A superblock is one 32-byte
 *   record: a word with the two 16-bit samples and the first 5 classes, then three words of
 *   10 classes (6 bits each), so a rank touches one cache line for both; the offsets are a
 *   separate bit stream.
 *
 *   Enumerative code of a block: bits are read from position 0 to 62. With L positions left
 *   of which k hold ones, the C(L - 1, k) patterns whose next bit is 0 come first; a 1 skips
 *   them. So the offset is the sum of C(L - 1, k) over the set bits, and decoding compares
 *   the offset with C(L - 1, k) at each position.
 *
 *   Sampled suffix array. Text positions that are multiples of `sample_rate` are sampled;
 *   their rows are marked in an Elias-Fano set (low bits plus a unary-coded high part with
 *   a select0 sample every 64 zeros), and the row's text position / sample_rate is stored in
 *   the order of the rows. locate walks the LF mapping back from a row until it reaches a
 *   marked row: at most sample_rate - 1 steps. The inverse samples (the row of every text
 *   position that is a multiple of `isa_rate`) let `extract` start near any text position.
 *
 * The LF mapping: LF(i) = C[c] + rank_c(i) with c = BWT[i] is the row of the suffix one
 * position earlier in the text. The text ends with the separator 255 but is not closed by a
 * unique smallest sentinel, so LF is exact for every symbol but 255 (queries never hold
 * 255); for 255 the one row whose suffix starts the text (`primary_row`) is special: its LF
 * is the row of the last suffix, "255" alone, the first of the rows that start with 255.
 *
 * Every query releases the GIL: the buffers are held for the lifetime of the view.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define BLOCK_BITS 63
#define SUPERBLOCK_BLOCKS 35
#define HYPERBLOCK_BLOCKS 980
#define CLASSES_PER_WORD 10
#define CLASSES_IN_SAMPLE 5
#define SELECT_SAMPLE 64

static uint64_t BINOM[64][64];
static int WIDTH[64];

static void init_tables(void) {
    for (int n = 0; n < 64; n++) {
        BINOM[n][0] = 1;
        for (int k = 1; k < 64; k++) BINOM[n][k] = n == 0 ? 0 : BINOM[n - 1][k - 1] + BINOM[n - 1][k];
    }
    for (int k = 0; k < 64; k++) {
        uint64_t count = BINOM[BLOCK_BITS][k];
        int width = 0;
        while (width < 63 && ((uint64_t)1 << width) < count) width++;
        WIDTH[k] = width; /* ceil(log2(count)); 0 when count is 1 */
    }
}

/* ---- packed bits ---------------------------------------------------------------------- */

static inline uint64_t read_bits(const uint64_t *words, uint64_t position, int width) {
    if (width == 0) return 0;
    uint64_t word = position >> 6;
    int shift = (int)(position & 63);
    uint64_t value = words[word] >> shift;
    if (shift + width > 64) value |= words[word + 1] << (64 - shift);
    return width == 64 ? value : value & (((uint64_t)1 << width) - 1);
}

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

/* ---- the view ------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Py_buffer wt_buffer;
    Py_buffer samples_buffer;
    int have_wt, have_samples;
    /* wavelet tree */
    uint64_t n, num_nodes, num_bits, num_blocks, primary_row;
    const uint64_t *C;        /* 257 entries: rows starting with a symbol < c */
    const uint64_t *codes;    /* 256 */
    const uint8_t *lengths;   /* 256; 0 = the symbol does not occur */
    const uint64_t *node_start, *node_ones;
    const int32_t *node_child; /* 2 per node; >= 0 an internal node, < 0 the leaf of symbol -1 - v */
    const uint64_t *superblocks, *hyperblocks, *offsets; /* superblocks: 4 words each, see above */
    /* samples */
    uint64_t sample_rate, isa_rate, num_samples, low_bits, value_width, num_isa, isa_width, high_length;
    const uint64_t *low, *high, *select, *values, *isa;
} FMView;

#define RECORD_WORDS 4

/* Ones among bits [0, q) of a block of class k and offset `offset`; *bit is bit q (q < 63). */
static inline uint64_t block_rank(int k, uint64_t offset, int q, int *bit) {
    uint64_t ones = 0;
    for (int j = 0;; j++) {
        int left = BLOCK_BITS - j;
        if (k == 0) { *bit = 0; return ones; }
        if (k == left) { *bit = 1; return ones + (uint64_t)(q - j); }
        uint64_t skip = BINOM[left - 1][k];
        int one = offset >= skip;
        if (j == q) { *bit = one; return ones; }
        if (one) { offset -= skip; k--; ones++; }
    }
}

/* The first half of a rank: where bit p's block is, the ones before it and where its
 * offset starts. Split from the decoding so two ranks can overlap their memory reads. */
typedef struct {
    uint64_t ones, position;
    int k, q;
} BlockPlace;

static inline const uint64_t *record_of(const FMView *v, uint64_t p) {
    return v->superblocks + RECORD_WORDS * ((p / BLOCK_BITS) / SUPERBLOCK_BLOCKS);
}

static inline void place_block(const FMView *v, uint64_t p, BlockPlace *place) {
    uint64_t block = p / BLOCK_BITS;
    uint64_t superblock = block / SUPERBLOCK_BLOCKS, hyperblock = block / HYPERBLOCK_BLOCKS;
    const uint64_t *record = v->superblocks + RECORD_WORDS * superblock;
    uint64_t ones = v->hyperblocks[2 * hyperblock] + (record[0] & 0xffff);
    uint64_t position = v->hyperblocks[2 * hyperblock + 1] + ((record[0] >> 16) & 0xffff);
    int before = (int)(block - superblock * SUPERBLOCK_BLOCKS); /* blocks of the superblock before ours */
    /* The classes as one sequence: 5 in the sample word from bit 32, then 10 per word. */
    uint64_t word = record[0] >> 32;
    int in_word = CLASSES_IN_SAMPLE, w = 0;
    while (before >= in_word) {
        for (int i = 0; i < in_word; i++) {
            int k = (int)((word >> (6 * i)) & 63);
            ones += k;
            position += WIDTH[k];
        }
        before -= in_word;
        word = record[++w];
        in_word = CLASSES_PER_WORD;
    }
    for (int i = 0; i < before; i++) {
        int k = (int)((word >> (6 * i)) & 63);
        ones += k;
        position += WIDTH[k];
    }
    place->ones = ones;
    place->position = position;
    place->k = (int)((word >> (6 * before)) & 63);
    place->q = (int)(p % BLOCK_BITS);
}

static inline uint64_t finish_rank(const FMView *v, const BlockPlace *place, int *bit) {
    uint64_t offset = read_bits(v->offsets, place->position, WIDTH[place->k]);
    return place->ones + block_rank(place->k, offset, place->q, bit);
}

static inline void prefetch_offset(const FMView *v, const BlockPlace *place) {
    if (WIDTH[place->k]) __builtin_prefetch(v->offsets + (place->position >> 6));
}

/* Ones in bits [0, p) of the long bitvector, and bit p. */
static inline uint64_t rank1(const FMView *v, uint64_t p, int *bit) {
    BlockPlace place;
    place_block(v, p, &place);
    return finish_rank(v, &place, bit);
}

/* rank1 at two positions, their memory reads overlapped. */
static inline void rank1_pair(const FMView *v, uint64_t p1, uint64_t p2, uint64_t *r1, uint64_t *r2) {
    BlockPlace a, b;
    int bit;
    __builtin_prefetch(record_of(v, p2));
    place_block(v, p1, &a);
    prefetch_offset(v, &a);
    place_block(v, p2, &b);
    prefetch_offset(v, &b);
    *r1 = finish_rank(v, &a, &bit);
    *r2 = finish_rank(v, &b, &bit);
}

/* rank_c(i): occurrences of symbol c in BWT[0, i). */
static inline uint64_t wt_rank(const FMView *v, int c, uint64_t i) {
    int length = v->lengths[c];
    uint64_t code = v->codes[c];
    int32_t node = 0;
    for (int d = 0; d < length; d++) {
        int branch = (int)((code >> (length - 1 - d)) & 1);
        int bit;
        uint64_t ones = rank1(v, v->node_start[node] + i, &bit) - v->node_ones[node];
        i = branch ? ones : i - ones;
        node = v->node_child[2 * node + branch];
    }
    return i;
}

static inline uint64_t lf_from_rank(const FMView *v, uint64_t row, int c, uint64_t rank);

/* The LF mapping of row i; *symbol = BWT[i]. One walk down the tree gives both. */
static inline uint64_t wt_lf(const FMView *v, uint64_t row, int *symbol) {
    uint64_t i = row;
    int32_t node = 0;
    int c;
    for (;;) {
        int bit;
        uint64_t ones = rank1(v, v->node_start[node] + i, &bit) - v->node_ones[node];
        i = bit ? ones : i - ones;
        int32_t child = v->node_child[2 * node + bit];
        if (child < 0) { c = -1 - child; break; }
        node = child;
    }
    *symbol = c;
    return lf_from_rank(v, row, c, i);
}

/* rank_c at two rows at once (the two ends of a range), following c's code together. */
static inline void wt_rank_pair(const FMView *v, int c, uint64_t *lo, uint64_t *hi) {
    int length = v->lengths[c];
    uint64_t code = v->codes[c], i = *lo, j = *hi;
    int32_t node = 0;
    for (int d = 0; d < length; d++) {
        int branch = (int)((code >> (length - 1 - d)) & 1);
        uint64_t start = v->node_start[node], before = v->node_ones[node], ones_i, ones_j;
        rank1_pair(v, start + i, start + j, &ones_i, &ones_j);
        ones_i -= before;
        ones_j -= before;
        i = branch ? ones_i : i - ones_i;
        j = branch ? ones_j : j - ones_j;
        node = v->node_child[2 * node + branch];
    }
    *lo = i;
    *hi = j;
}

/* Backward search: the rows [*lo, *hi) whose suffixes start with the query. */
static void fm_find(const FMView *v, const unsigned char *query, Py_ssize_t length, int64_t *out_lo, int64_t *out_hi) {
    if (length == 0) { *out_lo = 0; *out_hi = (int64_t)v->n; return; }
    int c = query[length - 1];
    uint64_t lo = v->C[c], hi = v->C[c + 1];
    /* Invariant: [lo, hi) are the rows of suffixes that start with query[k + 1:]. */
    for (Py_ssize_t k = length - 2; k >= 0 && lo < hi; k--) {
        c = query[k];
        if (v->lengths[c] == 0) { lo = hi = 0; break; }
        wt_rank_pair(v, c, &lo, &hi);
        lo += v->C[c];
        hi += v->C[c];
    }
    if (lo >= hi) lo = hi = 0;
    *out_lo = (int64_t)lo;
    *out_hi = (int64_t)hi;
}

/* The position of zero number t (0-based) in the Elias-Fano high bits. */
static inline uint64_t select0(const FMView *v, uint64_t t) {
    uint64_t p = v->select[t / SELECT_SAMPLE];
    uint64_t remaining = t % SELECT_SAMPLE;
    if (remaining == 0) return p;
    p++;
    uint64_t w = p >> 6;
    uint64_t word = ~v->high[w] & (~(uint64_t)0 << (p & 63));
    for (;;) {
        uint64_t count = (uint64_t)__builtin_popcountll(word);
        if (count >= remaining) {
            for (uint64_t r = 1; r < remaining; r++) word &= word - 1;
            return (w << 6) + (uint64_t)__builtin_ctzll(word);
        }
        remaining -= count;
        word = ~v->high[++w];
    }
}

/* The index of row x among the marked rows, or -1 when x is not marked. */
static inline int64_t marked(const FMView *v, uint64_t x) {
    uint64_t h = x >> v->low_bits;
    uint64_t low = v->low_bits ? x & (((uint64_t)1 << v->low_bits) - 1) : 0;
    uint64_t p = h == 0 ? 0 : select0(v, h - 1) + 1; /* the first bit of bucket h */
    uint64_t j = p - h;                               /* elements in buckets before h */
    /* Bucket h: a one per element (in row order), then a zero. */
    while (p < v->high_length && get_bit(v->high, p)) {
        uint64_t element = read_bits(v->low, j * v->low_bits, (int)v->low_bits);
        if (element == low) return (int64_t)j;
        if (element > low) return -1;
        p++;
        j++;
    }
    return -1;
}

/* LF of a row whose rank of its symbol is known. The text's first suffix (primary_row)
 * maps to the lone "255" suffix, the first of the separator rows; the other separator
 * rows keep their order after it (see the header). */
static inline uint64_t lf_from_rank(const FMView *v, uint64_t row, int c, uint64_t rank) {
    if (c == 255) {
        if (row == v->primary_row) return v->C[255];
        return v->C[255] + rank + (row < v->primary_row ? 1 : 0);
    }
    return v->C[c] + rank;
}

#define LANES 16

/* locate of every row in [lo, hi) into out[row - lo]. Each walk is a chain of dependent
 * cache misses (one or two per tree level); walking LANES rows in lockstep, one tree level
 * at a time with the next reads prefetched for all of them, overlaps their misses. */
static void locate_range(const FMView *v, uint64_t lo, uint64_t hi, int64_t *out) {
    uint64_t row[LANES], steps[LANES], slot[LANES], i[LANES];
    int32_t node[LANES];
    BlockPlace place[LANES];
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
            if (h) __builtin_prefetch(v->select + (h - 1) / SELECT_SAMPLE);
        }
        for (int k = 0; k < used; k++) {
            uint64_t h = row[k] >> v->low_bits;
            uint64_t p = h == 0 ? 0 : select0(v, h - 1) + 1;
            __builtin_prefetch(v->high + (p >> 6));
            __builtin_prefetch(v->low + (((p - h) * v->low_bits) >> 6));
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
            int64_t j = marked(v, row[lane]);
            if (j >= 0) {
                out[slot[lane]] = (int64_t)(read_bits(v->values, (uint64_t)j * v->value_width, (int)v->value_width) *
                                            v->sample_rate + steps[lane]);
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
                if (node[k] >= 0) __builtin_prefetch(record_of(v, v->node_start[node[k]] + i[k]));
            for (int k = 0; k < used; k++)
                if (node[k] >= 0) {
                    place_block(v, v->node_start[node[k]] + i[k], &place[k]);
                    prefetch_offset(v, &place[k]);
                }
            for (int k = 0; k < used; k++) {
                if (node[k] < 0) continue;
                int bit;
                uint64_t ones = finish_rank(v, &place[k], &bit) - v->node_ones[node[k]];
                i[k] = bit ? ones : i[k] - ones;
                int32_t child = v->node_child[2 * node[k] + bit];
                if (child < 0) {
                    /* A leaf: i[k] is the rank of the row's symbol -1 - child. */
                    row[k] = lf_from_rank(v, row[k], -1 - child, i[k]);
                    steps[k]++;
                    walking--;
                }
                node[k] = child;
            }
        }
    }
}

/* T[start, end) into out, walking back from the nearest inverse sample at or after end. */
static void extract(const FMView *v, uint64_t start, uint64_t end, unsigned char *out) {
    if (end == v->n) {
        /* The last byte is the final separator; no walk reaches it (they start at or before n - 1). */
        out[end - 1 - start] = 255;
        if (--end == start) return;
    }
    uint64_t sample = (end + v->isa_rate - 1) / v->isa_rate;
    uint64_t position, row;
    if (sample < v->num_isa && sample * v->isa_rate <= v->n - 1) {
        position = sample * v->isa_rate;
        row = read_bits(v->isa, sample * v->isa_width, (int)v->isa_width);
    } else {
        position = v->n - 1; /* the last suffix, "255" alone: the first separator row */
        row = v->C[255];
    }
    while (position > start) {
        int c;
        uint64_t next = wt_lf(v, row, &c); /* c = T[position - 1] */
        if (position - 1 < end) out[position - 1 - start] = (unsigned char)c;
        row = next;
        position--;
    }
}

/* ---- construction of the view --------------------------------------------------------- */

typedef struct {
    const uint64_t *words;
    uint64_t num_words;
    uint64_t num_scalars, num_sections;
} Blob;

static int blob_open(Blob *blob, const Py_buffer *buffer, const char *name) {
    if (buffer->len % 8 != 0 || buffer->len < 16) {
        PyErr_Format(PyExc_ValueError, "%s: expected a whole number of 64-bit words", name);
        return -1;
    }
    blob->words = buffer->buf;
    blob->num_words = (uint64_t)buffer->len / 8;
    blob->num_scalars = blob->words[0];
    blob->num_sections = blob->words[1];
    if (2 + blob->num_scalars + 2 * blob->num_sections > blob->num_words) {
        PyErr_Format(PyExc_ValueError, "%s: the section table runs past the end", name);
        return -1;
    }
    return 0;
}

static uint64_t blob_scalar(const Blob *blob, uint64_t i) {
    return i < blob->num_scalars ? blob->words[2 + i] : 0;
}

/* Section i, which must hold at least `min_bytes`; NULL with an exception otherwise. */
static const void *blob_section(const Blob *blob, uint64_t i, uint64_t min_bytes, const char *name) {
    if (i >= blob->num_sections) {
        PyErr_Format(PyExc_ValueError, "%s: section %llu is missing", name, (unsigned long long)i);
        return NULL;
    }
    const uint64_t *entry = blob->words + 2 + blob->num_scalars + 2 * i;
    uint64_t offset = entry[0], length = entry[1];
    if (offset % 8 != 0 || offset + length > blob->num_words * 8 || length < min_bytes) {
        PyErr_Format(PyExc_ValueError, "%s: section %llu is out of bounds or too short", name, (unsigned long long)i);
        return NULL;
    }
    return (const unsigned char *)blob->words + offset;
}

static int FMView_init(FMView *self, PyObject *args, PyObject *kwds) {
    PyObject *wt_obj, *samples_obj;
    if (!PyArg_ParseTuple(args, "OO", &wt_obj, &samples_obj)) return -1;
    if (PyObject_GetBuffer(wt_obj, &self->wt_buffer, PyBUF_SIMPLE) < 0) return -1;
    self->have_wt = 1;
    if (PyObject_GetBuffer(samples_obj, &self->samples_buffer, PyBUF_SIMPLE) < 0) return -1;
    self->have_samples = 1;
    Blob wt, samples;
    if (blob_open(&wt, &self->wt_buffer, "wavelet tree") < 0) return -1;
    if (blob_open(&samples, &self->samples_buffer, "samples") < 0) return -1;
    self->n = blob_scalar(&wt, 0);
    self->num_nodes = blob_scalar(&wt, 1);
    self->num_bits = blob_scalar(&wt, 2);
    self->num_blocks = blob_scalar(&wt, 3);
    self->primary_row = blob_scalar(&wt, 4);
    uint64_t num_superblocks = self->num_blocks / SUPERBLOCK_BLOCKS + 1;
    uint64_t num_hyperblocks = self->num_blocks / HYPERBLOCK_BLOCKS + 1;
    if (self->n < 1 || self->num_nodes < 1 || self->num_nodes > 255 || self->num_blocks != self->num_bits / BLOCK_BITS + 1 ||
        self->primary_row >= self->n) {
        PyErr_SetString(PyExc_ValueError, "wavelet tree: inconsistent sizes");
        return -1;
    }
    const char *w = "wavelet tree";
    if (!(self->C = blob_section(&wt, 0, 257 * 8, w)) || !(self->codes = blob_section(&wt, 1, 256 * 8, w)) ||
        !(self->lengths = blob_section(&wt, 2, 256, w)) ||
        !(self->node_start = blob_section(&wt, 3, self->num_nodes * 8, w)) ||
        !(self->node_ones = blob_section(&wt, 4, self->num_nodes * 8, w)) ||
        !(self->node_child = blob_section(&wt, 5, self->num_nodes * 8, w)) ||
        !(self->superblocks = blob_section(&wt, 6, num_superblocks * RECORD_WORDS * 8, w)) ||
        !(self->hyperblocks = blob_section(&wt, 7, num_hyperblocks * 16, w)) ||
        !(self->offsets = blob_section(&wt, 8, 8, w)))
        return -1;
    for (uint64_t i = 0; i < 2 * self->num_nodes; i++) {
        int32_t child = self->node_child[i];
        if (child >= (int32_t)self->num_nodes || child < -256 || (child >= 0 && (uint64_t)child <= i / 2)) {
            PyErr_SetString(PyExc_ValueError, "wavelet tree: a node's child is out of range");
            return -1;
        }
    }
    for (int c = 0; c < 256; c++) {
        if (self->lengths[c] > 64) {
            PyErr_SetString(PyExc_ValueError, "wavelet tree: a code is longer than 64 bits");
            return -1;
        }
    }
    if (self->C[256] != self->n) {
        PyErr_SetString(PyExc_ValueError, "wavelet tree: symbol counts do not add up to the shard length");
        return -1;
    }
    self->sample_rate = blob_scalar(&samples, 0);
    self->isa_rate = blob_scalar(&samples, 1);
    self->num_samples = blob_scalar(&samples, 2);
    self->low_bits = blob_scalar(&samples, 3);
    self->value_width = blob_scalar(&samples, 4);
    self->num_isa = blob_scalar(&samples, 5);
    self->isa_width = blob_scalar(&samples, 6);
    self->high_length = blob_scalar(&samples, 7);
    if (self->sample_rate < 1 || self->isa_rate < 1 || self->low_bits > 63 || self->value_width > 64 ||
        self->isa_width > 64 || self->num_samples != (self->n - 1) / self->sample_rate + 1 ||
        self->num_isa != (self->n - 1) / self->isa_rate + 1) {
        PyErr_SetString(PyExc_ValueError, "samples: inconsistent sizes");
        return -1;
    }
    const char *s = "samples";
    uint64_t zeros = ((self->n - 1) >> self->low_bits) + 1;
    if (!(self->low = blob_section(&samples, 0, (self->num_samples * self->low_bits + 63) / 64 * 8, s)) ||
        !(self->high = blob_section(&samples, 1, (self->high_length / 64 + 2) * 8, s)) ||
        !(self->select = blob_section(&samples, 2, ((zeros - 1) / SELECT_SAMPLE + 1) * 8, s)) ||
        !(self->values = blob_section(&samples, 3, (self->num_samples * self->value_width + 63) / 64 * 8, s)) ||
        !(self->isa = blob_section(&samples, 4, (self->num_isa * self->isa_width + 63) / 64 * 8, s)))
        return -1;
    return 0;
}

static void FMView_dealloc(FMView *self) {
    if (self->have_wt) PyBuffer_Release(&self->wt_buffer);
    if (self->have_samples) PyBuffer_Release(&self->samples_buffer);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *FMView_find(FMView *self, PyObject *args) {
    Py_buffer query;
    if (!PyArg_ParseTuple(args, "y*", &query)) return NULL;
    int64_t lo, hi;
    Py_BEGIN_ALLOW_THREADS
    fm_find(self, query.buf, query.len, &lo, &hi);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    return Py_BuildValue("LL", (long long)lo, (long long)hi);
}

/* find_many(data, offsets) -> bytes of int64 (lo, hi) pairs, as _core.ShardView.find_many. */
static PyObject *FMView_find_many(FMView *self, PyObject *args) {
    Py_buffer data, offsets;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &offsets)) return NULL;
    PyObject *out = NULL;
    if (offsets.len % sizeof(int64_t) != 0 || offsets.len < (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets must hold at least one int64");
        goto done;
    }
    Py_ssize_t count = offsets.len / sizeof(int64_t) - 1;
    const int64_t *off = (const int64_t *)offsets.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (off[i] < 0 || off[i + 1] < off[i] || off[i + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets out of bounds");
            goto done;
        }
    }
    out = PyBytes_FromStringAndSize(NULL, count * 2 * (Py_ssize_t)sizeof(int64_t));
    if (!out) goto done;
    int64_t *ranges = (int64_t *)PyBytes_AS_STRING(out);
    const unsigned char *base = data.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++)
        fm_find(self, base + off[i], off[i + 1] - off[i], &ranges[2 * i], &ranges[2 * i + 1]);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return out;
}

/* locate(lo, hi) -> bytes of int64: the text position of every row in [lo, hi). */
static PyObject *FMView_locate(FMView *self, PyObject *args) {
    long long lo, hi;
    if (!PyArg_ParseTuple(args, "LL", &lo, &hi)) return NULL;
    if (lo < 0 || hi < lo || (uint64_t)hi > self->n) {
        PyErr_SetString(PyExc_ValueError, "rows out of bounds");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(hi - lo) * (Py_ssize_t)sizeof(int64_t));
    if (!out) return NULL;
    int64_t *positions = (int64_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    locate_range(self, (uint64_t)lo, (uint64_t)hi, positions);
    Py_END_ALLOW_THREADS
    return out;
}

/* extract(start, end) -> bytes: the text T[start, end). */
static PyObject *FMView_extract(FMView *self, PyObject *args) {
    long long start, end;
    if (!PyArg_ParseTuple(args, "LL", &start, &end)) return NULL;
    if (start < 0 || end < start || (uint64_t)end > self->n) {
        PyErr_SetString(PyExc_ValueError, "text range out of bounds");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(end - start));
    if (!out) return NULL;
    unsigned char *text = (unsigned char *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    if (end > start) extract(self, (uint64_t)start, (uint64_t)end, text);
    Py_END_ALLOW_THREADS
    return out;
}

/* access(row) -> the BWT symbol at row (for tests). */
static PyObject *FMView_access(FMView *self, PyObject *args) {
    long long row;
    if (!PyArg_ParseTuple(args, "L", &row)) return NULL;
    if (row < 0 || (uint64_t)row >= self->n) {
        PyErr_SetString(PyExc_ValueError, "row out of bounds");
        return NULL;
    }
    int c;
    wt_lf(self, (uint64_t)row, &c);
    return PyLong_FromLong(c);
}

/* rank(symbol, row) -> occurrences of the symbol in BWT[0, row) (for tests). */
static PyObject *FMView_rank(FMView *self, PyObject *args) {
    int c;
    long long row;
    if (!PyArg_ParseTuple(args, "iL", &c, &row)) return NULL;
    if (c < 0 || c > 255 || row < 0 || (uint64_t)row > self->n) {
        PyErr_SetString(PyExc_ValueError, "symbol or row out of bounds");
        return NULL;
    }
    if (self->lengths[c] == 0) return PyLong_FromLong(0);
    return PyLong_FromUnsignedLongLong(wt_rank(self, c, (uint64_t)row));
}

static PyObject *FMView_get_num_positions(FMView *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->n);
}

static PyMethodDef FMView_methods[] = {
    {"find", (PyCFunction)FMView_find, METH_VARARGS, "find(query: bytes) -> (lo, hi): the rows whose suffixes start with it."},
    {"find_many", (PyCFunction)FMView_find_many, METH_VARARGS,
     "find_many(data: bytes, offsets: int64 bytes) -> bytes of int64 (lo, hi) pairs."},
    {"locate", (PyCFunction)FMView_locate, METH_VARARGS, "locate(lo, hi) -> int64 bytes: text positions of rows lo..hi-1."},
    {"extract", (PyCFunction)FMView_extract, METH_VARARGS, "extract(start, end) -> bytes: the text between two positions."},
    {"access", (PyCFunction)FMView_access, METH_VARARGS, "access(row) -> the BWT symbol at a row."},
    {"rank", (PyCFunction)FMView_rank, METH_VARARGS, "rank(symbol, row) -> occurrences of the symbol in BWT[0, row)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FMView_getset[] = {
    {"num_positions", (getter)FMView_get_num_positions, NULL, "bytes in the shard, separators included", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FMViewType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "infgram._fm.FMView",
    .tp_basicsize = sizeof(FMView),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Searches over one shard of an FM-index (see the module docstring).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FMView_init,
    .tp_dealloc = (destructor)FMView_dealloc,
    .tp_methods = FMView_methods,
    .tp_getset = FMView_getset,
};

/* ---- construction helpers (called by fm_build.py, chunk by chunk) ----------------------- */

/* fill_wavelet_bits(bwt, codes, lengths, children, cursors, bits): for every symbol of the
 * chunk, set its code bits in the nodes on its path. cursors[v] is node v's next bit
 * position (updated); bits must be zeroed beforehand. */
static PyObject *fill_wavelet_bits(PyObject *module, PyObject *args) {
    Py_buffer bwt, codes, lengths, children, cursors, bits;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*", &bwt, &codes, &lengths, &children, &cursors, &bits)) return NULL;
    const unsigned char *text = bwt.buf;
    const uint64_t *code = codes.buf;
    const uint8_t *length = lengths.buf;
    const int32_t *child = children.buf;
    uint64_t *cursor = cursors.buf;
    uint64_t *words = bits.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < bwt.len; i++) {
        int c = text[i], len = length[c];
        int32_t node = 0;
        for (int d = 0; d < len; d++) {
            int branch = (int)((code[c] >> (len - 1 - d)) & 1);
            uint64_t p = cursor[node]++;
            if (branch) words[p >> 6] |= (uint64_t)1 << (p & 63);
            node = child[2 * node + branch];
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bwt);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&lengths);
    PyBuffer_Release(&children);
    PyBuffer_Release(&cursors);
    PyBuffer_Release(&bits);
    Py_RETURN_NONE;
}

/* rrr_classes(bits, num_bits, first_block, out): the class (popcount) of blocks first.. into out (uint8). */
static PyObject *rrr_classes(PyObject *module, PyObject *args) {
    Py_buffer bits, out;
    unsigned long long num_bits, first;
    if (!PyArg_ParseTuple(args, "y*KKw*", &bits, &num_bits, &first, &out)) return NULL;
    const uint64_t *words = bits.buf;
    uint8_t *classes = out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < out.len; i++) {
        uint64_t start = (first + (uint64_t)i) * BLOCK_BITS;
        uint64_t block = start < num_bits ? read_bits(words, start, BLOCK_BITS) : 0;
        classes[i] = (uint8_t)__builtin_popcountll(block);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bits);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/* rrr_offsets(bits, num_bits, classes, first_block, start_position, stream): write the offset
 * of every block first.. (as many as `classes` holds) into the stream from start_position. */
static PyObject *rrr_offsets(PyObject *module, PyObject *args) {
    Py_buffer bits, classes_buffer, stream;
    unsigned long long num_bits, first, position;
    if (!PyArg_ParseTuple(args, "y*Ky*KKw*", &bits, &num_bits, &classes_buffer, &first, &position, &stream)) return NULL;
    const uint64_t *words = bits.buf;
    const uint8_t *classes = classes_buffer.buf;
    uint64_t *out = stream.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < classes_buffer.len; i++) {
        int k = classes[i];
        if (WIDTH[k] == 0) continue;
        uint64_t block = read_bits(words, (first + (uint64_t)i) * BLOCK_BITS, BLOCK_BITS);
        uint64_t offset = 0;
        int left_ones = k;
        for (int j = 0; j < BLOCK_BITS && left_ones > 0; j++) {
            if ((block >> j) & 1) {
                offset += BINOM[BLOCK_BITS - j - 1][left_ones];
                left_ones--;
            }
        }
        write_bits(out, position, WIDTH[k], offset);
        position += WIDTH[k];
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&bits);
    PyBuffer_Release(&classes_buffer);
    PyBuffer_Release(&stream);
    Py_RETURN_NONE;
}

/* pack_bits(values: uint64 buffer, width) -> bytes: the values back to back in `width` bits,
 * padded to whole 64-bit words plus one. */
static PyObject *pack_bits(PyObject *module, PyObject *args) {
    Py_buffer values;
    int width;
    if (!PyArg_ParseTuple(args, "y*i", &values, &width)) return NULL;
    if (width < 0 || width > 64 || values.len % 8 != 0) {
        PyBuffer_Release(&values);
        PyErr_SetString(PyExc_ValueError, "width must be 0..64 and values whole uint64s");
        return NULL;
    }
    Py_ssize_t count = values.len / 8;
    Py_ssize_t num_words = (Py_ssize_t)(((uint64_t)count * (uint64_t)width + 63) / 64) + 1;
    PyObject *out = PyBytes_FromStringAndSize(NULL, num_words * 8);
    if (out) {
        uint64_t *words = (uint64_t *)PyBytes_AS_STRING(out);
        const uint64_t *v = values.buf;
        memset(words, 0, num_words * 8);
        uint64_t mask = width == 64 ? ~(uint64_t)0 : (((uint64_t)1 << width) - 1);
        for (Py_ssize_t i = 0; i < count; i++) write_bits(words, (uint64_t)i * width, width, v[i] & mask);
    }
    PyBuffer_Release(&values);
    return out;
}

/* rrr_widths() -> bytes of 64 uint8: the offset width of each class. */
static PyObject *rrr_widths(PyObject *module, PyObject *noargs) {
    unsigned char widths[64];
    for (int k = 0; k < 64; k++) widths[k] = (unsigned char)WIDTH[k];
    return PyBytes_FromStringAndSize((const char *)widths, 64);
}

static PyMethodDef module_methods[] = {
    {"fill_wavelet_bits", fill_wavelet_bits, METH_VARARGS, "Set the wavelet-tree node bits of a chunk of the BWT."},
    {"rrr_classes", rrr_classes, METH_VARARGS, "The classes (popcounts) of 63-bit blocks."},
    {"rrr_offsets", rrr_offsets, METH_VARARGS, "The enumerative offsets of 63-bit blocks, written to a bit stream."},
    {"pack_bits", pack_bits, METH_VARARGS, "Pack uint64 values into fixed-width bit fields."},
    {"rrr_widths", rrr_widths, METH_NOARGS, "The offset width in bits of each block class."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fm_module = {
    PyModuleDef_HEAD_INIT, "_fm", "The compiled core of the FM-index; see the comment at the top of _fm.c.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__fm(void) {
    uint16_t probe = 1;
    if (*(unsigned char *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "infgram._fm supports little-endian hosts only");
        return NULL;
    }
    init_tables();
    if (PyType_Ready(&FMViewType) < 0) return NULL;
    PyObject *m = PyModule_Create(&fm_module);
    if (!m) return NULL;
    Py_INCREF(&FMViewType);
    if (PyModule_AddObject(m, "FMView", (PyObject *)&FMViewType) < 0) {
        Py_DECREF(&FMViewType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "BLOCK_BITS", BLOCK_BITS);
    PyModule_AddIntConstant(m, "SUPERBLOCK_BLOCKS", SUPERBLOCK_BLOCKS);
    PyModule_AddIntConstant(m, "HYPERBLOCK_BLOCKS", HYPERBLOCK_BLOCKS);
    PyModule_AddIntConstant(m, "CLASSES_PER_WORD", CLASSES_PER_WORD);
    PyModule_AddIntConstant(m, "CLASSES_IN_SAMPLE", CLASSES_IN_SAMPLE);
    PyModule_AddIntConstant(m, "SELECT_SAMPLE", SELECT_SAMPLE);
    return m;
}
