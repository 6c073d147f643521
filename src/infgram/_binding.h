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

#endif
