/* neighbours.c: comparing the L-prefix keys of suffixes (see neighbours.h for the contract).
 *
 * Invariant of every loop: a position p is read only as p + k with p < num_positions checked
 * (pointer_of) and p + k < num_positions checked (token_of) before the read, so a damaged
 * suffix array or a shard that does not end in a separator cannot send a read outside the
 * buffers. */
#include "neighbours.h"

#include "prefetch.h"

#define END_OF_TOKENS (-1) /* stands for "no token here": sorts before every token */

/* The position held by suffix-array entry `row` (0 <= row < num_positions); a value outside
 * the shard is reported and replaced by the last position. */
static inline int64_t pointer_of(const sa_view *view, int64_t row, damage_report *report) {
    const unsigned char *bytes = view->suffix_array + row * view->pointer_width;
    uint64_t value = 0;
    for (int b = view->pointer_width - 1; b >= 0; b--) value = (value << 8) | bytes[b];
    if (value >= (uint64_t)view->num_positions) {
        report_problem(report, INFGRAM_DAMAGED,
                       "suffix_array entry %lld holds position %llu, expected a position below %lld",
                       (long long)row, (unsigned long long)value, (long long)view->num_positions);
        return view->num_positions - 1;
    }
    return (int64_t)value;
}

/* The token at `position`, or END_OF_TOKENS at or past the end. */
static inline int64_t token_of(const sa_view *view, int64_t position) {
    if (position >= view->num_positions) return END_OF_TOKENS;
    const unsigned char *bytes = view->tokens + position * view->token_width;
    uint32_t value = 0;
    for (int b = 0; b < view->token_width; b++) value = (value << 8) | bytes[b];
    return (int64_t)value;
}

static inline int64_t separator_of(const sa_view *view) {
    return (int64_t)((UINT64_C(1) << (8 * view->token_width)) - 1);
}

/* The rows ahead whose suffix's tokens are asked for (the reads of neighbouring rows go to
 * random places of the tokens: without it every row waits for memory; prefetch.h). */
#define PREFETCH_ROWS 16

static inline void prefetch_row(const sa_view *view, int64_t row) {
    if (row >= view->num_positions) return;
    const unsigned char *bytes = view->suffix_array + row * view->pointer_width;
    uint64_t value = 0;
    for (int b = view->pointer_width - 1; b >= 0; b--) value = (value << 8) | bytes[b];
    if (value < (uint64_t)view->num_positions) PREFETCH(view->tokens + value * view->token_width);
}

/* compare_keys for one-byte tokens (a byte index): the same answer, without decoding. */
static int compare_byte_keys(const sa_view *a, int64_t p, const sa_view *b, int64_t q,
                             int64_t length, int *full) {
    const unsigned char *x = a->tokens + p, *y = b->tokens + q;
    int64_t room_a = a->num_positions - p, room_b = b->num_positions - q;
    int64_t n = length < room_a ? length : room_a;
    if (room_b < n) n = room_b;
    int64_t k = 0;
    while (k < n && x[k] == y[k] && x[k] != 0xFF) k++;
    *full = k == length;
    if (k == length) return 0;
    if (k < n) return x[k] == y[k] ? 0 : (x[k] < y[k] ? -1 : 1); /* equal means a separator in both */
    int64_t left = k < room_a ? x[k] : END_OF_TOKENS, right = k < room_b ? y[k] : END_OF_TOKENS;
    return left == right ? 0 : (left < right ? -1 : 1);
}

/* Compare the L-prefix keys of the suffixes at positions p (of a) and q (of b): <0, 0 or >0.
 * *full is set to 1 when the keys are equal and hold L real tokens (a shared L-gram). */
static int compare_keys(const sa_view *a, int64_t p, const sa_view *b, int64_t q, int64_t length,
                        int *full) {
    if (a->token_width == 1) return compare_byte_keys(a, p, b, q, length, full);
    int64_t separator = separator_of(a);
    *full = 0;
    for (int64_t k = 0; k < length; k++) {
        int64_t left = token_of(a, p + k), right = token_of(b, q + k);
        if (left != right) return left < right ? -1 : 1;
        if (left == END_OF_TOKENS || left == separator) return 0; /* equal keys, cut short */
    }
    *full = 1;
    return 0;
}

int neighbours_share_prefix(const sa_view *view, int64_t lo, int64_t hi, int64_t num_tokens,
                            unsigned char *shared, damage_report *report) {
    if (sa_view_check(view, report) != INFGRAM_OK) return report->status;
    if (lo < 0 || hi > view->num_positions || lo > hi || num_tokens < 1)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                              "expected 0 <= lo <= hi <= %lld and a length >= 1, found lo %lld, hi %lld, length %lld",
                              (long long)view->num_positions, (long long)lo, (long long)hi, (long long)num_tokens);
    if (hi - lo < 2) return report->status;
    int64_t previous = pointer_of(view, lo, report);
    for (int64_t row = lo + 1; row < hi; row++) {
        int64_t current = pointer_of(view, row, report);
        prefetch_row(view, row + PREFETCH_ROWS);
        int full;
        compare_keys(view, previous, view, current, num_tokens, &full);
        shared[row - 1 - lo] = (unsigned char)full;
        previous = current;
    }
    return report->status;
}

int neighbours_across(const sa_view *view, const sa_view *other, int64_t lo, int64_t hi,
                      int64_t num_tokens, int64_t *other_row, unsigned char *found, damage_report *report) {
    if (sa_view_check(view, report) != INFGRAM_OK || sa_view_check(other, report) != INFGRAM_OK)
        return report->status;
    if (view->token_width != other->token_width)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected equal token widths, found %d and %d",
                              view->token_width, other->token_width);
    if (lo < 0 || hi > view->num_positions || lo > hi || num_tokens < 1 || *other_row < 0 ||
        *other_row > other->num_positions)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                              "expected 0 <= lo <= hi <= %lld, 0 <= other_row <= %lld and a length >= 1, found lo "
                              "%lld, hi %lld, other_row %lld, length %lld",
                              (long long)view->num_positions, (long long)other->num_positions, (long long)lo,
                              (long long)hi, (long long)*other_row, (long long)num_tokens);
    int64_t j = *other_row;
    for (int64_t row = lo; row < hi; row++) {
        int64_t p = pointer_of(view, row, report);
        prefetch_row(view, row + PREFETCH_ROWS);
        prefetch_row(other, j + PREFETCH_ROWS);
        int full = 0, order = 1;
        /* Invariant: every row of `other` before j has a key smaller than row's key. */
        while (j < other->num_positions) {
            order = compare_keys(other, pointer_of(other, j, report), view, p, num_tokens, &full);
            if (order >= 0) break;
            j++;
        }
        found[row - lo] = (unsigned char)(j < other->num_positions && order == 0 && full);
    }
    *other_row = j;
    return report->status;
}
