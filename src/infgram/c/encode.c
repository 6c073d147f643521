/* encode.c: the suffix-key records of a suffix array (see encode.h). */
#include "encode.h"

#include "prefetch.h"

/* Records ahead whose text is asked for: each record reads the text at an unrelated place. */
#define RECORD_PREFETCH_DISTANCE 16

static int64_t entry_at(const void *suffix_array, int entry_bytes, int64_t index) {
    return entry_bytes == 4 ? (int64_t)((const int32_t *)suffix_array)[index] : ((const int64_t *)suffix_array)[index];
}

static void store_little_endian(unsigned char *out, uint64_t value) {
    for (int b = 0; b < 8; b++) out[b] = (unsigned char)(value >> (8 * b));
}

int suffix_key_records(const unsigned char *tokens, int64_t num_tokens, int token_width, const void *suffix_array,
                       int entry_bytes, int64_t first_rank, int64_t count, int64_t step, unsigned char *records,
                       damage_report *report) {
    if (token_width != 1 && token_width != 2 && token_width != 4)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected a token width of 1, 2 or 4, found %d",
                              token_width);
    if (entry_bytes != 4 && entry_bytes != 8)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                              "expected suffix array entries of 4 or 8 bytes, found %d", entry_bytes);
    if (step < 1 || first_rank < 0 || count < 0)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT,
                              "expected a step of at least 1 and a stretch at a rank >= 0, found step %lld, "
                              "rank %lld, %lld entries", (long long)step, (long long)first_rank, (long long)count);
    int64_t first = (step - first_rank % step) % step; /* the stretch's index of its first multiple of step */
    int64_t num_records = suffix_key_record_count(first_rank, count, step);
    for (int64_t k = 0; k < num_records; k++) {
        if (k + RECORD_PREFETCH_DISTANCE < num_records) {
            int64_t ahead = entry_at(suffix_array, entry_bytes, first + (k + RECORD_PREFETCH_DISTANCE) * step);
            if (ahead >= 0 && ahead < num_tokens) PREFETCH_READ_ONCE(tokens + ahead * token_width);
        }
        int64_t position = entry_at(suffix_array, entry_bytes, first + k * step);
        if (position < 0 || position >= num_tokens)
            return report_problem(report, INFGRAM_INVALID_ARGUMENT, "position %lld is outside the %lld tokens",
                                  (long long)position, (long long)num_tokens);
        int64_t available = (num_tokens - position) * token_width;
        uint64_t key = prefix_key(tokens + position * token_width, available < 8 ? (size_t)available : 8, 0x00);
        store_little_endian(records + 16 * k, key);
        store_little_endian(records + 16 * k + 8, (uint64_t)position);
    }
    return INFGRAM_OK;
}
