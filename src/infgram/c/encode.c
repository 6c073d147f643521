/* encode.c: suffix keys of chosen positions (see encode.h). */
#include "encode.h"

int suffix_keys(const unsigned char *tokens, int64_t num_tokens, int token_width, const int64_t *positions,
                int64_t count, uint64_t *keys, damage_report *report) {
    if (token_width != 1 && token_width != 2 && token_width != 4)
        return report_problem(report, INFGRAM_INVALID_ARGUMENT, "expected a token width of 1, 2 or 4, found %d",
                              token_width);
    for (int64_t k = 0; k < count; k++) {
        if (positions[k] < 0 || positions[k] >= num_tokens)
            return report_problem(report, INFGRAM_INVALID_ARGUMENT, "position %lld is outside the %lld tokens",
                                  (long long)positions[k], (long long)num_tokens);
    }
    for (int64_t k = 0; k < count; k++) {
        int64_t available = (num_tokens - positions[k]) * token_width;
        keys[k] = prefix_key(tokens + positions[k] * token_width, available < 8 ? (size_t)available : 8, 0x00);
    }
    return INFGRAM_OK;
}
