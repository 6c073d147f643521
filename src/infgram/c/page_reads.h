/*
 * page_reads.h: asking the operating system for many pages at once, for searches that read
 * from disk (used by official_search.c; the same idea as "Searching from disk" in
 * sa_search.c, kept here so that other searches can share it).
 *
 * A binary search over a file on disk waits for one read after another. A disk answers many
 * reads at once almost as fast as one, so a k-ary search step picks several rows
 * (k_ary_probes), asks for all their pages at once (page_batch_add, then page_batch_flush:
 * posix_madvise WILLNEED starts the reads and returns), then compares, waiting for all of
 * them together. Each page is asked for once per flush, neighbouring pages in one call.
 *
 * Plain C99 (with POSIX madvise); no Python.h. Everything is static: include it in one
 * translation unit per search.
 */
#ifndef INFGRAM_PAGE_READS_H
#define INFGRAM_PAGE_READS_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The rows a k-ary step probes inside a gap of more than K_ARY_NEAR_ROWS rows, and inside a
 * smaller one (every row once at most K_ARY_NEAR_FAN_OUT are left). A large gap is cut 17-fold
 * per round. A small one (the rows between two sampled keys, when the keys have placed the
 * bound) is cut 4-fold per round, reading 3 pages of data instead of up to 31 at once: on the
 * shared virtual disk this was measured on (benchmarks/official_index.py), a round of 31 page
 * reads took longer than three rounds of 3, and counts from disk took 0.55x the time. */
#define K_ARY_FAN_OUT 16
#define K_ARY_NEAR_ROWS 32
#define K_ARY_NEAR_FAN_OUT 3
#define K_ARY_MAX_PROBES K_ARY_FAN_OUT
#define PAGE_BATCH_PAGES 1024

typedef struct {
    uintptr_t pages[PAGE_BATCH_PAGES];
    int count;
    uintptr_t page_bytes; /* a power of two */
} page_batch;

/* The system's page size (4096 where it does not say). */
static inline int64_t system_page_bytes(void) {
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (int64_t)page : 4096;
}

static int page_batch_compare(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* Ask for every page collected (sorted, once each, consecutive pages in one call), then empty. */
static void page_batch_flush(page_batch *batch) {
    qsort(batch->pages, (size_t)batch->count, sizeof(uintptr_t), page_batch_compare);
    int i = 0;
    while (i < batch->count) {
        uintptr_t start = batch->pages[i], end = start + batch->page_bytes;
        while (++i < batch->count && batch->pages[i] <= end) {
            if (batch->pages[i] == end) end += batch->page_bytes;
        }
        (void)posix_madvise((void *)start, (size_t)(end - start), POSIX_MADV_WILLNEED);
    }
    batch->count = 0;
}

/* Collect the pages of [address, address + length) (at least the page of address). */
static void page_batch_add(page_batch *batch, const unsigned char *address, int64_t length) {
    uintptr_t mask = batch->page_bytes - 1;
    uintptr_t page = (uintptr_t)address & ~mask;
    uintptr_t end = (uintptr_t)address + (uintptr_t)(length > 0 ? length : 1);
    for (; page < end; page += mask + 1) {
        if (batch->count == PAGE_BATCH_PAGES) page_batch_flush(batch);
        batch->pages[batch->count++] = page;
    }
}

/* The rows a k-ary step probes strictly between rows `left` and `right` (at most
 * K_ARY_MAX_PROBES): every one when at most K_ARY_NEAR_FAN_OUT lie between, else
 * K_ARY_NEAR_FAN_OUT or K_ARY_FAN_OUT (see above) spread evenly, in increasing order. Written
 * to `out` (when not NULL); returns how many. */
static int64_t k_ary_probes(int64_t left, int64_t right, int64_t *out) {
    int64_t span = right - left, between = span - 1;
    if (between <= 0) return 0;
    if (between <= K_ARY_NEAR_FAN_OUT) {
        for (int64_t r = 0; out && r < between; r++) out[r] = left + 1 + r;
        return between;
    }
    int fan_out = between < K_ARY_NEAR_ROWS ? K_ARY_NEAR_FAN_OUT : K_ARY_FAN_OUT;
    /* left + (k + 1) * span / (fan_out + 1), k < fan_out: increasing (span > fan_out + 1) and
     * strictly between left and right. */
    for (int k = 0; out && k < fan_out; k++) out[k] = left + ((k + 1) * span) / (fan_out + 1);
    return fan_out;
}

#endif
