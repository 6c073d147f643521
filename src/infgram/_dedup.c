/*
 * infgram._dedup: the Python bindings of the neighbour comparisons of exact-substring
 * deduplication (c/neighbours.h). Each binding takes the shard's buffers (the tokens and the
 * suffix array as bytes-like objects, as SAShard maps them), checks the caller's side of the
 * contract, releases the GIL around the C call and turns its return code into an exception:
 * INFGRAM_DAMAGED into infgram.errors.IndexFormatError, INFGRAM_INVALID_ARGUMENT into
 * ValueError, INFGRAM_NO_MEMORY into MemoryError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "_binding.h"
#include "c/neighbours.h"


/* A view over two buffers; -1 with ValueError when their sizes do not fit the widths. */
static int make_view(const Py_buffer *tokens, const Py_buffer *suffix_array, int token_width, int pointer_width,
                     sa_view *view) {
    damage_report report;
    damage_report_clear(&report);
    sa_view checked = {tokens->buf, suffix_array->buf, token_width, pointer_width, 0}; /* no keys, in memory */
    if (sa_view_check(&checked, &report) != INFGRAM_OK) {
        raise_report(&report);
        return -1;
    }
    if (tokens->len % token_width != 0) {
        PyErr_Format(PyExc_ValueError, "tokens buffer of %zd bytes is not a whole number of %d-byte tokens",
                     tokens->len, token_width);
        return -1;
    }
    checked.num_positions = tokens->len / token_width;
    if (suffix_array->len != checked.num_positions * pointer_width) {
        PyErr_Format(PyExc_ValueError, "suffix array holds %zd bytes, expected %lld", suffix_array->len,
                     (long long)(checked.num_positions * pointer_width));
        return -1;
    }
    *view = checked;
    return 0;
}

static PyObject *dedup_neighbours_share_prefix(PyObject *module, PyObject *args) {
    Py_buffer tokens, suffix_array;
    int token_width, pointer_width;
    long long lo, hi, num_tokens;
    if (!PyArg_ParseTuple(args, "y*y*iiLLL", &tokens, &suffix_array, &token_width, &pointer_width, &lo, &hi,
                          &num_tokens))
        return NULL;
    PyObject *out = NULL;
    sa_view view;
    if (make_view(&tokens, &suffix_array, token_width, pointer_width, &view) == 0) {
        if (lo < 0 || hi > view.num_positions || lo > hi || num_tokens < 1) {
            PyErr_Format(PyExc_ValueError, "expected 0 <= lo <= hi <= %lld and num_tokens >= 1, found %lld, %lld, %lld",
                         (long long)view.num_positions, lo, hi, num_tokens);
        } else {
            out = PyBytes_FromStringAndSize(NULL, hi - lo > 1 ? (Py_ssize_t)(hi - lo - 1) : 0);
            if (out) {
                damage_report report;
                damage_report_clear(&report);
                int status;
                unsigned char *shared = (unsigned char *)PyBytes_AS_STRING(out);
                Py_BEGIN_ALLOW_THREADS
                status = neighbours_share_prefix(&view, lo, hi, num_tokens, shared, &report);
                Py_END_ALLOW_THREADS
                if (status != INFGRAM_OK) Py_SETREF(out, raise_report(&report));
            }
        }
    }
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&suffix_array);
    return out;
}

static PyObject *dedup_neighbours_across(PyObject *module, PyObject *args) {
    Py_buffer tokens, suffix_array, other_tokens, other_suffix_array;
    int token_width, pointer_width, other_pointer_width;
    long long lo, hi, num_tokens, other_row;
    if (!PyArg_ParseTuple(args, "y*y*y*y*iiiLLLL", &tokens, &suffix_array, &other_tokens, &other_suffix_array,
                          &token_width, &pointer_width, &other_pointer_width, &lo, &hi, &num_tokens, &other_row))
        return NULL;
    PyObject *out = NULL, *result = NULL;
    sa_view view, other;
    if (make_view(&tokens, &suffix_array, token_width, pointer_width, &view) == 0 &&
        make_view(&other_tokens, &other_suffix_array, token_width, other_pointer_width, &other) == 0) {
        if (lo < 0 || hi > view.num_positions || lo > hi || num_tokens < 1 || other_row < 0 ||
            other_row > other.num_positions) {
            PyErr_Format(PyExc_ValueError,
                         "expected 0 <= lo <= hi <= %lld, 0 <= other_row <= %lld and num_tokens >= 1, found "
                         "%lld, %lld, %lld, %lld",
                         (long long)view.num_positions, (long long)other.num_positions, lo, hi, other_row, num_tokens);
        } else if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(hi - lo))) != NULL) {
            damage_report report;
            damage_report_clear(&report);
            int status;
            int64_t row = other_row;
            unsigned char *found = (unsigned char *)PyBytes_AS_STRING(out);
            Py_BEGIN_ALLOW_THREADS
            status = neighbours_across(&view, &other, lo, hi, num_tokens, &row, found, &report);
            Py_END_ALLOW_THREADS
            if (status != INFGRAM_OK)
                raise_report(&report);
            else
                result = Py_BuildValue("OL", out, (long long)row);
            Py_DECREF(out);
        }
    }
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&suffix_array);
    PyBuffer_Release(&other_tokens);
    PyBuffer_Release(&other_suffix_array);
    return result;
}

static PyMethodDef dedup_functions[] = {
    {"neighbours_share_prefix", dedup_neighbours_share_prefix, METH_VARARGS,
     "neighbours_share_prefix(tokens, suffix_array, token_width, pointer_width, lo, hi, num_tokens) -> bytes\n\n"
     "Byte i (of hi - lo - 1) is 1 when suffix-array rows lo + i and lo + i + 1 begin with the same\n"
     "num_tokens tokens, none a separator (see c/neighbours.h)."},
    {"neighbours_across", dedup_neighbours_across, METH_VARARGS,
     "neighbours_across(tokens, suffix_array, other_tokens, other_suffix_array, token_width, pointer_width,\n"
     "                  other_pointer_width, lo, hi, num_tokens, other_row) -> (bytes, other_row)\n\n"
     "Byte i (of hi - lo) is 1 when row lo + i shares its first num_tokens tokens with some row of the\n"
     "other suffix array; other_row is the merge pointer (start at 0, pass back what is returned)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef dedup_module = {
    PyModuleDef_HEAD_INIT, "_dedup",
    "Compiled neighbour comparisons for exact-substring deduplication; see src/infgram/c/neighbours.h.", -1,
    dedup_functions,
};

PyMODINIT_FUNC PyInit__dedup(void) {
    /* Any byte order: neighbours.c assembles tokens and pointers byte by byte. */
    if (binding_import_errors() < 0) return NULL;
    return PyModule_Create(&dedup_module);
}
