/*
 * Unit test of src/infgram/c/official_search.c, built and run by
 * tests/c/test_c_sanitizers.py under AddressSanitizer and UBSan. Writes small random
 * official shards (token widths 1, 2 and 4; every document a separator then its
 * little-endian tokens; the table sorted by raw bytes as the official indexer sorts it),
 * checks every search against brute force, then damages the table (pointers past the end,
 * inside a token) and checks that the searches report INFGRAM_DAMAGED without reading out of
 * bounds. Exits non-zero on the first failure; prints "official_search: ok" at the end.
 */
#include "../../src/infgram/c/official_search.c"
#include "../../src/infgram/c/status.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const unsigned char *sorted_data;
static int64_t sorted_bytes;

/* Raw byte order of suffixes, a suffix that runs out first being the smaller. */
static int suffix_order(const void *left, const void *right) {
    int64_t a = *(const int64_t *)left, b = *(const int64_t *)right;
    for (; a < sorted_bytes && b < sorted_bytes; a++, b++)
        if (sorted_data[a] != sorted_data[b]) return sorted_data[a] < sorted_data[b] ? -1 : 1;
    return a < sorted_bytes ? 1 : -1;
}

static void put_token(unsigned char *at, uint64_t value, int width) {
    for (int b = 0; b < width; b++) at[b] = (unsigned char)(value >> (8 * b));
}

/* Brute force: occurrences of the little-endian query at token-aligned offsets. */
static int64_t brute_count(const unsigned char *data, int64_t bytes, const unsigned char *query, int64_t query_bytes,
                           int width) {
    int64_t found = 0;
    for (int64_t at = 0; at + query_bytes <= bytes; at += width)
        if (memcmp(data + at, query, (size_t)query_bytes) == 0) found++;
    return found;
}

static void check_shard(int width, uint64_t *state) {
    const uint64_t alphabet[4] = {1, 0xff, 0x100, width == 1 ? 0x7f : (width == 2 ? 0xfffe : 0x100ff)};
    int64_t num_tokens = 8 + (int64_t)(next_random(state) % 60);
    unsigned char *data = malloc((size_t)(num_tokens * width));
    uint64_t separator = width == 4 ? 0xffffffffu : (1u << (8 * width)) - 1;
    for (int64_t i = 0; i < num_tokens; i++) {
        uint64_t token = (i == 0 || next_random(state) % 7 == 0) ? separator : alphabet[next_random(state) % 4];
        if (width == 1 && token > 0xff) token = 2;
        put_token(data + i * width, token, width);
    }
    int64_t bytes = num_tokens * width;
    int64_t *order = malloc(sizeof(int64_t) * (size_t)num_tokens);
    for (int64_t i = 0; i < num_tokens; i++) order[i] = i * width;
    sorted_data = data;
    sorted_bytes = bytes;
    qsort(order, (size_t)num_tokens, sizeof(int64_t), suffix_order);
    int pointer_width = 2;
    unsigned char *table = malloc((size_t)(num_tokens * pointer_width));
    for (int64_t i = 0; i < num_tokens; i++) put_token(table + i * pointer_width, (uint64_t)order[i], pointer_width);
    official_view view = {data, table, width, pointer_width, bytes, num_tokens};
    damage_report report;
    damage_report_clear(&report);
    CHECK(official_view_check(&view, &report) == INFGRAM_OK);

    /* Every query of 1..3 tokens cut from the data, and a few absent ones. */
    for (int64_t start = 0; start < num_tokens; start++) {
        for (int64_t length = 1; length <= 3 && start + length <= num_tokens; length++) {
            const unsigned char *query = data + start * width;
            int64_t lo, hi;
            damage_report_clear(&report);
            CHECK(official_find(&view, query, length * width, 0, num_tokens, &lo, &hi, &report) == INFGRAM_OK);
            CHECK(hi - lo == brute_count(data, bytes, query, length * width, width));
            /* The next tokens of the run add up to it (the end of the data counts as the separator). */
            uint64_t *values;
            int64_t *counts, used, total = 0;
            CHECK(official_next_tokens(&view, lo, hi, length, &values, &counts, &used, &report) == INFGRAM_OK);
            for (int64_t k = 0; k < used; k++) total += counts[k];
            CHECK(total == hi - lo);
            free(values);
            free(counts);
        }
    }
    unsigned char absent[4] = {3, 3, 3, 3};
    int64_t lo, hi, length;
    CHECK(official_find(&view, absent, width, 0, num_tokens, &lo, &hi, &report) == INFGRAM_OK && lo == hi);

    /* Matching statistics and the ∞-gram over the data itself: each start matches itself. */
    int64_t *lengths = malloc(sizeof(int64_t) * (size_t)num_tokens * 3);
    CHECK(official_longest_matches(&view, data, num_tokens, lengths, lengths + num_tokens, &report) == INFGRAM_OK);
    for (int64_t i = 0; i < num_tokens; i++) CHECK(lengths[i] == num_tokens - i && lengths[num_tokens + i] >= 1);
    CHECK(official_infgram_probabilities(&view, data, num_tokens, num_tokens, lengths, lengths + num_tokens,
                                         lengths + 2 * num_tokens, &report) == INFGRAM_OK);
    for (int64_t i = 0; i < num_tokens; i++) CHECK(lengths[i] == i && lengths[2 * num_tokens + i] >= 1);
    CHECK(official_longest_suffix(&view, data, bytes, &length, &lo, &hi, &report) == INFGRAM_OK);
    CHECK(length == num_tokens && hi - lo == 1);

    /* Damage: a pointer past the data, then one inside a token. */
    for (int damage = 0; damage < (width > 1 ? 2 : 1); damage++) {
        int64_t row = (int64_t)(next_random(state) % (uint64_t)num_tokens);
        unsigned char saved[2];
        memcpy(saved, table + row * pointer_width, 2);
        put_token(table + row * pointer_width, damage == 0 ? (uint64_t)bytes + 5 : (uint64_t)(order[row] + 1),
                  pointer_width);
        for (int64_t start = 0; start < num_tokens; start++) {  /* any answer, or the damage: never a bad read */
            damage_report_clear(&report);
            int status = official_find(&view, data + start * width, width, 0, num_tokens, &lo, &hi, &report);
            CHECK(status == INFGRAM_OK || (status == INFGRAM_DAMAGED && strstr(report.message, "table entry")));
        }
        for (int64_t other = 0; other < num_tokens; other++) {  /* a one-row run reads exactly that row */
            uint64_t *values;
            int64_t *counts, used;
            damage_report_clear(&report);
            int status = official_next_tokens(&view, other, other + 1, 0, &values, &counts, &used, &report);
            if (other == row) {
                CHECK(status == INFGRAM_DAMAGED && values == NULL && counts == NULL);
            } else {
                CHECK(status == INFGRAM_OK && used == 1 && counts[0] == 1);
                free(values);
                free(counts);
            }
        }
        memcpy(table + row * pointer_width, saved, 2);
    }
    free(lengths);
    free(table);
    free(order);
    free(data);
}

int main(void) {
    uint64_t state = 29;
    damage_report report;
    damage_report_clear(&report);
    official_view bad = {NULL, NULL, 3, 2, 0, 0};
    CHECK(official_view_check(&bad, &report) == INFGRAM_INVALID_ARGUMENT);
    for (int round = 0; round < 60; round++) {
        check_shard(1, &state);
        check_shard(2, &state);
        check_shard(4, &state);
    }
    printf("official_search: ok\n");
    return 0;
}
