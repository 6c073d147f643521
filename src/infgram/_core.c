/*
 * infgram._core: the Python bindings of the suffix-array searches (c/sa_search.h), the
 * batched search (c/find_many.h), and the suffix keys and id encoding (c/encode.h). The
 * build's suffix sorter is infgram._sort.
 *
 * Each binding parses its arguments, checks what the contracts ask of the caller, releases
 * the GIL around the C call and turns its return code into an exception: INFGRAM_DAMAGED
 * into infgram.errors.IndexFormatError, INFGRAM_INVALID_ARGUMENT into ValueError,
 * INFGRAM_NO_MEMORY into MemoryError. A ShardView holds its buffers for its lifetime.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "c/encode.h"
#include "c/find_many.h"
#include "_binding.h"
#include "c/sa_search.h"


typedef struct {
    PyObject_HEAD
    sa_view view;
    Py_buffer tokens;
    Py_buffer suffix_array;
    Py_buffer keys;
    int have_tokens, have_suffix_array, have_keys;
} ShardView;

static int ShardView_init(ShardView *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"tokens", "suffix_array", "token_width", "pointer_width", NULL};
    PyObject *tokens_obj, *sa_obj;
    int token_width, pointer_width;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOii", kwlist, &tokens_obj, &sa_obj, &token_width,
                                     &pointer_width))
        return -1;
    if (self->have_tokens || self->have_suffix_array) {
        PyErr_SetString(PyExc_ValueError, "this view is initialized already");
        return -1;
    }
    damage_report report;
    damage_report_clear(&report);
    sa_view view = {NULL, NULL, token_width, pointer_width, 0, NULL, 0, 0};
    if (sa_view_check(&view, &report) != INFGRAM_OK) {
        raise_report(&report);
        return -1;
    }
    if (PyObject_GetBuffer(tokens_obj, &self->tokens, PyBUF_SIMPLE) < 0) return -1;
    self->have_tokens = 1;
    if (PyObject_GetBuffer(sa_obj, &self->suffix_array, PyBUF_SIMPLE) < 0) return -1;
    self->have_suffix_array = 1;
    if (self->tokens.len % token_width != 0) {
        PyErr_SetString(PyExc_ValueError, "tokens buffer is not a whole number of tokens");
        return -1;
    }
    view.num_positions = self->tokens.len / token_width;
    if (self->suffix_array.len != view.num_positions * pointer_width) {
        PyErr_Format(PyExc_ValueError, "suffix array holds %zd bytes, expected %lld", self->suffix_array.len,
                     (long long)(view.num_positions * pointer_width));
        return -1;
    }
    view.tokens = self->tokens.buf;
    view.suffix_array = self->suffix_array.buf;
    self->view = view;
    return 0;
}

static void ShardView_dealloc(ShardView *self) {
    if (self->have_tokens) PyBuffer_Release(&self->tokens);
    if (self->have_suffix_array) PyBuffer_Release(&self->suffix_array);
    if (self->have_keys) PyBuffer_Release(&self->keys);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* 0 when the view is initialized and the query is whole tokens; -1 with ValueError otherwise. */
static int check_query(const ShardView *self, Py_ssize_t query_bytes) {
    if (!self->have_suffix_array) {
        PyErr_SetString(PyExc_ValueError, "the view is not initialized");
        return -1;
    }
    if (query_bytes % self->view.token_width != 0) {
        PyErr_Format(PyExc_ValueError, "query of %zd bytes is not a whole number of %d-byte tokens", query_bytes,
                     self->view.token_width);
        return -1;
    }
    return 0;
}

static PyObject *ShardView_find(ShardView *self, PyObject *args) {
    Py_buffer query;
    long long lo = 0, hi = -1;
    if (!PyArg_ParseTuple(args, "y*|LL", &query, &lo, &hi)) return NULL;
    if (check_query(self, query.len) < 0) {
        PyBuffer_Release(&query);
        return NULL;
    }
    if (hi < 0) hi = self->view.num_positions;
    if (lo < 0 || hi > self->view.num_positions || lo > hi) {
        PyErr_SetString(PyExc_ValueError, "range out of bounds");
        PyBuffer_Release(&query);
        return NULL;
    }
    int64_t out_lo, out_hi;
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = sa_find(&self->view, query.buf, query.len, lo, hi, &out_lo, &out_hi, &report);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    if (status != INFGRAM_OK) return raise_report(&report);
    return Py_BuildValue("LL", (long long)out_lo, (long long)out_hi);
}

/* find_many(data, offsets) -> bytes holding an int64 (lo, hi) pair per query.
 * Query i is data[offsets[i]:offsets[i + 1]]; `offsets` holds len + 1 int64 values. */
static PyObject *ShardView_find_many(ShardView *self, PyObject *args) {
    return binding_find_many(args, &self->view, sa_find_from, check_query(self, 0));
}

/* next_tokens(lo, hi, depth) -> (values: bytes of uint64, counts: bytes of int64): the
 * distinct tokens at `depth` along the run and their counts (c/sa_search.h). */
static PyObject *ShardView_next_tokens(ShardView *self, PyObject *args) {
    long long lo, hi, depth;
    if (!PyArg_ParseTuple(args, "LLL", &lo, &hi, &depth)) return NULL;
    if (check_query(self, 0) < 0) return NULL;
    uint64_t *values;
    int64_t *counts, used;
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = sa_next_tokens(&self->view, lo, hi, depth, &values, &counts, &used, &report);
    Py_END_ALLOW_THREADS
    if (status != INFGRAM_OK) return raise_report(&report);
    PyObject *result = Py_BuildValue("y#y#", (const char *)values, (Py_ssize_t)(used * sizeof(uint64_t)),
                                     (const char *)counts, (Py_ssize_t)(used * sizeof(int64_t)));
    free(values);
    free(counts);
    return result;
}

/* longest_suffix(query) -> (suffix_length_in_tokens, lo, hi) */
static PyObject *ShardView_longest_suffix(ShardView *self, PyObject *args) {
    Py_buffer query;
    if (!PyArg_ParseTuple(args, "y*", &query)) return NULL;
    if (check_query(self, query.len) < 0) {
        PyBuffer_Release(&query);
        return NULL;
    }
    int64_t lo, hi, length;
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = sa_longest_suffix(&self->view, query.buf, query.len, &length, &lo, &hi, &report);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    if (status != INFGRAM_OK) return raise_report(&report);
    return Py_BuildValue("LLL", (long long)length, (long long)lo, (long long)hi);
}

/* `count` bytes objects of n int64 values each, for the results of the sequence calls;
 * their data in data[0..count). 0, or -1 with an exception (nothing left allocated). */
static int new_int64_outputs(int64_t n, int count, PyObject **outputs, int64_t **data) {
    for (int k = 0; k < count; k++) {
        outputs[k] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8));
        if (!outputs[k]) {
            while (k-- > 0) Py_CLEAR(outputs[k]);
            return -1;
        }
        data[k] = (int64_t *)PyBytes_AS_STRING(outputs[k]);
    }
    return 0;
}

/* longest_matches(query) -> (lengths, counts): int64 bytes, one value per query token: per
 * start, the longest prefix that occurs (matching statistics). */
static PyObject *ShardView_longest_matches(ShardView *self, PyObject *args) {
    Py_buffer query;
    if (!PyArg_ParseTuple(args, "y*", &query)) return NULL;
    PyObject *outputs[2];
    int64_t *data[2];
    if (check_query(self, query.len) < 0 || new_int64_outputs(query.len / self->view.token_width, 2, outputs, data) < 0) {
        PyBuffer_Release(&query);
        return NULL;
    }
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = sa_longest_matches(&self->view, query.buf, query.len / self->view.token_width, data[0], data[1], &report);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    if (status != INFGRAM_OK) {
        Py_DECREF(outputs[0]);
        Py_DECREF(outputs[1]);
        return raise_report(&report);
    }
    return Py_BuildValue("NN", outputs[0], outputs[1]);
}

/* infgram_probabilities(query, unigram_hi) -> (suffix_lengths, prompt_counts, counts) as int64 bytes. */
static PyObject *ShardView_infgram_probabilities(ShardView *self, PyObject *args) {
    Py_buffer query;
    long long unigram_hi;
    if (!PyArg_ParseTuple(args, "y*L", &query, &unigram_hi)) return NULL;
    PyObject *outputs[3];
    int64_t *data[3];
    if (check_query(self, query.len) < 0 || unigram_hi < 0 || unigram_hi > self->view.num_positions ||
        new_int64_outputs(query.len / self->view.token_width, 3, outputs, data) < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "unigram_hi out of bounds");
        PyBuffer_Release(&query);
        return NULL;
    }
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = sa_infgram_probabilities(&self->view, query.buf, query.len / self->view.token_width, unigram_hi, data[0],
                                      data[1], data[2], &report);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    if (status != INFGRAM_OK) {
        for (int k = 0; k < 3; k++) Py_DECREF(outputs[k]);
        return raise_report(&report);
    }
    return Py_BuildValue("NNN", outputs[0], outputs[1], outputs[2]);
}

/* use_keys(keys, step, with_pointers=False): search with the keys of suffixes SA[0], SA[step],
 * SA[2 * step], ... from now on (made by suffix_key_records), in place of any keys it had; with
 * pointers, each key is followed by its suffix's position (c/sa_search.h). */
static PyObject *ShardView_use_keys(ShardView *self, PyObject *args) {
    PyObject *keys_obj;
    long long step;
    int with_pointers = 0;
    if (!PyArg_ParseTuple(args, "OL|p", &keys_obj, &step, &with_pointers)) return NULL;
    if (check_query(self, 0) < 0) return NULL;
    if (step < 1) {
        PyErr_SetString(PyExc_ValueError, "step must be at least 1");
        return NULL;
    }
    Py_buffer keys;
    if (PyObject_GetBuffer(keys_obj, &keys, PyBUF_SIMPLE) < 0) return NULL;
    int64_t n = (self->view.num_positions + step - 1) / step;
    int64_t record_bytes = with_pointers ? 16 : 8;
    if (keys.len != n * record_bytes || ((uintptr_t)keys.buf) % 8 != 0) {
        PyErr_Format(PyExc_ValueError, "keys hold %zd bytes, expected %lld, 8-byte aligned", keys.len,
                     (long long)(n * record_bytes));
        PyBuffer_Release(&keys);
        return NULL;
    }
    if (self->have_keys) PyBuffer_Release(&self->keys); /* keys may be replaced (a sparser sample) */
    self->keys = keys;
    self->have_keys = 1;
    self->view.keys = keys.buf;
    self->view.key_step = step;
    self->view.num_keys = n;
    self->view.keys_have_pointers = with_pointers ? 1 : 0;
    Py_RETURN_NONE;
}

/* read_from_disk(on): search as from disk (True) or from memory (False); see c/sa_search.h. */
static PyObject *ShardView_read_from_disk(ShardView *self, PyObject *args) {
    int on_disk;
    if (!PyArg_ParseTuple(args, "p", &on_disk)) return NULL;
    if (check_query(self, 0) < 0) return NULL;
    sa_view_read_from_disk(&self->view, on_disk);
    Py_RETURN_NONE;
}

static PyObject *ShardView_get_num_positions(ShardView *self, void *closure) {
    return PyLong_FromLongLong(self->view.num_positions);
}

static PyMethodDef ShardView_methods[] = {
    {"find", (PyCFunction)ShardView_find, METH_VARARGS,
     "find(query: bytes, lo=0, hi=-1) -> (lo, hi): the run of suffixes starting with the query."},
    {"find_many", (PyCFunction)ShardView_find_many, METH_VARARGS,
     "find_many(data: bytes, offsets: int64 bytes) -> bytes of int64 (lo, hi) pairs."},
    {"next_tokens", (PyCFunction)ShardView_next_tokens, METH_VARARGS,
     "next_tokens(lo, hi, depth) -> (uint64 values, int64 counts) as bytes: the token at `depth` over the run."},
    {"longest_suffix", (PyCFunction)ShardView_longest_suffix, METH_VARARGS,
     "longest_suffix(query: bytes) -> (length, lo, hi) of the longest suffix that occurs."},
    {"longest_matches", (PyCFunction)ShardView_longest_matches, METH_VARARGS,
     "longest_matches(query: bytes) -> (lengths, counts) as int64 bytes: per start, the longest prefix that occurs."},
    {"infgram_probabilities", (PyCFunction)ShardView_infgram_probabilities, METH_VARARGS,
     "infgram_probabilities(query: bytes, unigram_hi) -> (suffix_lengths, prompt_counts, counts) as int64 bytes."},
    {"read_from_disk", (PyCFunction)ShardView_read_from_disk, METH_VARARGS,
     "read_from_disk(on: bool): read the probes of each search step at once (pages may be on disk), or not."},
    {"use_keys", (PyCFunction)ShardView_use_keys, METH_VARARGS,
     "use_keys(keys, step, with_pointers=False): search with the keys of every step-th suffix (and their "
     "positions)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ShardView_getset[] = {
    {"num_positions", (getter)ShardView_get_num_positions, NULL, "tokens in the shard, separators included", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ShardViewType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "infgram._core.ShardView",
    .tp_basicsize = sizeof(ShardView),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Binary searches over one shard's tokens and suffix array (see c/sa_search.h).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ShardView_init,
    .tp_dealloc = (destructor)ShardView_dealloc,
    .tp_methods = ShardView_methods,
    .tp_getset = ShardView_getset,
};

/* suffix_key_records(tokens, token_width, suffix_array, first_rank, step) -> bytes: the
 * records of suffix_keys.bin for a stretch of a suffix array (int32 or int64 entries) whose
 * first entry has rank first_rank (c/encode.h). */
static PyObject *core_suffix_key_records(PyObject *module, PyObject *args) {
    Py_buffer tokens, suffix_array;
    int token_width;
    PyObject *array_object;
    long long first_rank, step;
    if (!PyArg_ParseTuple(args, "y*iOLL", &tokens, &token_width, &array_object, &first_rank, &step)) return NULL;
    if (PyObject_GetBuffer(array_object, &suffix_array, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        PyBuffer_Release(&tokens);
        return NULL;
    }
    PyObject *result = NULL;
    const char *format = suffix_array.format == NULL ? "B" : suffix_array.format;
    if (format[0] == '<' || format[0] == '=' || format[0] == '@') format++;
    int entry_bytes = (int)suffix_array.itemsize;
    if ((token_width != 1 && token_width != 2 && token_width != 4) || tokens.len % token_width != 0 ||
        (entry_bytes != 4 && entry_bytes != 8) || strchr("ilq", format[0]) == NULL || format[1] != '\0') {
        PyErr_SetString(PyExc_ValueError,
                        "expected whole tokens of 1, 2 or 4 bytes and a suffix array of int32 or int64 entries");
        goto done;
    }
    if (step < 1 || first_rank < 0) {
        PyErr_SetString(PyExc_ValueError, "expected a step of at least 1 and a first rank of at least 0");
        goto done;
    }
    int64_t count = suffix_array.len / entry_bytes;
    int64_t num_records = suffix_key_record_count(first_rank, count, step);
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(num_records * 16));
    if (!result) goto done;
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = suffix_key_records(tokens.buf, tokens.len / token_width, token_width, suffix_array.buf, entry_bytes,
                                first_rank, count, step, (unsigned char *)PyBytes_AS_STRING(result), &report);
    Py_END_ALLOW_THREADS
    if (status != INFGRAM_OK) Py_SETREF(result, raise_report(&report));
done:
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&suffix_array);
    return result;
}

/* encode_ids(ids: list | tuple, token_width, limit) -> bytes, or None: the ids stored big-endian
 * in token_width bytes each, as the searches take them, or None when an item is not an int or
 * not in [0, limit) (the caller then takes the slow path, which says what is wrong). One pass
 * in C: a 100-token query costs about 1 µs here against 4 µs through array() and max(). */
static PyObject *core_encode_ids(PyObject *module, PyObject *args) {
    PyObject *ids;
    int token_width;
    long long limit;
    if (!PyArg_ParseTuple(args, "OiL", &ids, &token_width, &limit)) return NULL;
    if (!PyList_CheckExact(ids) && !PyTuple_CheckExact(ids)) Py_RETURN_NONE;
    if (token_width != 1 && token_width != 2 && token_width != 4) {
        PyErr_SetString(PyExc_ValueError, "token_width must be 1, 2 or 4");
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ids);
    PyObject **items = PySequence_Fast_ITEMS(ids);
    PyObject *result = PyBytes_FromStringAndSize(NULL, n * token_width);
    if (!result) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyLong_CheckExact(items[i])) goto slow_path;
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(items[i], &overflow);
        if (overflow || value < 0 || value >= limit) goto slow_path;
        token_encode((uint64_t)value, token_width, out + i * token_width);
    }
    return result;
slow_path:
    Py_DECREF(result);
    Py_RETURN_NONE;
}

static PyMethodDef core_functions[] = {
    {"suffix_key_records", core_suffix_key_records, METH_VARARGS,
     "suffix_key_records(tokens, token_width, suffix_array, first_rank, step) -> bytes of suffix_keys.bin records."},
    {"encode_ids", core_encode_ids, METH_VARARGS,
     "encode_ids(ids: list | tuple, token_width, limit) -> big-endian bytes, or None if an id is not an int in [0, limit)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "_core",
    "Compiled binary searches over a suffix-array shard; see src/infgram/c/sa_search.h.", -1,
    core_functions,
};

PyMODINIT_FUNC PyInit__core(void) {
    uint16_t probe = 1;
    if (*(unsigned char *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "infgram._core supports little-endian hosts only");
        return NULL;
    }
    if (binding_import_errors() < 0) return NULL;
    if (PyType_Ready(&ShardViewType) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m) return NULL;
    Py_INCREF(&ShardViewType);
    if (PyModule_AddObject(m, "ShardView", (PyObject *)&ShardViewType) < 0) {
        Py_DECREF(&ShardViewType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
