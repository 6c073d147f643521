/*
 * infgram's suffix sorter: SA-IS (induced sorting) over a token alphabet.
 *
 * Algorithm: Ge Nong, Sen Zhang and Wai Hong Chan, "Two Efficient Algorithms for Linear
 * Time Suffix Array Construction", IEEE Transactions on Computers 60(10), 2011 (preprint
 * 2009). sais.c explains the algorithm and this implementation of it.
 *
 * Plain C99 with POSIX threads; no Python. The functions are reentrant and keep no global
 * state, so separate texts may be sorted on separate threads at once.
 *
 * Input
 *   text          n tokens of token_width (1, 2 or 4) bytes each, big-endian, so tokens
 *                 compare as their bytes compare with memcmp: n * token_width bytes.
 *   alphabet_size k, the number of symbols. The value with every bit set (255, 65535 or
 *                 2^32 - 1: infgram's separator) reads as symbol k - 1; every other token
 *                 value must be below k - 1. So 256 (1-byte) or 65536 (2-byte tokens) accepts
 *                 every value. Since the separator is the largest value of the width, reading
 *                 it as k - 1 keeps the order of the tokens: the result is the suffix array of
 *                 the token values as they are.
 *                 Bounds: 1 <= k <= 2^(8 * token_width) for 1- and 2-byte tokens,
 *                 1 <= k <= 2^30 + 1 for 4-byte tokens.
 *   threads       how many threads the sort may use, the caller's included (at least 1; at
 *                 most INFGRAM_SAIS_MAX_THREADS are used). With more than one, each induced
 *                 scan of a level of at least INFGRAM_SAIS_THREADS_MIN_LENGTH symbols
 *                 (default 2^18, set in sais.c) runs with threads - 1 helper threads, which
 *                 read the text ahead of the caller's thread, and the naming and translating
 *                 loops of a level with at least that many LMS positions are cut into one run
 *                 per thread, as is the zeroing of a suffix_array of at least that many
 *                 entries with 2- and 4-byte tokens (1-byte tokens need no zeroing;
 *                 sais.c, "Threads"). The result is the same for any number. A
 *                 helper that cannot be started is done without (its run on the caller's
 *                 thread), as is the whole sort when its ring (below) cannot be allocated.
 *                 Built without POSIX threads or GCC-style atomics, a sort runs on one thread
 *                 whatever it is given.
 *   No sentinel is needed: any token sequence is sorted, and the last token need not be
 *   unique or the largest (infgram's shards do end with the separator; nothing relies on it).
 *
 * Output
 *   suffix_array  n entries (int32_t for infgram_sais32, int64_t for infgram_sais64): the
 *                 start positions of the suffixes in increasing order, where suffixes compare
 *                 token by token by id and a proper prefix sorts before the longer suffix.
 *                 Must not overlap text. Written only when the result is INFGRAM_SAIS_OK
 *                 (otherwise its content is unspecified).
 *
 * Index width: infgram_sais32 needs n <= INFGRAM_SAIS_INT32_MAX_LENGTH (by default
 *   2^31 - 1, the largest n whose positions and internal marks fit int32_t); longer texts
 *   need infgram_sais64. infgram_sais_index_bytes(n) tells the caller which one to use. A
 *   test build may define INFGRAM_SAIS_INT32_MAX_LENGTH lower (e.g. -DINFGRAM_SAIS_INT32_MAX_LENGTH=100)
 *   to exercise the switch with short texts.
 *
 * Memory, besides text and suffix_array (a "word" is one entry of the index type)
 *   Level 0 (the text itself) uses 3 * k words for its bucket counts, bucket pointers and
 *   LMS counts with 1- and 2-byte tokens, in an allocation of their own (so that they survive
 *   the recursion and the text is counted once); with 4-byte tokens 2 * k words for the first
 *   two, in the shared workspace. With 1-byte tokens its first round of induced sorting
 *   also takes 3,072 words of stack (12 KiB with int32 positions, 24 KiB with int64).
 *   Each deeper level l (the reduced string of the level above, of length n_l <= n / 2^l and
 *   alphabet k_l < n_l) keeps its reduced string and its suffix array in the caller's
 *   suffix_array, and puts its bucket arrays in the unused middle of that array when they fit
 *   (three arrays, then two without the LMS counts, then one array, recounting instead of
 *   keeping counts); otherwise it takes one
 *   array of k_l words from a heap workspace that is shared by every level and grown only when
 *   a level needs more. The recursion depth is at most log2(n), with a small constant stack
 *   frame per level.
 *
 *   Bound (checked by tests/c/test_sais.c, which counts every allocation): the heap peak is
 *   at most b * k + n / 2 words (b = 3 for 1- and 2-byte tokens, 2 for 4-byte tokens), and
 *   exactly b * k words whenever every reduced string leaves
 *   room (n_l - 2 * n_(l+1) >= k_(l+1) words, so on natural-language text; a level that drops
 *   unique names from its recursion keeps its m_l LMS positions in place and leaves
 *   n_l - m_l - 2 * n_(l+1) words, see sais.c). So bytes with
 *   int32 positions take n + 4n bytes plus 3 KiB (3 * 256 words), 2-byte tokens 2n + 4n bytes
 *   plus 768 KiB. With threads > 1 and n >= INFGRAM_SAIS_THREADS_MIN_LENGTH, one more
 *   allocation of 3 * INFGRAM_SAIS_SCAN_CHUNK * INFGRAM_SAIS_SCAN_RING_CHUNKS words (the
 *   scans' ring: 1.5 MiB with int32 positions, 3 MiB with int64), for the whole sort. Only
 *   texts whose reduced strings leave no room (adversarial zigzags of nearly all-distinct LMS
 *   substrings) take up to n / 2 words more.
 *
 * Time: O(n + k) per level, O(n + k) in all (the levels' lengths halve).
 */
#ifndef INFGRAM_SAIS_H
#define INFGRAM_SAIS_H

#include <stdint.h>

#ifndef INFGRAM_SAIS_INT32_MAX_LENGTH
#define INFGRAM_SAIS_INT32_MAX_LENGTH INT32_MAX
#endif

/* The most threads a sort uses, whatever it is given. */
#define INFGRAM_SAIS_MAX_THREADS 64

#ifdef __cplusplus
extern "C" {
#endif

enum {
    INFGRAM_SAIS_OK = 0,
    /* token_width not 1, 2 or 4; k out of its bounds; n < 0; a NULL pointer with n > 0;
     * n > INFGRAM_SAIS_INT32_MAX_LENGTH for infgram_sais32; threads < 1. */
    INFGRAM_SAIS_BAD_ARGUMENT = -1,
    /* The heap workspace could not be allocated. */
    INFGRAM_SAIS_OUT_OF_MEMORY = -2,
    /* A token value is neither below k - 1 nor the separator (every bit set). */
    INFGRAM_SAIS_BAD_SYMBOL = -3,
};

/* The suffix array of `n` big-endian tokens of `token_width` bytes, over `alphabet_size`
 * symbols, into `suffix_array` (n entries), on up to `threads` threads. Returns one of the
 * INFGRAM_SAIS_ codes. */
int infgram_sais32(const unsigned char *text, int token_width, int64_t n, int64_t alphabet_size,
                   int32_t *suffix_array, int threads);
int infgram_sais64(const unsigned char *text, int token_width, int64_t n, int64_t alphabet_size,
                   int64_t *suffix_array, int threads);

/* 4 if a text of n tokens may use infgram_sais32, else 8 (infgram_sais64). */
int infgram_sais_index_bytes(int64_t n);

#ifdef __cplusplus
}
#endif

#endif
