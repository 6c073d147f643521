/*
 * find_many.h: many searches at once, over any index that can find one query's run.
 *
 * The queries are searched in sorted order: consecutive searches then walk nearly the same
 * path through the index, which stays in cache, and a suffix-array search can start at the
 * previous run's start (a lexicographically larger query never has an earlier run).
 *
 * Plain C99; no Python.h.
 */
#ifndef INFGRAM_FIND_MANY_H
#define INFGRAM_FIND_MANY_H

#include <stdint.h>

#include "status.h"

/*
 * One search: the run [*lo, *hi) of the rows whose suffixes start with query[0, query_bytes).
 * `from` is a promise that no row before it starts with the query (0 when nothing is known);
 * a function may ignore it. Returns an INFGRAM_* code and fills `report` when it is not OK.
 */
typedef int (*find_function)(const void *context, const unsigned char *query, int64_t query_bytes, int64_t from,
                             int64_t *lo, int64_t *hi, damage_report *report);

/*
 * find_many: the runs of the queries. Query i is data[offsets[i], offsets[i + 1]).
 *
 *   data         data_bytes bytes holding the queries
 *   offsets      num_offsets int64 values (num_offsets >= 1: count = num_offsets - 1 queries),
 *                0 <= offsets[i] <= offsets[i + 1] <= data_bytes
 *   ranges       2 * count int64 outputs: ranges[2 i] and ranges[2 i + 1] are query i's lo and hi
 *
 * Memory: 16 bytes per query (the sort order and its merge buffer), allocated with malloc
 * and freed before returning. Time: O(count log count) query comparisons plus the searches.
 *
 * Returns INFGRAM_OK; INFGRAM_INVALID_ARGUMENT when the offsets break the rule above (nothing
 * is searched); INFGRAM_NO_MEMORY; or the first code other than INFGRAM_OK that `find`
 * returned (the later queries are not searched, their ranges are undefined).
 */
int find_many(const void *context, find_function find, const unsigned char *data, int64_t data_bytes,
              const int64_t *offsets, int64_t num_offsets, int64_t *ranges, damage_report *report);

#endif
