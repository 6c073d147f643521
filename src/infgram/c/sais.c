/*
 * SA-IS: suffix sorting by induced sorting, in linear time.
 *
 * After Ge Nong, Sen Zhang and Wai Hong Chan, "Two Efficient Algorithms for Linear Time
 * Suffix Array Construction", IEEE Transactions on Computers 60(10), 2011 (preprint 2009).
 * Written for infgram from the paper's description; the contract is in sais.h.
 *
 * How SA-IS works
 *
 * Types. Read the text T[0..n-1] as if one more symbol followed it, a virtual sentinel
 * smaller than every symbol. Suffix i is S-type if it is smaller than suffix i+1 and L-type
 * if it is larger; the last suffix is L-type (it is larger than the empty sentinel suffix).
 * Types follow from one right-to-left scan: i is S if T[i] < T[i+1], L if T[i] > T[i+1],
 * and of the same type as i+1 if the two symbols are equal. A suffix i > 0 that is S-type
 * while i-1 is L-type is a leftmost-S suffix, "LMS". An LMS substring runs from one LMS
 * position to the next one inclusive (the last one runs to the sentinel).
 *
 * Buckets. In the suffix array, all suffixes that start with symbol c form one contiguous
 * bucket; within it the L-type suffixes come first (an L suffix c... is smaller than any S
 * suffix c... that starts with the same symbol, as the first symbol that differs from c is
 * smaller in the L suffix and larger in the S suffix).
 *
 * Induced sorting. If the LMS suffixes are placed at the ends of their buckets in their
 * correct relative order, the rest follows in two scans:
 *   - L scan, left to right: the sentinel's predecessor n-1 goes to the head of its bucket;
 *     then for every suffix j met in the array whose predecessor j-1 is L-type, j-1 goes to
 *     the next free head slot of bucket T[j-1]. Suffixes that start with the same symbol
 *     and are L-type are ordered by what follows that symbol, which was met earlier.
 *   - S scan, right to left: for every suffix j met whose predecessor j-1 is S-type, j-1
 *     goes to the next free slot from the end of bucket T[j-1], overwriting the LMS seeds.
 *
 * The recursion. The LMS suffixes' own order comes from a first round of the same induced
 * sorting, seeded with the LMS positions in any order: it sorts the LMS substrings (not the
 * suffixes). Equal neighbouring substrings get equal names, the names in text order form
 * the reduced string (at most half as long: LMS positions are never adjacent), and the
 * suffix order of the reduced string is the order of the LMS suffixes. If all names differ
 * it is read off directly; otherwise SA-IS sorts the reduced string recursively. A final
 * induced sort seeded with the sorted LMS suffixes gives the suffix array.
 *
 * This implementation
 *
 *   - Types are never stored. During the scans a sign marks what an entry still has to do:
 *     a positive entry j (j > 0) in the L scan has an L-type predecessor still to induce;
 *     a negative entry ~j has an S-type predecessor, to be induced by the S scan, which
 *     then flips the entry back to j. When a suffix p is placed, the pair T[p-1], T[p]
 *     decides its mark, because p's own type is known from the scan that places it.
 *     Entry 0 is both "empty" and "suffix 0", which never induces anything.
 *   - The first round clears every entry once it has induced its predecessor, so that
 *     only the LMS positions remain, in LMS-substring order, to be packed to the front.
 *   - Naming reads each LMS substring where it lies, with no table of lengths: most
 *     neighbours in substring order are equal, and for those it suffices to compare the
 *     previous substring's symbols and check that the symbol where it ended is S-type here
 *     too (then the types before it agree, and the substring ends there). Each substring's
 *     symbols are read a bounded number of times, so naming stays linear.
 *   - Unique names (on reduced strings, below the first level). Compare two suffixes of the
 *     reduced string symbol by symbol: a name that occurs once in it (a unique name) can't
 *     match, so every comparison ends at the first unique name at or after its start. If
 *     the name of LMS position i is unique and so is the one before it in text order, then
 *     every comparison that starts left of i ends before i, and suffix i needs no sorting:
 *     its rank is its substring's rank. Such positions are dropped from the string the level
 *     recurses on (the kept names renumbered to stay contiguous), marked in the text (the
 *     sign bit) while the recursion runs, and merged back in at their ranks. On wiki text
 *     this drops 20% of the second level's string and 65% of the third's. The idea is
 *     libsais's (Ilya Grebnov), which drops the same positions; the code here is ours.
 *   - Round 1 on bytes (the top level of a byte text) sorts by classes, and names as it sorts.
 *     A suffix i > 0 has one of four classes by its type and its predecessor's: LL, LS, SS,
 *     and SL (an LMS suffix). Only LL and SL suffixes induce in the L scan, and only LS and SS
 *     ones in the S scan, so round 1 lays the array out as two regions: region A holds, per
 *     symbol, the LL suffixes then the LMS seeds; region B, per symbol, the LS suffixes then
 *     the SS ones. The L scan reads A alone and the S scan B alone, and every entry they read
 *     induces: no empty slots, no types in the entries, no zeroing first. That frees the
 *     sign bit to mark where a group of equal LMS prefixes starts. A suffix starts a group in
 *     its sub-bucket when the suffix that induced it is in another group than the one that
 *     induced the last suffix put there; the scans count groups as they read the marks. The
 *     LMS suffixes come out of the S scan (into A's seed slots) sorted and marked, so they
 *     are named by one pass over them, with no text read. Between the scans the marks of the
 *     LS suffixes move one slot left, as the L scan marks a suffix that differs from the one
 *     on its left and the S scan reads from the right. On 55.8 MB of wiki + prose bytes this
 *     made the sort 1.18x faster on one thread (BENCHMARKS.md). The layout by classes, the
 *     marks and the naming while inducing are libsais's (Ilya Grebnov); the code is ours.
 *     Tokens of 2 and 4 bytes and reduced strings keep round 1 as described above: their
 *     alphabets would need four arrays of k words for the classes.
 *   - Round 2 seeds its buckets without reading the text when the level has room for a count
 *     of LMS positions per symbol (taken while seeding round 1): the sorted LMS suffixes come
 *     in blocks by first symbol, and each block moves whole to the end of its bucket.
 *   - The suffix array doubles as workspace: the names of the LMS substrings go to slot
 *     m + j/2 (m LMS positions, at least two apart), the reduced string
 *     to the last m slots, its suffix array to the first m slots, and the next level's
 *     bucket arrays to the unused middle when they fit (see sais.h for the memory bound).
 *   - One source serves every token width and both index widths: the template section at
 *     the end of this file is included once per (index type, symbol reader) pair.
 *   - The loops prefetch the text of entries a little ahead, since each visited suffix
 *     jumps to an unrelated place in the text.
 *
 * Threads
 *
 * The induced scans take most of the time, and most of a scan's time goes to reading the
 * text at each visited suffix (a cache miss: p = SA[i] - 1 lands anywhere). The reads are
 * what threads share; the writes stay with one thread, in scan order, since each step may
 * write a slot that a later step reads. The scan is cut into chunks of slots. Helper threads
 * claim chunks ahead of the scan in order and gather them: for each slot, the entry there
 * and, if it induces, the predecessor's symbol and marked entry, into a ring of chunks. The
 * calling thread applies the chunks in scan order: for each entry it writes what was
 * gathered into its bucket, unless the entry changed since it was gathered (an entry that a
 * step of the last few chunks wrote), which it reads again. So the result is that of the
 * single-threaded scan whatever the timing; the timing only decides who reads what. When
 * the chunk it needs is not gathered yet, the calling thread gathers the next unclaimed one
 * itself rather than wait. (libsais also splits its scans into a gathering and a placing
 * pass over blocks, there with every thread gathering a block before one places it; the
 * ring and the claims are ours.) Round 1 on bytes (by classes) shares its two scans the same
 * way, with the sub-bucket of each induced suffix as what is gathered (scan_together runs
 * both kinds). Besides the scans, two loops over a level's sorted LMS positions are cut into
 * runs, one per thread: the naming (in two passes, see name_in_parts; bytes are named in one
 * pass on the calling thread: in runs it gained 1%) and the translation of ranks to
 * positions; and the top level of wider tokens zeroes its suffix array in runs, as that is
 * mostly page faults when the array is fresh memory (round 1 on bytes does not zero it; doing
 * so in runs anyway gained nothing). On 2 cores, 55 MB of wiki text sorts about 1.5x faster
 * than on one (BENCHMARKS.md); the top level's scans gain most, the reduced strings' scans
 * least, as their writes (to millions of buckets) stay on one thread. The rest (types,
 * seeds, packing) runs on the calling thread.
 * Scans in blocks, where every thread both gathers and places a part of a run of final
 * entries (libsais's way), measured 10% slower than the ring on this 2-core machine.
 */
#ifndef INFGRAM_SAIS_TEMPLATE

#define _POSIX_C_SOURCE 200809L /* pthreads and sched_yield under -std=c99 */

#include "sais.h"

#include "prefetch.h"

#include <stdlib.h>
#include <string.h>

/* Threads need POSIX threads and the compiler's atomic builtins (GCC, Clang); elsewhere a
 * sort runs on one thread whatever it is given. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__unix__) || defined(__APPLE__))
#define SAIS_THREADS 1
#include <pthread.h>
#include <sched.h>
#else
#define SAIS_THREADS 0
#endif

/* Every heap allocation goes through these, so that a test build can count the peak and
 * check the memory bound of sais.h (tests/c/test_sais.c defines the hooks). */
#ifdef INFGRAM_SAIS_HEAP_HOOKS
void *infgram_sais_heap_allocate(size_t bytes);
void infgram_sais_heap_release(void *memory);
#define SAIS_ALLOCATE(bytes) infgram_sais_heap_allocate(bytes)
#define SAIS_RELEASE(memory) infgram_sais_heap_release(memory)
#else
#define SAIS_ALLOCATE(bytes) malloc(bytes)
#define SAIS_RELEASE(memory) free(memory)
#endif

#if SAIS_THREADS
/* Starting a helper thread goes through this, so that a test build can make it fail
 * (tests/c/test_sais.c defines the hook); a sort whose helpers do not start runs alone. */
#ifdef INFGRAM_SAIS_THREAD_HOOKS
int infgram_sais_thread_start(pthread_t *thread, void *(*function)(void *), void *argument);
#define SAIS_THREAD_START(thread, function, argument) infgram_sais_thread_start((thread), (function), (argument))
#else
#define SAIS_THREAD_START(thread, function, argument) pthread_create((thread), NULL, (function), (argument))
#endif
#define LOAD_RELAXED(address) __atomic_load_n((address), __ATOMIC_RELAXED)
#define STORE_RELAXED(address, value) __atomic_store_n((address), (value), __ATOMIC_RELAXED)
#define LOAD_ACQUIRE(address) __atomic_load_n((address), __ATOMIC_ACQUIRE)
#define STORE_RELEASE(address, value) __atomic_store_n((address), (value), __ATOMIC_RELEASE)

/* One turn of a wait for another thread: a pause, and every 1024th turn the core itself, so
 * that a waiting thread does not hold up one that is not running (more threads than cores). */
static inline void wait_a_moment(unsigned *turns) {
    if (++*turns % 1024 == 0) {
        sched_yield();
    } else {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

/* One part of a loop split into parts (see run_parts). */
typedef struct {
    void (*run)(void *task, int part);
    void *task;
    int part;
} part_job;

static void *run_part_job(void *argument) {
    part_job *job = (part_job *)argument;
    job->run(job->task, job->part);
    return NULL;
}
#endif

/* Where run `part` starts when `count` items are cut into `parts` runs: run `part` is
 * [part_start(count, part, parts), part_start(count, part + 1, parts)). Every loop cut by
 * run_parts, and every read across the cuts, takes them from here. */
static inline int64_t part_start(int64_t count, int part, int parts) {
    return count * part / parts;
}

/* Runs run(task, part) for every part 0 <= part < parts: part 0 on the calling thread, the
 * others on helper threads, and any whose helper did not start on the calling thread after
 * part 0. Returns when every part is done. */
static void run_parts(void (*run)(void *task, int part), void *task, int parts) {
#if SAIS_THREADS
    pthread_t threads[INFGRAM_SAIS_MAX_THREADS];
    part_job jobs[INFGRAM_SAIS_MAX_THREADS];
    int started[INFGRAM_SAIS_MAX_THREADS];
    for (int part = 1; part < parts; part++) {
        jobs[part].run = run;
        jobs[part].task = task;
        jobs[part].part = part;
        started[part] = SAIS_THREAD_START(&threads[part], run_part_job, &jobs[part]) == 0;
    }
    run(task, 0);
    for (int part = 1; part < parts; part++) {
        if (started[part]) {
            pthread_join(threads[part], NULL);
        } else {
            run(task, part);
        }
    }
#else
    for (int part = 0; part < parts; part++) run(task, part);
#endif
}


/* How far ahead to prefetch: SCAN_PREFETCH_DISTANCE slots in the L and S scans, and
 * PREFETCH_DISTANCE entries in the loops over the sorted LMS positions (naming, translating,
 * placing). Tuned on 20 M sp32k tokens (2-core AMD EPYC): with 64 slots ahead the scans took
 * half the time they took with 32. The scans prefetch in two stages: the text of the entry
 * SCAN_PREFETCH_DISTANCE slots ahead, and the entries themselves twice as far ahead, so that
 * the entry is in the cache when its text is prefetched. Those are sequential reads, which the
 * hardware should fetch ahead by itself; on a 2-core Intel Xeon it did not keep up, and the
 * second stage made the sort 1.09x faster on one thread (BENCHMARKS.md). */
#ifndef SCAN_PREFETCH_DISTANCE
#define SCAN_PREFETCH_DISTANCE 64
#endif
#ifndef PREFETCH_DISTANCE
#define PREFETCH_DISTANCE 32
#endif

/* Threads (see "Threads" above): a scan of at least INFGRAM_SAIS_THREADS_MIN_LENGTH slots,
 * and a naming or translating loop of at least that many LMS positions, is shared; the scans'
 * helpers gather SCAN_CHUNK slots at a time, at most SCAN_RING_CHUNKS chunks ahead of the
 * applying thread. Test builds set them small to reach every path. */
#ifndef INFGRAM_SAIS_THREADS_MIN_LENGTH
#define INFGRAM_SAIS_THREADS_MIN_LENGTH ((int64_t)1 << 18)
#endif
#ifndef INFGRAM_SAIS_SCAN_CHUNK
#define INFGRAM_SAIS_SCAN_CHUNK 8192
#endif
#ifndef INFGRAM_SAIS_SCAN_RING_CHUNKS
#define INFGRAM_SAIS_SCAN_RING_CHUNKS 16
#endif
#define SCAN_CHUNK ((int64_t)INFGRAM_SAIS_SCAN_CHUNK)
#define SCAN_RING_CHUNKS ((int64_t)INFGRAM_SAIS_SCAN_RING_CHUNKS)
#define SCAN_RING_SLOTS (SCAN_CHUNK * SCAN_RING_CHUNKS)

/* Whether a scan of n slots takes helpers, and in how many parts a loop over `count` items is
 * cut (see run_parts). */
#define SCAN_TOGETHER(space, n) (SAIS_THREADS && (space)->threads > 1 && (int64_t)(n) >= INFGRAM_SAIS_THREADS_MIN_LENGTH)
#define SHARE_PARTS(space, count) (SCAN_TOGETHER(space, count) ? (space)->threads : 1)

/* One heap workspace for every level of a sort: bucket arrays that do not fit in the suffix
 * array's unused middle. Grown (never shrunk) when a level needs more; its contents do not
 * survive a deeper level, so each level recounts its buckets after the recursion. */
typedef struct {
    void *memory;
    size_t capacity;
    int threads; /* threads a scan may use, the caller's included (1: no helpers) */
    void *ring;  /* with threads > 1: the scans' ring, 3 * SCAN_RING_SLOTS words */
} workspace;

static void *workspace_take(workspace *space, size_t bytes) {
    if (space->capacity < bytes) {
        SAIS_RELEASE(space->memory);
        space->memory = SAIS_ALLOCATE(bytes);
        space->capacity = space->memory ? bytes : 0;
    }
    return space->memory;
}

/* Whether the `bytes` bytes at a and at b are equal. LMS substrings are a few symbols long,
 * so a library memcmp call costs more than the comparison: compare 8 bytes at a time. */
static inline int same_bytes(const unsigned char *a, const unsigned char *b, size_t bytes) {
    while (bytes >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
        a += 8;
        b += 8;
        bytes -= 8;
    }
    while (bytes > 0) {
        if (*a++ != *b++) return 0;
        bytes--;
    }
    return 1;
}

/* Runs `body` with `lms` set to each LMS position of the text, right to left (types from
 * the right-to-left scan described above). A macro so that the scan is written once and
 * inlined into each loop that needs it; it expands in a template instance (SYMBOL, n). */
#define FOR_EACH_LMS_RIGHT_TO_LEFT(lms, ...)                                        \
    do {                                                                            \
        index_t next_symbol_ = SYMBOL(n - 1);                                       \
        int next_is_s_ = 0; /* suffix n-1 is L-type: the sentinel is smaller */     \
        for (index_t position_ = n - 2; position_ >= 0; position_--) {              \
            index_t symbol_ = SYMBOL(position_);                                    \
            int is_s_ = symbol_ < next_symbol_ || (symbol_ == next_symbol_ && next_is_s_); \
            if (!is_s_ && next_is_s_) {                                             \
                index_t lms = position_ + 1;                                        \
                __VA_ARGS__                                                         \
            }                                                                       \
            next_symbol_ = symbol_;                                                 \
            next_is_s_ = is_s_;                                                     \
        }                                                                           \
    } while (0)

/* Runs `body` for every position 1 <= `lms` < n, right to left, with `is_lms` 1 when it is
 * an LMS position and 0 otherwise. Types come out of comparisons, never branches: bodies
 * that write whatever the flag (and advance a cursor by it) avoid the mispredicted branch
 * per LMS position that FOR_EACH_LMS_RIGHT_TO_LEFT pays on irregular text. */
#define FOR_EACH_POSITION_RIGHT_TO_LEFT(lms, is_lms, ...)                           \
    do {                                                                            \
        index_t next_symbol_ = SYMBOL(n - 1);                                       \
        index_t next_is_s_ = 0;                                                     \
        for (index_t position_ = n - 2; position_ >= 0; position_--) {              \
            index_t symbol_ = SYMBOL(position_);                                    \
            index_t is_s_ = (index_t)(symbol_ < next_symbol_) |                     \
                            ((index_t)(symbol_ == next_symbol_) & next_is_s_);      \
            index_t is_lms = next_is_s_ & (is_s_ ^ 1);                              \
            index_t lms = position_ + 1;                                            \
            __VA_ARGS__                                                             \
            next_symbol_ = symbol_;                                                 \
            next_is_s_ = is_s_;                                                     \
        }                                                                           \
    } while (0)

#define SAIS_JOIN3_(a, b, c) a##_##b##_##c
#define SAIS_JOIN3(a, b, c) SAIS_JOIN3_(a, b, c)
#define SAIS_JOIN2_(a, b) a##_##b
#define SAIS_JOIN2(a, b) SAIS_JOIN2_(a, b)

/* Checks the arguments and the symbols; 0 when they are fine, else an INFGRAM_SAIS_ code. */
static int check_input(const unsigned char *text, int token_width, int64_t n, int64_t alphabet_size,
                       const void *suffix_array) {
    if (token_width != 1 && token_width != 2 && token_width != 4) return INFGRAM_SAIS_BAD_ARGUMENT;
    if (n < 0 || (n > 0 && (text == NULL || suffix_array == NULL))) return INFGRAM_SAIS_BAD_ARGUMENT;
    int64_t full = token_width == 4 ? ((int64_t)1 << 30) + 1 : (int64_t)1 << (8 * token_width);
    if (alphabet_size < 1 || alphabet_size > full) return INFGRAM_SAIS_BAD_ARGUMENT;
    if (token_width < 4 && alphabet_size == full) return INFGRAM_SAIS_OK; /* every value is valid */
    /* Every value must be below k - 1, or be the separator (every bit set). */
    uint32_t separator = token_width == 4 ? UINT32_MAX : (uint32_t)((1u << (8 * token_width)) - 1);
    for (int64_t position = 0; position < n; position++) {
        const unsigned char *token = text + (size_t)position * (size_t)token_width;
        uint32_t value = token[0];
        for (int byte = 1; byte < token_width; byte++) value = (value << 8) | token[byte];
        if (value != separator && (int64_t)value >= alphabet_size - 1) return INFGRAM_SAIS_BAD_SYMBOL;
    }
    return INFGRAM_SAIS_OK;
}

/* The template below is included once per index type (index_t, INDEX_BITS), and within that
 * once per symbol reader (READER): 1, 2 = big-endian tokens of that width read as they are;
 * 4 = big-endian 32-bit tokens with the separator read as `top`; 0 = the index type (a
 * reduced string). */
#define INFGRAM_SAIS_TEMPLATE 1
#define index_t int32_t
#define INDEX_BITS 32
#include "sais.c"
#undef index_t
#undef INDEX_BITS
#define index_t int64_t
#define INDEX_BITS 64
#include "sais.c"
#undef index_t
#undef INDEX_BITS
#undef INFGRAM_SAIS_TEMPLATE

int infgram_sais_index_bytes(int64_t n) {
    return n <= (int64_t)INFGRAM_SAIS_INT32_MAX_LENGTH ? 4 : 8;
}

int infgram_sais32(const unsigned char *text, int token_width, int64_t n, int64_t alphabet_size,
                   int32_t *suffix_array, int threads) {
    if (n > (int64_t)INFGRAM_SAIS_INT32_MAX_LENGTH || n > INT32_MAX) return INFGRAM_SAIS_BAD_ARGUMENT;
    return sort_text_32(text, token_width, n, alphabet_size, suffix_array, threads);
}

int infgram_sais64(const unsigned char *text, int token_width, int64_t n, int64_t alphabet_size,
                   int64_t *suffix_array, int threads) {
    return sort_text_64(text, token_width, n, alphabet_size, suffix_array, threads);
}

#elif !defined(READER) /* ---------- template, per index type: its readers and entry ---------- */

#define INDEX_NAME(base) SAIS_JOIN2(base, INDEX_BITS)

/* One threaded scan (see "Threads" at the top of the file), shared by the applying thread
 * and its helpers. The ring holds, for each slot of SCAN_RING_CHUNKS chunks, the entry a
 * gatherer saw there and what it induces: the predecessor's symbol and its marked entry.
 * stamps[chunk % SCAN_RING_CHUNKS] == chunk + 1 (stored last, with release) says that
 * chunk's ring slots are filled. Invariants: a chunk is gathered by the one thread that
 * claimed it (next_claim counts the claims, in chunk order); a gatherer writes chunk c's ring
 * slots only while c < applying + SCAN_RING_CHUNKS, so never the slots of the chunk being
 * applied, whose number `applying` the applying thread publishes (with release) once it is
 * done with the chunk before. */
typedef struct INDEX_NAME(scan_share_) {
    const unsigned char *text;
    index_t n, top;
    index_t text_length; /* n, unless the scan covers only the slots sa[0..n-1] of a longer array */
    index_t *sa;
    index_t *seen, *symbols, *marks;
    int64_t chunks;
    int64_t applying;
    int64_t next_claim;
    int direction_s;
    int64_t stamps[INFGRAM_SAIS_SCAN_RING_CHUNKS];
    void (*gather)(struct INDEX_NAME(scan_share_) *share, int64_t chunk);
} INDEX_NAME(scan_share);

/* Chunk `chunk` of a threaded scan: its first step (steps count from the scan's start, in
 * its direction), how many steps it has, and where its slots of the ring begin. */
static inline int64_t INDEX_NAME(chunk_steps)(const INDEX_NAME(scan_share) *share, int64_t chunk, int64_t *first,
                                              int64_t *ring) {
    *first = chunk * SCAN_CHUNK;
    *ring = (chunk % SCAN_RING_CHUNKS) * SCAN_CHUNK;
    return share->n - *first < SCAN_CHUNK ? share->n - *first : SCAN_CHUNK;
}

#if SAIS_THREADS
/* A helper: claims the next chunk, waits until the ring has room for it, gathers it; until
 * every chunk is claimed or the scan is over. */
static void *INDEX_NAME(help_scan)(void *argument) {
    INDEX_NAME(scan_share) *share = (INDEX_NAME(scan_share) *)argument;
    for (;;) {
        int64_t chunk = __atomic_fetch_add(&share->next_claim, 1, __ATOMIC_ACQ_REL);
        if (chunk >= share->chunks) return NULL;
        int64_t applying;
        unsigned turns = 0;
        while (chunk >= (applying = LOAD_ACQUIRE(&share->applying)) + SCAN_RING_CHUNKS && applying < share->chunks)
            wait_a_moment(&turns);
        if (applying >= share->chunks) return NULL;
        share->gather(share, chunk);
    }
}

/* Runs a threaded scan whose share the caller has filled (text, n, top, text_length, sa, the
 * ring, direction_s, gather): starts the helpers, then applies the chunks in order with
 * `apply`. Invariant: when chunk c is applied, every chunk before it was. While the chunk it
 * needs is still being gathered, the calling thread gathers one further ahead itself.
 * Returns 0 when no helper started (the caller then scans alone). */
static int INDEX_NAME(scan_together)(INDEX_NAME(scan_share) *share, workspace *space,
                                     void (*apply)(INDEX_NAME(scan_share) *share, int64_t chunk, void *state),
                                     void *state) {
    share->chunks = ((int64_t)share->n + SCAN_CHUNK - 1) / SCAN_CHUNK;
    share->applying = 0;
    share->next_claim = 0;
    for (int64_t chunk = 0; chunk < SCAN_RING_CHUNKS; chunk++) share->stamps[chunk] = 0;
    pthread_t helpers[INFGRAM_SAIS_MAX_THREADS];
    int started = 0;
    while (started < space->threads - 1 && SAIS_THREAD_START(&helpers[started], INDEX_NAME(help_scan), share) == 0)
        started++;
    if (started == 0) return 0;
    for (int64_t chunk = 0; chunk < share->chunks; chunk++) {
        STORE_RELEASE(&share->applying, chunk);
        unsigned turns = 0;
        while (LOAD_ACQUIRE(&share->stamps[chunk % SCAN_RING_CHUNKS]) != chunk + 1) {
            /* Not gathered yet: gather the next unclaimed chunk (this one, if nobody claimed
             * it) when the ring has room for it, else wait. */
            int64_t next = LOAD_ACQUIRE(&share->next_claim);
            if (next < share->chunks && next < chunk + SCAN_RING_CHUNKS &&
                __atomic_compare_exchange_n(&share->next_claim, &next, next + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                share->gather(share, next);
            } else {
                wait_a_moment(&turns);
            }
        }
        apply(share, chunk, state);
    }
    STORE_RELEASE(&share->applying, share->chunks); /* the scan is over: helpers still waiting leave */
    for (int helper = 0; helper < started; helper++) pthread_join(helpers[helper], NULL);
    return 1;
}
#endif

/* values[i] = table[values[i]] for i < count, in `parts` runs at once (see run_parts): the
 * ranks of a level's LMS suffixes to their positions. Each run prefetches within itself. */
typedef struct {
    index_t *values;
    const index_t *table;
    index_t count;
    int parts;
} INDEX_NAME(translate_task);

static void INDEX_NAME(translate_part)(void *argument, int part) {
    INDEX_NAME(translate_task) *task = (INDEX_NAME(translate_task) *)argument;
    index_t *values = task->values;
    const index_t *table = task->table;
    index_t first = (index_t)part_start(task->count, part, task->parts);
    index_t end = (index_t)part_start(task->count, part + 1, task->parts);
    for (index_t rank = first; rank < end; rank++) {
        if (rank + PREFETCH_DISTANCE < end) PREFETCH_READ(table + values[rank + PREFETCH_DISTANCE]);
        values[rank] = table[values[rank]];
    }
}

static void INDEX_NAME(translate)(index_t *values, const index_t *table, index_t count, int parts) {
    INDEX_NAME(translate_task) task = {values, table, count, parts};
    run_parts(INDEX_NAME(translate_part), &task, parts);
}

/* Zeroes values[0..count-1] in `parts` runs at once. The top level's suffix array is often
 * memory the process has not touched yet (a fresh array, a new file's map): zeroing it is
 * then mostly the kernel's page faults, which run on every thread that takes them. */
typedef struct {
    index_t *values;
    index_t count;
    int parts;
} INDEX_NAME(zero_task);

static void INDEX_NAME(zero_part)(void *argument, int part) {
    INDEX_NAME(zero_task) *task = (INDEX_NAME(zero_task) *)argument;
    index_t first = (index_t)part_start(task->count, part, task->parts);
    index_t end = (index_t)part_start(task->count, part + 1, task->parts);
    memset(task->values + first, 0, (size_t)(end - first) * sizeof(index_t));
}

static void INDEX_NAME(zero)(index_t *values, index_t count, int parts) {
    INDEX_NAME(zero_task) task = {values, count, parts};
    run_parts(INDEX_NAME(zero_part), &task, parts);
}

#define READER 0
#include "sais.c"
#undef READER
#define READER 1
#include "sais.c"
#undef READER
#define READER 2
#include "sais.c"
#undef READER
#define READER 4
#include "sais.c"
#undef READER

/* The whole sort for one index type: checks, then level 0 with the token width's reader. */
static int INDEX_NAME(sort_text)(const unsigned char *text, int token_width, int64_t n, int64_t alphabet_size,
                                 index_t *suffix_array, int threads) {
    if (threads < 1) return INFGRAM_SAIS_BAD_ARGUMENT;
    int status = check_input(text, token_width, n, alphabet_size, suffix_array);
    if (status != INFGRAM_SAIS_OK || n == 0) return status;
    workspace space = {NULL, 0, 1, NULL};
    if (SAIS_THREADS && threads > 1 && n >= INFGRAM_SAIS_THREADS_MIN_LENGTH) {
        /* Without room for the ring the sort runs alone: slower, but the same result. */
        space.ring = SAIS_ALLOCATE(3 * (size_t)SCAN_RING_SLOTS * sizeof(index_t));
        space.threads = space.ring != NULL ? (threads < INFGRAM_SAIS_MAX_THREADS ? threads : INFGRAM_SAIS_MAX_THREADS) : 1;
    }
    index_t length = (index_t)n;
    if (token_width < 4) {
        /* 1- and 2-byte tokens: the top level's counts, bucket pointers and LMS counts
         * (3 * 256 or 3 * 65536 words) get memory of their own, so that they survive the
         * recursion and the text is not counted twice. */
        index_t symbols = token_width == 1 ? 256 : 65536;
        index_t *buckets = (index_t *)SAIS_ALLOCATE(3 * (size_t)symbols * sizeof(index_t));
        if (buckets == NULL) {
            SAIS_RELEASE(space.ring); /* allocated first, when the sort has threads */
            return INFGRAM_SAIS_OUT_OF_MEMORY;
        }
        if (token_width == 1) {
            status = INDEX_NAME(sort_level_1)(text, length, symbols, 0, suffix_array, buckets, 3 * (int64_t)symbols,
                                              &space, 1);
        } else {
            status = INDEX_NAME(sort_level_2)(text, length, symbols, 0, suffix_array, buckets, 3 * (int64_t)symbols,
                                              &space, 1);
        }
        SAIS_RELEASE(buckets);
    } else {
        status = INDEX_NAME(sort_level_4)(text, length, (index_t)alphabet_size, (index_t)(alphabet_size - 1),
                                          suffix_array, NULL, 0, &space, 1);
    }
    SAIS_RELEASE(space.memory);
    SAIS_RELEASE(space.ring);
    return status;
}

#undef INDEX_NAME

#else /* ---------------- template: one (READER, index_t) instance ---------------- */

#define NAME(base) SAIS_JOIN3(base, READER, INDEX_BITS)

#if READER == 0
#define SYMBOL_BYTES ((size_t)sizeof(index_t))
#else
#define SYMBOL_BYTES ((size_t)READER)
#endif

/* The symbol at `position`. `top` is what the 32-bit separator reads as (READER 4 only). */
static inline index_t NAME(symbol)(const unsigned char *text, index_t position, index_t top) {
    (void)top;
#if READER == 0
    return ((const index_t *)text)[position];
#elif READER == 1
    return (index_t)text[position];
#elif READER == 2
    size_t at = (size_t)position * 2;
    return (index_t)(((unsigned)text[at] << 8) | text[at + 1]);
#else
    size_t at = (size_t)position * 4;
    uint32_t value = ((uint32_t)text[at] << 24) | ((uint32_t)text[at + 1] << 16) |
                     ((uint32_t)text[at + 2] << 8) | text[at + 3];
    return value == UINT32_MAX ? top : (index_t)value;
#endif
}

#define SYMBOL(position) NAME(symbol)(text, (position), top)

#if READER == 0
/* The reduced string's sorter, used by every reader's recursion. */
static int NAME(sort_level)(const unsigned char *text, index_t n, index_t alphabet_size, index_t top,
                            index_t *sa, index_t *free_slots, int64_t free_count, workspace *space,
                            int top_level);
#endif

/* Bucket boundaries from the symbol counts: the first slot of every bucket (heads), or one
 * past its last slot (ends). With counts == NULL the text is counted again into `bucket`. */
static void NAME(find_buckets)(const unsigned char *text, index_t n, index_t alphabet_size, index_t top,
                               const index_t *counts, index_t *bucket, int ends) {
    if (counts == NULL) {
        memset(bucket, 0, (size_t)alphabet_size * sizeof(index_t));
        for (index_t position = 0; position < n; position++) bucket[SYMBOL(position)]++;
        counts = bucket;
    }
    index_t sum = 0;
    for (index_t symbol = 0; symbol < alphabet_size; symbol++) {
        index_t size = counts[symbol];
        sum += size;
        bucket[symbol] = ends ? sum : sum - size;
    }
}


/* How suffix p, just placed by a scan that knows p's type, is marked (see the top of the
 * file): L-type p keeps a positive entry if p-1 is L (T[p-1] >= T[p]), else ~p; S-type p
 * gets ~p if p-1 is S (T[p-1] <= T[p]), else a positive entry. Suffix 0 is always 0. */
static inline index_t NAME(mark_l)(const unsigned char *text, index_t p, index_t symbol, index_t top) {
    if (p == 0) return 0;
    return SYMBOL(p - 1) >= symbol ? p : ~p;
}

static inline index_t NAME(mark_s)(const unsigned char *text, index_t p, index_t symbol, index_t top) {
    if (p == 0) return 0;
    return SYMBOL(p - 1) <= symbol ? ~p : p;
}

/* Whether the symbols from `position` on rise before they fall (the run of equal symbols
 * at `position` is S-type); a run that reaches the end of the text is L-type. */
static inline int NAME(rises_ahead)(const unsigned char *text, index_t n, index_t position, index_t top) {
    index_t current = SYMBOL(position);
    for (position++; position < n; position++) {
        index_t next = SYMBOL(position);
        if (next != current) return next > current;
    }
    return 0;
}

/* The length of the LMS substring at LMS position `lms`, up to and including the next LMS
 * position; 0 when there is none (it runs into the sentinel). Read left to right: from an
 * LMS position the symbols rise or stay until the first fall; after it, the next LMS position
 * is where the run of equal symbols that ends in the next rise begins (its symbols are S-type,
 * and the symbol before the run is larger). A run that never rises is L-type to the end. */
static inline index_t NAME(lms_length)(const unsigned char *text, index_t n, index_t lms, index_t top) {
    index_t position = lms + 1, current = SYMBOL(lms);
    for (; position < n; position++) {
        index_t next = SYMBOL(position);
        if (next < current) break;
        current = next;
    }
    if (position >= n) return 0;
    index_t run_start = position;
    current = SYMBOL(position);
    for (position++; position < n; position++) {
        index_t next = SYMBOL(position);
        if (next > current) return run_start - lms + 1;
        if (next < current) run_start = position;
        current = next;
    }
    return 0;
}

/* The scans prefetch the text of the entry SCAN_PREFETCH_DISTANCE slots ahead (an entry
 * that is not final yet only wastes its prefetch), and the entries twice as far ahead (see
 * SCAN_PREFETCH_DISTANCE). Prefetching the bucket pointers or the slots to be written as well
 * made the scans slower when measured, so they don't. */
static inline void NAME(prefetch_l)(const unsigned char *text, const index_t *sa, index_t n, index_t slot) {
    if (slot < n - 2 * SCAN_PREFETCH_DISTANCE) PREFETCH_READ(sa + slot + 2 * SCAN_PREFETCH_DISTANCE);
    index_t ahead = sa[slot + SCAN_PREFETCH_DISTANCE];
    if (ahead > 1) PREFETCH_READ(text + (size_t)(ahead - 2) * SYMBOL_BYTES);
}

static inline void NAME(prefetch_s)(const unsigned char *text, const index_t *sa, index_t slot) {
    if (slot >= 2 * SCAN_PREFETCH_DISTANCE) PREFETCH_READ(sa + slot - 2 * SCAN_PREFETCH_DISTANCE);
    index_t ahead = ~sa[slot - SCAN_PREFETCH_DISTANCE];
    if (ahead > 1) PREFETCH_READ(text + (size_t)(ahead - 2) * SYMBOL_BYTES);
}

/* One step of the L scan at `slot`: a positive entry induces its L-type predecessor. */
static inline void NAME(step_l)(const unsigned char *text, index_t top, index_t *sa, index_t *heads,
                                index_t slot, int clear) {
    index_t suffix = sa[slot];
    if (suffix > 0) {
        index_t p = suffix - 1; /* L-type, by the mark */
        index_t symbol = SYMBOL(p);
        sa[heads[symbol]++] = NAME(mark_l)(text, p, symbol, top);
        if (clear) sa[slot] = 0;
    }
}

/* One step of the S scan at `slot`: a negative entry induces its S-type predecessor. */
static inline void NAME(step_s)(const unsigned char *text, index_t top, index_t *sa, index_t *ends,
                                index_t slot, int clear) {
    index_t suffix = sa[slot];
    if (suffix < 0) {
        suffix = ~suffix;
        sa[slot] = clear ? 0 : suffix;
        index_t p = suffix - 1; /* S-type, by the mark */
        index_t symbol = SYMBOL(p);
        sa[--ends[symbol]] = NAME(mark_s)(text, p, symbol, top);
    }
}

#if SAIS_THREADS
/* Gathers one chunk of a threaded scan into the ring (see scan_share): for each slot, the
 * entry there now and, if it induces, what it induces. The L scan's chunks run left to
 * right from slot 0, the S scan's right to left from slot n - 1. An entry that is not final
 * yet is gathered as it is; the applying thread sees that it changed and does the step
 * itself. Entries are read with relaxed atomics, as the applying thread writes them. */
static void NAME(gather_scan_chunk)(INDEX_NAME(scan_share) *share, int64_t chunk) {
    const unsigned char *text = share->text;
    index_t n = share->n, top = share->top;
    index_t *sa = share->sa;
    int64_t first, ring, count = INDEX_NAME(chunk_steps)(share, chunk, &first, &ring);
    index_t *seen = share->seen + ring, *symbols = share->symbols + ring, *marks = share->marks + ring;
    if (!share->direction_s) {
        index_t first_slot = (index_t)first;
        for (index_t step = 0; step < (index_t)count; step++) {
            index_t slot = first_slot + step;
            if (slot < n - SCAN_PREFETCH_DISTANCE) { /* (not slot + distance: no overflow near 2^31) */
                if (slot < n - 2 * SCAN_PREFETCH_DISTANCE) PREFETCH_READ(sa + slot + 2 * SCAN_PREFETCH_DISTANCE);
                index_t ahead = LOAD_RELAXED(&sa[slot + SCAN_PREFETCH_DISTANCE]);
                if (ahead > 1) PREFETCH_READ(text + (size_t)(ahead - 2) * SYMBOL_BYTES);
            }
            index_t entry = LOAD_RELAXED(&sa[slot]);
            seen[step] = entry;
            if (entry > 0) {
                index_t symbol = SYMBOL(entry - 1);
                symbols[step] = symbol;
                marks[step] = NAME(mark_l)(text, entry - 1, symbol, top);
            }
        }
    } else {
        index_t first_slot = (index_t)(n - 1 - first);
        for (index_t step = 0; step < (index_t)count; step++) {
            index_t slot = first_slot - step;
            if (slot >= SCAN_PREFETCH_DISTANCE) {
                if (slot >= 2 * SCAN_PREFETCH_DISTANCE) PREFETCH_READ(sa + slot - 2 * SCAN_PREFETCH_DISTANCE);
                index_t ahead = ~LOAD_RELAXED(&sa[slot - SCAN_PREFETCH_DISTANCE]);
                if (ahead > 1) PREFETCH_READ(text + (size_t)(ahead - 2) * SYMBOL_BYTES);
            }
            index_t entry = LOAD_RELAXED(&sa[slot]);
            seen[step] = entry;
            if (entry < 0) {
                index_t symbol = SYMBOL(~entry - 1);
                symbols[step] = symbol;
                marks[step] = NAME(mark_s)(text, ~entry - 1, symbol, top);
            }
        }
    }
    STORE_RELEASE(&share->stamps[chunk % SCAN_RING_CHUNKS], chunk + 1);
}

/* A scan (direction_s 0: L, 1: S) with helpers (see scan_together). The calling thread
 * applies the chunks in order: the steps are those of step_l and step_s, with the text
 * already read by whoever gathered the chunk. A step depends only on the entry's value and
 * the text, so a gathered value equal to the entry now gives the step as it is now; a value
 * that differs (the slot was written since) is read again. So every chunk's entries are
 * final when it is applied, as in the single-threaded scan (induce_l, induce_s). */
typedef struct {
    index_t *bucket;
    int clear;
} NAME(induce_state);

static void NAME(apply_induced_chunk)(INDEX_NAME(scan_share) *share, int64_t chunk, void *argument) {
    NAME(induce_state) *state = (NAME(induce_state) *)argument;
    const unsigned char *text = share->text;
    index_t n = share->n, top = share->top;
    index_t *sa = share->sa, *bucket = state->bucket;
    int clear = state->clear;
    int64_t first, ring, count = INDEX_NAME(chunk_steps)(share, chunk, &first, &ring);
    index_t *seen = share->seen + ring, *symbols = share->symbols + ring, *marks = share->marks + ring;
    if (!share->direction_s) {
        for (int64_t step = 0; step < count; step++) {
            index_t slot = (index_t)(first + step);
            index_t entry = sa[slot];
            if (entry > 0) {
                index_t symbol = symbols[step], mark = marks[step];
                if (seen[step] != entry) { /* written since it was gathered */
                    symbol = SYMBOL(entry - 1);
                    mark = NAME(mark_l)(text, entry - 1, symbol, top);
                }
                STORE_RELAXED(&sa[bucket[symbol]++], mark);
                if (clear) STORE_RELAXED(&sa[slot], 0);
            }
        }
    } else {
        for (int64_t step = 0; step < count; step++) {
            index_t slot = (index_t)(n - 1 - first - step);
            index_t entry = sa[slot];
            if (entry < 0) {
                index_t symbol = symbols[step], mark = marks[step];
                if (seen[step] != entry) {
                    symbol = SYMBOL(~entry - 1);
                    mark = NAME(mark_s)(text, ~entry - 1, symbol, top);
                }
                STORE_RELAXED(&sa[slot], clear ? 0 : ~entry);
                STORE_RELAXED(&sa[--bucket[symbol]], mark);
            }
        }
    }
}

static int NAME(induce_together)(const unsigned char *text, index_t n, index_t top, index_t *sa, index_t *bucket,
                                 int clear, int direction_s, workspace *space) {
    INDEX_NAME(scan_share) share;
    index_t *ring = (index_t *)space->ring;
    share.text = text;
    share.n = n;
    share.top = top;
    share.text_length = n;
    share.sa = sa;
    share.seen = ring;
    share.symbols = ring + SCAN_RING_SLOTS;
    share.marks = ring + 2 * SCAN_RING_SLOTS;
    share.direction_s = direction_s;
    share.gather = NAME(gather_scan_chunk);
    NAME(induce_state) state = {bucket, clear};
    return INDEX_NAME(scan_together)(&share, space, NAME(apply_induced_chunk), &state);
}
#endif

/* L scan. Invariant: entries left of `slot` are final (for this round); the heads point at
 * each bucket's next free L slot, which is always right of `slot`. With `clear`, an entry is
 * zeroed once it has induced (first round: only the LMS entries must survive). */
static void NAME(induce_l)(const unsigned char *text, index_t n, index_t top, index_t *sa, index_t *heads,
                           int clear, workspace *space) {
    index_t last = n - 1; /* induced by the virtual sentinel, which sorts first */
    index_t last_symbol = SYMBOL(last);
    sa[heads[last_symbol]++] = NAME(mark_l)(text, last, last_symbol, top);
#if SAIS_THREADS
    if (SCAN_TOGETHER(space, n) && NAME(induce_together)(text, n, top, sa, heads, clear, 0, space)) return;
#else
    (void)space;
#endif
    index_t slot = 0;
    for (; slot < n - SCAN_PREFETCH_DISTANCE; slot++) {
        NAME(prefetch_l)(text, sa, n, slot);
        NAME(step_l)(text, top, sa, heads, slot, clear);
    }
    for (; slot < n; slot++) NAME(step_l)(text, top, sa, heads, slot, clear);
}

/* S scan, right to left. Invariant: entries right of `slot` are final; the ends point one
 * past each bucket's next free S slot, which is always left of `slot`. */
static void NAME(induce_s)(const unsigned char *text, index_t n, index_t top, index_t *sa, index_t *ends,
                           int clear, workspace *space) {
#if SAIS_THREADS
    if (SCAN_TOGETHER(space, n) && NAME(induce_together)(text, n, top, sa, ends, clear, 1, space)) return;
#else
    (void)space;
#endif
    index_t slot = n - 1;
    for (; slot >= SCAN_PREFETCH_DISTANCE; slot--) {
        NAME(prefetch_s)(text, sa, slot);
        NAME(step_s)(text, top, sa, ends, slot, clear);
    }
    for (; slot >= 0; slot--) NAME(step_s)(text, top, sa, ends, slot, clear);
}

/* The bucket arrays of a level: counts and bucket pointers, or the pointers alone (then
 * find_buckets recounts), and the LMS positions per bucket when three arrays fit in the free
 * slots (see place_lms_intervals). They go to the free slots when those hold them; otherwise to the
 * workspace, where the top level keeps counts (its alphabet is small next to n) and deeper
 * levels take one array rather than two, which bounds the heap at n/2 words. Counts, when
 * kept, are filled here. */
static int NAME(take_buckets)(const unsigned char *text, index_t n, index_t alphabet_size, index_t top,
                              index_t *free_slots, int64_t free_count, workspace *space, int top_level,
                              int count, index_t **counts, index_t **bucket, index_t **lms_counts) {
    size_t words = (size_t)alphabet_size;
    *lms_counts = NULL;
    if (free_count >= 2 * (int64_t)words) {
        *counts = free_slots;
        *bucket = free_slots + words;
        if (free_count >= 3 * (int64_t)words) *lms_counts = free_slots + 2 * words;
    } else if (free_count >= (int64_t)words) {
        *counts = NULL;
        *bucket = free_slots;
    } else {
        size_t want = top_level ? 2 * words : words;
        index_t *memory = (index_t *)workspace_take(space, want * sizeof(index_t));
        if (memory == NULL) return INFGRAM_SAIS_OUT_OF_MEMORY;
        *counts = top_level ? memory : NULL;
        *bucket = top_level ? memory + words : memory;
    }
    if (*counts != NULL && (count || *counts != free_slots)) {
        memset(*counts, 0, words * sizeof(index_t));
        for (index_t position = 0; position < n; position++) (*counts)[SYMBOL(position)]++;
    }
    return INFGRAM_SAIS_OK;
}

#if READER == 1
/* Round 1 by classes, for bytes (see "Round 1 on bytes" at the top of the file). A suffix
 * i > 0 has one of four classes by its type and its predecessor's: LL, LS, SL (an LMS
 * suffix) and SS, numbered 2 * (i is S) + (i-1 is S). Suffix 0 has none: it induces nothing,
 * so it is never placed. GROUP_MARK, the sign bit of an entry, says that its LMS prefix
 * differs from that of the entry read before it in its scan. */
#if INDEX_BITS == 32
#define GROUP_MARK INT32_MIN
#else
#define GROUP_MARK INT64_MIN
#endif

/* One scan of round 1 by classes over sa[first_slot .. first_slot + length - 1]: left to
 * right (the L scan over region A) putting each induced suffix at pointers[bucket]++, or
 * right to left (direction_s: the S scan over region B) at --pointers[bucket], where bucket =
 * 2 * symbol + 1 for an LS (L scan) or SS (S scan) suffix, 2 * symbol for an LL or LMS one.
 * *group counts the marks read so far; last[bucket] is the group that induced the last
 * suffix put in bucket. Invariant: the slots already passed are final, and every slot of the
 * range is written before the scan reaches it. */
static inline index_t NAME(class_bucket)(const unsigned char *text, index_t suffix, int direction_s) {
    index_t symbol = text[suffix];
    return 2 * symbol + (index_t)(direction_s ? text[suffix - 1] <= symbol : text[suffix - 1] < symbol);
}

/* Puts `suffix`, induced by an entry of group `group`, in its sub-bucket: marked when the
 * last suffix put there was induced by another group. */
static inline void NAME(put_by_class)(index_t *sa, index_t *pointers, index_t *last, index_t bucket, index_t suffix,
                                      index_t group, int direction_s) {
    index_t target = direction_s ? --pointers[bucket] : pointers[bucket]++;
    index_t value = suffix | (last[bucket] != group ? GROUP_MARK : 0);
#if SAIS_THREADS
    STORE_RELAXED(&sa[target], value); /* (helpers of a threaded scan may be reading the slot) */
#else
    sa[target] = value;
#endif
    last[bucket] = group;
}

#if SAIS_THREADS
/* Gathers one chunk of a threaded scan by classes (see scan_together): for each slot, the
 * entry and, if it induces, its sub-bucket. A slot not written yet holds anything: the text
 * is read only for a suffix inside it, and what was gathered is used only if the slot holds
 * the same value when applied, when it is the step's own. */
static void NAME(gather_classes_chunk)(INDEX_NAME(scan_share) *share, int64_t chunk) {
    const unsigned char *text = share->text;
    index_t length = share->n, text_length = share->text_length;
    index_t *sa = share->sa;
    int64_t first, ring, count = INDEX_NAME(chunk_steps)(share, chunk, &first, &ring);
    index_t *seen = share->seen + ring, *buckets = share->symbols + ring;
    int direction_s = share->direction_s;
    for (index_t step = 0; step < (index_t)count; step++) {
        index_t slot, ahead = -1;
        if (!direction_s) {
            slot = (index_t)first + step;
            if (slot < length - 2 * SCAN_PREFETCH_DISTANCE) PREFETCH_READ(sa + slot + 2 * SCAN_PREFETCH_DISTANCE);
            if (slot < length - SCAN_PREFETCH_DISTANCE) ahead = LOAD_RELAXED(&sa[slot + SCAN_PREFETCH_DISTANCE]);
        } else {
            slot = (index_t)(length - 1 - first) - step;
            if (slot >= 2 * SCAN_PREFETCH_DISTANCE) PREFETCH_READ(sa + slot - 2 * SCAN_PREFETCH_DISTANCE);
            if (slot >= SCAN_PREFETCH_DISTANCE) ahead = LOAD_RELAXED(&sa[slot - SCAN_PREFETCH_DISTANCE]);
        }
        ahead = (ahead & ~GROUP_MARK) - 2;
        if (ahead >= 0 && ahead < text_length) PREFETCH_READ(text + ahead);
        index_t entry = LOAD_RELAXED(&sa[slot]);
        seen[step] = entry;
        index_t suffix = (entry & ~GROUP_MARK) - 1;
        if (suffix >= 1 && suffix < text_length) buckets[step] = NAME(class_bucket)(text, suffix, direction_s);
    }
    STORE_RELEASE(&share->stamps[chunk % SCAN_RING_CHUNKS], chunk + 1);
}

typedef struct {
    index_t *sa; /* the whole array: the scan's share has only its range */
    index_t *pointers, *last;
    index_t group;
} NAME(classes_state);

static void NAME(apply_classes_chunk)(INDEX_NAME(scan_share) *share, int64_t chunk, void *argument) {
    NAME(classes_state) *state = (NAME(classes_state) *)argument;
    const unsigned char *text = share->text;
    index_t length = share->n, *range = share->sa;
    index_t *sa = state->sa, *pointers = state->pointers, *last = state->last;
    index_t group = state->group;
    int64_t first, ring, count = INDEX_NAME(chunk_steps)(share, chunk, &first, &ring);
    index_t *seen = share->seen + ring, *buckets = share->symbols + ring;
    int direction_s = share->direction_s;
    for (int64_t step = 0; step < count; step++) {
        index_t slot = direction_s ? (index_t)(length - 1 - first - step) : (index_t)(first + step);
        index_t entry = range[slot];
        group += entry < 0;
        index_t suffix = (entry & ~GROUP_MARK) - 1;
        if (suffix == 0) continue; /* suffix 0 is never placed */
        index_t bucket = seen[step] == entry ? buckets[step] : NAME(class_bucket)(text, suffix, direction_s);
        NAME(put_by_class)(sa, pointers, last, bucket, suffix, group, direction_s);
    }
    state->group = group;
}
#endif

static void NAME(scan_by_classes)(const unsigned char *text, index_t n, index_t *sa, index_t first_slot,
                                  index_t length, int direction_s, index_t *pointers, index_t *last, index_t *group,
                                  workspace *space) {
#if SAIS_THREADS
    if (SCAN_TOGETHER(space, length)) {
        INDEX_NAME(scan_share) share;
        index_t *ring = (index_t *)space->ring;
        share.text = text;
        share.n = length;
        share.top = 0;
        share.text_length = n;
        share.sa = sa + first_slot;
        share.seen = ring;
        share.symbols = ring + SCAN_RING_SLOTS;
        share.marks = NULL;
        share.direction_s = direction_s;
        share.gather = NAME(gather_classes_chunk);
        NAME(classes_state) state = {sa, pointers, last, *group};
        if (INDEX_NAME(scan_together)(&share, space, NAME(apply_classes_chunk), &state)) {
            *group = state.group;
            return;
        }
    }
#else
    (void)space;
#endif
    /* (The two directions are written out: one loop with the direction inside ran slower.) */
    index_t count = *group, end = first_slot + length;
    if (!direction_s) {
        for (index_t slot = first_slot; slot < end; slot++) {
            if (slot < end - 2 * SCAN_PREFETCH_DISTANCE) {
                PREFETCH_READ(sa + slot + 2 * SCAN_PREFETCH_DISTANCE);
                index_t ahead = (sa[slot + SCAN_PREFETCH_DISTANCE] & ~GROUP_MARK) - 2;
                if (ahead >= 0 && ahead < n) PREFETCH_READ(text + ahead); /* (a slot not written yet holds anything) */
            }
            index_t entry = sa[slot];
            count += entry < 0;
            index_t suffix = (entry & ~GROUP_MARK) - 1;
            if (suffix == 0) continue; /* suffix 0 is never placed */
            NAME(put_by_class)(sa, pointers, last, NAME(class_bucket)(text, suffix, 0), suffix, count, 0);
        }
    } else {
        for (index_t slot = end - 1; slot >= first_slot; slot--) {
            if (slot >= first_slot + 2 * SCAN_PREFETCH_DISTANCE) {
                PREFETCH_READ(sa + slot - 2 * SCAN_PREFETCH_DISTANCE);
                index_t ahead = (sa[slot - SCAN_PREFETCH_DISTANCE] & ~GROUP_MARK) - 2;
                if (ahead >= 0 && ahead < n) PREFETCH_READ(text + ahead);
            }
            index_t entry = sa[slot];
            count += entry < 0;
            index_t suffix = (entry & ~GROUP_MARK) - 1;
            if (suffix == 0) continue;
            NAME(put_by_class)(sa, pointers, last, NAME(class_bucket)(text, suffix, 1), suffix, count, 1);
        }
    }
    *group = count;
}

/* Sorts the LMS substrings and leaves the LMS positions in sa[0..m-1], in that order, each
 * marked (GROUP_MARK) when its substring differs from the next one's; returns m. Fills
 * counts[c] (suffixes that start with c) and, when given, lms_counts[c]. Region A, the
 * start of sa, holds per symbol the LL suffixes, then the LMS suffixes (the seeds, later the
 * sorted LMS suffixes); region B, the rest but one slot, holds per symbol the LS suffixes,
 * then the SS suffixes. Every slot of a region is written before its scan reads it, so sa
 * needs no zeroing. */
static index_t NAME(sort_lms_substrings_by_classes)(const unsigned char *text, index_t n, index_t *sa,
                                                    index_t *counts, index_t *lms_counts, workspace *space) {
    /* Counts by class, and the LMS positions in text order to the end of sa: sa[tail..n-1].
     * Region A, where they go next, ends at or before slot tail (B holds at least m - 1 LS
     * suffixes: the first of each run of L-type suffixes before an LMS position but the first). */
    index_t classes[4][256];
    memset(classes, 0, sizeof classes);
    index_t tail = n;
    {
        index_t next_symbol = text[n - 1], next_is_s = 0; /* suffix n-1 is L-type */
        for (index_t position = n - 2; position >= 0; position--) {
            index_t symbol = text[position];
            index_t is_s = (index_t)(symbol < next_symbol) | ((index_t)(symbol == next_symbol) & next_is_s);
            index_t class = 2 * next_is_s + is_s; /* of suffix position + 1 */
            classes[class][next_symbol]++;
            sa[tail - 1] = position + 1;
            tail -= class == 2;
            next_symbol = symbol;
            next_is_s = is_s;
        }
    }
    /* The regions: next[2c + 0] and next[2c + 1] are where the L scan puts its next LL and LS
     * suffix of c; ends[2c + 1] and ends[2c + 0] are one past where the S scan puts its next
     * SS and LMS suffix of c. last[] is the group of the entry that induced the last suffix
     * put there. */
    index_t next[512], ends[512], last[512], seeds[256], ls_start[256];
    index_t region_a = 0;
    for (index_t symbol = 0; symbol < 256; symbol++) {
        counts[symbol] = classes[0][symbol] + classes[1][symbol] + classes[2][symbol] + classes[3][symbol] +
                         (index_t)(text[0] == symbol);
        if (lms_counts != NULL) lms_counts[symbol] = classes[2][symbol];
        next[2 * symbol] = region_a;
        region_a += classes[0][symbol];
        seeds[symbol] = region_a;
        region_a += classes[2][symbol];
        ends[2 * symbol] = region_a;
    }
    index_t region_end = region_a;
    for (index_t symbol = 0; symbol < 256; symbol++) {
        next[2 * symbol + 1] = ls_start[symbol] = region_end;
        region_end += classes[1][symbol] + classes[3][symbol];
        ends[2 * symbol + 1] = region_end;
    }
    /* Seeds: the LMS positions in text order; the first of each symbol starts a group. */
    index_t m = n - tail;
    for (index_t slot = tail; slot < n; slot++) {
        index_t lms = sa[slot];
        sa[seeds[text[lms]]++] = lms;
    }
    for (index_t symbol = 0; symbol < 256; symbol++)
        if (classes[2][symbol] > 0) sa[seeds[symbol] - classes[2][symbol]] |= GROUP_MARK;

    /* L scan over region A. Invariant: the slots left of `slot` are final, and every slot of
     * A is written before the scan reaches it (an LL suffix is induced by a smaller suffix of
     * class LL or SL). The group count rises at each marked entry: entries with the same count
     * have the same LMS prefix, so a suffix starts a group in its sub-bucket exactly when the
     * group of the suffix that induces it differs from that of the last one put there. */
    for (index_t bucket = 0; bucket < 512; bucket++) last[bucket] = -1;
    index_t group = 0; /* the virtual sentinel's: it induces suffix n-1 */
    NAME(put_by_class)(sa, next, last, NAME(class_bucket)(text, n - 1, 0), n - 1, group, 0);
    NAME(scan_by_classes)(text, n, sa, 0, region_a, 0, next, last, &group, space);
    /* The LS suffixes were put left to right, each marked when it differs from the one on its
     * left; the S scan reads right to left, so move each mark one slot left (the last of a
     * symbol is marked: the next slot holds an SS suffix or another symbol). */
    for (index_t symbol = 0; symbol < 256; symbol++) {
        index_t carry = GROUP_MARK;
        for (index_t slot = next[2 * symbol + 1] - 1; slot >= ls_start[symbol]; slot--) {
            index_t entry = sa[slot];
            sa[slot] = (entry & ~GROUP_MARK) | carry;
            carry = entry & GROUP_MARK;
        }
    }
    /* S scan over region B, right to left. Invariant: the slots right of `slot` are final;
     * every slot of B is written before the scan reaches it. LMS suffixes go to region A's
     * seed slots, which the L scan has read. */
    for (index_t bucket = 0; bucket < 512; bucket++) last[bucket] = -1;
    NAME(scan_by_classes)(text, n, sa, region_a, region_end - region_a, 1, ends, last, &group, space);
    /* The sorted LMS suffixes, marked where the next one differs, to sa[0..m-1]. */
    index_t packed = 0;
    for (index_t symbol = 0; symbol < 256; symbol++) {
        index_t size = classes[2][symbol];
        memmove(sa + packed, sa + ends[2 * symbol], (size_t)size * sizeof(index_t));
        packed += size;
    }
    return m;
}

/* Names the LMS substrings sorted and marked by sort_lms_substrings_by_classes into their
 * name slots by_position[lms / 2], and clears the marks; returns how many names. A name
 * rises after each marked entry. */
static index_t NAME(name_marked)(index_t *sa, index_t m, index_t *by_position) {
    index_t names = 0, rises = 1;
    for (index_t rank = 0; rank < m; rank++) {
        if (rank + PREFETCH_DISTANCE < m) PREFETCH_WRITE(by_position + (sa[rank + PREFETCH_DISTANCE] & ~GROUP_MARK) / 2);
        index_t entry = sa[rank], lms = entry & ~GROUP_MARK;
        names += rises;
        by_position[lms / 2] = names;
        sa[rank] = lms;
        rises = entry < 0;
    }
    return names;
}
#undef GROUP_MARK
#endif

#if READER == 0
/* Dropping unique names from the recursion (reduced strings only; see "Unique names" at the
 * top of the file). A reduced string is the level above's own memory, so a level may mark it:
 * the sign bit of text[lms] says that LMS position lms was dropped (names are never negative). */
#if INDEX_BITS == 32
#define DROPPED_MARK INT32_MIN
#else
#define DROPPED_MARK INT64_MIN
#endif

/* Over the names at slot m + lms/2, in text order: a unique name (stored negative by the
 * naming) whose previous LMS position in text order also has a unique name is dropped and
 * stays negative; every other name is made positive again. Returns how many were dropped. */
static index_t NAME(mark_dropped)(index_t *by_position, index_t slots) {
    index_t dropped = 0, previous_unique = 0;
    for (index_t slot = 0; slot < slots; slot++) {
        index_t name = by_position[slot];
        index_t unique = name < 0;
        index_t drop = unique & previous_unique;
        by_position[slot] = drop || name >= 0 ? name : -name;
        dropped += drop;
        previous_unique = name != 0 ? unique : previous_unique; /* 0: not an LMS position */
    }
    return dropped;
}

/* In substring order: a dropped LMS position keeps its slot in sa[0..m-1], which is its final
 * rank (its substring is unique), is marked in the text and leaves no name behind; a kept
 * one leaves a hole (0) in sa and takes its name less the dropped names below it, so that the
 * kept names run 1..names-dropped. */
static void NAME(renumber_kept)(unsigned char *text, index_t *sa, index_t m, index_t *by_position) {
    index_t *symbols = (index_t *)text;
    index_t dropped = 0;
    for (index_t rank = 0; rank < m; rank++) {
        if (rank + PREFETCH_DISTANCE < m) {
            index_t ahead = sa[rank + PREFETCH_DISTANCE];
            PREFETCH_WRITE(by_position + ahead / 2);
            PREFETCH_WRITE(symbols + ahead);
        }
        index_t lms = sa[rank];
        index_t name = by_position[lms / 2];
        if (name < 0) {
            dropped++;
            symbols[lms] |= DROPPED_MARK;
            by_position[lms / 2] = 0;
        } else {
            by_position[lms / 2] = name - dropped;
            sa[rank] = 0;
        }
    }
}

/* The kept LMS positions in text order, to the slots that end at `end`; clears the marks of
 * the dropped ones on the way (the types need the plain symbols). */
static void NAME(gather_kept)(unsigned char *text, index_t n, index_t *end) {
    index_t *symbols = (index_t *)text;
    index_t next_raw = symbols[n - 1];
    index_t next_symbol = next_raw & ~DROPPED_MARK;
    index_t next_is_s = 0; /* suffix n-1 is L-type */
    index_t *fill = end;
    for (index_t position = n - 2; position >= 0; position--) {
        index_t raw = symbols[position];
        index_t symbol = raw & ~DROPPED_MARK;
        index_t is_s = (index_t)(symbol < next_symbol) | ((index_t)(symbol == next_symbol) & next_is_s);
        index_t is_lms = next_is_s & (is_s ^ 1);
        index_t dropped = next_raw < 0;
        if (dropped) symbols[position + 1] = next_symbol;
        fill[-1] = position + 1;
        fill -= is_lms & (dropped ^ 1);
        next_raw = raw;
        next_symbol = symbol;
        next_is_s = is_s;
    }
}
#undef DROPPED_MARK
#endif

/* Whether the LMS substring at `lms` equals `previous`, the one ranked before it (NULL:
 * none), whose length is *length; sets *length to this one's length. On reduced strings
 * (READER 0) the length is in its name slot. Elsewhere most neighbours are equal: check the
 * previous one's symbols, and that this substring ends where the previous one did (the
 * symbol there is S-type); read its length only when it differs. A substring that runs into
 * the sentinel (length 0) equals no other. */
static inline int NAME(same_substring)(const unsigned char *text, index_t n, index_t top, index_t lms,
                                       const unsigned char *previous, index_t *length, const index_t *by_position) {
    const unsigned char *substring = text + (size_t)lms * SYMBOL_BYTES;
#if READER == 0
    (void)n;
    (void)top;
    index_t own = by_position[lms / 2];
    int same = own == *length && own > 0 && same_bytes(substring, previous, (size_t)own * SYMBOL_BYTES);
    *length = own;
#else
    (void)by_position;
    int same = *length > 0 && *length <= n - lms && /* no overflow near 2^31 */
               same_bytes(substring, previous, (size_t)*length * SYMBOL_BYTES) &&
               NAME(rises_ahead)(text, n, lms + *length - 1, top);
    if (!same) *length = NAME(lms_length)(text, n, lms, top);
#endif
    return same;
}

#if READER != 1 /* (bytes are named as round 1 sorts them: name_marked) */
/* Names the LMS substrings, sorted in sa[0..m-1], into their name slots by_position[lms / 2]
 * (see sort_level); returns how many names. On reduced strings (READER 0) the slots hold
 * the substrings' lengths on entry, and unique names are marked negative. */
static index_t NAME(name_substrings)(const unsigned char *text, index_t n, index_t top, const index_t *sa, index_t m,
                                     index_t *by_position) {
    index_t names = 0, previous_length = 0;
    const unsigned char *previous = NULL;
#if READER == 0
    /* A name is unique when its substring differs from both neighbours in substring
     * order: the naming marks it negative, one step late. */
    index_t previous_lms = 0;
    int previous_differs = 0;
#endif
    for (index_t rank = 0; rank < m; rank++) {
        index_t lms = sa[rank];
        if (rank + PREFETCH_DISTANCE < m) {
            index_t ahead = sa[rank + PREFETCH_DISTANCE];
            PREFETCH_READ(text + (size_t)ahead * SYMBOL_BYTES);
            PREFETCH_WRITE(by_position + ahead / 2);
        }
        const unsigned char *substring = text + (size_t)lms * SYMBOL_BYTES;
        int same = NAME(same_substring)(text, n, top, lms, previous, &previous_length, by_position);
        if (!same) names++;
        by_position[lms / 2] = names;
#if READER == 0
        if (!same && previous_differs) by_position[previous_lms / 2] = -(names - 1);
        previous_differs = !same;
        previous_lms = lms;
#endif
        previous = substring;
    }
#if READER == 0
    if (previous_differs) by_position[previous_lms / 2] = -names;
#endif
    return names;
}

/* Naming on several threads: the same names as name_substrings, in two passes over the ranks
 * cut into `parts` runs. Pass 1: each run compares each substring with the one ranked before
 * it (a run's first with the last of the run before, whose position and length were read
 * before the pass), flags each that differs by storing its position complemented (~lms: an
 * LMS position is at least 1, so the flagged entry is negative) in sa[rank], and counts them.
 * Pass 2: with the counts of the runs before, each run turns its flags into names, restores
 * sa[rank], and on reduced strings marks a name unique when both its flag and the next rank's
 * are set (the flag after a run's end was read between the passes; after the last rank it
 * counts as set). The flags go where the ranks are read in order, rather than to the name
 * slots, so that each name slot is touched once: the slots lie anywhere, the ranks in a row.
 * Invariant: during a pass, a run reads and writes sa[] only within its own ranks. */
typedef struct {
    const unsigned char *text;
    index_t n, top, m;
    index_t *sa;
    index_t *by_position;
    int parts, pass;
    index_t previous_positions[INFGRAM_SAIS_MAX_THREADS];
    index_t previous_lengths[INFGRAM_SAIS_MAX_THREADS];
    index_t fresh[INFGRAM_SAIS_MAX_THREADS];
    index_t names_before[INFGRAM_SAIS_MAX_THREADS];
    index_t fresh_after[INFGRAM_SAIS_MAX_THREADS];
} NAME(naming_task);

static void NAME(name_part)(void *argument, int part) {
    NAME(naming_task) *task = (NAME(naming_task) *)argument;
    const unsigned char *text = task->text;
    index_t n = task->n, top = task->top, m = task->m;
    index_t *sa = task->sa;
    index_t *by_position = task->by_position;
    index_t first = (index_t)part_start(m, part, task->parts);
    index_t end = (index_t)part_start(m, part + 1, task->parts);
    if (task->pass == 1) {
        index_t previous_length = part > 0 ? task->previous_lengths[part] : 0, fresh = 0;
        const unsigned char *previous = part > 0 ? text + (size_t)task->previous_positions[part] * SYMBOL_BYTES : NULL;
        for (index_t rank = first; rank < end; rank++) {
            index_t lms = sa[rank];
            if (rank + PREFETCH_DISTANCE < end) {
                index_t ahead = sa[rank + PREFETCH_DISTANCE];
                PREFETCH_READ(text + (size_t)ahead * SYMBOL_BYTES);
#if READER == 0
                PREFETCH_READ(by_position + ahead / 2); /* the substring's length */
#endif
            }
            int same = NAME(same_substring)(text, n, top, lms, previous, &previous_length, by_position);
            sa[rank] = same ? lms : ~lms;
            fresh += !same;
            previous = text + (size_t)lms * SYMBOL_BYTES;
        }
        task->fresh[part] = fresh;
    } else {
        index_t names = task->names_before[part];
        for (index_t rank = first; rank < end; rank++) {
            if (rank + PREFETCH_DISTANCE < end) {
                index_t ahead = sa[rank + PREFETCH_DISTANCE];
                PREFETCH_WRITE(by_position + (ahead < 0 ? ~ahead : ahead) / 2);
            }
            index_t entry = sa[rank];
            index_t is_fresh = entry < 0, lms = is_fresh ? ~entry : entry;
            names += is_fresh;
            sa[rank] = lms;
#if READER == 0
            index_t next_fresh = rank + 1 < end ? sa[rank + 1] < 0 : task->fresh_after[part];
            by_position[lms / 2] = is_fresh & next_fresh ? -names : names;
#else
            by_position[lms / 2] = names;
#endif
        }
    }
}

static index_t NAME(name_in_parts)(const unsigned char *text, index_t n, index_t top, index_t *sa, index_t m,
                                   index_t *by_position, int parts) {
    NAME(naming_task) task;
    task.text = text;
    task.n = n;
    task.top = top;
    task.m = m;
    task.sa = sa;
    task.by_position = by_position;
    task.parts = parts < m ? parts : (int)m; /* no empty run */
    for (int part = 1; part < task.parts; part++) {
        index_t previous = sa[part_start(m, part, task.parts) - 1];
        task.previous_positions[part] = previous;
#if READER == 0
        task.previous_lengths[part] = by_position[previous / 2];
#else
        task.previous_lengths[part] = NAME(lms_length)(text, n, previous, top);
#endif
    }
    task.pass = 1;
    run_parts(NAME(name_part), &task, task.parts);
    index_t names = 0;
    for (int part = 0; part < task.parts; part++) {
        task.names_before[part] = names;
        names += task.fresh[part];
        task.fresh_after[part] = part + 1 < task.parts ? sa[part_start(m, part + 1, task.parts)] < 0 : 1;
    }
    task.pass = 2;
    run_parts(NAME(name_part), &task, task.parts);
    return names;
}

#endif

/* Round 2's seeds without reading the text: the sorted LMS suffixes in sa[0..m-1] come in
 * blocks by first symbol, lms_counts[c] of them for symbol c, and each block moves whole to
 * the end of its bucket (ends[c] is one past it). Blocks move up (a block's start, the LMS
 * suffixes below symbol c, is at most the bucket's start, the suffixes below c), so going
 * from the last symbol down, a block only lands on slots already moved or free; the rest of
 * each bucket is zeroed (sa[m..n-1] may hold anything). */
static void NAME(place_lms_intervals)(index_t *sa, index_t n, index_t m, index_t alphabet_size,
                                      const index_t *ends, const index_t *lms_counts) {
    index_t source_end = m; /* one past the block of the symbol at hand */
    index_t free_end = n;   /* slots at and above it are placed */
    for (index_t symbol = alphabet_size - 1; symbol >= 0; symbol--) {
        index_t size = lms_counts[symbol];
        index_t end = ends[symbol];
        index_t start = end - size;
        memset(sa + end, 0, (size_t)(free_end - end) * sizeof(index_t));
        if (size > 0 && start != source_end - size)
            memmove(sa + start, sa + (source_end - size), (size_t)size * sizeof(index_t));
        source_end -= size;
        free_end = start;
    }
    memset(sa, 0, (size_t)free_end * sizeof(index_t));
}

/* Sorts the text's suffixes into sa[0..n-1]. free_slots/free_count: unused words that this
 * level may use for its buckets (the middle of the level above's array). */
static int NAME(sort_level)(const unsigned char *text, index_t n, index_t alphabet_size, index_t top,
                     index_t *sa, index_t *free_slots, int64_t free_count, workspace *space, int top_level) {
    if (n == 1) {
        sa[0] = 0;
        return INFGRAM_SAIS_OK;
    }
    index_t *counts, *bucket, *lms_counts;
    int status = NAME(take_buckets)(text, n, alphabet_size, top, free_slots, free_count, space, top_level,
                                    READER != 1, &counts, &bucket, &lms_counts);
    if (status != INFGRAM_SAIS_OK) return status;

#if READER == 1
    index_t m = NAME(sort_lms_substrings_by_classes)(text, n, sa, counts, lms_counts, space);
#else
    /* Round 1: sort the LMS substrings. Seeds at their bucket ends, in text order. */
    INDEX_NAME(zero)(sa, n, top_level ? SHARE_PARTS(space, n) : 1);
    NAME(find_buckets)(text, n, alphabet_size, top, counts, bucket, 1);
    index_t m = 0;
    FOR_EACH_LMS_RIGHT_TO_LEFT(lms, { sa[--bucket[SYMBOL(lms)]] = lms; m++; });
    if (lms_counts != NULL) { /* (counts != NULL too: lms_counts come only with both arrays) */
        index_t end = 0;
        for (index_t symbol = 0; symbol < alphabet_size; symbol++) {
            end += counts[symbol];
            lms_counts[symbol] = end - bucket[symbol];
        }
    }
    NAME(find_buckets)(text, n, alphabet_size, top, counts, bucket, 0);
    NAME(induce_l)(text, n, top, sa, bucket, 1, space);
    NAME(find_buckets)(text, n, alphabet_size, top, counts, bucket, 1);
    NAME(induce_s)(text, n, top, sa, bucket, 1, space);
#endif

    if (m > 0) {
#if READER != 1
        /* Only the LMS positions are left (nonzero), in LMS-substring order: pack them. */
        index_t packed = 0;
        for (index_t slot = 0; slot < n; slot++) { /* packed <= slot: overwrites only read slots */
            index_t entry = sa[slot];
            sa[packed] = entry;
            packed += entry > 0;
        }
#endif
        /* Names, at slot m + lms/2 (free: m <= (n-1)/2, and m + (n-2)/2 < n; a slot holds at
         * most one LMS position, as they are at least two apart). Neighbours in substring
         * order share a name if their substrings are equal (same length and symbols; the
         * types then agree too, as both end at an LMS). Names are stored plus one, so that 0
         * still means "not an LMS position". On the first level a substring's length is found
         * by reading it (lms_length) rather than kept, as the comparison reads it anyway and
         * 96% of neighbours are equal there. On reduced strings, where far more differ, one
         * pass over the text first puts each substring's length in its name slot. A substring
         * that runs into the sentinel (length 0) equals no other. */
        index_t *by_position = sa + m;
        index_t name_slots = (n - 1) / 2 + 1; /* lms / 2 for lms < n; at most n - m */
        memset(by_position, 0, (size_t)name_slots * sizeof(index_t));
#if READER == 0
        {
            index_t next_lms = 0;
            FOR_EACH_POSITION_RIGHT_TO_LEFT(lms, is_lms, {
                index_t value = next_lms > 0 ? next_lms - lms + 1 : 0;
                index_t *slot = by_position + lms / 2;
                *slot = is_lms ? value : *slot;
                next_lms = is_lms ? lms : next_lms;
            });
        }
#endif
#if READER == 1
        index_t names = NAME(name_marked)(sa, m, by_position);
#else
        int parts = SHARE_PARTS(space, m);
        index_t names = parts > 1 ? NAME(name_in_parts)(text, n, top, sa, m, by_position, parts)
                                  : NAME(name_substrings)(text, n, top, sa, m, by_position);
#endif
#if READER == 0
        /* Drop unique names from the recursion when enough of them go: the dropped ranks stay
         * in sa[0..m-1], and the level below works in sa[m..n-1] (its suffix array, its free
         * slots, then its string), which needs m + 2 * kept < n. Otherwise undo the marks. */
        index_t dropped = names < m ? NAME(mark_dropped)(by_position, name_slots) : 0;
        int drop = dropped > 0 && (int64_t)m + 2 * (int64_t)(m - dropped) < (int64_t)n;
        if (drop) {
            NAME(renumber_kept)((unsigned char *)text, sa, m, by_position);
        } else {
            dropped = 0;
            for (index_t slot = 0; slot < name_slots; slot++) {
                index_t name = by_position[slot];
                by_position[slot] = name < 0 ? -name : name;
            }
        }
        index_t kept = m - dropped;
#else
        const int drop = 0; /* a level-0 text is the caller's, and has few unique names */
        const index_t kept = m;
#endif
        /* The reduced string: the names in text order (the kept ones), packed into the last
         * `kept` slots (writing from the top down never overtakes the reading). */
        index_t *reduced = sa + (n - kept);
        index_t write = n - 1;
        for (index_t slot = m + name_slots - 1; slot >= m; slot--) { /* write >= slot: only read slots */
            index_t entry = sa[slot];
            sa[write] = entry - 1;
            write -= entry > 0;
        }
        if (drop) {
#if READER == 0
            index_t *ranked = sa + m;
            status = NAME(sort_level)((const unsigned char *)reduced, kept, names - dropped, 0, ranked, ranked + kept,
                                      (int64_t)(n - m - 2 * kept), space, 0);
            if (status != INFGRAM_SAIS_OK) return status;
            /* ranked[] holds indices among the kept LMS positions in text order: translate,
             * then fill the holes of sa[0..m-1] with them in order. gather_kept writes below
             * the kept positions down to slot n - kept - 1, which m + 2 * kept < n keeps
             * clear of ranked[]. */
            NAME(gather_kept)((unsigned char *)text, n, sa + n);
            INDEX_NAME(translate)(ranked, reduced, kept, SHARE_PARTS(space, kept));
            index_t next = 0;
            for (index_t rank = 0; rank < m; rank++) { /* next <= rank < m: reads stay in ranked[] */
                index_t entry = sa[rank];
                index_t hole = entry == 0;
                sa[rank] = hole ? ranked[next] : entry;
                next += hole;
            }
#endif
        } else if (names < m) {
            status = SAIS_JOIN3(sort_level, 0, INDEX_BITS)((const unsigned char *)reduced, m, names, 0, sa, sa + m,
                                                               (int64_t)(n - 2 * m), space, 0);
            if (status != INFGRAM_SAIS_OK) return status;
        } else {
            for (index_t rank = 0; rank < m; rank++) sa[reduced[rank]] = rank;
        }
        if (!drop) {
            /* sa[0..m-1] ranks the LMS suffixes by their index in text order: translate the
             * indices to positions, kept (in text order) where the reduced string was. */
            index_t fill = n;
            /* fill - 1 >= n - m - 1 >= m: a non-LMS write lands on a slot still to be filled,
             * or on the unused slot n - m - 1, never on the ranks in sa[0..m-1]. */
            FOR_EACH_POSITION_RIGHT_TO_LEFT(lms, is_lms, {
                sa[fill - 1] = lms;
                fill -= is_lms;
            });
            INDEX_NAME(translate)(sa, reduced, m, SHARE_PARTS(space, m));
        }
        if (lms_counts == NULL) memset(sa + m, 0, (size_t)(n - m) * sizeof(index_t));
    }

    /* The recursion may have reused the workspace: take the buckets again and recount, unless
     * the counts are in this level's free slots, which deeper levels leave alone. */
    status = NAME(take_buckets)(text, n, alphabet_size, top, free_slots, free_count, space, top_level, 0,
                                &counts, &bucket, &lms_counts);
    if (status != INFGRAM_SAIS_OK) return status;

    /* Round 2: the sorted LMS suffixes to their bucket ends, largest first (the slot a
     * suffix moves to is never left of the one it leaves), then induce the rest. */
    NAME(find_buckets)(text, n, alphabet_size, top, counts, bucket, 1);
    if (lms_counts != NULL) {
        NAME(place_lms_intervals)(sa, n, m, alphabet_size, bucket, lms_counts);
    } else {
        for (index_t rank = m - 1; rank >= 0; rank--) {
            if (rank >= PREFETCH_DISTANCE) PREFETCH_READ(text + (size_t)sa[rank - PREFETCH_DISTANCE] * SYMBOL_BYTES);
            index_t lms = sa[rank];
            sa[rank] = 0;
            sa[--bucket[SYMBOL(lms)]] = lms;
        }
    }
    NAME(find_buckets)(text, n, alphabet_size, top, counts, bucket, 0);
    NAME(induce_l)(text, n, top, sa, bucket, 0, space);
    NAME(find_buckets)(text, n, alphabet_size, top, counts, bucket, 1);
    NAME(induce_s)(text, n, top, sa, bucket, 0, space);
    return INFGRAM_SAIS_OK;
}

#undef SYMBOL
#undef SYMBOL_BYTES
#undef NAME

#endif
