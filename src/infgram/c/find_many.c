/*
 * find_many.c: a batch of searches in sorted order (see find_many.h).
 *
 * Sorting: a bottom-up merge sort of query numbers (stable, no recursion, no global state)
 * that compares the queries' bytes as memcmp does, a proper prefix first. Searching: each
 * query is searched with `from` set to the previous query's run start; the queries are
 * sorted, so every row before that start sorts before the current query as well.
 */
#include "find_many.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *data;
    const int64_t *offsets;
} query_set;

/* Does query i sort strictly before query j? */
static int query_less(const query_set *set, int64_t i, int64_t j) {
    int64_t length_i = set->offsets[i + 1] - set->offsets[i], length_j = set->offsets[j + 1] - set->offsets[j];
    int c = memcmp(set->data + set->offsets[i], set->data + set->offsets[j],
                   (size_t)(length_i < length_j ? length_i : length_j));
    return c < 0 || (c == 0 && length_i < length_j);
}

static void sort_queries(const query_set *set, int64_t *order, int64_t *merged, int64_t n) {
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t left = 0; left < n; left += 2 * width) {
            int64_t middle = left + width < n ? left + width : n;
            int64_t right = left + 2 * width < n ? left + 2 * width : n;
            int64_t a = left, b = middle, k = left;
            while (a < middle && b < right) merged[k++] = query_less(set, order[b], order[a]) ? order[b++] : order[a++];
            while (a < middle) merged[k++] = order[a++];
            while (b < right) merged[k++] = order[b++];
        }
        memcpy(order, merged, (size_t)n * sizeof(int64_t));
    }
}

int find_many(const void *context, find_function find, const unsigned char *data, int64_t data_bytes,
              const int64_t *offsets, int64_t num_offsets, int64_t *ranges, damage_report *report) {
    if (num_offsets < 1)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected at least one query offset, found %lld",
                              (long long)num_offsets);
    int64_t count = num_offsets - 1;
    for (int64_t i = 0; i < count; i++) {
        if (offsets[i] < 0 || offsets[i + 1] < offsets[i] || offsets[i + 1] > data_bytes)
            return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                                  "expected query offsets that rise within the %lld bytes of data, found %lld then %lld "
                                  "at query %lld",
                                  (long long)data_bytes, (long long)offsets[i], (long long)offsets[i + 1], (long long)i);
    }
    int64_t *order = malloc((size_t)(count > 0 ? 2 * count : 1) * sizeof(int64_t));
    if (!order) return report_problem(report, INFGRAM_NO_MEMORY, "out of memory for %lld queries", (long long)count);
    query_set set = {data, offsets};
    for (int64_t i = 0; i < count; i++) order[i] = i;
    sort_queries(&set, order, order + count, count);
    int status = INFGRAM_OK;
    int64_t previous_lo = 0;
    for (int64_t k = 0; k < count && status == INFGRAM_OK; k++) {
        int64_t i = order[k];
        status = find(context, data + offsets[i], offsets[i + 1] - offsets[i], previous_lo, &ranges[2 * i],
                      &ranges[2 * i + 1], report);
        previous_lo = ranges[2 * i];
    }
    free(order);
    return status;
}
