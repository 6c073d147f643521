/*
 * official_search.c: binary searches over an official infini-gram suffix array (see
 * official_search.h for the data).
 *
 * The official table sorts suffixes as raw byte strings. A query's occurrences are the
 * suffixes that start with its bytes; in memcmp order those are contiguous, so two binary
 * searches find them: the first entry whose suffix is not below the query, and the first
 * entry whose suffix is above it (a suffix that starts with the query compares equal here).
 * A suffix that runs out before the query ends is a proper prefix of the query's bytes or
 * differs earlier, and sorts below it either way.
 *
 * Everything else is built from that search:
 *   - the longest suffix of a prompt that occurs: occurrence is monotone in the suffix's
 *     length (a suffix of an occurring string occurs), so its length is binary-searched;
 *   - matching statistics: the match from start i + 1 is at least the match from i minus
 *     one token, so each start resumes from there and extends token by token;
 *   - the ∞-gram of every token: the context suffix at token i + 1 is at most one token
 *     longer than at token i, so each token starts from there and shrinks;
 *   - the next tokens of a run: within a run that shares `depth` tokens, suffixes with the
 *     same token at `depth` are contiguous (byte order), so each distinct token is one
 *     sub-run, whose end is binary-searched.
 *
 * From disk (on_disk) a find is a k-ary search instead (see "Searching from disk" below),
 * started from the sampled keys where our sidecar provides them.
 */
#define _POSIX_C_SOURCE 200112L /* posix_madvise, sysconf: the disk reads below */
#include "official_search.h"

#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "page_reads.h"

/* The byte offset stored at table entry `row`; damage when it is outside the data or not on
 * a token boundary (then 0, which keeps every later read in bounds). */
static int64_t pointer_at(const official_view *view, int64_t row, damage_report *report) {
    const unsigned char *at = view->table + row * view->pointer_width;
    uint64_t value = 0;
    for (int b = view->pointer_width - 1; b >= 0; b--) value = (value << 8) | at[b];
    if (value >= (uint64_t)view->data_bytes || value % (uint64_t)view->token_width != 0) {
        report_problem(report, INFGRAM_DAMAGED, "table entry %lld holds byte offset %llu, expected a multiple of %d "
                       "below %lld (the size of tokenized); the official index is damaged: rebuild or download it "
                       "again", (long long)row, (unsigned long long)value, view->token_width,
                       (long long)view->data_bytes);
        return 0;
    }
    return (int64_t)value;
}

/* memcmp order of the data from byte `at` on (cut to query_bytes) against the query: < 0,
 * 0 (it starts with the query) or > 0; data that ends before the query does sorts first. */
static int compare_offset(const official_view *view, int64_t at, const unsigned char *query, int64_t query_bytes) {
    if (at >= view->data_bytes) return query_bytes > 0 ? -1 : 0;
    int64_t available = view->data_bytes - at;
    int64_t shared = available < query_bytes ? available : query_bytes;
    int order = memcmp(view->data + at, query, (size_t)shared);
    if (order != 0) return order;
    return available < query_bytes ? -1 : 0;
}

/* memcmp order of the suffix at entry `row` against the query: < 0, 0 (it starts with the
 * query) or > 0. */
static int compare_row(const official_view *view, int64_t row, const unsigned char *query, int64_t query_bytes,
                       damage_report *report) {
    return compare_offset(view, pointer_at(view, row, report), query, query_bytes);
}

/* The byte offset held by sample k's record, checked like a table entry (0 on damage). */
static int64_t sample_offset(const official_view *view, int64_t k, damage_report *report) {
    uint64_t value = view->keys[2 * k + 1];
    if (value >= (uint64_t)view->data_bytes || value % (uint64_t)view->token_width != 0) {
        report_problem(report, INFGRAM_DAMAGED, "sampled key %lld holds byte offset %llu, expected a multiple of %d "
                       "below %lld; infgram's keys beside the official index are damaged: run `infgram adopt` again",
                       (long long)k, (unsigned long long)value, view->token_width, (long long)view->data_bytes);
        return 0;
    }
    return (int64_t)value;
}

static inline int64_t clip(int64_t value, int64_t lo, int64_t hi) { return value < lo ? lo : value > hi ? hi : value; }

/* ---- Searching from disk ---------------------------------------------------------------
 *
 * The same plan as our own suffix arrays' (sa_search.c), over the official files:
 *   - the sampled keys (in memory) place each end of a query's run between two samples
 *     without reading the disk: exactly for a query of at most 8 bytes, and for a longer
 *     one between the first sample whose key ties with its first 8 bytes and the first
 *     whose key is above them; the tied samples are then settled by their data alone (the
 *     records hold their offsets), one round of reads per step;
 *   - what is left of each end is found by a k-ary search (page_reads.h): a step asks for
 *     the table entries of all its probes at once, then for their data at once, compares,
 *     and keeps the gap between the last probe before the bound and the first after it;
 *   - the searches of one call (a run's two ends; the starts the longest suffix tries) step
 *     together, so their reads overlap too.
 * One thing differs from our layout: the last document has no separator after it, so a
 * suffix near the end of the data can be shorter than a query of at most 8 bytes and still
 * tie with it (its key pads with zeros). Such a suffix is a proper prefix of the query,
 * which sorts before the run; it comes first among the tied samples and is skipped. */

#define MAX_FINDS 4
#define MAX_LANES (2 * MAX_FINDS)

void official_view_read_from_disk(official_view *view, int on_disk) {
    view->page_bytes = system_page_bytes();
    view->on_disk = on_disk ? 1 : 0;
}

/* One bound being searched: the first row (or sample) of [a, b) whose suffix does not
 * compare < 0 with the query (`inclusive`: not <= 0). */
typedef struct {
    const unsigned char *query;
    int64_t query_bytes;
    int inclusive;
    int64_t a, b; /* invariant: rows before a compare < 0 (<= 0); rows at or after b do not */
} bound_lane;

/* Run the lanes' k-ary searches in lockstep until a == b in every lane; each lane's bound is
 * then its a. Preconditions: a <= b, "compares before" monotone along [a, b). With
 * `over_samples` a and b number samples, whose offsets are in memory: one round of reads per
 * step instead of two. */
static void resolve_lanes(const official_view *view, bound_lane *lanes, int num_lanes, int over_samples,
                          damage_report *report) {
    page_batch batch_memory, *batch = &batch_memory;
    batch->count = 0;
    batch->page_bytes = (uintptr_t)view->page_bytes;
    int64_t rows[MAX_LANES][K_ARY_MAX_PROBES];
    int64_t offsets[MAX_LANES][K_ARY_MAX_PROBES];
    int counts[MAX_LANES];
    const int pw = view->pointer_width;
    while (report->status == INFGRAM_OK) {
        int active = 0;
        for (int l = 0; l < num_lanes; l++) {
            /* The rows of [a, b) are those strictly between a - 1 and b. */
            counts[l] = (int)k_ary_probes(lanes[l].a - 1, lanes[l].b, rows[l]);
            active += counts[l] > 0;
        }
        if (!active) return;
        /* Round one: the table entries of every probe (consecutive rows share pages). */
        for (int l = 0; l < num_lanes && !over_samples; l++) {
            if (counts[l] == 0) continue;
            if (rows[l][counts[l] - 1] - rows[l][0] < K_ARY_NEAR_ROWS) {
                page_batch_add(batch, view->table + rows[l][0] * pw, (rows[l][counts[l] - 1] - rows[l][0] + 1) * pw);
            } else {
                for (int k = 0; k < counts[l]; k++) page_batch_add(batch, view->table + rows[l][k] * pw, pw);
            }
        }
        page_batch_flush(batch);
        /* Round two: the bytes of every probe's suffix that the comparison may read. */
        for (int l = 0; l < num_lanes; l++) {
            for (int k = 0; k < counts[l]; k++) {
                int64_t offset = over_samples ? sample_offset(view, rows[l][k], report)
                                              : pointer_at(view, rows[l][k], report);
                offsets[l][k] = offset;
                int64_t available = view->data_bytes - offset;
                page_batch_add(batch, view->data + offset,
                               available < lanes[l].query_bytes ? available : lanes[l].query_bytes);
            }
        }
        page_batch_flush(batch);
        for (int l = 0; l < num_lanes; l++) {
            bound_lane *lane = &lanes[l];
            if (counts[l] == 0) continue;
            /* Probes are in row order and "compares before" is monotone along them: find the
             * first probe that does not compare before. */
            int k = 0;
            while (k < counts[l]) {
                int c = compare_offset(view, offsets[l][k], lane->query, lane->query_bytes);
                if (lane->inclusive ? c > 0 : c >= 0) break;
                k++;
            }
            /* The bound is after the last probe that compares before and at or before the first
             * that does not (when every row of [a, b) was probed, a meets b). */
            if (k > 0) lane->a = rows[l][k - 1] + 1;
            if (k < counts[l]) lane->b = rows[l][k];
        }
    }
}

/* The runs of `count` (at most MAX_FINDS) queries, each within [lo, hi), from disk, their
 * reads in the same rounds (see "Searching from disk"). */
static void disk_find_several(const official_view *view, const unsigned char *const *queries,
                              const int64_t *query_bytes, int count, int64_t lo, int64_t hi, int64_t *out_lo,
                              int64_t *out_hi, damage_report *report) {
    bound_lane lanes[MAX_LANES], samples[MAX_LANES];
    int64_t tie_start[MAX_FINDS] = {0}, tie_end[MAX_FINDS] = {0};
    int num_samples = 0, sample_of[MAX_FINDS];
    const int64_t step = view->key_step, num_keys = view->num_keys;
    for (int q = 0; q < count; q++) {
        const unsigned char *query = queries[q];
        int64_t bytes = query_bytes[q];
        lanes[2 * q] = (bound_lane){query, bytes, 0, lo, hi};
        lanes[2 * q + 1] = (bound_lane){query, bytes, 1, lo, hi};
        sample_of[q] = -1;
        if (!view->keys || bytes == 0) continue;
        uint64_t low = prefix_key(query, (size_t)bytes, 0x00), high = prefix_key(query, (size_t)bytes, 0xff);
        int64_t a = 0, b = num_keys;
        /* Invariant: samples before a have keys < low (their suffixes come before the run);
         * samples at or after b do not. */
        while (a < b) {
            int64_t m = a + (b - a) / 2;
            if (view->keys[2 * m] < low) a = m + 1;
            else b = m;
        }
        tie_start[q] = a;
        b = num_keys;
        /* Invariant: samples before a have keys <= high; samples at or after b have keys above
         * high (their suffixes come after the run). */
        while (a < b) {
            int64_t m = a + (b - a) / 2;
            if (view->keys[2 * m] <= high) a = m + 1;
            else b = m;
        }
        tie_end[q] = a;
        if (bytes <= 8) {
            /* Tied samples shorter than the query are proper prefixes of it, before the run. */
            while (tie_start[q] < tie_end[q] && sample_offset(view, tie_start[q], report) + bytes > view->data_bytes)
                tie_start[q]++;
        } else if (tie_end[q] > tie_start[q]) {
            sample_of[q] = num_samples;
            samples[num_samples++] = (bound_lane){query, bytes, 0, tie_start[q], tie_end[q]};
            samples[num_samples++] = (bound_lane){query, bytes, 1, tie_start[q], tie_end[q]};
        }
    }
    if (num_samples) resolve_lanes(view, samples, num_samples, 1, report);
    for (int q = 0; q < count && view->keys; q++) {
        if (query_bytes[q] == 0) continue;
        int64_t first_a, first_b, end_a, end_b;
        if (sample_of[q] >= 0) {
            /* Each end lies after the last sample before it and at or before the first after. */
            int64_t first_sample = samples[sample_of[q]].a, end_sample = samples[sample_of[q] + 1].a;
            first_a = first_sample > 0 ? (first_sample - 1) * step + 1 : 0;
            first_b = first_sample < num_keys ? first_sample * step : view->num_positions;
            end_a = end_sample > 0 ? (end_sample - 1) * step + 1 : 0;
            end_b = end_sample < num_keys ? end_sample * step : view->num_positions;
        } else {
            /* Rows up to sample tie_start - 1 come before the run; rows from sample tie_end on
             * after it. Samples in between start with the query when it has at most 8 bytes
             * (they are in the run), and are undecided otherwise. */
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
    resolve_lanes(view, lanes, 2 * count, 0, report);
    for (int q = 0; q < count; q++) {
        int64_t first = lanes[2 * q].a, end = lanes[2 * q + 1].a;
        if (end < first) {
            report_problem(report, INFGRAM_DAMAGED, "a run ends at entry %lld before it starts at %lld, expected the "
                           "table (and infgram's keys beside it) in suffix order; the official index is damaged: "
                           "download or build it again", (long long)end, (long long)first);
            end = first;
        }
        out_lo[q] = first;
        out_hi[q] = end;
    }
}

/* The longest suffix of the query that occurs, from disk: a k-ary search over where it
 * starts, MAX_FINDS starts probed in the same rounds, the whole query among the first. Occurrence is monotone in the start
 * (if query[s:] occurs, so does query[s + 1:]). */
static void disk_longest_suffix(const official_view *view, const unsigned char *query, int64_t query_bytes,
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
        int count = gap < MAX_FINDS ? (int)gap : MAX_FINDS;
        for (int j = 0; j < count; j++) {
            /* Increasing, inside (bad, good). The first round tries the whole query too (a
             * context that occurs whole is then settled in one round). */
            starts[j] = bad == -1 && good == n ? (j * n) / count : bad + ((j + 1) * (good - bad)) / (count + 1);
            probes[j] = query + starts[j] * w;
            bytes[j] = (n - starts[j]) * w;
        }
        disk_find_several(view, probes, bytes, count, 0, view->num_positions, runs_lo, runs_hi, report);
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

int official_view_check(const official_view *view, damage_report *report) {
    if (view->token_width != 1 && view->token_width != 2 && view->token_width != 4)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "token width %d, expected 1, 2 or 4",
                              view->token_width);
    if (view->pointer_width < 1 || view->pointer_width > 8)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "pointer width %d, expected 1 to 8",
                              view->pointer_width);
    if (view->data_bytes < 0 || view->data_bytes % view->token_width != 0 ||
        view->num_positions != view->data_bytes / view->token_width)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "%lld bytes of tokens for %lld positions of %d bytes",
                              (long long)view->data_bytes, (long long)view->num_positions, view->token_width);
    if (view->keys && (view->key_step < 1 || view->num_keys != (view->num_positions + view->key_step - 1) /
                                                                   view->key_step))
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected ceil(%lld / step) keys with a step of 1 or "
                              "more, found %lld keys, step %lld", (long long)view->num_positions,
                              (long long)view->num_keys, (long long)view->key_step);
    return INFGRAM_OK;
}

int official_find(const official_view *view, const unsigned char *query, int64_t query_bytes, int64_t lo, int64_t hi,
                  int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    if (view->on_disk) {
        disk_find_several(view, &query, &query_bytes, 1, lo, hi, out_lo, out_hi, report);
        return report->status;
    }
    /* Invariant: every entry before `low` is below the query, every entry from `high` on is not. */
    int64_t low = lo, high = hi;
    while (low < high) {
        int64_t middle = low + (high - low) / 2;
        if (compare_row(view, middle, query, query_bytes, report) < 0) low = middle + 1;
        else high = middle;
    }
    /* Invariant: every entry before `first_above` (from `low`) starts with the query or is
     * below it, every entry from `high` on is above it. */
    int64_t first_above = low;
    high = hi;
    while (first_above < high) {
        int64_t middle = first_above + (high - first_above) / 2;
        if (compare_row(view, middle, query, query_bytes, report) <= 0) first_above = middle + 1;
        else high = middle;
    }
    *out_lo = low;
    *out_hi = first_above;
    return report->status;
}

int official_find_from(const void *context, const unsigned char *query, int64_t query_bytes, int64_t from,
                       int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    const official_view *view = context;
    if (query_bytes % view->token_width != 0 || from < 0 || from > view->num_positions)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "a query of %lld bytes from entry %lld, expected whole "
                              "%d-byte tokens from 0 to %lld", (long long)query_bytes, (long long)from,
                              view->token_width, (long long)view->num_positions);
    return official_find(view, query, query_bytes, from, view->num_positions, out_lo, out_hi, report);
}

int official_longest_suffix(const official_view *view, const unsigned char *query, int64_t query_bytes,
                            int64_t *length, int64_t *out_lo, int64_t *out_hi, damage_report *report) {
    if (view->on_disk) {
        disk_longest_suffix(view, query, query_bytes, length, out_lo, out_hi, report);
        return report->status;
    }
    int width = view->token_width;
    int64_t num_tokens = query_bytes / width;
    int64_t best_lo = 0, best_hi = view->num_positions;
    /* Invariant: the suffix of `shortest` tokens occurs (with run best_lo..best_hi; the empty
     * one always does), the suffix of `longest` + 1 tokens does not (or is past the query). */
    int64_t shortest = 0, longest = num_tokens;
    while (shortest < longest && report->status == INFGRAM_OK) {
        int64_t middle = shortest + (longest - shortest + 1) / 2;
        int64_t lo, hi;
        official_find(view, query + (num_tokens - middle) * width, middle * width, 0, view->num_positions, &lo, &hi,
                      report);
        if (hi > lo) {
            shortest = middle;
            best_lo = lo;
            best_hi = hi;
        } else {
            longest = middle - 1;
        }
    }
    *length = shortest;
    *out_lo = best_lo;
    *out_hi = best_hi;
    return report->status;
}

int official_longest_matches(const official_view *view, const unsigned char *query, int64_t num_tokens,
                             int64_t *lengths, int64_t *counts, damage_report *report) {
    int width = view->token_width;
    int64_t previous = 0;
    for (int64_t start = 0; start < num_tokens && report->status == INFGRAM_OK; start++) {
        const unsigned char *at = query + start * width;
        /* The match from here is at least the previous one minus its first token. */
        int64_t length = previous > 1 ? previous - 1 : 0, lo = 0, hi = view->num_positions;
        if (length) official_find(view, at, length * width, 0, view->num_positions, &lo, &hi, report);
        while (start + length < num_tokens && report->status == INFGRAM_OK) {
            int64_t inner_lo, inner_hi;
            official_find(view, at, (length + 1) * width, lo, hi, &inner_lo, &inner_hi, report);
            if (inner_hi == inner_lo) break;
            length++;
            lo = inner_lo;
            hi = inner_hi;
        }
        lengths[start] = length;
        counts[start] = length ? hi - lo : 0;
        previous = length;
    }
    return report->status;
}

int official_infgram_probabilities(const official_view *view, const unsigned char *query, int64_t num_tokens,
                                   int64_t unigram_hi, int64_t *lengths, int64_t *prompt_counts, int64_t *counts,
                                   damage_report *report) {
    int width = view->token_width;
    int64_t previous = 0;
    for (int64_t token = 0; token < num_tokens && report->status == INFGRAM_OK; token++) {
        /* The context suffix that occurs is at most one token longer than the previous one. */
        int64_t length = previous + 1 < token ? previous + 1 : token, lo = 0, hi = unigram_hi;
        while (length > 0 && report->status == INFGRAM_OK) {
            official_find(view, query + (token - length) * width, length * width, 0, view->num_positions, &lo, &hi,
                          report);
            if (hi > lo) break;
            length--;
        }
        if (length == 0) {
            lo = 0;
            hi = unigram_hi;
        }
        int64_t inner_lo, inner_hi;
        official_find(view, query + (token - length) * width, (length + 1) * width, lo, hi, &inner_lo, &inner_hi,
                      report);
        lengths[token] = length;
        prompt_counts[token] = hi - lo;
        counts[token] = inner_hi - inner_lo;
        previous = length;
    }
    return report->status;
}

/* The id stored little-endian at data[offset, offset + width). */
static uint64_t token_at(const official_view *view, int64_t offset) {
    uint64_t value = 0;
    for (int b = view->token_width - 1; b >= 0; b--) value = (value << 8) | view->data[offset + b];
    return value;
}

int official_next_tokens(const official_view *view, int64_t lo, int64_t hi, int64_t depth, uint64_t **values,
                         int64_t **counts, int64_t *used, damage_report *report) {
    *values = NULL;
    *counts = NULL;
    *used = 0;
    if (lo < 0 || hi < lo || hi > view->num_positions || depth < 0)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "run [%lld, %lld) at depth %lld, expected "
                              "0 <= lo <= hi <= %lld and depth >= 0", (long long)lo, (long long)hi, (long long)depth,
                              (long long)view->num_positions);
    int width = view->token_width;
    uint64_t separator = width == 4 ? 0xffffffffu : (1u << (8 * width)) - 1;
    int64_t capacity = 16, size = 0, ends_of_data = 0;
    uint64_t *found_values = malloc(sizeof(uint64_t) * (size_t)capacity);
    int64_t *found_counts = malloc(sizeof(int64_t) * (size_t)capacity);
    int64_t row = lo, skip = depth * width;
    while (row < hi && found_values && found_counts && report->status == INFGRAM_OK) {
        int64_t offset = pointer_at(view, row, report) + skip;
        if (offset + width > view->data_bytes) {  /* the suffix that ends the data: a document end */
            ends_of_data++;
            row++;
            continue;
        }
        const unsigned char *token = view->data + offset;
        /* Invariant: entries row..end-1 hold this token at `depth`, entries from `high` on do not. */
        int64_t end = row + 1, high = hi;
        while (end < high) {
            int64_t middle = end + (high - end) / 2;
            int64_t other = pointer_at(view, middle, report) + skip;
            int same = other + width <= view->data_bytes && memcmp(view->data + other, token, (size_t)width) == 0;
            if (same) end = middle + 1;
            else high = middle;
        }
        if (size == capacity) {
            capacity *= 2;
            uint64_t *grown_values = realloc(found_values, sizeof(uint64_t) * (size_t)capacity);
            if (grown_values) found_values = grown_values;
            int64_t *grown_counts = realloc(found_counts, sizeof(int64_t) * (size_t)capacity);
            if (grown_counts) found_counts = grown_counts;
            if (!grown_values || !grown_counts) break;
        }
        found_values[size] = token_at(view, offset);
        found_counts[size] = end - row;
        size++;
        row = end;
    }
    if (!found_values || !found_counts || (row < hi && report->status == INFGRAM_OK)) {
        free(found_values);
        free(found_counts);
        return report_problem(report, INFGRAM_NO_MEMORY, "no memory for the next tokens of %lld entries",
                              (long long)(hi - lo));
    }
    if (report->status != INFGRAM_OK) {
        free(found_values);
        free(found_counts);
        return report->status;
    }
    if (ends_of_data) {
        /* The separator, if present, is the last group (0xff bytes sort last); else append it. */
        if (size && found_values[size - 1] == separator) {
            found_counts[size - 1] += ends_of_data;
        } else {
            if (size == capacity) {
                uint64_t *grown_values = realloc(found_values, sizeof(uint64_t) * (size_t)(capacity + 1));
                if (grown_values) found_values = grown_values;
                int64_t *grown_counts = realloc(found_counts, sizeof(int64_t) * (size_t)(capacity + 1));
                if (grown_counts) found_counts = grown_counts;
                if (!grown_values || !grown_counts) {
                    free(found_values);
                    free(found_counts);
                    return report_problem(report, INFGRAM_NO_MEMORY, "no memory for the next tokens");
                }
            }
            found_values[size] = separator;
            found_counts[size] = ends_of_data;
            size++;
        }
    }
    *values = found_values;
    *counts = found_counts;
    *used = size;
    return INFGRAM_OK;
}
