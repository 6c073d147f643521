/*
 * neighbours.h: "do these two suffixes begin with the same L tokens?", asked of the
 * neighbours of a suffix array (one shard) and of the suffixes of two shards in merge order.
 * The comparison behind exact-substring deduplication (apps/dedup.py), made directly on the
 * tokens instead of through an LCP array: an LCP array costs 4 to 8 bytes per token (more
 * while it is built), these functions cost nothing beyond their one-byte-per-row outputs.
 *
 * The view is sa_search.h's sa_view, one view of a shard's suffix array for every search (its
 * keys and on_disk are not used here). The data (read-only, from the index files):
 *
 *   tokens        num_positions * token_width bytes, every token big-endian (width 1, 2 or 4).
 *                 The separator, which ends every document, is the largest id of the width.
 *   suffix_array  num_positions * pointer_width bytes, entry i the little-endian position of
 *                 the i-th smallest suffix (pointer_width 1..8).
 *
 * The L-prefix key of a suffix starting at position p is the sequence of its first L tokens,
 * cut after the first separator (or at the end of the tokens, which a sound shard never
 * reaches before a separator). Keys compare lexicographically, a cut key before any longer
 * key it is a prefix of. Because a suffix array is sorted by whole suffixes and the separator
 * is the largest token, the keys of consecutive entries never decrease: sorting by the key is
 * a coarsening of the suffix order. Two suffixes *share an L-gram* when their keys are equal
 * and hold L tokens, none a separator: the same L tokens occur at both positions, inside one
 * document each.
 *
 * Damage: every pointer read is checked against num_positions and every token read against
 * the end of `tokens`. A bad pointer is reported (INFGRAM_DAMAGED, see status.h) and the
 * last position stands in for it, so the functions finish without reading out of bounds;
 * their outputs are then meaningless. Entries out of order make answers wrong, never unsafe.
 *
 * Threads: nothing here writes to the views; any number of calls may run at once.
 * Plain C99; no Python.h. Any host byte order: tokens and pointers are read byte by byte.
 */
#ifndef INFGRAM_NEIGHBOURS_H
#define INFGRAM_NEIGHBOURS_H

#include <stdint.h>

#include "sa_search.h"
#include "status.h"

/*
 * neighbours_share_prefix: for every row i of [lo, hi - 1), shared[i - lo] = 1 when the
 * suffixes of rows i and i + 1 share an L-gram (num_tokens = L), else 0.
 * Preconditions: 0 <= lo <= hi <= num_positions; num_tokens >= 1; `shared` holds
 * max(hi - lo - 1, 0) bytes. Returns INFGRAM_OK, INFGRAM_DAMAGED or INFGRAM_INVALID_ARGUMENT.
 */
int neighbours_share_prefix(const sa_view *view, int64_t lo, int64_t hi, int64_t num_tokens,
                            unsigned char *shared, damage_report *report);

/*
 * neighbours_across: a merge step between two suffix arrays of the same token width. For
 * every row i of [lo, hi) of `view`, in order, found[i - lo] = 1 when some row of `other`
 * shares an L-gram with it (num_tokens = L), else 0.
 *
 * *other_row is the merge pointer into `other`: on entry every row of `other` before it has
 * a key smaller than that of row lo (0 always qualifies); on return it is the first row of
 * `other` whose key is not smaller than that of row hi - 1, ready for a call on [hi, ...).
 * It only moves forward: a pass over all rows of both arrays costs O(rows * L) token
 * comparisons at worst, and about one or two per row on text where keys differ early.
 * Preconditions: 0 <= lo <= hi <= view->num_positions; 0 <= *other_row <= other->num_positions;
 * num_tokens >= 1; equal token widths; `found` holds hi - lo bytes.
 * Returns INFGRAM_OK, INFGRAM_DAMAGED or INFGRAM_INVALID_ARGUMENT.
 */
int neighbours_across(const sa_view *view, const sa_view *other, int64_t lo, int64_t hi,
                      int64_t num_tokens, int64_t *other_row, unsigned char *found, damage_report *report);

#endif
