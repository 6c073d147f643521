/*
 * official_search.h: exact searches over one shard of an official infini-gram index (its
 * format version 4), read in place.
 *
 * The data (read-only, the official files as they are):
 *
 *   data    tokenized.N: data_bytes bytes. Every document is a separator (token_width bytes
 *           0xff) followed by its tokens, each little-endian in token_width bytes (1, 2 or 4).
 *   table   table.N: num_positions = data_bytes / token_width entries of pointer_width bytes
 *           (1..8), little-endian. Entry i is the BYTE offset of the i-th smallest suffix,
 *           suffixes compared as raw byte strings (memcmp order, a proper prefix first).
 *           Every offset is a multiple of token_width.
 *
 * A query is query_bytes bytes of whole tokens in the same little-endian layout. Because
 * every entry starts on a token boundary, the suffixes that start with the query's bytes are
 * exactly the occurrences of its tokens, and they form one run [lo, hi) of the table, as in
 * our own suffix arrays. What differs from sa_search.h: the order within a run is the order
 * of raw little-endian bytes, not of token ids (for 2- and 4-byte tokens), and the suffix
 * that ends the data (the last document has no separator after it) sorts first of its run.
 *
 * Damaged data: every pointer read is checked (inside the data, on a token boundary). On
 * damage a function returns INFGRAM_DAMAGED with `report` naming table.N, and has read
 * nothing outside the buffers.
 *
 * Threads: the view is never written; any number of searches may run at once.
 * Plain C99; no Python.h. Little-endian hosts only (pointers are read as such).
 */
#ifndef INFGRAM_OFFICIAL_SEARCH_H
#define INFGRAM_OFFICIAL_SEARCH_H

#include <stdint.h>

#include "status.h"

typedef struct {
    const unsigned char *data;   /* data_bytes bytes */
    const unsigned char *table;  /* num_positions * pointer_width bytes */
    int token_width;             /* 1, 2 or 4 */
    int pointer_width;           /* 1 .. 8 */
    int64_t data_bytes;          /* a multiple of token_width */
    int64_t num_positions;       /* data_bytes / token_width */
    const uint64_t *keys;        /* NULL, or num_keys records of 2 native uint64 (see below) */
    int64_t key_step;            /* >= 1 when keys is not NULL */
    int64_t num_keys;            /* ceil(num_positions / key_step) */
    int on_disk;                 /* 1: k-ary searches that ask for each step's pages at once */
    int64_t page_bytes;          /* the page size (set with on_disk) */
} official_view;

/*
 * The sampled keys (our sidecar beside the official files, the RAM tier when reading from
 * disk): record k describes table entry k * key_step: its suffix's first 8 bytes read as a
 * big-endian number (zero bytes past the end of the data), then its byte offset. Keys never
 * decrease along the table (memcmp order; a proper prefix pads with zeros, which no byte is
 * below), so they place each end of a query's run between two samples without touching the
 * disk; the offsets let a sample that ties with a longer query be compared by reading the
 * data alone. Offsets are checked like table entries.
 *
 * Reading from disk (on_disk, set with official_view_read_from_disk): each search step
 * probes several rows (page_reads.h: 16 in a large range, 3 between two sampled keys) and
 * asks for their table entries, then their data, all at once, so a step costs two rounds of
 * concurrent reads and shrinks a large range 17-fold where a binary search's step costs two
 * reads one after another and halves it. Answers are the same either way.
 */

/* INFGRAM_OK when widths and sizes are inside the contract, else INFGRAM_INVALID_ARGUMENT. */
int official_view_check(const official_view *view, damage_report *report);

/* Set on_disk (0 or 1) and page_bytes. */
void official_view_read_from_disk(official_view *view, int on_disk);

/*
 * official_find: the run [*out_lo, *out_hi) of the entries in [lo, hi) whose suffixes start
 * with the query. Preconditions: 0 <= lo <= hi <= num_positions; query_bytes a multiple of
 * token_width (0 gives [lo, hi)). Returns INFGRAM_OK or INFGRAM_DAMAGED.
 */
int official_find(const official_view *view, const unsigned char *query, int64_t query_bytes, int64_t lo, int64_t hi,
                  int64_t *out_lo, int64_t *out_hi, damage_report *report);

/* official_find over [from, num_positions), as a find_function of find_many.h. */
int official_find_from(const void *view, const unsigned char *query, int64_t query_bytes, int64_t from,
                       int64_t *out_lo, int64_t *out_hi, damage_report *report);

/*
 * official_longest_suffix: the longest suffix of the query (*length tokens) that occurs, and
 * its run; the empty suffix gives length 0 and [0, num_positions).
 */
int official_longest_suffix(const official_view *view, const unsigned char *query, int64_t query_bytes,
                            int64_t *length, int64_t *out_lo, int64_t *out_hi, damage_report *report);

/*
 * official_longest_matches: for every start i of the num_tokens query tokens, lengths[i] the
 * longest prefix of query[i:] that occurs and counts[i] its count (0 for length 0).
 */
int official_longest_matches(const official_view *view, const unsigned char *query, int64_t num_tokens,
                             int64_t *lengths, int64_t *counts, damage_report *report);

/*
 * official_infgram_probabilities: for every token i, lengths[i] the longest suffix of
 * query[:i] that occurs, prompt_counts[i] its count and counts[i] its count followed by
 * token i. The empty suffix's run is [0, unigram_hi) (the entries from unigram_hi on start
 * with a separator).
 */
int official_infgram_probabilities(const official_view *view, const unsigned char *query, int64_t num_tokens,
                                   int64_t unigram_hi, int64_t *lengths, int64_t *prompt_counts, int64_t *counts,
                                   damage_report *report);

/*
 * official_next_tokens: the distinct tokens at offset `depth` (in tokens) of the suffixes of
 * the run [lo, hi), as ids, with their counts, in the run's (byte) order. The suffix that
 * ends the data has no token there: it counts as the separator (the document ends), like
 * every suffix whose next token is the next document's separator. Preconditions: every
 * suffix of the run shares its first `depth` tokens. On INFGRAM_OK *values and *counts are
 * malloc'ed arrays of *used entries (the caller frees both); otherwise NULL.
 */
int official_next_tokens(const official_view *view, int64_t lo, int64_t hi, int64_t depth, uint64_t **values,
                         int64_t **counts, int64_t *used, damage_report *report);

#endif
