/*
 * infgram._official: the Python binding of the searches over an official infini-gram shard
 * (c/official_search.h). OfficialView offers the same methods, with the same arguments and
 * results, as _core.ShardView: queries arrive as infgram encodes them (big-endian token
 * bytes) and are turned into the official little-endian layout here; ids come back as ids.
 *
 * Each method releases the GIL around the C call and turns its return code into an
 * exception: INFGRAM_DAMAGED into infgram.errors.IndexFormatError, INFGRAM_INVALID_ARGUMENT
 * into ValueError, INFGRAM_NO_MEMORY into MemoryError. A view holds its two buffers (the
 * memory maps of tokenized.N and table.N) for its lifetime.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "c/find_many.h"
#include "_binding.h"
#include "c/official_search.h"

typedef struct {
    PyObject_HEAD
    official_view view;
    Py_buffer data, table, keys;
    int have_data, have_table, have_keys, ready;
} OfficialView;

static int OfficialView_init(OfficialView *self, PyObject *args, PyObject *kwds) {
    PyObject *data_obj, *table_obj;
    int token_width, pointer_width;
    if (!PyArg_ParseTuple(args, "OOii", &data_obj, &table_obj, &token_width, &pointer_width)) return -1;
    if (self->have_data || self->have_table) {
        PyErr_SetString(PyExc_ValueError, "this view is initialized already");
        return -1;
    }
    if (PyObject_GetBuffer(data_obj, &self->data, PyBUF_SIMPLE) < 0) return -1;
    self->have_data = 1;
    if (PyObject_GetBuffer(table_obj, &self->table, PyBUF_SIMPLE) < 0) return -1;
    self->have_table = 1;
    official_view view = {self->data.buf, self->table.buf, token_width, pointer_width, self->data.len,
                          token_width > 0 ? self->data.len / token_width : 0};
    damage_report report;
    damage_report_clear(&report);
    if (official_view_check(&view, &report) != INFGRAM_OK) {
        raise_report(&report);
        return -1;
    }
    if (self->table.len != view.num_positions * pointer_width) {
        PyErr_Format(PyExc_ValueError, "the table holds %zd bytes, expected %lld (%lld entries of %d bytes)",
                     self->table.len, (long long)(view.num_positions * pointer_width), (long long)view.num_positions,
                     pointer_width);
        return -1;
    }
    self->view = view;
    self->ready = 1;
    return 0;
}

static void OfficialView_dealloc(OfficialView *self) {
    if (self->have_data) PyBuffer_Release(&self->data);
    if (self->have_table) PyBuffer_Release(&self->table);
    if (self->have_keys) PyBuffer_Release(&self->keys);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_ready(const OfficialView *self) {
    if (self->ready) return 0;
    PyErr_SetString(PyExc_ValueError, "the view is not initialized");
    return -1;
}

/* The query in the official layout: every token's bytes reversed (big- to little-endian).
 * NULL with an exception set when it is not whole tokens or memory runs out. */
static unsigned char *little_endian(const OfficialView *self, const Py_buffer *query) {
    int width = self->view.token_width;
    if (query->len % width != 0) {
        PyErr_Format(PyExc_ValueError, "a query of %zd bytes is not whole %d-byte tokens", query->len, width);
        return NULL;
    }
    unsigned char *out = malloc(query->len ? (size_t)query->len : 1);
    if (!out) {
        PyErr_NoMemory();
        return NULL;
    }
    const unsigned char *in = query->buf;
    for (Py_ssize_t at = 0; at < query->len; at += width)
        for (int b = 0; b < width; b++) out[at + b] = in[at + width - 1 - b];
    return out;
}

static PyObject *OfficialView_find(OfficialView *self, PyObject *args) {
    Py_buffer query;
    long long lo = 0, hi = -1;
    if (!PyArg_ParseTuple(args, "y*|LL", &query, &lo, &hi)) return NULL;
    PyObject *out = NULL;
    unsigned char *converted = check_ready(self) < 0 ? NULL : little_endian(self, &query);
    if (converted) {
        if (hi < 0) hi = self->view.num_positions;
        if (lo < 0 || lo > hi || hi > self->view.num_positions) {
            PyErr_Format(PyExc_ValueError, "expected 0 <= lo <= hi <= %lld, found %lld and %lld",
                         (long long)self->view.num_positions, lo, hi);
        } else {
            int64_t out_lo, out_hi;
            damage_report report;
            damage_report_clear(&report);
            int status;
            Py_BEGIN_ALLOW_THREADS
            status = official_find(&self->view, converted, query.len, lo, hi, &out_lo, &out_hi, &report);
            Py_END_ALLOW_THREADS
            out = status == INFGRAM_OK ? Py_BuildValue("LL", (long long)out_lo, (long long)out_hi)
                                       : raise_report(&report);
        }
        free(converted);
    }
    PyBuffer_Release(&query);
    return out;
}

/* find_many(data, offsets): the queries converted all at once (each is whole tokens). */
static PyObject *OfficialView_find_many(OfficialView *self, PyObject *args) {
    Py_buffer data, offsets;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &offsets)) return NULL;
    PyObject *out = NULL;
    unsigned char *converted = check_ready(self) < 0 ? NULL : little_endian(self, &data);
    if (converted) {
        PyObject *bytes = PyBytes_FromStringAndSize((const char *)converted, data.len);
        if (bytes) {
            PyObject *converted_args = Py_BuildValue("(OO)", bytes, PyTuple_GET_ITEM(args, 1));
            if (converted_args) out = binding_find_many(converted_args, &self->view, official_find_from, 0);
            Py_XDECREF(converted_args);
            Py_DECREF(bytes);
        }
        free(converted);
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return out;
}

static PyObject *OfficialView_next_tokens(OfficialView *self, PyObject *args) {
    long long lo, hi, depth;
    if (!PyArg_ParseTuple(args, "LLL", &lo, &hi, &depth) || check_ready(self) < 0) return NULL;
    uint64_t *values;
    int64_t *counts, used;
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = official_next_tokens(&self->view, lo, hi, depth, &values, &counts, &used, &report);
    Py_END_ALLOW_THREADS
    if (status != INFGRAM_OK) return raise_report(&report);
    PyObject *result = Py_BuildValue("y#y#", (const char *)values, (Py_ssize_t)(used * 8), (const char *)counts,
                                     (Py_ssize_t)(used * 8));
    free(values);
    free(counts);
    return result;
}

static PyObject *OfficialView_longest_suffix(OfficialView *self, PyObject *args) {
    Py_buffer query;
    if (!PyArg_ParseTuple(args, "y*", &query)) return NULL;
    PyObject *out = NULL;
    unsigned char *converted = check_ready(self) < 0 ? NULL : little_endian(self, &query);
    if (converted) {
        int64_t length, lo, hi;
        damage_report report;
        damage_report_clear(&report);
        int status;
        Py_BEGIN_ALLOW_THREADS
        status = official_longest_suffix(&self->view, converted, query.len, &length, &lo, &hi, &report);
        Py_END_ALLOW_THREADS
        out = status == INFGRAM_OK ? Py_BuildValue("LLL", (long long)length, (long long)lo, (long long)hi)
                                   : raise_report(&report);
        free(converted);
    }
    PyBuffer_Release(&query);
    return out;
}

/* A tuple of `parts` bytes objects of `num_tokens` int64 each, filled by `search`. */
static PyObject *per_token(OfficialView *self, PyObject *args, int with_unigram_hi) {
    Py_buffer query;
    long long unigram_hi = 0;
    if (with_unigram_hi ? !PyArg_ParseTuple(args, "y*L", &query, &unigram_hi)
                        : !PyArg_ParseTuple(args, "y*", &query))
        return NULL;
    PyObject *out = NULL;
    unsigned char *converted = check_ready(self) < 0 ? NULL : little_endian(self, &query);
    if (converted && (unigram_hi < 0 || unigram_hi > self->view.num_positions)) {
        PyErr_Format(PyExc_ValueError, "unigram_hi %lld outside [0, %lld]", unigram_hi,
                     (long long)self->view.num_positions);
    } else if (converted) {
        int64_t num_tokens = query.len / self->view.token_width;
        int parts = with_unigram_hi ? 3 : 2;
        int64_t *arrays = malloc(sizeof(int64_t) * (size_t)(num_tokens * parts + 1));
        if (!arrays) {
            PyErr_NoMemory();
        } else {
            damage_report report;
            damage_report_clear(&report);
            int status;
            Py_BEGIN_ALLOW_THREADS
            status = with_unigram_hi
                ? official_infgram_probabilities(&self->view, converted, num_tokens, unigram_hi, arrays,
                                                 arrays + num_tokens, arrays + 2 * num_tokens, &report)
                : official_longest_matches(&self->view, converted, num_tokens, arrays, arrays + num_tokens, &report);
            Py_END_ALLOW_THREADS
            Py_ssize_t size = (Py_ssize_t)(num_tokens * 8);
            if (status != INFGRAM_OK) out = raise_report(&report);
            else if (parts == 3)
                out = Py_BuildValue("y#y#y#", (const char *)arrays, size, (const char *)(arrays + num_tokens), size,
                                    (const char *)(arrays + 2 * num_tokens), size);
            else
                out = Py_BuildValue("y#y#", (const char *)arrays, size, (const char *)(arrays + num_tokens), size);
            free(arrays);
        }
    }
    free(converted);
    PyBuffer_Release(&query);
    return out;
}

static PyObject *OfficialView_longest_matches(OfficialView *self, PyObject *args) {
    return per_token(self, args, 0);
}

static PyObject *OfficialView_infgram_probabilities(OfficialView *self, PyObject *args) {
    return per_token(self, args, 1);
}

/* use_keys(records, step): search from sampled keys (records of a key and a byte offset,
 * native uint64, one per `step` table entries; see official_search.h), or use_keys(None) to
 * stop. The view holds the buffer until it is replaced. Not while searches run. */
static PyObject *OfficialView_use_keys(OfficialView *self, PyObject *args) {
    PyObject *keys_obj;
    long long step = 0;
    if (!PyArg_ParseTuple(args, "O|L", &keys_obj, &step) || check_ready(self) < 0) return NULL;
    official_view view = self->view;
    Py_buffer keys;
    int have = keys_obj != Py_None;
    if (have) {
        if (PyObject_GetBuffer(keys_obj, &keys, PyBUF_SIMPLE) < 0) return NULL;
        if (keys.len % 16 != 0 || ((uintptr_t)keys.buf) % 8 != 0) {
            PyBuffer_Release(&keys);
            PyErr_Format(PyExc_ValueError, "expected 8-byte aligned records of 16 bytes, found %zd bytes", keys.len);
            return NULL;
        }
        view.keys = keys.buf;
        view.key_step = step;
        view.num_keys = keys.len / 16;
    } else {
        view.keys = NULL;
        view.key_step = 0;
        view.num_keys = 0;
    }
    damage_report report;
    damage_report_clear(&report);
    if (official_view_check(&view, &report) != INFGRAM_OK) {
        if (have) PyBuffer_Release(&keys);
        return raise_report(&report);
    }
    if (self->have_keys) PyBuffer_Release(&self->keys);
    self->have_keys = have;
    if (have) self->keys = keys;
    self->view = view;
    Py_RETURN_NONE;
}

static PyObject *OfficialView_read_from_disk(OfficialView *self, PyObject *args) {
    int on_disk;
    if (!PyArg_ParseTuple(args, "p", &on_disk) || check_ready(self) < 0) return NULL;
    official_view_read_from_disk(&self->view, on_disk);
    Py_RETURN_NONE;
}

static PyObject *OfficialView_get_num_positions(OfficialView *self, void *closure) {
    return PyLong_FromLongLong(self->ready ? (long long)self->view.num_positions : 0);
}

static PyMethodDef OfficialView_methods[] = {
    {"find", (PyCFunction)OfficialView_find, METH_VARARGS,
     "find(query, lo=0, hi=-1) -> (lo, hi): the run of suffixes that start with the query (big-endian token bytes)."},
    {"find_many", (PyCFunction)OfficialView_find_many, METH_VARARGS,
     "find_many(data: bytes, offsets: int64 bytes) -> bytes of int64 (lo, hi) pairs."},
    {"next_tokens", (PyCFunction)OfficialView_next_tokens, METH_VARARGS,
     "next_tokens(lo, hi, depth) -> (uint64 ids, int64 counts) in the run's byte order."},
    {"use_keys", (PyCFunction)OfficialView_use_keys, METH_VARARGS,
     "use_keys(records, step) or use_keys(None): search from sampled keys (16-byte records: key, byte offset)."},
    {"read_from_disk", (PyCFunction)OfficialView_read_from_disk, METH_VARARGS,
     "read_from_disk(flag): k-ary searches that ask for each step's pages at once (True), or binary ones."},
    {"longest_suffix", (PyCFunction)OfficialView_longest_suffix, METH_VARARGS,
     "longest_suffix(query) -> (length in tokens, lo, hi) of the longest suffix that occurs."},
    {"longest_matches", (PyCFunction)OfficialView_longest_matches, METH_VARARGS,
     "longest_matches(query) -> (lengths, counts) as int64 bytes."},
    {"infgram_probabilities", (PyCFunction)OfficialView_infgram_probabilities, METH_VARARGS,
     "infgram_probabilities(query, unigram_hi) -> (lengths, prompt counts, counts) as int64 bytes."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef OfficialView_getset[] = {
    {"num_positions", (getter)OfficialView_get_num_positions, NULL, "tokens in the shard, separators included", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject OfficialViewType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "infgram._official.OfficialView",
    .tp_basicsize = sizeof(OfficialView),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Searches over one shard of an official infini-gram index (see c/official_search.h).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)OfficialView_init,
    .tp_dealloc = (destructor)OfficialView_dealloc,
    .tp_methods = OfficialView_methods,
    .tp_getset = OfficialView_getset,
};

static struct PyModuleDef official_module = {
    PyModuleDef_HEAD_INIT, "_official",
    "The compiled searches over official infini-gram indexes; see src/infgram/c/official_search.h.", -1, NULL,
};

PyMODINIT_FUNC PyInit__official(void) {
    uint16_t probe = 1;
    if (*(unsigned char *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "infgram._official supports little-endian hosts only");
        return NULL;
    }
    if (binding_import_errors() < 0) return NULL;
    if (PyType_Ready(&OfficialViewType) < 0) return NULL;
    PyObject *m = PyModule_Create(&official_module);
    if (!m) return NULL;
    Py_INCREF(&OfficialViewType);
    if (PyModule_AddObject(m, "OfficialView", (PyObject *)&OfficialViewType) < 0) {
        Py_DECREF(&OfficialViewType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
