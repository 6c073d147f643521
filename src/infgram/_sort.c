/*
 * infgram._sort: the Python binding of infgram's suffix sorter (c/sais.c, contract in
 * c/sais.h). It only checks the arguments, releases the GIL around the sort and maps the
 * sorter's return codes to exceptions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "c/sais.h"

/* sort_suffixes(tokens, token_width, alphabet_size, out, *, threads=1, int32_limit=2**31-1) */
static PyObject *sort_suffixes(PyObject *module, PyObject *args, PyObject *keywords) {
    static char *names[] = {"tokens", "token_width", "alphabet_size", "out", "threads", "int32_limit", NULL};
    Py_buffer tokens, out;
    int token_width, threads = 1;
    long long alphabet_size, int32_limit = INFGRAM_SAIS_INT32_MAX_LENGTH;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, keywords, "y*iLw*|$iL:sort_suffixes", names, &tokens, &token_width,
                                     &alphabet_size, &out, &threads, &int32_limit))
        return NULL;
    PyObject *result = NULL;
    const char *problem = NULL;
    int64_t n = token_width > 0 ? tokens.len / token_width : 0;
    int64_t width_values = token_width == 4 ? (int64_t)1 << 32 : (int64_t)1 << (8 * (token_width & 3));
    /* The sorter's alphabet: the ids below alphabet_size plus the separator, which reads as
     * the symbol after them; 0 (1- and 2-byte tokens only) means every value of the width. */
    int64_t symbols = alphabet_size == 0 && token_width < 4 ? width_values : alphabet_size + 1;
    if ((token_width != 1 && token_width != 2 && token_width != 4) || tokens.len % token_width) {
        problem = "sort_suffixes: expected whole tokens of 1, 2 or 4 bytes";
    } else if (out.len != n * 4 && out.len != n * 8) {
        problem = "sort_suffixes: expected an output of one int32 or int64 per token";
    } else if (out.len == n * 4 && n > 0 && (n > int32_limit || int32_limit > INFGRAM_SAIS_INT32_MAX_LENGTH)) {
        problem = "sort_suffixes: too many tokens for an int32 output";
    } else if (alphabet_size < 0 || (token_width == 4 && (alphabet_size < 1 || alphabet_size > (1LL << 30))) ||
               symbols > width_values) {
        problem = "sort_suffixes: alphabet_size out of range";
    } else if (threads < 1) {
        problem = "sort_suffixes: expected threads of at least 1";
    }
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        goto done;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    if (out.len == n * 4) {
        status = infgram_sais32((const unsigned char *)tokens.buf, token_width, n, symbols, (int32_t *)out.buf, threads);
    } else {
        status = infgram_sais64((const unsigned char *)tokens.buf, token_width, n, symbols, (int64_t *)out.buf, threads);
    }
    Py_END_ALLOW_THREADS
    if (status == INFGRAM_SAIS_OUT_OF_MEMORY) {
        PyErr_NoMemory();
    } else if (status == INFGRAM_SAIS_BAD_SYMBOL) {
        PyErr_SetString(PyExc_ValueError, "sort_suffixes: a token id is not below alphabet_size");
    } else if (status != INFGRAM_SAIS_OK) {
        PyErr_Format(PyExc_ValueError, "sort_suffixes: the sorter rejected its arguments (%d)", status);
    } else {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef sort_functions[] = {
    {"sort_suffixes", (PyCFunction)(void (*)(void))sort_suffixes, METH_VARARGS | METH_KEYWORDS,
     "sort_suffixes(tokens, token_width, alphabet_size, out, *, threads=1, int32_limit=2**31-1) -> None\n\n"
     "The token-level suffix array of big-endian tokens (bytes) into `out` (one int32 or int64 per\n"
     "token). The ids must be below alphabet_size, or be the separator (every bit set), which sorts\n"
     "last; alphabet_size 0 means every value of a 1- or 2-byte width. threads: how many the sort\n"
     "may use (the result is the same for any number). int32_limit (for tests) lowers the longest\n"
     "text that an int32 output may take."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef sort_module = {
    PyModuleDef_HEAD_INIT, "_sort",
    "infgram's SA-IS suffix sorter over a token alphabet; see c/sais.h.", -1, sort_functions,
};

PyMODINIT_FUNC PyInit__sort(void) { return PyModule_Create(&sort_module); }
