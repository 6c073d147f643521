/*
 * Unit test of src/infgram/c/sais.c against a brute-force suffix sort. Built and run by
 * tests/c/test_sais_sanitizers.py under AddressSanitizer and UndefinedBehaviorSanitizer:
 *
 *   cc -std=c99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -pthread \
 *      -DINFGRAM_SAIS_INT32_MAX_LENGTH=100 -DINFGRAM_SAIS_HEAP_HOOKS -DINFGRAM_SAIS_THREAD_HOOKS \
 *      -DINFGRAM_SAIS_THREADS_MIN_LENGTH=8 -DINFGRAM_SAIS_SCAN_CHUNK=4 -DINFGRAM_SAIS_SCAN_RING_CHUNKS=2 \
 *      -Isrc/infgram/c tests/c/test_sais.c src/infgram/c/sais.c -o test_sais && ./test_sais
 *
 * and the same under ThreadSanitizer (-fsanitize=thread, run as ./test_sais --threaded).
 * INFGRAM_SAIS_HEAP_HOOKS lets the test check the heap bound of sais.h.
 * INFGRAM_SAIS_INT32_MAX_LENGTH=100 moves the 32/64-bit switch down to 100 tokens, so the
 * tests can check both sides of it. The threads' sizes are set small (a threshold of 8, chunks
 * of 4 slots, a ring of 2 chunks), so that short texts take every path of the threaded code,
 * and INFGRAM_SAIS_THREAD_HOOKS lets a test refuse helper threads. Every test runs with 1
 * thread and again with 3. Prints one line per failure and exits 1 if any failed.
 */
#include "sais.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

/* The threads every sort of a test gets (main runs the tests with 1, then 3). */
static int sort_threads = 1;

/* The sorter's thread hook (built with -DINFGRAM_SAIS_THREAD_HOOKS): helper threads start
 * while thread_starts_left is not 0 (-1: always); the rest fail, as pthread_create may. */
static int thread_starts_left = -1;
int infgram_sais_thread_start(pthread_t *thread, void *(*function)(void *), void *argument) {
    if (thread_starts_left == 0) return 1;
    if (thread_starts_left > 0) thread_starts_left--;
    return pthread_create(thread, NULL, function, argument);
}

/* The sorter's heap hooks (built with -DINFGRAM_SAIS_HEAP_HOOKS): every allocation carries
 * its size in front, so that the live bytes and their peak can be counted. */
static size_t heap_live = 0, heap_peak = 0;
static int heap_allocations = 0, heap_refused_allocation = 0; /* the one refused (1: the first); 0: none */
void *infgram_sais_heap_allocate(size_t bytes) {
    if (++heap_allocations == heap_refused_allocation) return NULL;
    size_t *block = malloc(bytes + sizeof(size_t) * 2);
    if (block == NULL) return NULL;
    block[0] = bytes;
    heap_live += bytes;
    if (heap_live > heap_peak) heap_peak = heap_live;
    return block + 2;
}
void infgram_sais_heap_release(void *memory) {
    if (memory == NULL) return;
    size_t *block = (size_t *)memory - 2;
    heap_live -= block[0];
    free(block);
}

#define CHECK(condition, ...)                          \
    do {                                               \
        if (!(condition)) {                            \
            failures++;                                \
            printf("FAIL line %d: ", __LINE__);        \
            printf(__VA_ARGS__);                       \
            printf("\n");                              \
        }                                              \
    } while (0)

/* Deterministic pseudo-random numbers (xorshift64). */
static uint64_t random_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void) {
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

static uint32_t separator_of(int width) { return width == 4 ? UINT32_MAX : (1u << (8 * width)) - 1; }

/* Token ids (as values) to big-endian bytes. */
static unsigned char *encode(const uint32_t *ids, int64_t n, int width) {
    unsigned char *bytes = malloc((size_t)(n > 0 ? n : 1) * (size_t)width);
    for (int64_t i = 0; i < n; i++)
        for (int b = 0; b < width; b++) bytes[i * width + b] = (unsigned char)(ids[i] >> (8 * (width - 1 - b)));
    return bytes;
}

/* Suffix comparison by token value; a proper prefix sorts first. */
static const uint32_t *compare_ids;
static int64_t compare_length;
static int compare_suffixes(const void *left, const void *right) {
    int64_t a = *(const int64_t *)left, b = *(const int64_t *)right;
    while (a < compare_length && b < compare_length) {
        if (compare_ids[a] != compare_ids[b]) return compare_ids[a] < compare_ids[b] ? -1 : 1;
        a++;
        b++;
    }
    return a == compare_length ? (b == compare_length ? 0 : -1) : 1;
}

static int64_t *brute_force(const uint32_t *ids, int64_t n) {
    int64_t *order = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) order[i] = i;
    compare_ids = ids;
    compare_length = n;
    qsort(order, (size_t)n, sizeof(int64_t), compare_suffixes);
    return order;
}

/* The alphabet size to pass: every value for 1- and 2-byte tokens, else the largest
 * non-separator id plus 2 (the separator reads as that plus 1). */
static int64_t alphabet_for(const uint32_t *ids, int64_t n, int width) {
    if (width < 4) return (int64_t)1 << (8 * width);
    int64_t largest = -1;
    for (int64_t i = 0; i < n; i++)
        if (ids[i] != UINT32_MAX && (int64_t)ids[i] > largest) largest = ids[i];
    return largest + 2;
}

/* The heap bound of sais.h: after a sort nothing is left, and the peak was at most
 * b * k + n / 2 words (words of `index_bytes`; b = 3 for 1- and 2-byte tokens, 2 for 4-byte
 * ones). Texts whose reduced strings leave room take exactly b * k words; `expect_exact`
 * (set by tests of such texts) checks that too. */
static int expect_exact = 0;
static void check_heap(const char *label, int64_t n, int width, int64_t alphabet, size_t index_bytes) {
    CHECK(heap_live == 0, "%s: %zu heap bytes left after the sort", label, heap_live);
    size_t buckets = (width < 4 ? 3 : 2) * (size_t)alphabet * index_bytes;
    if (sort_threads > 1 && n >= INFGRAM_SAIS_THREADS_MIN_LENGTH) /* the scans' ring */
        buckets += 3 * (size_t)INFGRAM_SAIS_SCAN_CHUNK * INFGRAM_SAIS_SCAN_RING_CHUNKS * index_bytes;
    size_t bound = buckets + (size_t)(n / 2) * index_bytes;
    CHECK(n <= 1 || heap_peak <= bound, "%s: heap peak %zu bytes above %zu (n=%lld width %d)", label, heap_peak, bound,
          (long long)n, width);
    CHECK(!expect_exact || n <= 1 || heap_peak == buckets, "%s: heap peak %zu bytes, expected %zu (n=%lld width %d)", label,
          heap_peak, buckets, (long long)n, width);
}

/* Sorts with the index width the caller would choose, and with the 64-bit one; both must
 * equal the brute-force order. With `check_sorted_only`, checks order and permutation
 * instead of the (quadratic) brute force. */
static void check_text(const char *label, const uint32_t *ids, int64_t n, int width, int check_sorted_only) {
    unsigned char *bytes = encode(ids, n, width);
    int64_t alphabet = alphabet_for(ids, n, width);
    int64_t *expected = check_sorted_only ? NULL : brute_force(ids, n);
    int64_t *wide = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    heap_peak = heap_live = 0;
    int status = infgram_sais64(bytes, width, n, alphabet, wide, sort_threads);
    CHECK(status == INFGRAM_SAIS_OK, "%s: sais64 status %d (n=%lld width %d)", label, status, (long long)n, width);
    check_heap(label, n, width, alphabet, 8);
    if (infgram_sais_index_bytes(n) == 4) {
        int32_t *narrow = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
        heap_peak = heap_live = 0;
        status = infgram_sais32(bytes, width, n, alphabet, narrow, sort_threads);
        CHECK(status == INFGRAM_SAIS_OK, "%s: sais32 status %d (n=%lld)", label, status, (long long)n);
        check_heap(label, n, width, alphabet, 4);
        for (int64_t i = 0; i < n && status == 0; i++) {
            if (narrow[i] != wide[i]) {
                CHECK(0, "%s: sais32 and sais64 differ at %lld (n=%lld width %d)", label, (long long)i, (long long)n, width);
                break;
            }
        }
        free(narrow);
    } else {
        int32_t one;
        CHECK(infgram_sais32(bytes, width, n, alphabet, &one, sort_threads) == INFGRAM_SAIS_BAD_ARGUMENT,
              "%s: sais32 accepted n=%lld above the int32 limit", label, (long long)n);
    }
    if (expected) {
        for (int64_t i = 0; i < n; i++) {
            if (wide[i] != expected[i]) {
                CHECK(0, "%s: rank %lld is %lld, expected %lld (n=%lld width %d)", label, (long long)i,
                      (long long)wide[i], (long long)expected[i], (long long)n, width);
                break;
            }
        }
    } else {
        char *seen = calloc((size_t)(n > 0 ? n : 1), 1);
        compare_ids = ids;
        compare_length = n;
        for (int64_t i = 0; i < n; i++) {
            int in_range = wide[i] >= 0 && wide[i] < n;
            CHECK(in_range && !seen[wide[i]], "%s: not a permutation at %lld", label, (long long)i);
            if (!in_range) break;
            seen[wide[i]] = 1;
            if (i > 0 && compare_suffixes(&wide[i - 1], &wide[i]) >= 0) {
                CHECK(0, "%s: ranks %lld and %lld out of order (n=%lld)", label, (long long)i - 1, (long long)i, (long long)n);
                break;
            }
        }
        free(seen);
    }
    free(expected);
    free(wide);
    free(bytes);
}

static void test_random_small_alphabets(void) {
    for (int width = 1; width <= 4; width *= 2) {
        uint32_t largest = width == 4 ? UINT32_MAX - 1 : separator_of(width) - 1;
        for (int round = 0; round < 250; round++) {
            int64_t n = 1 + (int64_t)(next_random() % 300);
            int symbols = 1 + (int)(next_random() % 4);
            /* Either the smallest ids or the largest ones below the separator. */
            uint32_t base = (next_random() & 1) ? 0 : largest - (uint32_t)symbols + 1;
            /* 4-byte ids near 2^30 would need 2^31 bucket words: large, not that large. */
            if (width == 4 && base != 0) base = 70000;
            uint32_t *ids = malloc((size_t)n * sizeof(uint32_t));
            int64_t run = 0;
            for (int64_t i = 0; i < n; i++) {
                /* Long runs of one symbol now and then. */
                if (run > 0 && next_random() % 8) {
                    ids[i] = ids[i - 1];
                    run--;
                    continue;
                }
                if (i > 0 && next_random() % 16 == 0) run = (int64_t)(next_random() % 40);
                ids[i] = next_random() % 10 == 0 ? separator_of(width) : base + (uint32_t)(next_random() % (uint64_t)symbols);
            }
            if (next_random() % 4) ids[n - 1] = separator_of(width);
            check_text("random", ids, n, width, 0);
            free(ids);
        }
    }
}

static void test_periodic_and_runs(void) {
    for (int width = 1; width <= 4; width *= 2) {
        for (int period = 1; period <= 7; period++) {
            for (int64_t n = 1; n <= 130; n += 7) {
                uint32_t *ids = malloc((size_t)n * sizeof(uint32_t));
                for (int64_t i = 0; i < n; i++) ids[i] = (uint32_t)((i % period) * 37 % 5);
                check_text("periodic", ids, n, width, 0);
                ids[n - 1] = separator_of(width);
                check_text("periodic+separator", ids, n, width, 0);
                free(ids);
            }
        }
    }
}

/* Fibonacci words and powers of a short word drive the recursion deepest. */
static void test_deep_recursion(void) {
    int64_t n = 8000;
    uint32_t *ids = malloc((size_t)n * sizeof(uint32_t));
    char *fibonacci = malloc((size_t)n + 1);
    char *previous = malloc((size_t)n + 1);
    strcpy(previous, "b");
    strcpy(fibonacci, "a");
    while ((int64_t)strlen(fibonacci) < n) {
        size_t length = strlen(fibonacci);
        char *joined = malloc(length + strlen(previous) + 1);
        strcpy(joined, fibonacci);
        strcat(joined, previous);
        strcpy(previous, fibonacci);
        strncpy(fibonacci, joined, (size_t)n);
        fibonacci[n < (int64_t)strlen(joined) ? n : (int64_t)strlen(joined)] = 0;
        free(joined);
    }
    for (int64_t i = 0; i < n; i++) ids[i] = (uint32_t)(fibonacci[i] - 'a');
    for (int width = 1; width <= 4; width *= 2) check_text("fibonacci", ids, n, width, 1);
    for (int64_t i = 0; i < n; i++) ids[i] = (uint32_t)(i % 3 == 2);
    check_text("aab power", ids, n, 2, 1);
    for (int64_t i = 0; i < n; i++) ids[i] = (uint32_t)(next_random() % 3);
    ids[n - 1] = separator_of(2);
    check_text("random long", ids, n, 2, 1);
    free(previous);
    free(fibonacci);
    free(ids);
}

/* Texts whose reduced strings have unique names. Each level below the first drops the unique
 * names that follow a unique name from its recursion (sais.c, "Unique names"): a random
 * symbol every third position gives such levels; blocks "x a" with x alternating between
 * low and high symbols, now and then a rare one, give a level with LMS positions every
 * other symbol, which leaves no room to drop them. */
static void test_unique_names_dropped(void) {
    for (int width = 1; width <= 4; width *= 2) {
        for (int round = 0; round < 80; round++) {
            int64_t n = 200 + (int64_t)(next_random() % 1800);
            int symbols = 2 + (int)(next_random() % 3);
            int alternating = round % 2;
            uint32_t *ids = malloc((size_t)n * sizeof(uint32_t));
            for (int64_t i = 0; i < n; i++) {
                if (!alternating) {
                    ids[i] = (uint32_t)(i % 3 == 2 ? next_random() % (uint64_t)symbols : (uint64_t)(i % 3));
                } else if (i % 2) {
                    ids[i] = 1;
                } else if ((i / 2) % 2) {
                    ids[i] = (uint32_t)(next_random() % 4 == 0 ? 10 + next_random() % 40 : 4 + next_random() % 2);
                } else {
                    ids[i] = (uint32_t)(2 + next_random() % 2);
                }
            }
            if (round % 4 == 3) ids[n - 1] = separator_of(width);
            check_text("unique names", ids, n, width, 0);
            free(ids);
        }
    }
}

static void test_index_width_switch(void) {
    /* The test build sets the int32 limit to 100 tokens. */
    CHECK(INFGRAM_SAIS_INT32_MAX_LENGTH == 100, "build with -DINFGRAM_SAIS_INT32_MAX_LENGTH=100");
    for (int64_t n = 95; n <= 105; n++) {
        CHECK(infgram_sais_index_bytes(n) == (n <= 100 ? 4 : 8), "index bytes for n=%lld", (long long)n);
        uint32_t *ids = malloc((size_t)n * sizeof(uint32_t));
        for (int64_t i = 0; i < n; i++) ids[i] = (uint32_t)(i % 5 == 4 ? 2 : i % 2);
        for (int width = 1; width <= 4; width *= 2) check_text("switch", ids, n, width, 0);
        free(ids);
    }
}

static void test_bad_arguments(void) {
    unsigned char bytes[8] = {0, 1, 0, 2, 0, 3, 255, 255};
    int64_t out[4];
    int32_t narrow[4];
    CHECK(infgram_sais64(bytes, 3, 2, 256, out, 1) == INFGRAM_SAIS_BAD_ARGUMENT, "width 3");
    CHECK(infgram_sais64(bytes, 1, -1, 256, out, 1) == INFGRAM_SAIS_BAD_ARGUMENT, "negative n");
    CHECK(infgram_sais64(bytes, 1, 4, 0, out, 1) == INFGRAM_SAIS_BAD_ARGUMENT, "alphabet 0");
    CHECK(infgram_sais64(bytes, 1, 4, 257, out, 1) == INFGRAM_SAIS_BAD_ARGUMENT, "alphabet 257");
    CHECK(infgram_sais64(NULL, 1, 4, 256, out, 1) == INFGRAM_SAIS_BAD_ARGUMENT, "no text");
    CHECK(infgram_sais64(bytes, 4, 2, ((int64_t)1 << 30) + 2, out, 1) == INFGRAM_SAIS_BAD_ARGUMENT, "alphabet 2^30+2");
    CHECK(infgram_sais64(bytes, 1, 0, 256, out, 1) == INFGRAM_SAIS_OK, "empty text");
    CHECK(infgram_sais64(bytes, 1, 4, 256, out, 0) == INFGRAM_SAIS_BAD_ARGUMENT, "0 threads");
    CHECK(infgram_sais32(bytes, 1, 4, 256, narrow, -2) == INFGRAM_SAIS_BAD_ARGUMENT, "-2 threads");
    CHECK(infgram_sais64(bytes, 1, 4, 256, out, 1000) == INFGRAM_SAIS_OK, "more threads than used");
    /* 2-byte ids 1, 2, 3 and the separator: below 4 (k - 1) they pass, below 3 they do not. */
    CHECK(infgram_sais64(bytes, 2, 4, 5, out, 1) == INFGRAM_SAIS_OK, "ids below k - 1");
    CHECK(out[0] == 0 && out[3] == 3, "order with a small alphabet");
    CHECK(infgram_sais64(bytes, 2, 4, 4, out, 1) == INFGRAM_SAIS_BAD_SYMBOL, "id 3 with k = 4");
    CHECK(infgram_sais32(bytes, 2, 4, 4, narrow, 1) == INFGRAM_SAIS_BAD_SYMBOL, "id 3 with k = 4 (32)");
    /* 4-byte: 0x00010002 and the separator 0xffff0003? Not a separator: a bad symbol. */
    CHECK(infgram_sais64(bytes, 4, 2, 1000, out, 1) == INFGRAM_SAIS_BAD_SYMBOL, "4-byte id above k");
    unsigned char separators[8] = {255, 255, 255, 255, 255, 255, 255, 255};
    CHECK(infgram_sais64(separators, 4, 2, 1, out, 1) == INFGRAM_SAIS_OK && out[0] == 1 && out[1] == 0,
          "only separators, k = 1");
}

/* Text of random words (Zipf-like frequencies), as natural language looks to the sorter:
 * every reduced string leaves room, so the heap peak is exactly the level-0 buckets. Long
 * enough (above the int32 limit of the test build) to run the 64-bit path alone. */
static void test_word_text(void) {
    static const char *words[] = {"the", "of", "and", "a", "to", "in", "is", "was", "that", "for", "suffix",
                                  "array", "sort", "induced", "bucket", "text", "token", "an", "on", "with"};
    int count = (int)(sizeof(words) / sizeof(words[0]));
    int64_t n = 60000;
    uint32_t *ids = malloc((size_t)n * sizeof(uint32_t));
    int64_t i = 0;
    while (i < n) {
        uint64_t draw = next_random() % 1000;
        int rank = 0;
        while (rank + 1 < count && draw < (uint64_t)(1000 / (rank + 2))) rank++;
        for (const char *c = words[count - 1 - rank]; *c && i < n; c++) ids[i++] = (uint32_t)*c;
        if (i < n) ids[i++] = next_random() % 50 ? ' ' : 0xFF;
    }
    expect_exact = 1;
    check_text("words", ids, n, 1, 1);
    check_text("words", ids, n, 2, 1);
    expect_exact = 0; /* a short text's reduced strings may not leave room */
    check_text("words", ids, 100, 1, 0); /* the int32 path too */
    free(ids);
}

/* Helpers that do not start: with none the sort runs alone, with one of two it shares the
 * scans with one; the order is the same either way. */
static void test_helpers_refused(void) {
    CHECK(INFGRAM_SAIS_THREADS_MIN_LENGTH <= 8, "build with -DINFGRAM_SAIS_THREADS_MIN_LENGTH=8");
    int64_t n = 3000;
    uint32_t *ids = malloc((size_t)n * sizeof(uint32_t));
    for (int64_t i = 0; i < n; i++) ids[i] = (uint32_t)(next_random() % 3);
    sort_threads = 3;
    for (int allowed = 0; allowed <= 1; allowed++) {
        thread_starts_left = allowed;
        check_text("helpers refused", ids, n, 1, 0);
    }
    thread_starts_left = -1;
    sort_threads = 1;
    free(ids);
}

/* Memory refused: each of the sort's allocations in turn, on one thread and on three. A
 * refused ring makes the sort run alone, with the same order; any other refusal is
 * INFGRAM_SAIS_OUT_OF_MEMORY with nothing left allocated. */
static void test_allocations_refused(void) {
    int64_t n = 3000;
    uint32_t *ids = malloc((size_t)n * sizeof(uint32_t));
    for (int64_t i = 0; i < n; i++) ids[i] = (uint32_t)(next_random() % 3);
    unsigned char *bytes = encode(ids, n, 1);
    int64_t *expected = brute_force(ids, n);
    int64_t *sa = malloc((size_t)n * sizeof(int64_t)); /* n is above the test build's int32 limit */
    for (int threads = 1; threads <= 3; threads += 2) {
        for (int refused = 1; refused <= 4; refused++) {
            heap_allocations = 0;
            heap_refused_allocation = refused;
            int status = infgram_sais64(bytes, 1, n, 256, sa, threads);
            heap_refused_allocation = 0;
            CHECK(heap_live == 0, "allocation %d refused, %d threads: %zu heap bytes left", refused, threads, heap_live);
            if (heap_allocations < refused) { /* fewer allocations than that: nothing refused */
                CHECK(status == INFGRAM_SAIS_OK, "%d threads: status %d", threads, status);
            } else if (threads > 1 && refused == 1) { /* the ring: the sort runs alone */
                CHECK(status == INFGRAM_SAIS_OK, "ring refused: status %d", status);
                int same = status == INFGRAM_SAIS_OK;
                for (int64_t i = 0; same && i < n; i++) same = sa[i] == expected[i];
                CHECK(same, "ring refused: the order differs from the brute force's");
            } else {
                CHECK(status == INFGRAM_SAIS_OUT_OF_MEMORY, "allocation %d refused, %d threads: status %d", refused,
                      threads, status);
            }
        }
    }
    free(sa);
    free(expected);
    free(bytes);
    free(ids);
}

int main(int argc, char **argv) {
    /* --threaded: with 3 threads alone, on the long texts (the ThreadSanitizer run, where
     * each helper thread's start is slow: the many short texts would take a minute). */
    int threaded = argc > 1 && strcmp(argv[1], "--threaded") == 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    test_bad_arguments();
    test_helpers_refused();
    test_allocations_refused();
    for (sort_threads = threaded ? 3 : 1; sort_threads <= 3; sort_threads += 2) {
        test_index_width_switch();
        if (!threaded) {
            test_random_small_alphabets();
            test_periodic_and_runs();
            test_unique_names_dropped();
        }
        test_deep_recursion();
        test_word_text();
    }
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("all passed\n");
    return 0;
}
