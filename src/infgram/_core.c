/*
 * infgram._core: the compiled query core over one shard of a suffix-array index.
 *
 * Contract (the Python side in infgram/index/format.py guarantees it):
 *   - `tokens` is a buffer of `num_positions * token_width` bytes: every token is stored
 *     big-endian in `token_width` bytes (1, 2 or 4), so that comparing two token sequences
 *     with memcmp() orders them exactly as comparing their token ids one by one.
 *   - The last token of the buffer is the document separator, the largest id of the width.
 *     No query contains it, so no suffix can run out before a mismatch with a query.
 *   - `suffix_array` is a buffer of `num_positions * pointer_width` bytes: entry i is the
 *     token position of the i-th smallest suffix, stored little-endian in `pointer_width`
 *     bytes (1..8).
 *   - A query is a bytes object of whole tokens, encoded like `tokens` (big-endian).
 *   - Optionally (`use_keys`), `keys` holds the first 8 bytes of every key_step-th suffix as
 *     native uint64 values read big-endian (see "Sampled suffix keys" below; the module
 *     function `suffix_keys` makes them). With them a search reads the text at about
 *     2 * log2(key_step) places instead of 2 * log2(num_positions).
 *
 * All the suffixes that start with a query q form one contiguous run [lo, hi) of the suffix
 * array; the count of q is hi - lo. Every search below finds such a run by binary search.
 * Searches release the GIL: the buffers are held for the lifetime of the object.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    Py_buffer tokens;
    Py_buffer suffix_array;
    int have_tokens;
    int have_suffix_array;
    int token_width;
    int pointer_width;
    int64_t num_positions;
    Py_buffer keys;       /* optional: the sampled suffix keys (see keyed_range()) */
    int have_keys;
    int64_t key_step;
    int64_t num_keys;
} ShardView;

static inline uint64_t pointer_at(const ShardView *view, int64_t i) {
    const unsigned char *p = (const unsigned char *)view->suffix_array.buf + i * view->pointer_width;
    uint64_t value = 0;
    switch (view->pointer_width) {
        case 4: {
            uint32_t v32;
            memcpy(&v32, p, 4);
            return v32; /* little-endian hosts only; checked at import */
        }
        case 8:
            memcpy(&value, p, 8);
            return value;
        default:
            for (int b = view->pointer_width - 1; b >= 0; b--) value = (value << 8) | p[b];
            return value;
    }
}

static inline uint64_t token_at(const ShardView *view, int64_t position) {
    const unsigned char *p = (const unsigned char *)view->tokens.buf + position * view->token_width;
    switch (view->token_width) {
        case 1: return p[0];
        case 2: return ((uint64_t)p[0] << 8) | p[1];
        default: return ((uint64_t)p[0] << 24) | ((uint64_t)p[1] << 16) | ((uint64_t)p[2] << 8) | p[3];
    }
}

/* Compare the suffix starting at token `position` with the query, looking only at the
 * first len(query) bytes of the suffix. Returns <0, 0 (the query is a prefix of the suffix)
 * or >0. A suffix shorter than the query that matches as far as it goes sorts first. */
static inline int compare_suffix(const ShardView *view, uint64_t position, const unsigned char *query,
                                 Py_ssize_t query_bytes) {
    int64_t available = (view->num_positions - (int64_t)position) * view->token_width;
    Py_ssize_t n = available < query_bytes ? (Py_ssize_t)available : query_bytes;
    int c = memcmp((const unsigned char *)view->tokens.buf + position * view->token_width, query, n);
    if (c != 0) return c;
    return n < query_bytes ? -1 : 0;
}

/* Sampled suffix keys: entry k is the first 8 bytes of suffix SA[k * key_step], read as a
 * big-endian number (zero bytes past the end of the shard). Along the suffix array these
 * keys never decrease: two suffixes that differ within their first 8 bytes differ there in
 * the same direction as their keys, and a suffix that is a proper prefix of another (only
 * at the end of the shard) pads with zeros, which no byte is below. Every suffix that starts
 * with a query q has a key between q's first 8 bytes padded with 0x00 (`low`) and padded
 * with 0xff (`high`); a key below `low` is a suffix before q's run, one above `high` after
 * it, and for a query of at most 8 bytes a key in between is a suffix that starts with q
 * (a suffix shorter than 8 bytes ends with the separator, which no query holds). So each
 * end of the run is found by a binary search over the keys (a few MB at most, in cache),
 * which reads the text only for long queries whose first 8 bytes tie, and then one over
 * the key_step suffixes between two samples: log2(key_step) reads of the text per end
 * instead of log2(num_positions). */
static inline uint64_t query_key(const unsigned char *query, Py_ssize_t query_bytes, unsigned char fill) {
    uint64_t key = 0;
    for (int b = 0; b < 8; b++) key = (key << 8) | (b < query_bytes ? query[b] : fill);
    return key;
}

typedef struct {
    const unsigned char *query;
    Py_ssize_t query_bytes;
    uint64_t low, high;
} KeyedQuery;

/* Does sample k compare < 0 with the query (`inclusive`: <= 0)? */
static inline int sample_before(const ShardView *view, const KeyedQuery *q, int64_t k, int inclusive) {
    uint64_t key = ((const uint64_t *)view->keys.buf)[k];
    if (key < q->low) return 1;
    if (key > q->high) return 0;
    if (q->query_bytes <= 8) return inclusive; /* the suffix starts with the query: it compares 0 */
    int c = compare_suffix(view, pointer_at(view, k * view->key_step), q->query, q->query_bytes);
    return inclusive ? c <= 0 : c < 0;
}

/* The first suffix-array entry that does not compare < 0 (`inclusive`: <= 0) with the
 * query, searching the samples from sample `from` on; *sample gets the first such sample
 * (where the search for the run's other end can start). */
static int64_t keyed_bound(const ShardView *view, const KeyedQuery *q, int inclusive, int64_t from, int64_t *sample) {
    int64_t a = from, b = view->num_keys;
    /* Invariant: samples before a compare < 0 (<= 0); samples at or after b do not. */
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (sample_before(view, q, m, inclusive)) a = m + 1;
        else b = m;
    }
    *sample = a;
    /* The bound is after sample a - 1 and at or before sample a (or the end). */
    int64_t lo = a > 0 ? (a - 1) * view->key_step + 1 : 0;
    int64_t hi = a < view->num_keys ? a * view->key_step : view->num_positions;
    /* Invariant: entries before lo compare < 0 (<= 0); entries at or after hi do not. */
    while (lo < hi) {
        int64_t m = lo + (hi - lo) / 2;
        int c = compare_suffix(view, pointer_at(view, m), q->query, q->query_bytes);
        if (inclusive ? c <= 0 : c < 0) lo = m + 1;
        else hi = m;
    }
    return lo;
}

/* find_range by the sampled keys: the run's two ends, clipped to [lo, hi). */
static void keyed_range(const ShardView *view, const unsigned char *query, Py_ssize_t query_bytes, int64_t lo,
                        int64_t hi, int64_t *out_lo, int64_t *out_hi) {
    KeyedQuery q = {query, query_bytes, query_key(query, query_bytes, 0x00), query_key(query, query_bytes, 0xff)};
    int64_t first_sample, unused;
    int64_t first = keyed_bound(view, &q, 0, 0, &first_sample);
    int64_t end = keyed_bound(view, &q, 1, first_sample, &unused);
    *out_lo = first < lo ? lo : first > hi ? hi : first;
    *out_hi = end < lo ? lo : end > hi ? hi : end;
}

/* The run [*out_lo, *out_hi) of suffixes in [lo, hi) that start with the query.
 * Precondition: the suffixes in [lo, hi) are sorted (any sub-range of the array is). */
static void find_range(const ShardView *view, const unsigned char *query, Py_ssize_t query_bytes,
                       int64_t lo, int64_t hi, int64_t *out_lo, int64_t *out_hi) {
    if (view->have_keys && hi - lo > 4 * view->key_step) {
        keyed_range(view, query, query_bytes, lo, hi, out_lo, out_hi);
        return;
    }
    /* Phase 1: narrow [lo, hi) until its midpoint matches or it is empty.
     * Invariant: every suffix before lo compares < 0, every suffix at or after hi > 0. */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = compare_suffix(view, pointer_at(view, mid), query, query_bytes);
        if (c < 0) {
            lo = mid + 1;
        } else if (c > 0) {
            hi = mid;
        } else {
            /* mid matches: the run's start is in [lo, mid], its end in (mid, hi]. */
            int64_t a = lo, b = mid;
            /* Invariant: suffixes before a compare < 0; suffix b matches. */
            while (a < b) {
                int64_t m = a + (b - a) / 2;
                if (compare_suffix(view, pointer_at(view, m), query, query_bytes) < 0) a = m + 1;
                else b = m;
            }
            int64_t c_lo = mid + 1, c_hi = hi;
            /* Invariant: suffixes before c_lo match; suffixes at or after c_hi compare > 0. */
            while (c_lo < c_hi) {
                int64_t m = c_lo + (c_hi - c_lo) / 2;
                if (compare_suffix(view, pointer_at(view, m), query, query_bytes) == 0) c_lo = m + 1;
                else c_hi = m;
            }
            *out_lo = a;
            *out_hi = c_lo;
            return;
        }
    }
    *out_lo = lo;
    *out_hi = lo;
}

/* The longest suffix of the query (in tokens) that occurs in the shard, with its run.
 * Occurrence is monotone: if query[s:] occurs then so does query[s+1:]. */
static int64_t longest_suffix(const ShardView *view, const unsigned char *query, Py_ssize_t query_bytes,
                              int64_t *out_lo, int64_t *out_hi) {
    int64_t n = query_bytes / view->token_width;
    int64_t good = n;  /* query[good:] occurs (the empty suffix always does) */
    int64_t bad = -1;  /* query[bad:] does not occur, or bad is before the query */
    int64_t lo = 0, hi = view->num_positions, tlo, thi;
    /* The empty suffix: every position, which the caller trims of separators. */
    *out_lo = 0;
    *out_hi = view->num_positions;
    /* Invariant: bad < good, query[good:] occurs, and query[bad:] does not (unless bad == -1). */
    while (good - bad > 1) {
        int64_t mid = bad + (good - bad) / 2;
        if (mid < 0) mid = 0;
        find_range(view, query + mid * view->token_width, (n - mid) * view->token_width, lo, hi, &tlo, &thi);
        if (thi > tlo) {
            good = mid;
            *out_lo = tlo;
            *out_hi = thi;
        } else {
            bad = mid;
        }
    }
    return n - good;
}

/* Compare the token at offset `depth` of the suffix at `position` with one query token.
 * A suffix that ends before `depth` sorts first, as in compare_suffix. */
static inline int compare_token_at(const ShardView *view, uint64_t position, int64_t depth,
                                   const unsigned char *token) {
    int64_t at = (int64_t)position + depth;
    if (at >= view->num_positions) return -1;
    return memcmp((const unsigned char *)view->tokens.buf + at * view->token_width, token, view->token_width);
}

/* Narrow a run [lo, hi) whose suffixes all share their first `depth` tokens to the sub-run
 * whose token at `depth` is `token`. Along the run those tokens never decrease, so two
 * binary searches that each compare one token suffice. */
static void narrow_range(const ShardView *view, int64_t lo, int64_t hi, int64_t depth, const unsigned char *token,
                         int64_t *out_lo, int64_t *out_hi) {
    int64_t a = lo, b = hi;
    /* Invariant: suffixes before a compare < 0; suffixes at or after b compare >= 0. */
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (compare_token_at(view, pointer_at(view, m), depth, token) < 0) a = m + 1;
        else b = m;
    }
    int64_t c = a, d = hi;
    /* Invariant: suffixes before c compare <= 0; suffixes at or after d compare > 0. */
    while (c < d) {
        int64_t m = c + (d - c) / 2;
        if (compare_token_at(view, pointer_at(view, m), depth, token) <= 0) c = m + 1;
        else d = m;
    }
    *out_lo = a;
    *out_hi = c;
}

/* Matching statistics: for every start i, the longest prefix of query[i:] that occurs, and
 * its count. If query[i:i+m] occurs then so does query[i+1:i+m], so position i+1 starts
 * from m - 1 known tokens (one search for their run) and extends one token at a time by
 * narrowing the run: at most n extensions in all, not one longest-prefix search per start. */
static void longest_prefixes(const ShardView *view, const unsigned char *query, int64_t n,
                             int64_t *lengths, int64_t *counts) {
    const int w = view->token_width;
    int64_t matched = 0, lo = 0, hi = view->num_positions, tlo, thi;
    for (int64_t i = 0; i < n; i++) {
        if (matched > 0) find_range(view, query + i * w, matched * w, 0, view->num_positions, &lo, &hi);
        else { lo = 0; hi = view->num_positions; }
        while (i + matched < n) {
            narrow_range(view, lo, hi, matched, query + (i + matched) * w, &tlo, &thi);
            if (thi == tlo) break;
            lo = tlo;
            hi = thi;
            matched++;
        }
        lengths[i] = matched;
        counts[i] = matched > 0 ? hi - lo : 0;
        if (matched > 0) matched--;
    }
}

/* ∞-gram over a whole sequence: for every token i, the longest suffix of query[:i] that
 * occurs (its length, its count) and the count of that suffix followed by token i. The
 * suffix for token i + 1 is at most one token longer than the one for token i, and exactly
 * that when token i was seen after it, so the run just found is reused (one narrowing per
 * token); otherwise the longest shorter suffix that occurs is found by galloping down from
 * the old length, in O(log(old - new)) searches. `unigram_hi` ends the run of the empty suffix
 * (the separators, which sort last, are not tokens). */
static void infgram_sequence(const ShardView *view, const unsigned char *query, int64_t n, int64_t unigram_hi,
                             int64_t *lengths, int64_t *prompt_counts, int64_t *counts) {
    const int w = view->token_width;
    int64_t length = 0, lo = 0, hi = unigram_hi, tlo, thi;
    for (int64_t i = 0; i < n; i++) {
        narrow_range(view, lo, hi, length, query + i * w, &tlo, &thi);
        lengths[i] = length;
        prompt_counts[i] = hi - lo;
        counts[i] = thi - tlo;
        if (thi > tlo) {
            length++;
            lo = tlo;
            hi = thi;
            continue;
        }
        /* query[i-length : i+1] does not occur, so no longer suffix of query[:i+1] does.
         * Gallop down from `length` (tries length, length - 1, length - 3, length - 7, ...),
         * then binary search between the last suffix that failed and the first that occurs:
         * O(log(length - new length)) searches. Occurrence is monotone in the length. */
        const unsigned char *end = query + (i + 1) * w;
        int64_t bad = length + 1, good = 0, probe = length, step = 1;
        lo = 0;
        hi = unigram_hi;
        while (probe >= 1) {
            find_range(view, end - probe * w, probe * w, 0, view->num_positions, &tlo, &thi);
            if (thi > tlo) {
                good = probe;
                lo = tlo;
                hi = thi;
                break;
            }
            bad = probe;
            probe -= step;
            step *= 2;
        }
        /* Invariant: the suffix of length good occurs (good 0: the empty one), that of length bad does not. */
        while (bad - good > 1) {
            int64_t mid = good + (bad - good) / 2;
            find_range(view, end - mid * w, mid * w, 0, view->num_positions, &tlo, &thi);
            if (thi > tlo) {
                good = mid;
                lo = tlo;
                hi = thi;
            } else {
                bad = mid;
            }
        }
        length = good;
    }
}

static int ShardView_init(ShardView *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"tokens", "suffix_array", "token_width", "pointer_width", NULL};
    PyObject *tokens_obj, *sa_obj;
    int token_width, pointer_width;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOii", kwlist, &tokens_obj, &sa_obj, &token_width,
                                     &pointer_width))
        return -1;
    if (token_width != 1 && token_width != 2 && token_width != 4) {
        PyErr_Format(PyExc_ValueError, "token_width must be 1, 2 or 4, got %d", token_width);
        return -1;
    }
    if (pointer_width < 1 || pointer_width > 8) {
        PyErr_Format(PyExc_ValueError, "pointer_width must be 1..8, got %d", pointer_width);
        return -1;
    }
    if (PyObject_GetBuffer(tokens_obj, &self->tokens, PyBUF_SIMPLE) < 0) return -1;
    self->have_tokens = 1;
    if (PyObject_GetBuffer(sa_obj, &self->suffix_array, PyBUF_SIMPLE) < 0) return -1;
    self->have_suffix_array = 1;
    self->token_width = token_width;
    self->pointer_width = pointer_width;
    if (self->tokens.len % token_width != 0) {
        PyErr_SetString(PyExc_ValueError, "tokens buffer is not a whole number of tokens");
        return -1;
    }
    self->num_positions = self->tokens.len / token_width;
    if (self->suffix_array.len != self->num_positions * pointer_width) {
        PyErr_Format(PyExc_ValueError, "suffix array holds %zd bytes, expected %lld", self->suffix_array.len,
                     (long long)(self->num_positions * pointer_width));
        return -1;
    }
    return 0;
}

static void ShardView_dealloc(ShardView *self) {
    if (self->have_tokens) PyBuffer_Release(&self->tokens);
    if (self->have_suffix_array) PyBuffer_Release(&self->suffix_array);
    if (self->have_keys) PyBuffer_Release(&self->keys);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_query(const ShardView *self, Py_ssize_t query_bytes) {
    if (query_bytes % self->token_width != 0) {
        PyErr_Format(PyExc_ValueError, "query of %zd bytes is not a whole number of %d-byte tokens",
                     query_bytes, self->token_width);
        return -1;
    }
    return 0;
}

static PyObject *ShardView_find(ShardView *self, PyObject *args) {
    Py_buffer query;
    long long lo = 0, hi = -1;
    if (!PyArg_ParseTuple(args, "y*|LL", &query, &lo, &hi)) return NULL;
    if (hi < 0) hi = self->num_positions;
    if (check_query(self, query.len) < 0 || lo < 0 || hi > self->num_positions || lo > hi) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "range out of bounds");
        PyBuffer_Release(&query);
        return NULL;
    }
    int64_t out_lo, out_hi;
    Py_BEGIN_ALLOW_THREADS
    find_range(self, query.buf, query.len, lo, hi, &out_lo, &out_hi);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    return Py_BuildValue("LL", (long long)out_lo, (long long)out_hi);
}

/* find_many(data, offsets) -> bytes holding an int64 (lo, hi) pair per query.
 * Query i is data[offsets[i]:offsets[i + 1]]; `offsets` holds len + 1 int64 values.
 * The queries are searched in sorted order: consecutive searches then walk nearly the same
 * path through the suffix array, which stays in cache, and each search can start at the
 * previous run's start (a lexicographically larger query never has an earlier run). */
typedef struct {
    const unsigned char *data;
    const int64_t *offsets;
} QuerySet;

static int query_less(const QuerySet *set, int64_t i, int64_t j) {
    int64_t li = set->offsets[i + 1] - set->offsets[i], lj = set->offsets[j + 1] - set->offsets[j];
    int c = memcmp(set->data + set->offsets[i], set->data + set->offsets[j], li < lj ? li : lj);
    return c < 0 || (c == 0 && li < lj);
}

/* Bottom-up merge sort of query numbers (stable, no recursion, no global state). */
static void sort_queries(const QuerySet *set, int64_t *order, int64_t *scratch, int64_t n) {
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t left = 0; left < n; left += 2 * width) {
            int64_t mid = left + width < n ? left + width : n;
            int64_t right = left + 2 * width < n ? left + 2 * width : n;
            int64_t a = left, b = mid, k = left;
            while (a < mid && b < right) scratch[k++] = query_less(set, order[b], order[a]) ? order[b++] : order[a++];
            while (a < mid) scratch[k++] = order[a++];
            while (b < right) scratch[k++] = order[b++];
        }
        memcpy(order, scratch, n * sizeof(int64_t));
    }
}

static PyObject *ShardView_find_many(ShardView *self, PyObject *args) {
    Py_buffer data, offsets;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &offsets)) return NULL;
    PyObject *out = NULL;
    int64_t *order = NULL;
    if (offsets.len % sizeof(int64_t) != 0 || offsets.len < (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets must hold at least one int64");
        goto done;
    }
    Py_ssize_t n = offsets.len / sizeof(int64_t) - 1;
    const int64_t *off = (const int64_t *)offsets.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (off[i] < 0 || off[i + 1] < off[i] || off[i + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets out of bounds");
            goto done;
        }
        if (check_query(self, off[i + 1] - off[i]) < 0) goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, n * 2 * (Py_ssize_t)sizeof(int64_t));
    order = PyMem_RawMalloc((n > 0 ? 2 * n : 1) * sizeof(int64_t));
    if (!out || !order) {
        Py_CLEAR(out);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    int64_t *ranges = (int64_t *)PyBytes_AS_STRING(out);
    const unsigned char *base = data.buf;
    Py_BEGIN_ALLOW_THREADS
    QuerySet set = {base, off};
    for (Py_ssize_t i = 0; i < n; i++) order[i] = i;
    sort_queries(&set, order, order + n, n);
    int64_t previous_lo = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        int64_t i = order[k];
        find_range(self, base + off[i], off[i + 1] - off[i], previous_lo, self->num_positions, &ranges[2 * i],
                   &ranges[2 * i + 1]);
        previous_lo = ranges[2 * i];
    }
    Py_END_ALLOW_THREADS
done:
    if (order) PyMem_RawFree(order);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return out;
}

/* The first entry after `known` (which holds `value`) whose token at `depth` differs, or hi.
 * Galloping: probe known + 1, + 2, + 4, ... then binary search the last gap. */
static int64_t run_end(const ShardView *view, int64_t known, int64_t hi, int64_t depth, uint64_t value) {
    int64_t step = 1, last_equal = known;
    while (known + step < hi && token_at(view, pointer_at(view, known + step) + depth) == value) {
        last_equal = known + step;
        step *= 2;
    }
    /* Invariant: entry last_equal holds the value; entry b (or hi) does not. */
    int64_t a = last_equal + 1, b = known + step < hi ? known + step : hi;
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (token_at(view, pointer_at(view, m) + depth) == value) a = m + 1;
        else b = m;
    }
    return a;
}

#define NEXT_BLOCK 32

/* next_tokens(lo, hi, depth) -> (values: bytes of uint64, counts: bytes of int64).
 * Every suffix in [lo, hi) shares its first `depth` tokens, so the token at depth is
 * non-decreasing along the run. The run is walked in blocks: a block whose first and last
 * entries agree is one value throughout, and that value's end is found by galloping (cost
 * logarithmic in its length); a block with several values is read straight through, its
 * random token reads prefetched together so they overlap instead of queueing. Long runs of
 * one token (byte mode) and many short runs (large vocabularies) are both cheap. */
static PyObject *ShardView_next_tokens(ShardView *self, PyObject *args) {
    long long lo, hi, depth;
    if (!PyArg_ParseTuple(args, "LLL", &lo, &hi, &depth)) return NULL;
    if (lo < 0 || hi > self->num_positions || lo > hi || depth < 0) {
        PyErr_SetString(PyExc_ValueError, "range out of bounds");
        return NULL;
    }
    /* Every suffix in the run must have a token at `depth`: the last token of the shard is a
     * separator, and no run of a query holds a separator before `depth`. Check the ends. */
    if (hi > lo && ((int64_t)pointer_at(self, lo) + depth >= self->num_positions ||
                    (int64_t)pointer_at(self, hi - 1) + depth >= self->num_positions)) {
        PyErr_SetString(PyExc_ValueError, "depth runs past the end of the shard");
        return NULL;
    }
    Py_ssize_t capacity = 64, used = 0;
    uint64_t *values = PyMem_RawMalloc(capacity * sizeof(uint64_t));
    int64_t *counts = PyMem_RawMalloc(capacity * sizeof(int64_t));
    int failed = values == NULL || counts == NULL;
    Py_BEGIN_ALLOW_THREADS
    int64_t i = lo;
#define EMIT(v, n)                                                                          \
    do {                                                                                    \
        if (used > 0 && values[used - 1] == (v)) {                                          \
            counts[used - 1] += (n);                                                        \
        } else {                                                                            \
            if (used == capacity) {                                                         \
                capacity *= 2;                                                              \
                uint64_t *nv = PyMem_RawRealloc(values, capacity * sizeof(uint64_t));       \
                int64_t *nc = nv ? PyMem_RawRealloc(counts, capacity * sizeof(int64_t)) : NULL; \
                if (nv) values = nv;                                                        \
                if (nc) counts = nc;                                                        \
                if (!nv || !nc) { failed = 1; break; }                                      \
            }                                                                               \
            values[used] = (v);                                                             \
            counts[used] = (n);                                                             \
            used++;                                                                         \
        }                                                                                   \
    } while (0)
    while (!failed && i < hi) {
        int64_t block_end = i + NEXT_BLOCK < hi ? i + NEXT_BLOCK : hi;
        uint64_t first = token_at(self, pointer_at(self, i) + depth);
        uint64_t last = token_at(self, pointer_at(self, block_end - 1) + depth);
        if (first == last) {
            int64_t end = run_end(self, block_end - 1, hi, depth, first);
            EMIT(first, end - i);
            i = end;
            continue;
        }
        uint64_t positions[NEXT_BLOCK];
        for (int64_t k = i; k < block_end; k++) {
            positions[k - i] = pointer_at(self, k) + depth;
            __builtin_prefetch((const unsigned char *)self->tokens.buf + positions[k - i] * self->token_width);
        }
        for (int64_t k = i; k < block_end && !failed; k++) {
            uint64_t value = token_at(self, positions[k - i]);
            EMIT(value, 1);
        }
        i = block_end;
    }
#undef EMIT
    Py_END_ALLOW_THREADS
    if (failed) {
        PyMem_RawFree(values);
        PyMem_RawFree(counts);
        return PyErr_NoMemory();
    }
    PyObject *result = Py_BuildValue("y#y#", (const char *)values, (Py_ssize_t)(used * sizeof(uint64_t)),
                                     (const char *)counts, (Py_ssize_t)(used * sizeof(int64_t)));
    PyMem_RawFree(values);
    PyMem_RawFree(counts);
    return result;
}

/* longest_suffix(query) -> (suffix_length_in_tokens, lo, hi) */
static PyObject *ShardView_longest_suffix(ShardView *self, PyObject *args) {
    Py_buffer query;
    if (!PyArg_ParseTuple(args, "y*", &query)) return NULL;
    if (check_query(self, query.len) < 0) {
        PyBuffer_Release(&query);
        return NULL;
    }
    int64_t lo, hi, length;
    Py_BEGIN_ALLOW_THREADS
    length = longest_suffix(self, query.buf, query.len, &lo, &hi);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    return Py_BuildValue("LLL", (long long)length, (long long)lo, (long long)hi);
}

/* A bytes object of n int64 values, for the results of the sequence calls. */
static PyObject *new_int64_bytes(int64_t n, int64_t **data) {
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    if (result) *data = (int64_t *)PyBytes_AS_STRING(result);
    return result;
}

/* longest_prefixes(query) -> (lengths, counts): int64 bytes, one value per query token. */
static PyObject *ShardView_longest_prefixes(ShardView *self, PyObject *args) {
    Py_buffer query;
    if (!PyArg_ParseTuple(args, "y*", &query)) return NULL;
    if (check_query(self, query.len) < 0) {
        PyBuffer_Release(&query);
        return NULL;
    }
    int64_t n = query.len / self->token_width, *lengths = NULL, *counts = NULL;
    PyObject *lengths_bytes = new_int64_bytes(n, &lengths), *counts_bytes = new_int64_bytes(n, &counts);
    if (!lengths_bytes || !counts_bytes) {
        Py_XDECREF(lengths_bytes);
        Py_XDECREF(counts_bytes);
        PyBuffer_Release(&query);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    longest_prefixes(self, query.buf, n, lengths, counts);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    return Py_BuildValue("NN", lengths_bytes, counts_bytes);
}

/* infgram_sequence(query, unigram_hi) -> (suffix_lengths, prompt_counts, counts) as int64 bytes. */
static PyObject *ShardView_infgram_sequence(ShardView *self, PyObject *args) {
    Py_buffer query;
    long long unigram_hi;
    if (!PyArg_ParseTuple(args, "y*L", &query, &unigram_hi)) return NULL;
    if (check_query(self, query.len) < 0 || unigram_hi < 0 || unigram_hi > self->num_positions) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "unigram_hi out of bounds");
        PyBuffer_Release(&query);
        return NULL;
    }
    int64_t n = query.len / self->token_width, *lengths = NULL, *prompt_counts = NULL, *counts = NULL;
    PyObject *a = new_int64_bytes(n, &lengths), *b = new_int64_bytes(n, &prompt_counts), *c = new_int64_bytes(n, &counts);
    if (!a || !b || !c) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        PyBuffer_Release(&query);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    infgram_sequence(self, query.buf, n, unigram_hi, lengths, prompt_counts, counts);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    return Py_BuildValue("NNN", a, b, c);
}

/* use_keys(keys, step): search with the keys of suffixes SA[0], SA[step], SA[2 * step], ... from
 * now on (made by suffix_keys). */
static PyObject *ShardView_use_keys(ShardView *self, PyObject *args) {
    PyObject *keys_obj;
    long long step;
    if (!PyArg_ParseTuple(args, "OL", &keys_obj, &step)) return NULL;
    if (self->have_keys) {
        PyErr_SetString(PyExc_ValueError, "this view already has keys");
        return NULL;
    }
    if (step < 1) {
        PyErr_SetString(PyExc_ValueError, "step must be at least 1");
        return NULL;
    }
    Py_buffer keys;
    if (PyObject_GetBuffer(keys_obj, &keys, PyBUF_SIMPLE) < 0) return NULL;
    int64_t n = (self->num_positions + step - 1) / step;
    if (keys.len != n * 8 || ((uintptr_t)keys.buf) % 8 != 0) {
        PyErr_Format(PyExc_ValueError, "keys hold %zd bytes, expected %lld, 8-byte aligned", keys.len,
                     (long long)(n * 8));
        PyBuffer_Release(&keys);
        return NULL;
    }
    self->keys = keys;
    self->have_keys = 1;
    self->key_step = step;
    self->num_keys = n;
    Py_RETURN_NONE;
}

static PyObject *ShardView_get_num_positions(ShardView *self, void *closure) {
    return PyLong_FromLongLong(self->num_positions);
}

static PyMethodDef ShardView_methods[] = {
    {"find", (PyCFunction)ShardView_find, METH_VARARGS,
     "find(query: bytes, lo=0, hi=-1) -> (lo, hi): the run of suffixes starting with the query."},
    {"find_many", (PyCFunction)ShardView_find_many, METH_VARARGS,
     "find_many(data: bytes, offsets: int64 bytes) -> bytes of int64 (lo, hi) pairs."},
    {"next_tokens", (PyCFunction)ShardView_next_tokens, METH_VARARGS,
     "next_tokens(lo, hi, depth) -> (uint64 values, int64 counts) as bytes: the token at `depth` over the run."},
    {"longest_suffix", (PyCFunction)ShardView_longest_suffix, METH_VARARGS,
     "longest_suffix(query: bytes) -> (length, lo, hi) of the longest suffix that occurs."},
    {"longest_prefixes", (PyCFunction)ShardView_longest_prefixes, METH_VARARGS,
     "longest_prefixes(query: bytes) -> (lengths, counts) as int64 bytes: per start, the longest prefix that occurs."},
    {"infgram_sequence", (PyCFunction)ShardView_infgram_sequence, METH_VARARGS,
     "infgram_sequence(query: bytes, unigram_hi) -> (suffix_lengths, prompt_counts, counts) as int64 bytes."},
    {"use_keys", (PyCFunction)ShardView_use_keys, METH_VARARGS,
     "use_keys(keys, step): search with the keys of every step-th suffix (see _core.suffix_keys)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ShardView_getset[] = {
    {"num_positions", (getter)ShardView_get_num_positions, NULL, "tokens in the shard, separators included", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ShardViewType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "infgram._core.ShardView",
    .tp_basicsize = sizeof(ShardView),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Binary searches over one shard's tokens and suffix array (see the module docstring).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ShardView_init,
    .tp_dealloc = (destructor)ShardView_dealloc,
    .tp_methods = ShardView_methods,
    .tp_getset = ShardView_getset,
};

/*
 * Building: the suffix array of a shard's tokens, sorted at the token level.
 *
 * SA-IS (induced sorting, Nong, Zhang & Chan 2009; the sais-lite implementation vendored in
 * _sais_impl.h) sorts a string over an integer alphabet in linear time. Sorting tokens as
 * symbols visits each token position once; sorting the big-endian bytes instead (as a byte
 * suffix sorter must) visits `token_width` times as many suffixes and needs an output entry
 * for each of them, only to throw the ones inside tokens away. The order is the same: the
 * end of the text sorts first, then tokens compare by id, as memcmp on big-endian bytes does.
 */
int infgram_sais32(const void *T, int32_t *SA, int32_t fs, int32_t n, int32_t k, int cs);
int infgram_sais64(const void *T, int64_t *SA, int64_t fs, int64_t n, int64_t k, int cs);

static PyObject *core_sort_suffixes(PyObject *module, PyObject *args) {
    Py_buffer tokens, out;
    int token_width;
    long long id_limit;
    if (!PyArg_ParseTuple(args, "y*iLw*", &tokens, &token_width, &id_limit, &out)) return NULL;
    PyObject *result = NULL;
    int64_t n = token_width > 0 ? tokens.len / token_width : 0;
    const unsigned char *text = (const unsigned char *)tokens.buf;
    int cs = token_width;
    int64_t k = token_width == 1 ? 256 : 65536;
    int status = 0, bad_id = 0;
    if ((token_width != 1 && token_width != 2 && token_width != 4) || tokens.len % token_width) {
        PyErr_SetString(PyExc_ValueError, "sort_suffixes: expected whole tokens of 1, 2 or 4 bytes");
        goto done;
    }
    if (out.len != n * 4 && out.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "sort_suffixes: expected an output of one int32 or int64 per token");
        goto done;
    }
    if (token_width == 4) {
        /* 32-bit ids: the alphabet is the ids below id_limit, plus the separator mapped to id_limit. */
        if (id_limit < 1 || id_limit > 0x3fffffffLL || (out.len == n * 4 && id_limit >= n + (1LL << 30))) {
            PyErr_SetString(PyExc_ValueError, "sort_suffixes: id_limit out of range");
            goto done;
        }
        cs = -(int)id_limit;
        k = id_limit + 1;
    }
    Py_BEGIN_ALLOW_THREADS
    if (token_width == 4) {
        for (int64_t i = 0; i < n; i++) {
            const unsigned char *p = text + 4 * i;
            uint32_t v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
            if (v >= (uint64_t)id_limit && v != 0xffffffffu) { bad_id = 1; break; }
        }
    }
    if (!bad_id) {
        if (n == 1) {
            if (out.len == 4) ((int32_t *)out.buf)[0] = 0; else ((int64_t *)out.buf)[0] = 0;
        } else if (n > 1 && out.len == n * 4) {
            status = infgram_sais32(text, (int32_t *)out.buf, 0, (int32_t)n, (int32_t)k, cs);
        } else if (n > 1) {
            status = infgram_sais64(text, (int64_t *)out.buf, 0, n, k, cs);
        }
    }
    Py_END_ALLOW_THREADS
    if (bad_id) {
        PyErr_SetString(PyExc_ValueError, "sort_suffixes: a token id is not below id_limit");
    } else if (status == -2) {
        PyErr_NoMemory();
    } else if (status != 0) {
        PyErr_Format(PyExc_RuntimeError, "sort_suffixes: the suffix sorter failed (%d)", status);
    } else {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&out);
    return result;
}

/* suffix_keys(tokens, token_width, positions) -> bytes of native uint64: for each int64 token
 * position, the key of the suffix there (its first 8 bytes read big-endian, zero bytes past
 * the end), as "Sampled suffix keys" above defines it. */
static PyObject *core_suffix_keys(PyObject *module, PyObject *args) {
    Py_buffer tokens, positions;
    int token_width;
    if (!PyArg_ParseTuple(args, "y*iy*", &tokens, &token_width, &positions)) return NULL;
    PyObject *result = NULL;
    if ((token_width != 1 && token_width != 2 && token_width != 4) || tokens.len % token_width != 0 ||
        positions.len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "expected whole tokens of 1, 2 or 4 bytes and int64 positions");
        goto done;
    }
    int64_t n = positions.len / 8, num_tokens = tokens.len / token_width;
    const int64_t *at = positions.buf;
    for (int64_t k = 0; k < n; k++) {
        if (at[k] < 0 || at[k] >= num_tokens) {
            PyErr_Format(PyExc_ValueError, "position %lld is outside the %lld tokens", (long long)at[k],
                         (long long)num_tokens);
            goto done;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
    if (!result) goto done;
    uint64_t *keys = (uint64_t *)PyBytes_AS_STRING(result);
    const unsigned char *text = tokens.buf;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t k = 0; k < n; k++) {
        int64_t available = tokens.len - at[k] * token_width;
        keys[k] = query_key(text + at[k] * token_width, available < 8 ? (Py_ssize_t)available : 8, 0x00);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&positions);
    return result;
}

/* encode_ids(ids: list | tuple, token_width, limit) -> bytes, or None: the ids stored big-endian
 * in token_width bytes each, as the searches take them, or None when an item is not an int or
 * not in [0, limit) (the caller then takes the slow path, which says what is wrong). One pass
 * in C: a 100-token query costs about 1 µs here against 4 µs through array() and max(). */
static PyObject *core_encode_ids(PyObject *module, PyObject *args) {
    PyObject *ids;
    int token_width;
    long long limit;
    if (!PyArg_ParseTuple(args, "OiL", &ids, &token_width, &limit)) return NULL;
    if (!PyList_CheckExact(ids) && !PyTuple_CheckExact(ids)) Py_RETURN_NONE;
    if (token_width != 1 && token_width != 2 && token_width != 4) {
        PyErr_SetString(PyExc_ValueError, "token_width must be 1, 2 or 4");
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ids);
    PyObject **items = PySequence_Fast_ITEMS(ids);
    PyObject *result = PyBytes_FromStringAndSize(NULL, n * token_width);
    if (!result) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyLong_CheckExact(items[i])) goto slow_path;
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(items[i], &overflow);
        if (overflow || value < 0 || value >= limit) goto slow_path;
        for (int b = token_width - 1; b >= 0; b--) {
            out[i * token_width + b] = (unsigned char)(value & 0xff);
            value >>= 8;
        }
    }
    return result;
slow_path:
    Py_DECREF(result);
    Py_RETURN_NONE;
}

static PyMethodDef core_functions[] = {
    {"sort_suffixes", core_sort_suffixes, METH_VARARGS,
     "sort_suffixes(tokens: buffer, token_width, id_limit, out: int32 or int64 buffer) -> None: "
     "the token-level suffix array of big-endian tokens into `out` (id_limit: the ids below it, "
     "plus the separator, for 4-byte tokens)."},
    {"suffix_keys", core_suffix_keys, METH_VARARGS,
     "suffix_keys(tokens, token_width, positions: int64 bytes) -> bytes of native uint64 suffix keys."},
    {"encode_ids", core_encode_ids, METH_VARARGS,
     "encode_ids(ids: list | tuple, token_width, limit) -> big-endian bytes, or None if an id is not an int in [0, limit)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "_core",
    "Compiled binary searches over a suffix-array shard; see the comment at the top of _core.c.", -1,
    core_functions,
};

PyMODINIT_FUNC PyInit__core(void) {
    uint16_t probe = 1;
    if (*(unsigned char *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "infgram._core supports little-endian hosts only");
        return NULL;
    }
    if (PyType_Ready(&ShardViewType) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m) return NULL;
    Py_INCREF(&ShardViewType);
    if (PyModule_AddObject(m, "ShardView", (PyObject *)&ShardViewType) < 0) {
        Py_DECREF(&ShardViewType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
