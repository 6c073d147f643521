/*
 * status.h: the return codes of the algorithm files in this folder, and the report that
 * says what was damaged.
 *
 * Every function here that reads data derived from disk returns one of the codes below.
 * When it returns INFGRAM_DAMAGED it has filled a `damage_report` with one line naming the
 * file or structure, what was expected and what was found (the first damage it met), ending
 * with what to do (run `infgram verify`, rebuild the index), and it has read nothing outside
 * the buffers it was given. Other codes fill the report with what was expected and found. The bindings turn INFGRAM_DAMAGED
 * into infgram.errors.IndexFormatError, INFGRAM_NO_MEMORY into MemoryError and
 * INFGRAM_INVALID_ARGUMENT into ValueError.
 *
 * A search that meets damage does not stop at once: it substitutes a value in range (so
 * that every later read stays in bounds and every loop keeps its bound) and finishes, then
 * reports. Its other outputs are then meaningless and must be dropped.
 *
 * Plain C99; no Python.h.
 */
#ifndef INFGRAM_STATUS_H
#define INFGRAM_STATUS_H

enum {
    INFGRAM_OK = 0,
    INFGRAM_DAMAGED = -1,          /* data read from an index file is out of range */
    INFGRAM_NO_MEMORY = -2,        /* an allocation failed */
    INFGRAM_INVALID_ARGUMENT = -3, /* the caller passed arguments outside the contract */
};

#define DAMAGE_MESSAGE_BYTES 400

typedef struct {
    int status;                          /* INFGRAM_OK, or the code of the first problem met */
    char message[DAMAGE_MESSAGE_BYTES];  /* what was expected and what was found (NUL-terminated) */
} damage_report;

static inline void damage_report_clear(damage_report *report) {
    report->status = INFGRAM_OK;
    report->message[0] = '\0';
}

/* Record a problem (printf-style message) unless one is recorded already; returns `status`.
 * Defined out of line (status.c): it runs only on damage, so the hot loops stay small. */
int report_problem(damage_report *report, int status, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((cold, format(printf, 3, 4)))
#endif
    ;

#endif
