/*
 * sa_search.h: exact searches over one shard of a suffix-array index.
 *
 * The data (all read-only, all from the index files; see sa_search.c for the algorithms):
 *
 *   tokens        num_positions * token_width bytes. Every token is stored big-endian in
 *                 token_width bytes (1, 2 or 4; encode.h). The last token is the document
 *                 separator, the largest id of the width, which no query holds.
 *   suffix_array  num_positions * pointer_width bytes. Entry i is the token position of the
 *                 i-th smallest suffix, little-endian in pointer_width bytes (1..8). Little-
 *                 endian hosts only.
 *   keys          optional (NULL when absent): num_keys = ceil(num_positions / key_step)
 *                 records of native uint64 values, 8-byte aligned. Record k holds the key
 *                 (encode.h) of the suffix at suffix_array entry k * key_step and, where
 *                 keys_have_pointers is 1, then that entry's value (the suffix's position),
 *                 so that a search can compare a sample's suffix without reading the suffix
 *                 array. A record is 1 value, or 2 with pointers.
 *
 * A query is query_bytes bytes of whole tokens, encoded like `tokens`. All the suffixes that
 * start with a query q form one run [lo, hi) of the suffix array; the count of q is hi - lo.
 *
 * Damaged data: every pointer read is checked against num_positions, every run end against
 * its bounds. On damage a function returns INFGRAM_DAMAGED with `report` naming the file,
 * the expected range and the value found, and has read nothing outside the buffers. Tokens
 * that are not in order (a damaged tokens.bin or suffix_keys.bin) can only make answers wrong,
 * never reads out of bounds; where that shows cheaply (a run that ends before it starts) it
 * is reported too.
 *
 * Reading from disk: where on_disk is set, the files may not be resident in memory, and a
 * page that is not costs a disk read (tens of microseconds) where a resident one costs
 * nanoseconds. The searches then take their decisions in steps that each read several rows
 * at once: every step first asks the operating system for all the pages it is about to read
 * (posix_madvise WILLNEED, which starts the reads and returns), then reads them, so that
 * the reads of one step overlap instead of queueing one behind another (see "Searching from
 * disk" in sa_search.c). Where on_disk is 0 the searches are the plain binary searches, which
 * cost nothing extra when every page is resident. Answers are the same either way.
 *
 * Threads: the view is never written by the searches; any number may run at once.
 * Memory: the searches use O(1) memory besides their outputs, except sa_next_tokens.
 *
 * Plain C99; no Python.h.
 */
#ifndef INFGRAM_SA_SEARCH_H
#define INFGRAM_SA_SEARCH_H

#include <stdint.h>

#include "status.h"

typedef struct {
    const unsigned char *tokens;       /* num_positions * token_width bytes */
    const unsigned char *suffix_array; /* num_positions * pointer_width bytes */
    int token_width;                   /* 1, 2 or 4 */
    int pointer_width;                 /* 1 .. 8 */
    int64_t num_positions;             /* tokens in the shard, separators included; >= 0 */
    const uint64_t *keys;              /* NULL, or num_keys sampled keys */
    int64_t key_step;                  /* >= 1 when keys is not NULL */
    int64_t num_keys;                  /* ceil(num_positions / key_step) */
    int keys_have_pointers;            /* 1: each key is followed by its suffix's position */
    int on_disk;                       /* 1: read the probes of each step at once (see above) */
    int64_t page_bytes;                /* the memory page size, a power of two (when on_disk) */
} sa_view;

/*
 * sa_view_check: INFGRAM_OK when the widths and key step are inside the contract above,
 * else INFGRAM_INVALID_ARGUMENT with `report` filled. Call it once before searching.
 */
int sa_view_check(const sa_view *view, damage_report *report);

/*
 * sa_view_read_from_disk: set on_disk (0 or 1) and page_bytes (the system's page size).
 */
void sa_view_read_from_disk(sa_view *view, int on_disk);

/*
 * sa_find: the run [*out_lo, *out_hi) of the entries in [lo, hi) whose suffixes start with
 * the query. Preconditions: 0 <= lo <= hi <= num_positions; query_bytes a multiple of
 * token_width (0 gives [lo, hi)). Postcondition on INFGRAM_OK: lo <= *out_lo <= *out_hi <= hi.
 * Returns INFGRAM_OK or INFGRAM_DAMAGED.
 */
int sa_find(const sa_view *view, const unsigned char *query, int64_t query_bytes, int64_t lo, int64_t hi,
            int64_t *out_lo, int64_t *out_hi, damage_report *report);

/*
 * sa_find_from: sa_find over [from, num_positions), as a find_function of find_many.h
 * (context: the sa_view). Returns INFGRAM_INVALID_ARGUMENT when query_bytes is not a
 * multiple of token_width or `from` is outside [0, num_positions].
 */
int sa_find_from(const void *view, const unsigned char *query, int64_t query_bytes, int64_t from, int64_t *out_lo,
                 int64_t *out_hi, damage_report *report);

/*
 * sa_longest_suffix: the longest suffix of the query (*length, in tokens) that occurs, and
 * its run. The empty suffix gives length 0 and the run [0, num_positions).
 * Precondition: query_bytes a multiple of token_width. Returns INFGRAM_OK or INFGRAM_DAMAGED.
 */
int sa_longest_suffix(const sa_view *view, const unsigned char *query, int64_t query_bytes, int64_t *length,
                      int64_t *out_lo, int64_t *out_hi, damage_report *report);

/*
 * sa_longest_matches: matching statistics. For every start i of the num_tokens query tokens,
 * lengths[i] = the length of the longest prefix of query[i:] that occurs and counts[i] its
 * count (0 when the length is 0). lengths and counts: num_tokens int64 each.
 * Returns INFGRAM_OK or INFGRAM_DAMAGED.
 */
int sa_longest_matches(const sa_view *view, const unsigned char *query, int64_t num_tokens, int64_t *lengths,
                       int64_t *counts, damage_report *report);

/*
 * sa_infgram_probabilities: the ∞-gram counts over a whole sequence. For every token i of the
 * num_tokens query tokens: lengths[i] = the length of the longest suffix of query[:i] that
 * occurs, prompt_counts[i] its count and counts[i] the count of it followed by token i.
 * unigram_hi (0 <= unigram_hi <= num_positions) ends the run of the empty suffix: the entries
 * from it on are separators. Outputs: num_tokens int64 each. Returns INFGRAM_OK or
 * INFGRAM_DAMAGED.
 */
int sa_infgram_probabilities(const sa_view *view, const unsigned char *query, int64_t num_tokens,
                             int64_t unigram_hi, int64_t *lengths, int64_t *prompt_counts, int64_t *counts,
                             damage_report *report);

/*
 * sa_next_tokens: the distinct tokens at offset `depth` of the suffixes of the run [lo, hi),
 * in order, with their counts. Preconditions: 0 <= lo <= hi <= num_positions, depth >= 0, and
 * every suffix of the run shares its first `depth` tokens (a query's run) and has a token at
 * `depth` (INFGRAM_INVALID_ARGUMENT when the run's first or last entry has none).
 *
 * On INFGRAM_OK, *values and *counts point to *used uint64 and int64 values allocated with
 * malloc (the caller frees both, also when *used is 0). On any other code they are NULL.
 * Memory: 16 bytes per distinct token. Returns INFGRAM_OK, INFGRAM_DAMAGED (an entry of
 * the run has no token at `depth`), INFGRAM_NO_MEMORY or INFGRAM_INVALID_ARGUMENT.
 */
int sa_next_tokens(const sa_view *view, int64_t lo, int64_t hi, int64_t depth, uint64_t **values, int64_t **counts,
                   int64_t *used, damage_report *report);

#endif
