/*
 * infgram._fm: the Python bindings of the FM-index (c/fm_index.h: counting, locating,
 * extracting) and of the bit-level build steps (c/fm_build.h, with the RRR layout of c/rrr.h).
 *
 * Each binding parses its arguments, releases the GIL around the C call and turns its return
 * code into an exception: INFGRAM_DAMAGED into infgram.errors.IndexFormatError,
 * INFGRAM_INVALID_ARGUMENT into ValueError, INFGRAM_NO_MEMORY into MemoryError. An FMView
 * holds its two buffers for its lifetime.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "c/find_many.h"
#include "_binding.h"
#include "c/fm_build.h"
#include "c/fm_index.h"
#include "c/rrr.h"


typedef struct {
    PyObject_HEAD
    fm_index index;
    Py_buffer wavelet, samples;
    int have_wavelet, have_samples, ready;
} FMView;

static int FMView_init(FMView *self, PyObject *args, PyObject *kwds) {
    PyObject *wavelet_obj, *samples_obj;
    if (!PyArg_ParseTuple(args, "OO", &wavelet_obj, &samples_obj)) return -1;
    if (self->have_wavelet || self->have_samples) {
        PyErr_SetString(PyExc_ValueError, "this view is initialized already");
        return -1;
    }
    if (PyObject_GetBuffer(wavelet_obj, &self->wavelet, PyBUF_SIMPLE) < 0) return -1;
    self->have_wavelet = 1;
    if (PyObject_GetBuffer(samples_obj, &self->samples, PyBUF_SIMPLE) < 0) return -1;
    self->have_samples = 1;
    damage_report report;
    damage_report_clear(&report);
    if (fm_index_open(&self->index, self->wavelet.buf, (uint64_t)self->wavelet.len, self->samples.buf,
                      (uint64_t)self->samples.len, &report) != INFGRAM_OK) {
        raise_report(&report);
        return -1;
    }
    self->ready = 1;
    return 0;
}

static void FMView_dealloc(FMView *self) {
    if (self->have_wavelet) PyBuffer_Release(&self->wavelet);
    if (self->have_samples) PyBuffer_Release(&self->samples);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_ready(const FMView *self) {
    if (self->ready) return 0;
    PyErr_SetString(PyExc_ValueError, "the view is not initialized");
    return -1;
}

static PyObject *FMView_find(FMView *self, PyObject *args) {
    Py_buffer query;
    if (!PyArg_ParseTuple(args, "y*", &query)) return NULL;
    if (check_ready(self) < 0) {
        PyBuffer_Release(&query);
        return NULL;
    }
    int64_t lo, hi;
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = fm_find(&self->index, query.buf, query.len, &lo, &hi, &report);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&query);
    if (status != INFGRAM_OK) return raise_report(&report);
    return Py_BuildValue("LL", (long long)lo, (long long)hi);
}

/* find_many(data, offsets) -> bytes of int64 (lo, hi) pairs, as _core.ShardView.find_many. */
static PyObject *FMView_find_many(FMView *self, PyObject *args) {
    return binding_find_many(args, &self->index, fm_find_from, check_ready(self));
}

/* Parse two integers that must satisfy 0 <= a <= b <= num_positions. */
static int parse_range(FMView *self, PyObject *args, long long *a, long long *b, const char *what) {
    if (!PyArg_ParseTuple(args, "LL", a, b) || check_ready(self) < 0) return -1;
    if (*a < 0 || *b < *a || (uint64_t)*b > self->index.n) {
        PyErr_Format(PyExc_ValueError, "%s out of bounds", what);
        return -1;
    }
    return 0;
}

/* locate(lo, hi) -> bytes of int64: the text position of every row in [lo, hi). */
static PyObject *FMView_locate(FMView *self, PyObject *args) {
    long long lo, hi;
    if (parse_range(self, args, &lo, &hi, "rows") < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(hi - lo) * (Py_ssize_t)sizeof(int64_t));
    if (!out) return NULL;
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = fm_locate(&self->index, (uint64_t)lo, (uint64_t)hi, (int64_t *)PyBytes_AS_STRING(out), &report);
    Py_END_ALLOW_THREADS
    if (status != INFGRAM_OK) Py_SETREF(out, raise_report(&report));
    return out;
}

/* extract(start, end) -> bytes: the text T[start, end). */
static PyObject *FMView_extract(FMView *self, PyObject *args) {
    long long start, end;
    if (parse_range(self, args, &start, &end, "text range") < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(end - start));
    if (!out) return NULL;
    damage_report report;
    damage_report_clear(&report);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = fm_extract(&self->index, (uint64_t)start, (uint64_t)end, (unsigned char *)PyBytes_AS_STRING(out), &report);
    Py_END_ALLOW_THREADS
    if (status != INFGRAM_OK) Py_SETREF(out, raise_report(&report));
    return out;
}

/* access(row) -> the BWT symbol at row (for tests). */
static PyObject *FMView_access(FMView *self, PyObject *args) {
    long long row;
    if (!PyArg_ParseTuple(args, "L", &row) || check_ready(self) < 0) return NULL;
    if (row < 0 || (uint64_t)row >= self->index.n) {
        PyErr_SetString(PyExc_ValueError, "row out of bounds");
        return NULL;
    }
    damage_report report;
    damage_report_clear(&report);
    int symbol;
    if (fm_access(&self->index, (uint64_t)row, &symbol, &report) != INFGRAM_OK) return raise_report(&report);
    return PyLong_FromLong(symbol);
}

/* rank(symbol, row) -> occurrences of the symbol in BWT[0, row) (for tests). */
static PyObject *FMView_rank(FMView *self, PyObject *args) {
    int symbol;
    long long row;
    if (!PyArg_ParseTuple(args, "iL", &symbol, &row) || check_ready(self) < 0) return NULL;
    if (symbol < 0 || symbol > 255 || row < 0 || (uint64_t)row > self->index.n) {
        PyErr_SetString(PyExc_ValueError, "symbol or row out of bounds");
        return NULL;
    }
    damage_report report;
    damage_report_clear(&report);
    uint64_t rank;
    if (fm_rank(&self->index, symbol, (uint64_t)row, &rank, &report) != INFGRAM_OK) return raise_report(&report);
    return PyLong_FromUnsignedLongLong(rank);
}

static PyObject *FMView_get_num_positions(FMView *self, void *closure) {
    return PyLong_FromUnsignedLongLong(self->ready ? self->index.n : 0);
}

static PyMethodDef FMView_methods[] = {
    {"find", (PyCFunction)FMView_find, METH_VARARGS, "find(query: bytes) -> (lo, hi): the rows whose suffixes start with it."},
    {"find_many", (PyCFunction)FMView_find_many, METH_VARARGS,
     "find_many(data: bytes, offsets: int64 bytes) -> bytes of int64 (lo, hi) pairs."},
    {"locate", (PyCFunction)FMView_locate, METH_VARARGS, "locate(lo, hi) -> int64 bytes: text positions of rows lo..hi-1."},
    {"extract", (PyCFunction)FMView_extract, METH_VARARGS, "extract(start, end) -> bytes: the text between two positions."},
    {"access", (PyCFunction)FMView_access, METH_VARARGS, "access(row) -> the BWT symbol at a row."},
    {"rank", (PyCFunction)FMView_rank, METH_VARARGS, "rank(symbol, row) -> occurrences of the symbol in BWT[0, row)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FMView_getset[] = {
    {"num_positions", (getter)FMView_get_num_positions, NULL, "bytes in the shard, separators included", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FMViewType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "infgram._fm.FMView",
    .tp_basicsize = sizeof(FMView),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Searches over one shard of an FM-index (see c/fm_index.h).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FMView_init,
    .tp_dealloc = (destructor)FMView_dealloc,
    .tp_methods = FMView_methods,
    .tp_getset = FMView_getset,
};

/* ---- construction (called by build/fm_writer.py) ------------------------------------------ */

/* fill_wavelet_bits(bwt, codes, lengths, children, cursors, bits): for every symbol of the
 * chunk, set its code bits in the nodes on its path (c/fm_build.h). */
static PyObject *module_fill_wavelet_bits(PyObject *module, PyObject *args) {
    Py_buffer bwt, codes, lengths, children, cursors, bits;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*", &bwt, &codes, &lengths, &children, &cursors, &bits)) return NULL;
    damage_report report;
    damage_report_clear(&report);
    int status = INFGRAM_OK;
    int64_t num_nodes = cursors.len / 8;
    if (codes.len < 256 * 8 || lengths.len < 256 || children.len < num_nodes * 8)
        status = report_problem(&report, INFGRAM_INVALID_ARGUMENT, "expected 256 codes and lengths and two children "
                                "per cursor, found %zd, %zd and %zd bytes", codes.len, lengths.len, children.len);
    if (status == INFGRAM_OK) {
        Py_BEGIN_ALLOW_THREADS
        status = fill_wavelet_bits(bwt.buf, bwt.len, codes.buf, lengths.buf, children.buf, num_nodes, cursors.buf,
                                   bits.buf, (uint64_t)bits.len / 8, &report);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&bwt);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&lengths);
    PyBuffer_Release(&children);
    PyBuffer_Release(&cursors);
    PyBuffer_Release(&bits);
    if (status != INFGRAM_OK) return raise_report(&report);
    Py_RETURN_NONE;
}

/* rrr_compress(bits, num_bits) -> (superblocks, hyperblocks, offsets): the RRR form of the
 * bitvector bits[0, num_bits) as the three sections of fm_wavelet.bin (c/rrr.h). */
static PyObject *module_rrr_compress(PyObject *module, PyObject *args) {
    Py_buffer bits;
    unsigned long long num_bits;
    if (!PyArg_ParseTuple(args, "y*K", &bits, &num_bits)) return NULL;
    uint64_t num_blocks = rrr_num_blocks(num_bits), offset_bits = 0;
    PyObject *superblocks = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(rrr_num_superblocks(num_blocks) * 8 * RRR_RECORD_WORDS));
    PyObject *hyperblocks = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(rrr_num_hyperblocks(num_blocks) * 16));
    PyObject *offsets = NULL, *result = NULL;
    damage_report report;
    damage_report_clear(&report);
    int status = INFGRAM_NO_MEMORY;
    if (superblocks && hyperblocks) {
        Py_BEGIN_ALLOW_THREADS
        status = rrr_layout(bits.buf, (uint64_t)bits.len / 8, num_bits, (uint64_t *)PyBytes_AS_STRING(superblocks),
                            (uint64_t *)PyBytes_AS_STRING(hyperblocks), &offset_bits, &report);
        Py_END_ALLOW_THREADS
    }
    if (status == INFGRAM_OK) {
        uint64_t offset_words = offset_bits / 64 + 2;
        offsets = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(offset_words * 8));
        status = offsets ? INFGRAM_OK : INFGRAM_NO_MEMORY;
        if (offsets) {
            uint64_t *words = (uint64_t *)PyBytes_AS_STRING(offsets);
            memset(words, 0, offset_words * 8);
            Py_BEGIN_ALLOW_THREADS
            status = rrr_offsets(bits.buf, (uint64_t)bits.len / 8, num_bits, (uint64_t *)PyBytes_AS_STRING(superblocks),
                                 (uint64_t *)PyBytes_AS_STRING(hyperblocks), 0, num_blocks, words, offset_words, &report);
            Py_END_ALLOW_THREADS
        }
    }
    if (status == INFGRAM_OK) result = Py_BuildValue("NNN", superblocks, hyperblocks, offsets);
    else {
        Py_XDECREF(superblocks);
        Py_XDECREF(hyperblocks);
        Py_XDECREF(offsets);
        if (!PyErr_Occurred()) raise_report(&report);
    }
    PyBuffer_Release(&bits);
    return result;
}

/* pack_bits(values: uint64 buffer, width) -> bytes: the values back to back in `width` bits,
 * padded to whole 64-bit words plus one. */
static PyObject *module_pack_bits(PyObject *module, PyObject *args) {
    Py_buffer values;
    int width;
    if (!PyArg_ParseTuple(args, "y*i", &values, &width)) return NULL;
    if (width < 0 || width > 64 || values.len % 8 != 0) {
        PyBuffer_Release(&values);
        PyErr_SetString(PyExc_ValueError, "width must be 0..64 and values whole uint64s");
        return NULL;
    }
    uint64_t count = (uint64_t)values.len / 8;
    Py_ssize_t num_words = (Py_ssize_t)((count * (uint64_t)width + 63) / 64) + 1;
    PyObject *out = PyBytes_FromStringAndSize(NULL, num_words * 8);
    if (out) {
        uint64_t *words = (uint64_t *)PyBytes_AS_STRING(out);
        memset(words, 0, (size_t)num_words * 8);
        pack_bits(values.buf, count, width, words);
    }
    PyBuffer_Release(&values);
    return out;
}

static PyMethodDef module_methods[] = {
    {"fill_wavelet_bits", module_fill_wavelet_bits, METH_VARARGS, "Set the wavelet-tree node bits of a chunk of the BWT."},
    {"rrr_compress", module_rrr_compress, METH_VARARGS,
     "rrr_compress(bits, num_bits) -> (superblocks, hyperblocks, offsets) bytes: the RRR sections of a bitvector."},
    {"pack_bits", module_pack_bits, METH_VARARGS, "Pack uint64 values into fixed-width bit fields."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fm_module = {
    PyModuleDef_HEAD_INIT, "_fm", "The compiled core of the FM-index; see src/infgram/c/fm_index.h.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__fm(void) {
    uint16_t probe = 1;
    if (*(unsigned char *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "infgram._fm supports little-endian hosts only");
        return NULL;
    }
    rrr_tables_init();
    if (binding_import_errors() < 0) return NULL;
    if (PyType_Ready(&FMViewType) < 0) return NULL;
    PyObject *m = PyModule_Create(&fm_module);
    if (!m) return NULL;
    Py_INCREF(&FMViewType);
    if (PyModule_AddObject(m, "FMView", (PyObject *)&FMViewType) < 0) {
        Py_DECREF(&FMViewType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "BLOCK_BITS", RRR_BLOCK_BITS);
    PyModule_AddIntConstant(m, "SUPERBLOCK_BLOCKS", RRR_SUPERBLOCK_BLOCKS);
    PyModule_AddIntConstant(m, "HYPERBLOCK_BLOCKS", RRR_HYPERBLOCK_BLOCKS);
    PyModule_AddIntConstant(m, "CLASSES_PER_WORD", RRR_CLASSES_PER_WORD);
    PyModule_AddIntConstant(m, "CLASSES_IN_SAMPLE", RRR_CLASSES_IN_SAMPLE);
    PyModule_AddIntConstant(m, "SELECT_SAMPLE", FM_SELECT_SAMPLE);
    return m;
}
