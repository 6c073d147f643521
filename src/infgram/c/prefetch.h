/*
 * prefetch.h: hints that start loading memory a loop will reach soon, for loops whose reads
 * jump to unrelated places (each waits for memory without them). GCC's and Clang's
 * __builtin_prefetch; on other compilers they do nothing. Only hints: no result depends on
 * them. The names say how long the line is wanted (the builtin's locality argument):
 *
 *   PREFETCH(address)             a read, kept in every cache level (locality 3)
 *   PREFETCH_READ(address)        a read soon, then passed (locality 1: the suffix sorter's
 *                                 scans, which stream through far more than the caches hold)
 *   PREFETCH_WRITE(address)       the same for a write
 *   PREFETCH_READ_ONCE(address)   a read used once (locality 0)
 *
 * Plain C99 macros; include it in each translation unit that prefetches.
 */
#ifndef INFGRAM_PREFETCH_H
#define INFGRAM_PREFETCH_H

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#define PREFETCH_READ(address) __builtin_prefetch((address), 0, 1)
#define PREFETCH_WRITE(address) __builtin_prefetch((address), 1, 1)
#define PREFETCH_READ_ONCE(address) __builtin_prefetch((address), 0, 0)
#else
#define PREFETCH(address) ((void)(address))
#define PREFETCH_READ(address) ((void)(address))
#define PREFETCH_WRITE(address) ((void)(address))
#define PREFETCH_READ_ONCE(address) ((void)(address))
#endif

#endif
