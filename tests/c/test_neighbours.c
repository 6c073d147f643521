/*
 * Unit test of src/infgram/c/neighbours.c, built and run by
 * tests/c/test_neighbours_sanitizers.py under AddressSanitizer and UBSan. Sorts the
 * suffixes of small random texts (2- and 3-letter alphabets, documents ending in the
 * separator 255), checks both functions against brute force for several L and chunkings,
 * then damages the suffix array and cuts the text short and checks that the functions
 * report INFGRAM_DAMAGED (or answer) without reading out of bounds. Exits non-zero on the
 * first failure; prints "neighbours: ok" at the end.
 */
#define _POSIX_C_SOURCE 200112L /* posix_madvise in sa_search.c */
#include "../../src/infgram/c/neighbours.c"
#include "../../src/infgram/c/sa_search.c"
#include "../../src/infgram/c/status.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const unsigned char *sorted_text;
static int64_t sorted_length;

/* Suffix order: byte by byte, a suffix that runs out first is the smaller. */
static int suffix_order(const void *left, const void *right) {
    int64_t a = *(const int64_t *)left, b = *(const int64_t *)right;
    for (; a < sorted_length && b < sorted_length; a++, b++)
        if (sorted_text[a] != sorted_text[b]) return sorted_text[a] < sorted_text[b] ? -1 : 1;
    return a < sorted_length ? 1 : -1;
}

/* A random text of n bytes: documents of letters 'a'.. over `letters`, each ending in 255. */
static unsigned char *random_text(int64_t n, int letters, uint64_t *state) {
    unsigned char *text = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) text[i] = (unsigned char)('a' + next_random(state) % (uint64_t)letters);
    for (int64_t i = 0; i < n; i++)
        if (next_random(state) % 23 == 0) text[i] = 255;
    text[n - 1] = 255;
    return text;
}

/* The suffix array of text (pointer width 4, little-endian). */
static unsigned char *suffix_array_of(const unsigned char *text, int64_t n) {
    int64_t *order = malloc((size_t)n * sizeof *order);
    for (int64_t i = 0; i < n; i++) order[i] = i;
    sorted_text = text;
    sorted_length = n;
    qsort(order, (size_t)n, sizeof *order, suffix_order);
    unsigned char *bytes = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) bytes[i * 4 + b] = (unsigned char)((uint64_t)order[i] >> (8 * b));
    free(order);
    return bytes;
}

static int64_t position_at(const unsigned char *suffix_array, int64_t row) {
    int64_t value = 0;
    for (int b = 3; b >= 0; b--) value = (value << 8) | suffix_array[row * 4 + b];
    return value;
}

/* Whether positions p (of a) and q (of b) start the same L bytes, none a separator. */
static int naive_share(const unsigned char *a, int64_t na, int64_t p, const unsigned char *b, int64_t nb, int64_t q,
                       int64_t length) {
    if (p + length > na || q + length > nb) return 0;
    for (int64_t k = 0; k < length; k++)
        if (a[p + k] != b[q + k] || a[p + k] == 255) return 0;
    return 1;
}

static void check_within(const unsigned char *text, int64_t n, const unsigned char *suffix_array) {
    sa_view view = {text, suffix_array, 1, 4, n};
    unsigned char *shared = malloc((size_t)n);
    for (int64_t length = 1; length <= 7; length++) {
        damage_report report;
        damage_report_clear(&report);
        CHECK(neighbours_share_prefix(&view, 0, n, length, shared, &report) == INFGRAM_OK);
        for (int64_t row = 0; row + 1 < n; row++)
            CHECK(shared[row] == naive_share(text, n, position_at(suffix_array, row), text, n,
                                             position_at(suffix_array, row + 1), length));
        /* A sub-range gives the same answers. */
        CHECK(neighbours_share_prefix(&view, 5, 40, length, shared, &report) == INFGRAM_OK);
        for (int64_t row = 5; row + 1 < 40; row++)
            CHECK(shared[row - 5] == naive_share(text, n, position_at(suffix_array, row), text, n,
                                                 position_at(suffix_array, row + 1), length));
    }
    free(shared);
}

static void check_across(const unsigned char *a, int64_t na, const unsigned char *sa_a, const unsigned char *b,
                         int64_t nb, const unsigned char *sa_b) {
    sa_view view = {a, sa_a, 1, 4, na}, other = {b, sa_b, 1, 4, nb};
    unsigned char *found = malloc((size_t)na);
    for (int64_t length = 1; length <= 6; length++) {
        for (int64_t chunk = 1; chunk <= na; chunk = chunk * 3 + 1) { /* merge pointer carried across calls */
            int64_t other_row = 0;
            for (int64_t lo = 0; lo < na; lo += chunk) {
                int64_t hi = lo + chunk < na ? lo + chunk : na;
                damage_report report;
                damage_report_clear(&report);
                CHECK(neighbours_across(&view, &other, lo, hi, length, &other_row, found + lo, &report) == INFGRAM_OK);
                CHECK(other_row >= 0 && other_row <= nb);
            }
            for (int64_t row = 0; row < na; row++) {
                int64_t p = position_at(sa_a, row);
                int expected = 0;
                for (int64_t q = 0; q < nb && !expected; q++) expected = naive_share(a, na, p, b, nb, q, length);
                CHECK(found[row] == expected);
            }
        }
    }
    free(found);
}

static void check_damage(unsigned char *text, int64_t n, unsigned char *suffix_array) {
    unsigned char *shared = malloc((size_t)n);
    damage_report report;
    /* A pointer far outside the text. */
    unsigned char saved[4];
    memcpy(saved, suffix_array + 8, 4);
    memset(suffix_array + 8, 0xEE, 4);
    sa_view view = {text, suffix_array, 1, 4, n};
    damage_report_clear(&report);
    CHECK(neighbours_share_prefix(&view, 0, n, 5, shared, &report) == INFGRAM_DAMAGED);
    CHECK(strstr(report.message, "suffix_array entry 2") != NULL);
    int64_t other_row = 0;
    damage_report_clear(&report);
    CHECK(neighbours_across(&view, &view, 0, n, 5, &other_row, shared, &report) == INFGRAM_DAMAGED);
    memcpy(suffix_array + 8, saved, 4);
    /* A text that does not end in a separator (and keys that run to its end): answers, in bounds. */
    unsigned char *cut = malloc((size_t)n);
    memset(cut, 'a', (size_t)n);
    sa_view ragged = {cut, suffix_array, 1, 4, n};
    damage_report_clear(&report);
    CHECK(neighbours_share_prefix(&ragged, 0, n, n + 5, shared, &report) == INFGRAM_OK);
    other_row = 0;
    CHECK(neighbours_across(&ragged, &ragged, 0, n, n + 5, &other_row, shared, &report) == INFGRAM_OK);
    /* Arguments outside the contract. */
    damage_report_clear(&report);
    CHECK(neighbours_share_prefix(&view, 3, 2, 5, shared, &report) == INFGRAM_INVALID_ARGUMENT);
    damage_report_clear(&report);
    CHECK(neighbours_share_prefix(&view, 0, n + 1, 5, shared, &report) == INFGRAM_INVALID_ARGUMENT);
    damage_report_clear(&report);
    CHECK(neighbours_share_prefix(&view, 0, n, 0, shared, &report) == INFGRAM_INVALID_ARGUMENT);
    sa_view wide = {text, suffix_array, 3, 4, n};
    damage_report_clear(&report);
    CHECK(neighbours_share_prefix(&wide, 0, 1, 5, shared, &report) == INFGRAM_INVALID_ARGUMENT);
    other_row = n + 1;
    damage_report_clear(&report);
    CHECK(neighbours_across(&view, &view, 0, n, 5, &other_row, shared, &report) == INFGRAM_INVALID_ARGUMENT);
    free(cut);
    free(shared);
}

/* Two-byte tokens: the same text widened, so that token comparisons read both bytes. */
static void check_wide(const unsigned char *text, int64_t n) {
    unsigned char *wide = malloc((size_t)n * 2);
    for (int64_t i = 0; i < n; i++) {
        wide[2 * i] = text[i] == 255 ? 255 : 1; /* big-endian: high byte first */
        wide[2 * i + 1] = text[i];
    }
    unsigned char *suffix_array = suffix_array_of(text, n); /* same order as the bytes */
    sa_view view = {wide, suffix_array, 2, 4, n};
    unsigned char *shared = malloc((size_t)n);
    damage_report report;
    damage_report_clear(&report);
    CHECK(neighbours_share_prefix(&view, 0, n, 3, shared, &report) == INFGRAM_OK);
    for (int64_t row = 0; row + 1 < n; row++)
        CHECK(shared[row] == naive_share(text, n, position_at(suffix_array, row), text, n,
                                         position_at(suffix_array, row + 1), 3));
    free(shared);
    free(suffix_array);
    free(wide);
}

int main(void) {
    uint64_t state = 7;
    for (int round = 0; round < 12; round++) {
        int letters = 2 + round % 2;
        int64_t na = 60 + (int64_t)(next_random(&state) % 300), nb = 40 + (int64_t)(next_random(&state) % 200);
        unsigned char *a = random_text(na, letters, &state), *b = random_text(nb, letters, &state);
        unsigned char *sa_a = suffix_array_of(a, na), *sa_b = suffix_array_of(b, nb);
        check_within(a, na, sa_a);
        check_across(a, na, sa_a, b, nb, sa_b);
        check_across(b, nb, sa_b, a, na, sa_a);
        check_damage(a, na, sa_a);
        check_wide(a, na);
        free(a), free(b), free(sa_a), free(sa_b);
    }
    printf("neighbours: ok\n");
    return 0;
}
