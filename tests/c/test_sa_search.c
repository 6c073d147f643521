/*
 * Unit test of src/infgram/c/sa_search.c and find_many.c on small arrays, built and run by
 * tests/c/test_c_sanitizers.py under AddressSanitizer and UBSan. Checks the searches
 * against counting by brute force, then damages the suffix array and checks that every
 * search returns INFGRAM_DAMAGED or INFGRAM_OK (never reads out of bounds: the sanitizers
 * would stop the program). Every check runs twice: with the searches as in memory, and as
 * from disk (on_disk: the k-ary searches that read each step's probes at once).
 * Exits non-zero on the first failure.
 */
#define _DEFAULT_SOURCE         /* mincore in sa_search.c */
#define _POSIX_C_SOURCE 200112L /* posix_madvise in sa_search.c */
#include <stdint.h>
/* From disk, the searches compare first the rows whose text is in memory; here every buffer
 * is, so a test check says "in memory" of some rows only (as if the rest were on disk),
 * when in_memory_share is not 0: rows whose text's address hashes below it. */
static int in_memory_share = 0;
#define SA_SEARCH_RESIDENT test_resident
#include "../../src/infgram/c/sa_search.h"
static int resident(const sa_view *view, const unsigned char *address, int64_t length);
static int test_resident(const sa_view *view, const unsigned char *address, int64_t length) {
    if (in_memory_share == 0) return resident(view, address, length);
    return (int)(((uintptr_t)address * 2654435761u >> 7) % 4) < in_memory_share;
}
#include "../../src/infgram/c/encode.c"
#include "../../src/infgram/c/find_many.c"
#include "../../src/infgram/c/sa_search.c"
#include "../../src/infgram/c/status.c"

#include <stdio.h>
#include <stdlib.h>

#include "check.h"

static const unsigned char *sort_text;
static int64_t sort_length;

static int compare_positions(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int64_t n = sort_length - (x > y ? x : y);
    int c = memcmp(sort_text + x, sort_text + y, (size_t)n);
    if (c) return c;
    return x > y ? -1 : 1; /* the shorter suffix (larger start) first */
}

/* Occurrences of query[0, length) in text by brute force. */
static int64_t naive_count(const unsigned char *text, int64_t n, const unsigned char *query, int64_t length) {
    int64_t count = 0;
    for (int64_t i = 0; i + length <= n; i++) count += memcmp(text + i, query, (size_t)length) == 0;
    return count;
}


int main(void) {
    /* Byte tokens over a small alphabet; documents end with the separator 255. */
    enum { N = 2000 };
    unsigned char *text = malloc(N);
    uint64_t seed = 7;
    for (int i = 0; i < N; i++) text[i] = (next_random(&seed) % 23 == 0) ? 255 : (unsigned char)('a' + next_random(&seed) % 3);
    text[N - 1] = 255;
    int64_t positions[N];
    for (int i = 0; i < N; i++) positions[i] = i;
    sort_text = text;
    sort_length = N;
    qsort(positions, N, sizeof positions[0], compare_positions);
    unsigned char *suffix_array = malloc(N * 4);
    for (int i = 0; i < N; i++) memcpy(suffix_array + 4 * i, &(uint32_t){(uint32_t)positions[i]}, 4);
    damage_report report;
    damage_report_clear(&report);
    sa_view view = {text, suffix_array, 1, 4, N, NULL, 0, 0};
    CHECK(sa_view_check(&view, &report) == INFGRAM_OK);
    sa_view_read_from_disk(&view, 1);
    CHECK(resident(&view, text, N) == 1); /* a buffer in use is in memory */
    CHECK(resident(&view, text, 9 * 4096 * 4) == 0); /* more pages than the check looks at */

    /* Records (key, position) every 8 entries, made in two stretches of the suffix array the
     * way a build makes them chunk by chunk (exact sizes, so an overread is caught); on this
     * little-endian host they read as uint64 pairs. */
    int64_t num_keys = (N + 7) / 8, cut = 13; /* the second stretch starts between two samples */
    CHECK(suffix_key_record_count(0, cut, 8) + suffix_key_record_count(cut, N - cut, 8) == num_keys);
    uint64_t *records = malloc((size_t)num_keys * 16);
    CHECK(suffix_key_records(text, N, 1, positions, 8, 0, cut, 8, (unsigned char *)records, &report) == INFGRAM_OK);
    CHECK(suffix_key_records(text, N, 1, positions + cut, 8, cut, N - cut, 8,
                             (unsigned char *)(records + 2 * suffix_key_record_count(0, cut, 8)), &report) ==
          INFGRAM_OK);
    for (int64_t k = 0; k < num_keys; k++) CHECK(records[2 * k + 1] == (uint64_t)positions[k * 8]);
    int64_t bad_position = N;
    CHECK(suffix_key_records(text, N, 1, &bad_position, 8, 0, 1, 1, (unsigned char *)records, &report) ==
          INFGRAM_INVALID_ARGUMENT);
    damage_report_clear(&report);
    CHECK(suffix_key_records(text, N, 1, positions, 8, 0, cut, 8, (unsigned char *)records, &report) == INFGRAM_OK);
    CHECK(suffix_key_records(text, N, 1, positions, 2, 0, 1, 1, (unsigned char *)records, &report) ==
          INFGRAM_INVALID_ARGUMENT);
    damage_report_clear(&report);

    /* The keys alone, as older indexes hold them. */
    uint64_t *keys = malloc((size_t)num_keys * 8);
    for (int64_t k = 0; k < num_keys; k++) keys[k] = records[2 * k];
    /* Records every 32 entries too: from disk, the rows between two samples are then more
     * than a count's step probes, so its steps spread their probes. */
    int64_t num_sparse = (N + 31) / 32;
    uint64_t *sparse_records = malloc((size_t)num_sparse * 16);
    for (int64_t k = 0; k < num_sparse; k++) {
        sparse_records[2 * k] = records[8 * k];
        sparse_records[2 * k + 1] = records[8 * k + 1];
    }
    for (int mode = 0; mode < 8; mode++) {
        int with_keys = mode % 3 != 0 || mode >= 6, sparse = mode >= 6;
        sa_view_read_from_disk(&view, mode >= 3 && mode != 6);
        view.keys_have_pointers = mode % 3 == 2 || sparse;
        view.keys = with_keys ? (sparse ? sparse_records : view.keys_have_pointers ? records : keys) : NULL;
        view.key_step = with_keys ? (sparse ? 32 : 8) : 0;
        view.num_keys = with_keys ? (sparse ? num_sparse : num_keys) : 0;
        CHECK(sa_view_check(&view, &report) == INFGRAM_OK);
        for (int trial = 0; trial < 300; trial++) {
            in_memory_share = trial % 4;
            unsigned char query[12];
            int64_t length = 1 + (int64_t)(next_random(&seed) % 10);
            for (int64_t b = 0; b < length; b++) query[b] = (unsigned char)('a' + next_random(&seed) % 3);
            int64_t lo, hi;
            CHECK(sa_find(&view, query, length, 0, N, &lo, &hi, &report) == INFGRAM_OK);
            CHECK(hi - lo == naive_count(text, N, query, length));
            int64_t suffix_length;
            CHECK(sa_longest_suffix(&view, query, length, &suffix_length, &lo, &hi, &report) == INFGRAM_OK);
            CHECK(naive_count(text, N, query + length - suffix_length, suffix_length) == hi - lo || suffix_length == 0);
            CHECK(suffix_length == length || naive_count(text, N, query + length - suffix_length - 1, suffix_length + 1) == 0);
            int64_t lengths[12], counts[12], prompt_counts[12];
            CHECK(sa_longest_matches(&view, query, length, lengths, counts, &report) == INFGRAM_OK);
            for (int64_t i = 0; i < length; i++) {
                CHECK(lengths[i] == 0 || counts[i] == naive_count(text, N, query + i, lengths[i]));
                CHECK(i + lengths[i] == length || naive_count(text, N, query + i, lengths[i] + 1) == 0);
            }
            CHECK(sa_infgram_probabilities(&view, query, length, N - 1, lengths, prompt_counts, counts, &report) ==
                  INFGRAM_OK);
            for (int64_t i = 0; i < length; i++)
                CHECK(lengths[i] == 0 || prompt_counts[i] == naive_count(text, N, query + i - lengths[i], lengths[i]));
            /* next_tokens over the run of the first byte: the counts of each following byte. */
            CHECK(sa_find(&view, query, 1, 0, N, &lo, &hi, &report) == INFGRAM_OK);
            uint64_t *values;
            int64_t *value_counts, used;
            CHECK(sa_next_tokens(&view, lo, hi, 1, &values, &value_counts, &used, &report) == INFGRAM_OK);
            for (int64_t k = 0; k < used; k++) {
                unsigned char pair[2] = {query[0], (unsigned char)values[k]};
                CHECK(value_counts[k] == naive_count(text, N, pair, 2));
            }
            free(values);
            free(value_counts);
        }
        /* find_many agrees with sa_find, in any order of the queries. */
        const unsigned char data[] = "abcababcaacb";
        int64_t offsets[] = {0, 2, 3, 3, 7, 12}, ranges[10];
        CHECK(find_many(&view, sa_find_from, data, 12, offsets, 6, ranges, &report) == INFGRAM_OK);
        for (int i = 0; i < 5; i++) {
            int64_t lo, hi;
            CHECK(sa_find(&view, data + offsets[i], offsets[i + 1] - offsets[i], 0, N, &lo, &hi, &report) == INFGRAM_OK);
            CHECK(ranges[2 * i] == lo && ranges[2 * i + 1] == hi);
        }
        int64_t bad_offsets[] = {0, 5, 3};
        CHECK(find_many(&view, sa_find_from, data, 12, bad_offsets, 3, ranges, &report) == INFGRAM_INVALID_ARGUMENT);
        damage_report_clear(&report);
    }

    /* Damage: one pointer far out of range is reported by a search that reads it. */
    view.keys = NULL;
    view.keys_have_pointers = 0;
    sa_view_read_from_disk(&view, 0);
    uint32_t saved;
    memcpy(&saved, suffix_array + 4 * (N / 2), 4);
    memset(suffix_array + 4 * (N / 2), 0xff, 4);
    int damaged = 0;
    for (int trial = 0; trial < 200; trial++) {
        unsigned char query[3] = {(unsigned char)('a' + trial % 3), (unsigned char)('a' + trial / 3 % 3),
                                  (unsigned char)('a' + trial / 9 % 3)};
        int64_t lo, hi;
        damage_report_clear(&report);
        int status = sa_find(&view, query, 1 + trial % 3, 0, N, &lo, &hi, &report);
        CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
        if (status == INFGRAM_DAMAGED) CHECK(strstr(report.message, "suffix_array.bin") != NULL);
        damaged += status == INFGRAM_DAMAGED;
    }
    damage_report_clear(&report);
    uint64_t *values;
    int64_t *value_counts, used;
    CHECK(sa_next_tokens(&view, N / 2, N / 2 + 1, 0, &values, &value_counts, &used, &report) == INFGRAM_DAMAGED);
    CHECK(values == NULL && value_counts == NULL);
    memcpy(suffix_array + 4 * (N / 2), &saved, 4);

    /* Garbage everywhere: every search ends and reports or answers, within the buffers. */
    for (int round = 0; round < 24; round++) {
        for (int i = 0; i < N * 4; i++) suffix_array[i] = (unsigned char)next_random(&seed);
        for (int i = 0; i < num_keys; i++) keys[i] = next_random(&seed) << 31 ^ next_random(&seed);
        for (int i = 0; i < 2 * num_keys; i++) records[i] = next_random(&seed) << 31 ^ next_random(&seed);
        view.keys_have_pointers = round % 8 >= 4;
        view.keys = round % 2 ? (view.keys_have_pointers ? records : keys) : NULL;
        sa_view_read_from_disk(&view, round % 4 >= 2);
        view.key_step = 8;
        view.num_keys = num_keys;
        for (int trial = 0; trial < 20; trial++) {
            in_memory_share = trial % 4;
            unsigned char query[6] = {'a', 'b', 'c', 'a', 'b', 'c'};
            int64_t lo, hi, length, lengths[6], counts[6], prompt_counts[6];
            damage_report_clear(&report);
            int status = sa_find(&view, query + trial % 3, 1 + trial % 3, 0, N, &lo, &hi, &report);
            CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
            CHECK(0 <= lo && lo <= hi && hi <= N);
            damage_report_clear(&report);
            status = sa_longest_suffix(&view, query, 6, &length, &lo, &hi, &report);
            CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
            damage_report_clear(&report);
            status = sa_longest_matches(&view, query, 6, lengths, counts, &report);
            CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
            damage_report_clear(&report);
            status = sa_infgram_probabilities(&view, query, 6, N - 1, lengths, prompt_counts, counts, &report);
            CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
            damage_report_clear(&report);
            status = sa_next_tokens(&view, trial, N - trial, 1, &values, &value_counts, &used, &report);
            CHECK(status != INFGRAM_NO_MEMORY);
            if (status == INFGRAM_OK) {
                free(values);
                free(value_counts);
            }
        }
    }
    CHECK(damaged > 0);
    free(text);
    free(suffix_array);
    free(keys);
    free(records);
    free(sparse_records);
    printf("sa_search: ok\n");
    return 0;
}
