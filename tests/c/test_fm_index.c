/*
 * Unit test of src/infgram/c/fm_index.c, fm_build.c and rrr.h, built and run by
 * tests/c/test_c_sanitizers.py under AddressSanitizer and UBSan.
 *
 *   test_fm_index TEXT WAVELET SAMPLES
 *
 * TEXT is the shard's text (ending with 255); WAVELET and SAMPLES the payloads of its
 * fm_wavelet.bin and fm_samples.bin, written by the build. The test checks the RRR layout
 * round trip on random bits, the searches against brute force, then damages copies of the
 * payloads (byte flips, runs of 0xff, truncations) and checks that opening and every search
 * return INFGRAM_OK or INFGRAM_DAMAGED without reading out of bounds (the sanitizers would
 * stop the program) and without endless walks. Exits non-zero on the first failure.
 */
#include "../../src/infgram/c/find_many.c"
#include "../../src/infgram/c/fm_build.c"
#include "../../src/infgram/c/fm_index.c"
#include "../../src/infgram/c/rrr.c"
#include "../../src/infgram/c/status.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"


/* The file's bytes in a buffer of exactly that size (so overreads are caught). */
static unsigned char *read_file(const char *path, uint64_t *bytes) {
    FILE *file = fopen(path, "rb");
    CHECK(file != NULL);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *data = malloc(size > 0 ? (size_t)size : 1);
    CHECK(fread(data, 1, (size_t)size, file) == (size_t)size);
    fclose(file);
    *bytes = (uint64_t)size;
    return data;
}

/* RRR: ranks read back through rrr_place_block match popcounts of random bitvectors. */
static void check_rrr_round_trip(uint64_t *seed) {
    uint64_t sizes[] = {0, 1, 62, 63, 64, 63 * 35, 63 * 980 + 5, 63 * 1960 + 1};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        uint64_t num_bits = sizes[t], num_words = num_bits / 64 + 2;
        uint64_t *bits = calloc(num_words, 8);
        for (uint64_t p = 0; p < num_bits; p++) {
            int dense = (p / 5000) % 3; /* runs of zeros, of ones, and mixed stretches */
            int bit = dense == 0 ? 0 : dense == 1 ? 1 : (int)(next_random(seed) & 1);
            if (bit) bits[p >> 6] |= (uint64_t)1 << (p & 63);
        }
        uint64_t num_blocks = rrr_num_blocks(num_bits), offset_bits;
        uint64_t *superblocks = malloc(rrr_num_superblocks(num_blocks) * RRR_RECORD_WORDS * 8);
        uint64_t *hyperblocks = malloc(rrr_num_hyperblocks(num_blocks) * 16);
        damage_report report;
        damage_report_clear(&report);
        CHECK(rrr_layout(bits, num_words, num_bits, superblocks, hyperblocks, &offset_bits, &report) == INFGRAM_OK);
        uint64_t offset_words = offset_bits / 64 + 2;
        uint64_t *offsets = calloc(offset_words, 8);
        /* In two chunks, the second first: each block goes where the reader looks. */
        CHECK(rrr_offsets(bits, num_words, num_bits, superblocks, hyperblocks, num_blocks / 2, num_blocks, offsets,
                          offset_words, &report) == INFGRAM_OK);
        CHECK(rrr_offsets(bits, num_words, num_bits, superblocks, hyperblocks, 0, num_blocks / 2, offsets,
                          offset_words, &report) == INFGRAM_OK);
        CHECK(rrr_offsets(bits, num_words, num_bits, superblocks, hyperblocks, 0, num_blocks + 1, offsets,
                          offset_words, &report) == INFGRAM_INVALID_ARGUMENT);
        uint64_t ones = 0;
        for (uint64_t p = 0; p < num_bits; p++) {
            rrr_place place;
            rrr_place_block(superblocks, hyperblocks, p / RRR_BLOCK_BITS, &place);
            int bit;
            uint64_t offset = read_bits(offsets, place.position, rrr_width[place.k]);
            uint64_t rank = place.ones + rrr_block_rank(place.k, offset, (int)(p % RRR_BLOCK_BITS), &bit);
            CHECK(rank == ones);
            CHECK(bit == get_bit(bits, p));
            ones += (uint64_t)bit;
        }
        free(bits);
        free(superblocks);
        free(hyperblocks);
        free(offsets);
    }
}

static int64_t naive_count(const unsigned char *text, uint64_t n, const unsigned char *query, uint64_t length) {
    int64_t count = 0;
    for (uint64_t i = 0; i + length <= n; i++) count += memcmp(text + i, query, length) == 0;
    return count;
}

/* Every search on a possibly damaged index; each must answer or report damage. */
static void run_searches(const fm_index *index, const unsigned char *text, uint64_t n) {
    damage_report report;
    int64_t lo, hi;
    for (int k = 0; k < 8; k++) {
        damage_report_clear(&report);
        int status = fm_find(index, text + (k * 97) % (n - 4), 1 + k % 4, &lo, &hi, &report);
        CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
        CHECK(0 <= lo && lo <= hi && (uint64_t)hi <= n);
    }
    uint64_t count = n < 600 ? n : 600;
    int64_t *positions = malloc(count * 8);
    damage_report_clear(&report);
    int status = fm_locate(index, 0, count, positions, &report);
    CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
    for (uint64_t i = 0; i < count && status == INFGRAM_OK; i++) CHECK(positions[i] >= 0 && (uint64_t)positions[i] < n);
    free(positions);
    unsigned char *out = malloc(count);
    damage_report_clear(&report);
    status = fm_extract(index, n - count, n, out, &report);
    CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
    free(out);
    for (uint64_t row = 0; row < n; row += n / 50 + 1) {
        int symbol;
        uint64_t rank;
        damage_report_clear(&report);
        status = fm_access(index, row, &symbol, &report);
        CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
        damage_report_clear(&report);
        status = fm_rank(index, 'e', row, &rank, &report);
        CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
    }
}

int main(int argc, char **argv) {
    CHECK(argc == 4);
    rrr_tables_init();
    uint64_t seed = 11;
    check_rrr_round_trip(&seed);

    uint64_t n, wavelet_bytes, samples_bytes;
    unsigned char *text = read_file(argv[1], &n);
    unsigned char *wavelet = read_file(argv[2], &wavelet_bytes);
    unsigned char *samples = read_file(argv[3], &samples_bytes);
    fm_index index;
    damage_report report;
    damage_report_clear(&report);
    CHECK(fm_index_open(&index, wavelet, wavelet_bytes, samples, samples_bytes, &report) == INFGRAM_OK);
    CHECK(index.n == n && n > 100);

    /* Intact: counts, locate, extract, rank and access against brute force. */
    for (int k = 0; k < 200; k++) {
        uint64_t start = next_random(&seed) % (n - 8), length = 1 + next_random(&seed) % 6;
        int64_t lo, hi;
        CHECK(fm_find(&index, text + start, (int64_t)length, &lo, &hi, &report) == INFGRAM_OK);
        if (memchr(text + start, 255, length) != NULL) continue; /* queries never hold the separator */
        CHECK(hi - lo == naive_count(text, n, text + start, length));
        int64_t *positions = malloc((size_t)(hi - lo + 1) * 8);
        CHECK(fm_locate(&index, (uint64_t)lo, (uint64_t)hi, positions, &report) == INFGRAM_OK);
        for (int64_t r = 0; r < hi - lo; r++) CHECK(memcmp(text + positions[r], text + start, length) == 0);
        free(positions);
        unsigned char out[64];
        uint64_t end = start + length * 8 < n ? start + length * 8 : n;
        CHECK(fm_extract(&index, start, end, out, &report) == INFGRAM_OK);
        CHECK(memcmp(out, text + start, end - start) == 0);
    }
    uint64_t symbol_count = 0;
    for (uint64_t row = 0; row <= n; row++) {
        uint64_t rank;
        CHECK(fm_rank(&index, 'e', row, &rank, &report) == INFGRAM_OK);
        CHECK(rank == symbol_count);
        if (row < n) {
            int symbol;
            CHECK(fm_access(&index, row, &symbol, &report) == INFGRAM_OK);
            symbol_count += symbol == 'e';
        }
    }
    CHECK(fm_locate(&index, 5, 4, NULL, &report) == INFGRAM_INVALID_ARGUMENT);
    damage_report_clear(&report);
    int64_t query_offsets[] = {0, 1, 3, 3}, ranges[6];
    CHECK(find_many(&index, fm_find_from, text, 3, query_offsets, 4, ranges, &report) == INFGRAM_OK);
    CHECK(ranges[4] == 0 && (uint64_t)ranges[5] == n);

    /* Damaged copies: flips, 0xff runs and truncations of either file. */
    int opened = 0, refused = 0;
    for (int round = 0; round < 240; round++) {
        int which = round % 2;
        uint64_t bytes = which ? samples_bytes : wavelet_bytes;
        const unsigned char *original = which ? samples : wavelet;
        int kind = (round / 2) % 3;
        uint64_t size = kind == 2 ? (next_random(&seed) % bytes) & ~(uint64_t)7 : bytes;
        unsigned char *copy = malloc(size ? size : 8);
        memcpy(copy, original, size);
        if (kind == 0) {
            for (int f = 0; f < 1 + round % 3; f++) copy[next_random(&seed) % size] ^= (unsigned char)(1u << (next_random(&seed) % 8));
        } else if (kind == 1) {
            uint64_t start = next_random(&seed) % size, length = 8 + next_random(&seed) % 512;
            memset(copy + start, 0xff, start + length > size ? size - start : length);
        }
        fm_index damaged;
        damage_report_clear(&report);
        int status = which ? fm_index_open(&damaged, wavelet, wavelet_bytes, copy, size, &report)
                           : fm_index_open(&damaged, copy, size, samples, samples_bytes, &report);
        CHECK(status == INFGRAM_OK || status == INFGRAM_DAMAGED);
        if (status == INFGRAM_OK) {
            opened++;
            run_searches(&damaged, text, damaged.n < n ? damaged.n : n);
        } else {
            refused++;
            CHECK(strstr(report.message, which ? "fm_samples.bin" : "fm_wavelet.bin") != NULL);
            CHECK(strstr(report.message, "infgram verify") != NULL);
        }
        free(copy);
    }
    CHECK(opened > 0 && refused > 0);
    free(text);
    free(wavelet);
    free(samples);
    printf("fm_index: ok (%d damaged copies opened, %d refused)\n", opened, refused);
    return 0;
}
