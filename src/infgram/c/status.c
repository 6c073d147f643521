/* status.c: recording the first problem a search meets (see status.h). */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

#define DAMAGE_ADVICE "; the index is damaged: run `infgram verify`, then rebuild the index"

int report_problem(damage_report *report, int status, const char *format, ...) {
    if (report->status == INFGRAM_OK) {
        va_list arguments;
        va_start(arguments, format);
        int length = vsnprintf(report->message, sizeof report->message, format, arguments);
        va_end(arguments);
        if (status == INFGRAM_DAMAGED && length >= 0 && (size_t)length < sizeof report->message)
            snprintf(report->message + length, sizeof report->message - (size_t)length, "%s", DAMAGE_ADVICE);
        report->status = status;
    }
    return status;
}
