/*
 * What every Python binding of infgram's C algorithms shares: turning a C return code
 * (c/status.h) into the Python exception the rest of infgram expects.
 *
 *   INFGRAM_DAMAGED           -> infgram.errors.IndexFormatError (the index on disk is damaged)
 *   INFGRAM_INVALID_ARGUMENT  -> ValueError (the caller broke the contract)
 *   INFGRAM_NO_MEMORY         -> MemoryError
 *
 * Include it once per extension module (its functions are static), after Python.h, and call
 * binding_import_errors() first thing in the module's init function.
 */
#ifndef INFGRAM_BINDING_H
#define INFGRAM_BINDING_H

#include <Python.h>

#include "c/status.h"

static PyObject *IndexFormatError; /* infgram.errors.IndexFormatError, set by binding_import_errors() */

/* Look up infgram.errors.IndexFormatError; 0 on success, -1 with an exception set. */
static int binding_import_errors(void) {
    PyObject *errors = PyImport_ImportModule("infgram.errors");
    if (!errors) return -1;
    IndexFormatError = PyObject_GetAttrString(errors, "IndexFormatError");
    Py_DECREF(errors);
    return IndexFormatError ? 0 : -1;
}

/* The exception of a report that is not INFGRAM_OK; returns NULL. */
static PyObject *raise_report(const damage_report *report) {
    if (report->status == INFGRAM_NO_MEMORY) return PyErr_NoMemory();
    PyErr_SetString(report->status == INFGRAM_DAMAGED ? IndexFormatError : PyExc_ValueError, report->message);
    return NULL;
}

#ifdef INFGRAM_FIND_MANY_H
/* find_many(data, offsets) for any view: bytes holding an int64 (lo, hi) pair per query,
 * query i being data[offsets[i]:offsets[i + 1]] (``offsets`` holds len + 1 int64 values).
 * ``ready`` is the view's own check (< 0 with an exception set when it cannot search). */
static PyObject *binding_find_many(PyObject *args, const void *view, find_function find, int ready) {
    Py_buffer data, offsets;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &offsets)) return NULL;
    Py_ssize_t count = offsets.len / (Py_ssize_t)sizeof(int64_t) - 1;
    PyObject *out = ready < 0 ? NULL : PyBytes_FromStringAndSize(NULL, count > 0 ? count * 16 : 0);
    if (out) {
        damage_report report;
        damage_report_clear(&report);
        int status;
        Py_BEGIN_ALLOW_THREADS
        status = find_many(view, find, data.buf, data.len, offsets.buf, count + 1,
                           (int64_t *)PyBytes_AS_STRING(out), &report);
        Py_END_ALLOW_THREADS
        if (status != INFGRAM_OK) Py_SETREF(out, raise_report(&report));
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return out;
}
#endif

#endif
