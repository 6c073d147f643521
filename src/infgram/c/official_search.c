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
 */
#include "official_search.h"

#include <stdlib.h>
#include <string.h>

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

/* memcmp order of the suffix at entry `row` against the query: < 0, 0 (it starts with the
 * query) or > 0. */
static int compare_row(const official_view *view, int64_t row, const unsigned char *query, int64_t query_bytes,
                       damage_report *report) {
    int64_t offset = pointer_at(view, row, report);
    int64_t available = view->data_bytes - offset;
    int64_t shared = available < query_bytes ? available : query_bytes;
    int order = memcmp(view->data + offset, query, (size_t)shared);
    if (order != 0) return order;
    return available < query_bytes ? -1 : 0;
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
    return INFGRAM_OK;
}

int official_find(const official_view *view, const unsigned char *query, int64_t query_bytes, int64_t lo, int64_t hi,
                  int64_t *out_lo, int64_t *out_hi, damage_report *report) {
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
