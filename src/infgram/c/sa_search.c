/*
 * sa_search.c: binary searches over a suffix array (contract: sa_search.h).
 *
 * The suffix array of a text lists the starting positions of all its suffixes in sorted
 * order (Manber and Myers, 1990). Every suffix that starts with a query q sorts between
 * q itself and q followed by anything larger, so those suffixes form one contiguous run
 * [lo, hi) of the array and q occurs hi - lo times. Tokens are stored big-endian, so
 * memcmp() of two token sequences orders them as their ids do, and two binary searches
 * that compare the query with the suffix at the middle entry find the run's two ends.
 *
 * Built on that search:
 *   - the longest suffix of a query that occurs (occurrence is monotone in the suffix
 *     length, so a binary search over the length);
 *   - matching statistics (the longest match at every start, reusing the previous match);
 *   - ∞-gram counts along a sequence (the longest suffix that occurs, extended one token at
 *     a time by narrowing its run);
 *   - the distinct next tokens of a run (the token at a fixed depth never decreases along
 *     the run, so each distinct token is found by galloping).
 *
 * Damage: every pointer read goes through pointer_at(), which checks it against
 * num_positions; a bad pointer is reported and replaced by the last position (a separator,
 * which every query sorts before), so the searches finish their bounded loops and return
 * INFGRAM_DAMAGED. The cost is one well-predicted comparison per pointer read.
 */
#define _DEFAULT_SOURCE         /* mincore: which pages are in memory */
#define _POSIX_C_SOURCE 200112L /* posix_madvise, sysconf: the disk reads below */
#include "sa_search.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "encode.h"
#include "prefetch.h"

#if defined(__GNUC__)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define UNLIKELY(x) (x)
#endif

/* Report a pointer out of range; the last position stands in for it. */
static uint64_t bad_pointer(const sa_view *view, int64_t entry, uint64_t value, damage_report *report) {
    report_problem(report, INFGRAM_DAMAGED,
                   "suffix_array.bin: entry %lld points to token %llu, expected a position below %lld (the tokens "
                   "in the shard)",
                   (long long)entry, (unsigned long long)value, (long long)view->num_positions);
    return (uint64_t)(view->num_positions - 1);
}

/* Suffix-array entry i (0 <= i < num_positions), checked. */
static inline uint64_t pointer_at(const sa_view *view, int64_t i, damage_report *report) {
    const unsigned char *p = view->suffix_array + i * view->pointer_width;
    uint64_t value = 0;
    switch (view->pointer_width) {
        case 4: {
            uint32_t v32;
            memcpy(&v32, p, 4); /* little-endian hosts only */
            value = v32;
            break;
        }
        case 8:
            memcpy(&value, p, 8);
            break;
        default:
            for (int b = view->pointer_width - 1; b >= 0; b--) value = (value << 8) | p[b];
    }
    if (UNLIKELY(value >= (uint64_t)view->num_positions)) return bad_pointer(view, i, value, report);
    return value;
}

/* Compare the suffix starting at token `position` (< num_positions) with the query, looking
 * only at the first query_bytes bytes of the suffix. Returns <0, 0 (the query is a prefix of
 * the suffix) or >0. A suffix shorter than the query that matches as far as it goes sorts
 * first. */
static inline int compare_suffix(const sa_view *view, uint64_t position, const unsigned char *query,
                                 int64_t query_bytes) {
    int64_t available = (view->num_positions - (int64_t)position) * view->token_width;
    int64_t n = available < query_bytes ? available : query_bytes;
    int c = memcmp(view->tokens + position * view->token_width, query, (size_t)n);
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
typedef struct {
    const unsigned char *query;
    int64_t query_bytes;
    uint64_t low, high;
} keyed_query;

/* The key of sample k. */
static inline uint64_t key_of(const sa_view *view, int64_t k) { return view->keys[k << view->keys_have_pointers]; }

/* The position of sample k's suffix: from the record where it holds one (checked like a
 * suffix-array entry), else from the suffix array. */
static inline uint64_t sample_position(const sa_view *view, int64_t k, damage_report *report) {
    if (!view->keys_have_pointers) return pointer_at(view, k * view->key_step, report);
    uint64_t value = view->keys[2 * k + 1];
    if (UNLIKELY(value >= (uint64_t)view->num_positions)) {
        report_problem(report, INFGRAM_DAMAGED,
                       "suffix_keys.bin: sample %lld points to token %llu, expected a position below %lld",
                       (long long)k, (unsigned long long)value, (long long)view->num_positions);
        return (uint64_t)(view->num_positions - 1);
    }
    return value;
}

/* Does sample k compare < 0 with the query (`inclusive`: <= 0)? */
static inline int sample_before(const sa_view *view, const keyed_query *q, int64_t k, int inclusive,
                                damage_report *report) {
    uint64_t key = key_of(view, k);
    if (key < q->low) return 1;
    if (key > q->high) return 0;
    if (q->query_bytes <= 8) return inclusive; /* the suffix starts with the query: it compares 0 */
    int c = compare_suffix(view, sample_position(view, k, report), q->query, q->query_bytes);
    return inclusive ? c <= 0 : c < 0;
}

/* The first suffix-array entry that does not compare < 0 (`inclusive`: <= 0) with the
 * query, searching the samples from sample `from` on; *sample gets the first such sample
 * (where the search for the run's other end can start). */
static int64_t keyed_bound(const sa_view *view, const keyed_query *q, int inclusive, int64_t from, int64_t *sample,
                           damage_report *report) {
    int64_t a = from, b = view->num_keys;
    /* Invariant: samples before a compare < 0 (<= 0); samples at or after b do not. */
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (sample_before(view, q, m, inclusive, report)) a = m + 1;
        else b = m;
    }
    *sample = a;
    /* The bound is after sample a - 1 and at or before sample a (or the end). */
    int64_t lo = a > 0 ? (a - 1) * view->key_step + 1 : 0;
    int64_t hi = a < view->num_keys ? a * view->key_step : view->num_positions;
    /* Invariant: entries before lo compare < 0 (<= 0); entries at or after hi do not. */
    while (lo < hi) {
        int64_t m = lo + (hi - lo) / 2;
        int c = compare_suffix(view, pointer_at(view, m, report), q->query, q->query_bytes);
        if (inclusive ? c <= 0 : c < 0) lo = m + 1;
        else hi = m;
    }
    return lo;
}

static inline int64_t clip(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

/* The run by the sampled keys, clipped to [lo, hi). */
static void keyed_range(const sa_view *view, const unsigned char *query, int64_t query_bytes, int64_t lo, int64_t hi,
                        int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    keyed_query q = {query, query_bytes, prefix_key(query, (size_t)query_bytes, 0x00),
                     prefix_key(query, (size_t)query_bytes, 0xff)};
    int64_t first_sample, unused;
    int64_t first = keyed_bound(view, &q, 0, 0, &first_sample, report);
    int64_t end = keyed_bound(view, &q, 1, first_sample, &unused, report);
    if (UNLIKELY(end < first)) {
        /* Only keys or tokens out of order make the end search stop before the start. */
        report_problem(report, INFGRAM_DAMAGED,
                       "suffix_keys.bin or tokens.bin: a run ends at entry %lld before it starts at %lld, expected "
                       "keys and suffixes in sorted order",
                       (long long)end, (long long)first);
        end = first;
    }
    *out_lo = clip(first, lo, hi);
    *out_hi = clip(end, lo, hi);
}

/* ---- Searching from disk ---------------------------------------------------------------
 *
 * A binary search over an array on disk makes one read per step, and each read waits for
 * the one before it: about log2(rows) reads of the suffix array and as many of the text,
 * one after another. A disk answers many reads at once almost as fast as one, so from disk
 * the searches here trade reads for steps:
 *
 *   - The sampled keys (which the index keeps in memory) place each end of a query's run
 *     between two samples without reading the disk at all: for a query of at most 8 bytes
 *     exactly, for a longer one between the first sample whose key ties with the query's
 *     first 8 bytes and the first whose key is above them.
 *   - What is left of each end is found by a k-ary search: a step picks fan_out rows spread
 *     evenly over the range (or, once at most final_rows are left, every row), asks for the
 *     suffix-array pages of all of them at once, then for the text pages of all of them at
 *     once, compares, and keeps the gap between the last row before the bound and the first
 *     after it: the range shrinks by fan_out + 1 per step for two rounds of reads, where a
 *     binary search shrinks it by 2.
 *   - Several searches (the two ends of a run; the two ends of each narrowing) step
 *     together, so that their reads overlap too.
 *
 * "Asks for" is posix_madvise(POSIX_MADV_WILLNEED), which starts reading pages that are
 * not resident and returns at once; the comparisons that follow then wait for all of them
 * together. It is a system call per page, about a microsecond when the page is resident,
 * which is why it is used only where on_disk is set.
 *
 * Concurrent reads are not free: each costs its submission and the device's own time per
 * read, so a round of k reads takes about one read's latency plus k times a fifth of it
 * (measured on a cloud SSD: 1 read 52 us, 8 reads 129 us, 32 reads 351 us). A step should
 * then probe few rows, and the shape of the steps depends on what is searched:
 *
 *   - A count (one find) has both ends placed by the keys within the key_step - 1 rows
 *     between two samples; NARROW, 7 probes and then at most 3 rows, settles such a window
 *     of 31 rows in two rounds of text reads of at most 10 pages per end, where every row
 *     at once would read 31 pages per end in one round, and a binary search 5 rounds.
 *   - The longest suffix probes several starts at once over the whole array, whose
 *     rounds depend on the searches that come back with a match: on a long query its first
 *     round probes lengths doubling from the keys' 8 bytes (answers are mostly short), then
 *     spreads SPREAD_FINDS starts over the undecided ones, and probes all of them once at
 *     most MAX_FINDS are left (measured, 100-byte held-out contexts: 0.80 ms against
 *     0.90 ms the ∞-gram, about 19 disk reads' time against 21). It keeps WIDE (NARROW
 *     measured slower for it, 1.15-1.34 ms against 0.93-1.07 ms), as do the
 *     finds inside a known run (the ∞-gram's last one) and the narrowings: the ∞-gram
 *     already met its target with them, and reads the same pages as before.
 *   - Before the samples' text settles a long count's first sample, the suffix-array
 *     entries of the rows around the tied samples are asked for with it (when they take a
 *     page or two), so the rows' first step needs no round of its own.
 *   - A count's lane of at most 32 rows first compares the rows whose text is already in
 *     memory (mincore), which costs no read; its probes then spread over the rows left
 *     between them. Where the page cache holds part of the text (an index that is partly
 *     resident, or the pages earlier queries read), a count reads fewer pages and often
 *     skips a round (measured: 2.7 rounds and 9 pages against 3.7 and 13 per count). */

/* How a k-ary step spreads its probes: fan_out rows over a wide range, every row once at
 * most final_rows (or at most fan_out) are left; both at most MAX_PROBES. A lane of at
 * most scan_rows rows first has those of its rows compared whose text is in memory. */
typedef struct {
    int fan_out, final_rows, scan_rows;
} probe_shape;

/* Whether a step probes every one of `between` rows. */
static inline int probes_every_row(int64_t between, probe_shape shape) {
    return between <= shape.final_rows || between <= shape.fan_out;
}

#define MAX_PROBES 32
static const probe_shape WIDE = {16, 32, 0};
static const probe_shape NARROW = {7, 3, 32};
/* The longest suffix's finds per round: SPREAD_FINDS while more starts are undecided,
 * all of them (at most MAX_FINDS) once that few are left. */
#define SPREAD_FINDS 4
#define MAX_FINDS 8
#define MAX_LANES (2 * MAX_FINDS)

void sa_view_read_from_disk(sa_view *view, int on_disk) {
    long page = sysconf(_SC_PAGESIZE);
    view->page_bytes = page > 0 ? (int64_t)page : 4096;
    view->on_disk = on_disk ? 1 : 0;
}

/* The pages one step asks for, collected so that each is asked for once and neighbouring
 * pages in one call: the two ends of a run, and the finds of one step, often probe the same
 * rows, and every call costs a system call even when the page is resident. */
#define BATCH_PAGES 1024
typedef struct {
    uintptr_t pages[BATCH_PAGES];
    int count;
} page_batch;

static int compare_pages(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Ask for every page collected (sorted, once each, consecutive pages together), then empty. */
static void batch_flush(const sa_view *view, page_batch *batch) {
    qsort(batch->pages, (size_t)batch->count, sizeof(uintptr_t), compare_pages);
    uintptr_t page_bytes = (uintptr_t)view->page_bytes;
    int i = 0;
    while (i < batch->count) {
        uintptr_t start = batch->pages[i], end = start + page_bytes;
        while (++i < batch->count && batch->pages[i] <= end) {
            if (batch->pages[i] == end) end += page_bytes;
        }
        (void)posix_madvise((void *)start, (size_t)(end - start), POSIX_MADV_WILLNEED);
    }
    batch->count = 0;
}

/* Collect the pages of [address, address + length). */
static void batch_add(const sa_view *view, page_batch *batch, const unsigned char *address, int64_t length) {
    uintptr_t mask = (uintptr_t)view->page_bytes - 1;
    uintptr_t page = (uintptr_t)address & ~mask;
    uintptr_t end = (uintptr_t)address + (uintptr_t)(length > 0 ? length : 1);
    for (; page < end; page += mask + 1) {
        if (batch->count == BATCH_PAGES) batch_flush(view, batch);
        batch->pages[batch->count++] = page;
    }
}

/* The rows a step probes strictly between rows `left` and `right` (left < right): every one
 * when probes_every_row, else shape.fan_out spread evenly, in increasing order. They are
 * written to `out` (when not NULL); returns how many. */
static int64_t probes_between(int64_t left, int64_t right, probe_shape shape, int64_t *out) {
    int64_t span = right - left, between = span - 1;
    if (between <= 0) return 0;
    if (probes_every_row(between, shape)) {
        for (int64_t r = 0; out && r < between; r++) out[r] = left + 1 + r;
        return between;
    }
    /* left + (k + 1) * span / (fan_out + 1), k < fan_out: increasing (span > fan_out + 1), and
     * strictly between left and right. */
    for (int k = 0; out && k < shape.fan_out; k++) out[k] = left + ((k + 1) * span) / (shape.fan_out + 1);
    return shape.fan_out;
}

/* Compare the `query_bytes` bytes of the suffix at `position`, from token `depth` on, with
 * the query: compare_suffix of the suffix shifted by depth; a suffix that ends before
 * `depth` sorts first. */
static inline int compare_at(const sa_view *view, uint64_t position, int64_t depth, const unsigned char *query,
                             int64_t query_bytes) {
    int64_t at = (int64_t)position + depth;
    if (at >= view->num_positions) return -1;
    return compare_suffix(view, (uint64_t)at, query, query_bytes);
}

/* One bound being searched: the first row of [a, b) whose suffix (from token `depth` on)
 * does not compare < 0 with the query (`inclusive`: not <= 0). */
typedef struct {
    const unsigned char *query;
    int64_t query_bytes, depth;
    int inclusive;
    int64_t a, b; /* invariant: rows before a compare < 0 (<= 0); rows at or after b do not */
} bound_lane;

/* Whether the suffix at `position` compares before the lane's bound (< 0; inclusive: <= 0). */
static inline int compares_before(const sa_view *view, const bound_lane *lane, uint64_t position) {
    int c = compare_at(view, position, lane->depth, lane->query, lane->query_bytes);
    return lane->inclusive ? c <= 0 : c < 0;
}

/* Whether the `length` bytes at `address` are in memory, so that reading them costs no disk
 * read (mincore; a range of more than 8 pages, or an error, counts as not in memory). */
static int resident(const sa_view *view, const unsigned char *address, int64_t length) {
    uintptr_t mask = (uintptr_t)view->page_bytes - 1;
    uintptr_t start = (uintptr_t)address & ~mask;
    uintptr_t end = ((uintptr_t)address + (uintptr_t)(length > 0 ? length : 1) + mask) & ~mask;
    unsigned char in_memory[8];
    size_t pages = (size_t)((end - start) / (mask + 1));
    if (pages > 8 || mincore((void *)start, (size_t)(end - start), in_memory) != 0) return 0;
    for (size_t i = 0; i < pages; i++) {
        if (!(in_memory[i] & 1)) return 0;
    }
    return 1;
}

/* The tests replace the check, so that the searches also meet text that is not in memory. */
#ifndef SA_SEARCH_RESIDENT
#define SA_SEARCH_RESIDENT resident
#endif

/* Narrow a lane by the rows of [a, b) whose text is in memory (their suffix-array entries,
 * or for samples their records, must be). A step's probes then spread over what is left,
 * so on an index whose page cache holds part of the text, a step reads fewer pages, and
 * often none is needed at all. */
static void compare_resident(const sa_view *view, bound_lane *lane, int over_samples, damage_report *report) {
    const int w = view->token_width;
    /* Invariant (the lane's): rows before a compare before, rows at or after b do not. Along
     * the rows "compares before" is monotone, so a row that does moves a past it, and the
     * first that does not ends the range. */
    for (int64_t r = lane->a; r < lane->b; r++) {
        uint64_t position = over_samples ? sample_position(view, r, report) : pointer_at(view, r, report);
        int64_t at = (int64_t)position + lane->depth;
        if (at < view->num_positions) { /* else the suffix ends first: it compares before, reading nothing */
            int64_t available = (view->num_positions - at) * w;
            if (!SA_SEARCH_RESIDENT(view, view->tokens + at * w,
                          available < lane->query_bytes ? available : lane->query_bytes)) continue;
        }
        if (!compares_before(view, lane, position)) {
            lane->b = r;
            return;
        }
        lane->a = r + 1;
    }
}

/* Run the lanes' k-ary searches in lockstep until a == b in every lane; each lane's bound
 * is then its a. Preconditions: a <= b, and the rows of [a, b) sorted (any sub-range of the
 * array is) with "compares before" monotone along them.
 * With `over_samples`, a and b number samples instead of rows, in records that hold their
 * suffix's position (keys_have_pointers): a step then reads the text of its probes only, one
 * round of reads instead of two (depth must be 0).
 * Pages already in `batch` are asked for with the first step's (which empties it). */
static void resolve_lanes(const sa_view *view, bound_lane *lanes, int num_lanes, int over_samples,
                          probe_shape shape, page_batch *batch, damage_report *report) {
    int64_t rows[MAX_LANES][MAX_PROBES];
    uint64_t positions[MAX_LANES][MAX_PROBES];
    int counts[MAX_LANES], scanned[MAX_LANES] = {0};
    const int w = view->token_width, pw = view->pointer_width;
    for (;;) {
        /* Round one: the suffix-array entries of every row of a lane of at most scan_rows
         * (a page or two, which its probes would read anyway) or whose rows are all probed,
         * else of every probe. */
        int active = 0;
        for (int l = 0; l < num_lanes; l++) {
            int64_t between = lanes[l].b - lanes[l].a;
            active += between > 0;
            if (between <= 0 || over_samples) continue;
            if (between <= shape.scan_rows || probes_every_row(between, shape)) {
                batch_add(view, batch, view->suffix_array + lanes[l].a * pw, between * pw);
            } else {
                /* The rows of [a, b) are those strictly between a - 1 and b. */
                counts[l] = (int)probes_between(lanes[l].a - 1, lanes[l].b, shape, rows[l]);
                for (int k = 0; k < counts[l]; k++) batch_add(view, batch, view->suffix_array + rows[l][k] * pw, pw);
            }
        }
        if (!active) return;
        batch_flush(view, batch);
        /* The rows whose text is in memory are compared first: they cost no read. Once per
         * lane: after one step, what is left is read in one more (a system call per row
         * checked costs more than the read it could save). */
        for (int l = 0; l < num_lanes; l++) {
            if (scanned[l] || lanes[l].b - lanes[l].a > shape.scan_rows) continue;
            compare_resident(view, &lanes[l], over_samples, report);
            scanned[l] = 1;
        }
        /* Round two: the bytes of every probe's suffix that the comparison may read. */
        for (int l = 0; l < num_lanes; l++) {
            counts[l] = (int)probes_between(lanes[l].a - 1, lanes[l].b, shape, rows[l]);
            for (int k = 0; k < counts[l]; k++) {
                uint64_t position = over_samples ? sample_position(view, rows[l][k], report)
                                                 : pointer_at(view, rows[l][k], report);
                positions[l][k] = position;
                int64_t at = (int64_t)position + lanes[l].depth;
                if (at < view->num_positions) {
                    int64_t available = (view->num_positions - at) * w;
                    batch_add(view, batch, view->tokens + at * w,
                              available < lanes[l].query_bytes ? available : lanes[l].query_bytes);
                }
            }
        }
        batch_flush(view, batch);
        /* Compare and keep the gap that holds each bound. */
        for (int l = 0; l < num_lanes; l++) {
            bound_lane *lane = &lanes[l];
            if (counts[l] == 0) continue;
            int k = 0;
            /* Rows are in order and "compares before" is monotone along them: find the first
             * probe that does not compare before. */
            while (k < counts[l] && compares_before(view, lane, positions[l][k])) k++;
            if (probes_every_row(lane->b - lane->a, shape)) {
                lane->a = k < counts[l] ? rows[l][k] : lane->b;
                lane->b = lane->a;
            } else {
                if (k > 0) lane->a = rows[l][k - 1] + 1;
                if (k < counts[l]) lane->b = rows[l][k];
            }
        }
    }
}

/* The runs of `count` (at most MAX_FINDS) queries, each in [lo, hi), from disk, their reads
 * in the same rounds: the sampled keys place each end without reading the disk (see
 * "Sampled suffix keys" for why they may), the samples whose keys tie with a query longer
 * than 8 bytes are settled next (by their text alone, where the records hold positions),
 * then every end among the rows between two samples, all by resolve_lanes. */
static void disk_find_several(const sa_view *view, const unsigned char *const *queries, const int64_t *query_bytes,
                              int count, int64_t lo, int64_t hi, probe_shape shape, int64_t *out_lo,
                              int64_t *out_hi, damage_report *report) {
    bound_lane lanes[MAX_LANES], samples[MAX_LANES];
    int64_t tie_start[MAX_FINDS] = {0}, tie_end[MAX_FINDS] = {0};
    int num_samples = 0, sample_of[MAX_FINDS];
    const int64_t step = view->key_step, num_keys = view->num_keys;
    for (int q = 0; q < count; q++) {
        const unsigned char *query = queries[q];
        int64_t bytes = query_bytes[q];
        lanes[2 * q] = (bound_lane){query, bytes, 0, 0, lo, hi};
        lanes[2 * q + 1] = (bound_lane){query, bytes, 0, 1, lo, hi};
        sample_of[q] = -1;
        if (!view->keys || bytes == 0) continue;
        uint64_t low = prefix_key(query, (size_t)bytes, 0x00), high = prefix_key(query, (size_t)bytes, 0xff);
        int64_t a = 0, b = num_keys;
        /* Invariant: samples before a have keys < low (their suffixes come before the run);
         * samples at or after b do not. */
        while (a < b) {
            int64_t m = a + (b - a) / 2;
            if (key_of(view, m) < low) a = m + 1;
            else b = m;
        }
        tie_start[q] = a;
        b = num_keys;
        /* Invariant: samples before a have keys <= high; samples at or after b have keys
         * above high (their suffixes come after the run). */
        while (a < b) {
            int64_t m = a + (b - a) / 2;
            if (key_of(view, m) <= high) a = m + 1;
            else b = m;
        }
        tie_end[q] = a;
        if (bytes > 8 && tie_end[q] > tie_start[q] && view->keys_have_pointers) {
            /* Undecided samples whose records hold their positions: settled below. */
            sample_of[q] = num_samples;
            samples[num_samples++] = (bound_lane){query, bytes, 0, 0, tie_start[q], tie_end[q]};
            samples[num_samples++] = (bound_lane){query, bytes, 0, 1, tie_start[q], tie_end[q]};
        }
    }
    page_batch batch_memory, *batch = &batch_memory;
    batch->count = 0;
    for (int q = 0; q < count && num_samples && shape.scan_rows > 0; q++) {
        if (sample_of[q] < 0) continue;
        /* Both ends lie in the rows from sample tie_start - 1 to sample tie_end: when their
         * suffix-array entries take a page or two, they are read with the samples' text,
         * which saves the rows' first round. */
        int64_t first = clip(tie_start[q] > 0 ? (tie_start[q] - 1) * step : 0, lo, hi);
        int64_t last = clip(tie_end[q] < num_keys ? tie_end[q] * step : view->num_positions, lo, hi);
        if ((last - first) * view->pointer_width <= 2 * view->page_bytes)
            batch_add(view, batch, view->suffix_array + first * view->pointer_width,
                      (last - first) * view->pointer_width);
    }
    if (num_samples) resolve_lanes(view, samples, num_samples, 1, shape, batch, report);
    for (int q = 0; q < count && view->keys; q++) {
        if (query_bytes[q] == 0) continue;
        int64_t first_a, first_b, end_a, end_b;
        if (sample_of[q] >= 0) {
            int64_t first_sample = samples[sample_of[q]].a, end_sample = samples[sample_of[q] + 1].a;
            first_a = first_sample > 0 ? (first_sample - 1) * step + 1 : 0;
            first_b = first_sample < num_keys ? first_sample * step : view->num_positions;
            end_a = end_sample > 0 ? (end_sample - 1) * step + 1 : 0;
            end_b = end_sample < num_keys ? end_sample * step : view->num_positions;
        } else {
            /* Rows up to sample tie_start - 1 come before the run; rows from sample tie_end
             * on come after it. Samples in between start with the query when it has at most
             * 8 bytes (they are in the run), and are undecided otherwise. */
            int64_t before = tie_start[q] > 0 ? (tie_start[q] - 1) * step + 1 : 0;
            int64_t after = tie_end[q] < num_keys ? tie_end[q] * step : view->num_positions;
            first_a = before;
            end_b = after;
            if (query_bytes[q] <= 8 && tie_end[q] > tie_start[q]) {
                first_b = tie_start[q] * step;
                end_a = (tie_end[q] - 1) * step + 1;
            } else {
                first_b = after;
                end_a = before;
            }
        }
        lanes[2 * q].a = clip(first_a, lo, hi);
        lanes[2 * q].b = clip(first_b, lo, hi);
        lanes[2 * q + 1].a = clip(end_a, lo, hi);
        lanes[2 * q + 1].b = clip(end_b, lo, hi);
    }
    resolve_lanes(view, lanes, 2 * count, 0, shape, batch, report);
    for (int q = 0; q < count; q++) {
        int64_t first = lanes[2 * q].a, end = lanes[2 * q + 1].a;
        if (UNLIKELY(end < first)) {
            report_problem(report, INFGRAM_DAMAGED,
                           "suffix_keys.bin or tokens.bin: a run ends at entry %lld before it starts at %lld, "
                           "expected keys and suffixes in sorted order",
                           (long long)end, (long long)first);
            end = first;
        }
        out_lo[q] = first;
        out_hi[q] = end;
    }
}

/* The run of one query in [lo, hi), from disk. */
static void disk_find_range(const sa_view *view, const unsigned char *query, int64_t query_bytes, int64_t lo,
                            int64_t hi, int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    /* A count (over the whole array) steps narrow; a find inside a known run (the ∞-gram's
     * last one) keeps the wide steps (see "Searching from disk"). */
    probe_shape shape = lo == 0 && hi == view->num_positions ? NARROW : WIDE;
    disk_find_several(view, &query, &query_bytes, 1, lo, hi, shape, out_lo, out_hi, report);
}

/* The longest suffix of the query that occurs, from disk: a k-ary search over where the
 * suffix starts, MAX_FINDS starts probed at once (disk_find_several) instead of one at a
 * time: log5 rather than log2 rounds of finds. Occurrence is monotone in the start (if
 * query[s:] occurs, so does query[s + 1:]). */
static void disk_longest_suffix(const sa_view *view, const unsigned char *query, int64_t query_bytes,
                                int64_t *length, int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    const int w = view->token_width;
    int64_t n = query_bytes / w;
    int64_t good = n; /* query[good:] occurs (the empty suffix always does) */
    int64_t bad = -1; /* query[bad:] does not occur, or bad is before the query */
    *out_lo = 0;
    *out_hi = view->num_positions;
    /* Invariant: bad < good, query[good:] occurs, and query[bad:] does not (unless bad == -1). */
    while (good - bad > 1 && report->status == INFGRAM_OK) {
        int64_t gap = good - bad - 1, starts[MAX_FINDS], bytes[MAX_FINDS], runs_lo[MAX_FINDS], runs_hi[MAX_FINDS];
        const unsigned char *probes[MAX_FINDS];
        /* At most MAX_FINDS undecided starts are all probed at once: this round settles them. */
        int limit = gap <= MAX_FINDS ? MAX_FINDS : SPREAD_FINDS;
        int count = gap < limit ? (int)gap : limit;
        int64_t key_tokens = 8 / w > 0 ? 8 / w : 1; /* a suffix this short is placed by the keys alone */
        if (bad == -1 && good == n && n > (key_tokens << (SPREAD_FINDS - 1))) {
            /* First round, on a long query: the longest occurring suffix is most often short
             * (a median of 12 of 100 bytes on held-out text), so the lengths probed double from
             * the keys' length (8, 16, 32, 64 bytes): most answers then lie in a gap of at most
             * MAX_FINDS starts, which the next round settles. Starts increase with j. */
            for (int j = 0; j < count; j++) starts[j] = n - (key_tokens << (count - 1 - j));
        } else {
            for (int j = 0; j < count; j++)
                starts[j] = bad + ((j + 1) * (good - bad)) / (count + 1); /* increasing, inside (bad, good) */
        }
        for (int j = 0; j < count; j++) {
            probes[j] = query + starts[j] * w;
            bytes[j] = (n - starts[j]) * w;
        }
        disk_find_several(view, probes, bytes, count, 0, view->num_positions, WIDE, runs_lo, runs_hi, report);
        int j = 0;
        while (j < count && runs_hi[j] == runs_lo[j]) j++; /* the first (longest) probe that occurs */
        if (j < count) {
            good = starts[j];
            *out_lo = runs_lo[j];
            *out_hi = runs_hi[j];
        }
        if (j > 0) bad = starts[j - 1];
    }
    *length = n - good;
}

/* The run [*out_lo, *out_hi) of suffixes in [lo, hi) that start with the query.
 * Precondition: the suffixes in [lo, hi) are sorted (any sub-range of the array is). */
static void find_range(const sa_view *view, const unsigned char *query, int64_t query_bytes, int64_t lo, int64_t hi,
                       int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    if (view->on_disk) {
        disk_find_range(view, query, query_bytes, lo, hi, out_lo, out_hi, report);
        return;
    }
    if (view->keys && hi - lo > 4 * view->key_step) {
        keyed_range(view, query, query_bytes, lo, hi, out_lo, out_hi, report);
        return;
    }
    /* Phase 1: narrow [lo, hi) until its midpoint matches or it is empty.
     * Invariant: every suffix before lo compares < 0, every suffix at or after hi > 0. */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = compare_suffix(view, pointer_at(view, mid, report), query, query_bytes);
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
                if (compare_suffix(view, pointer_at(view, m, report), query, query_bytes) < 0) a = m + 1;
                else b = m;
            }
            int64_t c_lo = mid + 1, c_hi = hi;
            /* Invariant: suffixes before c_lo match; suffixes at or after c_hi compare > 0. */
            while (c_lo < c_hi) {
                int64_t m = c_lo + (c_hi - c_lo) / 2;
                if (compare_suffix(view, pointer_at(view, m, report), query, query_bytes) == 0) c_lo = m + 1;
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

int sa_view_check(const sa_view *view, damage_report *report) {
    if (view->token_width != 1 && view->token_width != 2 && view->token_width != 4)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected a token width of 1, 2 or 4, found %d",
                              view->token_width);
    if (view->pointer_width < 1 || view->pointer_width > 8)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected a pointer width of 1 to 8, found %d",
                              view->pointer_width);
    if (view->num_positions < 0)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected a non-negative length, found %lld",
                              (long long)view->num_positions);
    if (view->keys && (view->key_step < 1 || view->num_keys != (view->num_positions + view->key_step - 1) / view->key_step))
        return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                              "expected ceil(%lld / step) keys with a step of 1 or more, found %lld keys, step %lld",
                              (long long)view->num_positions, (long long)view->num_keys, (long long)view->key_step);
    return INFGRAM_OK;
}

int sa_find(const sa_view *view, const unsigned char *query, int64_t query_bytes, int64_t lo, int64_t hi,
            int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    find_range(view, query, query_bytes, lo, hi, out_lo, out_hi, report);
    return report->status;
}

int sa_find_from(const void *context, const unsigned char *query, int64_t query_bytes, int64_t from,
                 int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    const sa_view *view = context;
    if (query_bytes % view->token_width != 0)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                              "expected queries of whole %d-byte tokens, found one of %lld bytes", view->token_width,
                              (long long)query_bytes);
    if (from < 0 || from > view->num_positions)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected a start in [0, %lld], found %lld",
                              (long long)view->num_positions, (long long)from);
    return sa_find(view, query, query_bytes, from, view->num_positions, out_lo, out_hi, report);
}

/* Occurrence is monotone: if query[s:] occurs then so does query[s+1:]. */
int sa_longest_suffix(const sa_view *view, const unsigned char *query, int64_t query_bytes, int64_t *length,
                      int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    int64_t n = query_bytes / view->token_width;
    int64_t good = n;  /* query[good:] occurs (the empty suffix always does) */
    int64_t bad = -1;  /* query[bad:] does not occur, or bad is before the query */
    int64_t tlo, thi;
    if (view->on_disk) {
        disk_longest_suffix(view, query, query_bytes, length, out_lo, out_hi, report);
        return report->status;
    }
    /* The empty suffix: every position, which the caller trims of separators. */
    *out_lo = 0;
    *out_hi = view->num_positions;
    /* Invariant: bad < good, query[good:] occurs, and query[bad:] does not (unless bad == -1). */
    while (good - bad > 1) {
        int64_t mid = bad + (good - bad) / 2;
        if (mid < 0) mid = 0;
        find_range(view, query + mid * view->token_width, (n - mid) * view->token_width, 0, view->num_positions, &tlo,
                   &thi, report);
        if (thi > tlo) {
            good = mid;
            *out_lo = tlo;
            *out_hi = thi;
        } else {
            bad = mid;
        }
    }
    *length = n - good;
    return report->status;
}

/* Compare the token at offset `depth` of the suffix at `position` with one query token.
 * A suffix that ends before `depth` sorts first, as in compare_suffix. */
static inline int compare_token_at(const sa_view *view, uint64_t position, int64_t depth, const unsigned char *token) {
    int64_t at = (int64_t)position + depth;
    if (at >= view->num_positions) return -1;
    return memcmp(view->tokens + at * view->token_width, token, (size_t)view->token_width);
}

/* Narrow a run [lo, hi) whose suffixes all share their first `depth` tokens to the sub-run
 * whose token at `depth` is `token`. Along the run those tokens never decrease, so two
 * binary searches that each compare one token suffice. */
static void narrow_range(const sa_view *view, int64_t lo, int64_t hi, int64_t depth, const unsigned char *token,
                         int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    if (view->on_disk) {
        /* Both ends at once, each by the k-ary search (see "Searching from disk"). */
        bound_lane lanes[2] = {{token, view->token_width, depth, 0, lo, hi}, {token, view->token_width, depth, 1, lo, hi}};
        page_batch batch_memory;
        batch_memory.count = 0;
        resolve_lanes(view, lanes, 2, 0, WIDE, &batch_memory, report);
        *out_lo = lanes[0].a;
        *out_hi = lanes[1].a > lanes[0].a ? lanes[1].a : lanes[0].a;
        return;
    }
    int64_t a = lo, b = hi;
    /* Invariant: suffixes before a compare < 0; suffixes at or after b compare >= 0. */
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (compare_token_at(view, pointer_at(view, m, report), depth, token) < 0) a = m + 1;
        else b = m;
    }
    int64_t c = a, d = hi;
    /* Invariant: suffixes before c compare <= 0; suffixes at or after d compare > 0. */
    while (c < d) {
        int64_t m = c + (d - c) / 2;
        if (compare_token_at(view, pointer_at(view, m, report), depth, token) <= 0) c = m + 1;
        else d = m;
    }
    *out_lo = a;
    *out_hi = c;
}

/* Matching statistics: if query[i:i+m] occurs then so does query[i+1:i+m], so position i+1
 * starts from m - 1 known tokens (one search for their run) and extends one token at a time
 * by narrowing the run: at most n extensions in all, not one longest-prefix search per
 * start. */
int sa_longest_matches(const sa_view *view, const unsigned char *query, int64_t n, int64_t *lengths, int64_t *counts,
                       damage_report *report) {
    const int w = view->token_width;
    int64_t matched = 0, lo = 0, hi = view->num_positions, tlo, thi;
    for (int64_t i = 0; i < n; i++) {
        if (matched > 0) find_range(view, query + i * w, matched * w, 0, view->num_positions, &lo, &hi, report);
        else {
            lo = 0;
            hi = view->num_positions;
        }
        while (i + matched < n) {
            narrow_range(view, lo, hi, matched, query + (i + matched) * w, &tlo, &thi, report);
            if (thi == tlo) break;
            lo = tlo;
            hi = thi;
            matched++;
        }
        lengths[i] = matched;
        counts[i] = matched > 0 ? hi - lo : 0;
        if (matched > 0) matched--;
    }
    return report->status;
}

/* ∞-gram over a whole sequence: the suffix for token i + 1 is at most one token longer than
 * the one for token i, and exactly that when token i was seen after it, so the run just
 * found is reused (one narrowing per token); otherwise the longest shorter suffix that
 * occurs is found by galloping down from the old length, in O(log(old - new)) searches. */
int sa_infgram_probabilities(const sa_view *view, const unsigned char *query, int64_t n, int64_t unigram_hi,
                             int64_t *lengths, int64_t *prompt_counts, int64_t *counts, damage_report *report) {
    const int w = view->token_width;
    int64_t length = 0, lo = 0, hi = unigram_hi, tlo, thi;
    for (int64_t i = 0; i < n; i++) {
        narrow_range(view, lo, hi, length, query + i * w, &tlo, &thi, report);
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
            find_range(view, end - probe * w, probe * w, 0, view->num_positions, &tlo, &thi, report);
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
            find_range(view, end - mid * w, mid * w, 0, view->num_positions, &tlo, &thi, report);
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
    return report->status;
}

/* The token position at offset `depth` of the suffix at entry i, checked: a suffix that
 * ends before `depth` in a query's run means a damaged pointer. */
static inline uint64_t position_after(const sa_view *view, int64_t i, int64_t depth, damage_report *report) {
    uint64_t position = pointer_at(view, i, report) + (uint64_t)depth;
    if (UNLIKELY(position >= (uint64_t)view->num_positions)) {
        report_problem(report, INFGRAM_DAMAGED,
                       "suffix_array.bin: entry %lld points to a suffix without a token at offset %lld, expected one "
                       "that shares the run's first tokens (the shard has %lld tokens)",
                       (long long)i, (long long)depth, (long long)view->num_positions);
        position = (uint64_t)view->num_positions - 1;
    }
    return position;
}

static inline uint64_t token_after(const sa_view *view, int64_t i, int64_t depth, damage_report *report) {
    return token_decode(view->tokens + position_after(view, i, depth, report) * view->token_width, view->token_width);
}

/* The first entry after `known` (which holds `value`) whose token at `depth` differs, or hi.
 * Galloping: probe known + 1, + 2, + 4, ... then binary search the last gap. */
static int64_t run_end(const sa_view *view, int64_t known, int64_t hi, int64_t depth, uint64_t value,
                       damage_report *report) {
    int64_t step = 1, last_equal = known;
    while (known + step < hi && token_after(view, known + step, depth, report) == value) {
        last_equal = known + step;
        step *= 2;
    }
    /* Invariant: entry last_equal holds the value; entry b (or hi) does not. */
    int64_t a = last_equal + 1, b = known + step < hi ? known + step : hi;
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (token_after(view, m, depth, report) == value) a = m + 1;
        else b = m;
    }
    return a;
}

typedef struct {
    uint64_t *values;
    int64_t *counts;
    int64_t used, capacity;
} token_counts;

/* Count one more occurrence (or n) of a token; 0 on success, -1 when memory runs out. */
static int add_count(token_counts *out, uint64_t value, int64_t n) {
    if (out->used > 0 && out->values[out->used - 1] == value) {
        out->counts[out->used - 1] += n;
        return 0;
    }
    if (out->used == out->capacity) {
        int64_t capacity = out->capacity * 2;
        uint64_t *values = realloc(out->values, (size_t)capacity * sizeof(uint64_t));
        if (!values) return -1;
        out->values = values;
        int64_t *counts = realloc(out->counts, (size_t)capacity * sizeof(int64_t));
        if (!counts) return -1;
        out->counts = counts;
        out->capacity = capacity;
    }
    out->values[out->used] = value;
    out->counts[out->used] = n;
    out->used++;
    return 0;
}

/* The tokens at `depth` of the suffixes of `count` rows (in increasing order), read as from
 * disk: the suffix-array pages of all rows are asked for at once, then their text pages.
 * Rows on one page are asked for once. */
static void read_tokens_at(const sa_view *view, const int64_t *rows, int64_t count, int64_t depth, uint64_t *values,
                           damage_report *report) {
    const int w = view->token_width, pw = view->pointer_width;
    page_batch batch_memory, *batch = &batch_memory;
    batch->count = 0;
    for (int64_t k = 0; k < count; k++) batch_add(view, batch, view->suffix_array + rows[k] * pw, pw);
    batch_flush(view, batch);
    for (int64_t k = 0; k < count; k++) {
        values[k] = position_after(view, rows[k], depth, report); /* the position, for now */
        batch_add(view, batch, view->tokens + values[k] * w, w);
    }
    batch_flush(view, batch);
    for (int64_t k = 0; k < count; k++) values[k] = token_decode(view->tokens + values[k] * w, w);
}

/* From disk, the distinct tokens at `depth` along [lo, hi) are found by refining the gaps
 * between rows whose tokens are known: a gap whose two ends hold the same token holds that
 * token throughout (the token at `depth` never decreases along a run), and a gap whose ends
 * differ gets WIDE.fan_out rows probed inside it (every row once it has at most WIDE.final_rows), all
 * the gaps of a round at once. Each round cuts every open gap 17-fold for two rounds of
 * concurrent reads; the galloping of the in-memory walk would wait for each read in turn. */
static int disk_next_tokens(const sa_view *view, int64_t lo, int64_t hi, int64_t depth, token_counts *out,
                            damage_report *report) {
    /* The run's two ends and the rows between them that a step probes. */
    int64_t known = 0, *rows = malloc((MAX_PROBES + 2) * sizeof(int64_t));
    uint64_t *values = malloc((MAX_PROBES + 2) * sizeof(uint64_t));
    int64_t *probe_rows = NULL, *merged_rows = NULL;
    uint64_t *probe_values = NULL, *merged_values = NULL;
    int failed = rows == NULL || values == NULL;
    /* Round zero: the run's two ends and the rows a step probes between them. */
    if (!failed) {
        rows[known++] = lo;
        known += probes_between(lo, hi - 1, WIDE, rows + 1);
        if (hi - 1 > lo) rows[known++] = hi - 1;
        read_tokens_at(view, rows, known, depth, values, report);
    }
    while (!failed && report->status == INFGRAM_OK) {
        /* The probes of this round, in row order: inside every gap whose ends differ. */
        int64_t probes = 0;
        for (int64_t i = 0; i + 1 < known; i++) {
            if (values[i] != values[i + 1]) probes += probes_between(rows[i], rows[i + 1], WIDE, NULL);
        }
        if (probes == 0) break;
        probe_rows = malloc((size_t)probes * sizeof(int64_t));
        probe_values = malloc((size_t)probes * sizeof(uint64_t));
        merged_rows = malloc((size_t)(known + probes) * sizeof(int64_t));
        merged_values = malloc((size_t)(known + probes) * sizeof(uint64_t));
        if (!probe_rows || !probe_values || !merged_rows || !merged_values) {
            failed = 1;
            break;
        }
        int64_t p = 0;
        for (int64_t i = 0; i + 1 < known; i++) {
            if (values[i] != values[i + 1]) p += probes_between(rows[i], rows[i + 1], WIDE, probe_rows + p);
        }
        read_tokens_at(view, probe_rows, probes, depth, probe_values, report);
        /* Merge the probes into the known rows (both in row order). */
        int64_t a = 0, b = 0, m = 0;
        while (a < known || b < probes) {
            if (b >= probes || (a < known && rows[a] < probe_rows[b])) {
                merged_rows[m] = rows[a];
                merged_values[m++] = values[a++];
            } else {
                merged_rows[m] = probe_rows[b];
                merged_values[m++] = probe_values[b++];
            }
        }
        free(rows);
        free(values);
        free(probe_rows);
        free(probe_values);
        rows = merged_rows;
        values = merged_values;
        known = m;
        probe_rows = merged_rows = NULL;
        probe_values = merged_values = NULL;
    }
    /* Every gap is settled: rows between two known rows of one token hold that token. */
    for (int64_t i = 0; !failed && i < known; i++) {
        int64_t through = i + 1 < known && values[i] == values[i + 1] ? rows[i + 1] - rows[i] - 1 : 0;
        failed = add_count(out, values[i], 1 + through) < 0;
    }
    free(rows);
    free(values);
    free(probe_rows);
    free(probe_values);
    free(merged_rows);
    free(merged_values);
    return failed ? -1 : 0;
}

#define NEXT_BLOCK 32

/* Every suffix in [lo, hi) shares its first `depth` tokens, so the token at depth is
 * non-decreasing along the run. The run is walked in blocks: a block whose first and last
 * entries agree is one value throughout, and that value's end is found by galloping (cost
 * logarithmic in its length); a block with several values is read straight through, its
 * random token reads prefetched together so they overlap instead of queueing. Long runs of
 * one token (byte mode) and many short runs (large vocabularies) are both cheap. */
int sa_next_tokens(const sa_view *view, int64_t lo, int64_t hi, int64_t depth, uint64_t **values, int64_t **counts,
                   int64_t *used, damage_report *report) {
    *values = NULL;
    *counts = NULL;
    *used = 0;
    if (lo < 0 || hi > view->num_positions || lo > hi || depth < 0)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected 0 <= lo <= hi <= %lld and depth >= 0, "
                              "found lo %lld, hi %lld, depth %lld", (long long)view->num_positions, (long long)lo,
                              (long long)hi, (long long)depth);
    /* Every suffix in the run must have a token at `depth`: the last token of the shard is a
     * separator, and no run of a query holds a separator before `depth`. Check the ends. */
    if (hi > lo && ((int64_t)pointer_at(view, lo, report) + depth >= view->num_positions ||
                    (int64_t)pointer_at(view, hi - 1, report) + depth >= view->num_positions)) {
        if (report->status != INFGRAM_OK) return report->status;
        return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                              "expected a run whose suffixes have a token at depth %lld, but it runs past the end of "
                              "the shard", (long long)depth);
    }
    token_counts out = {malloc(64 * sizeof(uint64_t)), malloc(64 * sizeof(int64_t)), 0, 64};
    int failed = out.values == NULL || out.counts == NULL;
    int64_t i = lo;
    if (!failed && view->on_disk && hi > lo) {
        failed = disk_next_tokens(view, lo, hi, depth, &out, report) < 0;
        i = hi;
    }
    while (!failed && i < hi) {
        int64_t block_end = i + NEXT_BLOCK < hi ? i + NEXT_BLOCK : hi;
        uint64_t first = token_after(view, i, depth, report);
        uint64_t last = token_after(view, block_end - 1, depth, report);
        if (first == last) {
            int64_t end = run_end(view, block_end - 1, hi, depth, first, report);
            failed = add_count(&out, first, end - i) < 0;
            i = end;
            continue;
        }
        uint64_t positions[NEXT_BLOCK];
        for (int64_t k = i; k < block_end; k++) {
            positions[k - i] = position_after(view, k, depth, report);
            PREFETCH(view->tokens + positions[k - i] * view->token_width);
        }
        for (int64_t k = i; k < block_end && !failed; k++) {
            uint64_t value = token_decode(view->tokens + positions[k - i] * view->token_width, view->token_width);
            failed = add_count(&out, value, 1) < 0;
        }
        i = block_end;
    }
    if (failed || report->status != INFGRAM_OK) {
        free(out.values);
        free(out.counts);
        return failed && report->status == INFGRAM_OK ? report_problem(report, INFGRAM_NO_MEMORY, "out of memory")
                                                      : report->status;
    }
    *values = out.values;
    *counts = out.counts;
    *used = out.used;
    return INFGRAM_OK;
}
