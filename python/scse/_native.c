/*
 * scse._native: the CPython binding of libscse (include/scse.h).
 *
 * The public Python API lives in scse/_layers.py; this module only checks
 * arrays, maps them onto the C ABI and turns library statuses into
 * scse.Error. Every library call runs with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
#include <numpy/arrayobject.h>

#include <stdint.h>
#include <string.h>

#include "scse.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define HEADER_VERSION \
  STR(SCSE_VERSION_MAJOR) "." STR(SCSE_VERSION_MINOR) "." STR(SCSE_VERSION_PATCH)

PyDoc_STRVAR(module_doc,
"Low-level binding of libscse; use the layer classes in ``scse`` instead.\n"
"\n"
"Activation arrays (``x``, ``grad_output``, ``out``) are float32 ndarrays of\n"
"shape (N, C, *spatial) with 1 to 3 spatial dimensions, no zero-size dimension,\n"
"4-byte aligned and dense in one of two memory orders: C-contiguous\n"
"(channels first, NCHW) or channels last (``x.transpose(0, 2, ..., 1)`` is\n"
"C-contiguous, NHWC). When both describe the memory (C == 1 or S == 1) it is\n"
"treated as channels first; the two orders coincide then. Outputs are\n"
"allocated in the memory order of ``x``.\n"
"\n"
"Gate arguments:\n"
"  cse: None or (hidden, fc1_weight, fc1_bias, fc2_weight, fc2_bias) with\n"
"       fc1_weight [hidden, C, 1...], fc1_bias [hidden] or None,\n"
"       fc2_weight [C, hidden, 1...], fc2_bias [C] or None; when hidden == 0\n"
"       the two weights may be None (they are never read then).\n"
"  sse: None or (weight, bias) with weight [K, C, 1...] (K >= 1 rows that\n"
"       are averaged) and bias [1] or None.\n"
"  At least one gate is required; with both the call is scSE and\n"
"  ``aggregate`` picks 0 (sum) or 1 (element-wise max).\n"
"  Parameter arrays must be float32 ndarrays; non-contiguous ones are copied.\n"
"\n"
"Functions:\n"
"  forward(x, cse=None, sse=None, aggregate=0, out=None) -> y\n"
"      ``out`` (optional) must be a writeable float32 array of x's shape and\n"
"      memory order; it may be x itself (in place). Returns ``out`` or a\n"
"      new array.\n"
"  backward(x, grad_output, cse=None, sse=None, aggregate=0, out=None)\n"
"      -> (grad_x, cse_grads or None, sse_grads or None)\n"
"      grad_output must have x's shape and be dense in either memory order; it is\n"
"      copied into x's order when that differs. ``out`` receives grad_x as\n"
"      forward's ``out`` receives y (it may be grad_output itself). cse_grads is\n"
"      (fc1_weight, fc1_bias or None, fc2_weight, fc2_bias or None) and\n"
"      sse_grads (weight, bias or None), each in the shape of the parameter\n"
"      passed (hidden == 0 with None weights: shapes (0, C) and (C, 0)).\n"
"  version() -> str, status_string(code) -> str,\n"
"  set_num_threads(n) -> None, get_num_threads() -> int, cpu_isa() -> str.\n"
"\n"
"This module checks what memory safety needs (types, dtypes, shapes that\n"
"fit together, memory order, alignment; the library refuses overlaps) and\n"
"the rank; the rules of the layers (their channel count, state_dict\n"
"shapes) are checked in Python, from scse/_contract.py.\n"
"Errors: TypeError for a non-ndarray or a non-float32 (or byte-swapped)\n"
"array, ValueError for a wrong shape, zero-size dimension, memory order,\n"
"misalignment or read-only ``out``; a failing library call raises Error\n"
"(message: scse_status_string, attribute ``status``: the status code).\n"
"HEADER_VERSION is the header version this module was compiled against and\n"
"AGGREGATE_SUM / AGGREGATE_MAX the header's scse_aggregate codes,\n"
"MIN_SPATIAL_DIMS / MAX_SPATIAL_DIMS the rank rule;\n"
"import fails if the loaded library reports another version.");

typedef struct {
  PyObject *error; /* scse._native.Error */
} module_state;

static module_state *get_state(PyObject *module) {
  return (module_state *)PyModule_GetState(module);
}

/* Raises scse.Error(scse_status_string(status)) with .status = status. */
static void raise_status(PyObject *module, scse_status status) {
  const char *text;
  Py_BEGIN_ALLOW_THREADS
  text = scse_status_string(status);
  Py_END_ALLOW_THREADS
  PyObject *exc = PyObject_CallFunction(get_state(module)->error, "s", text);
  if (exc == NULL) {
    return;
  }
  PyObject *code = PyLong_FromLong((long)status);
  if (code == NULL || PyObject_SetAttrString(exc, "status", code) < 0) {
    Py_XDECREF(code);
    Py_DECREF(exc);
    return;
  }
  Py_DECREF(code);
  PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
  Py_DECREF(exc);
}

/* ------------------------------------------------------------------------ */
/* Activation arrays                                                        */

/* Axis order that is C-contiguous for a layout: channels first is the
 * identity, channels last moves axis 1 to the end. */
static void layout_order(scse_layout layout, int ndim, int *order) {
  order[0] = 0;
  if (layout == SCSE_LAYOUT_CHANNELS_FIRST) {
    for (int i = 1; i < ndim; i++) order[i] = i;
  } else {
    for (int i = 1; i < ndim - 1; i++) order[i] = i + 1;
    order[ndim - 1] = 1;
  }
}

/* Whether arr's memory is dense in the given layout. Size-1 axes have no
 * meaningful stride, so they are skipped. */
static int is_dense_in(PyArrayObject *arr, scse_layout layout) {
  int ndim = PyArray_NDIM(arr);
  int order[NPY_MAXDIMS];
  const npy_intp *shape = PyArray_DIMS(arr);
  const npy_intp *strides = PyArray_STRIDES(arr);
  npy_intp expected = PyArray_ITEMSIZE(arr);
  layout_order(layout, ndim, order);
  for (int i = ndim - 1; i >= 0; i--) {
    int axis = order[i];
    if (shape[axis] == 1) continue;
    if (strides[axis] != expected) return 0;
    expected *= shape[axis];
  }
  return 1;
}

/* Inputs have 1 to 3 spatial dimensions. The C ABI takes only their
 * product; this is the Python API's rule (scse/_contract.py, which the
 * tests check against the values exported below). The binding enforces it
 * too because scse.torch's eager path leaves shape checks to it. */
#define MIN_SPATIAL_DIMS 1
#define MAX_SPATIAL_DIMS 3

/* Checks type, dtype and shape of an activation array (x, grad_output or out). */
static int check_activation(PyObject *obj, const char *name) {
  if (!PyArray_Check(obj)) {
    PyErr_Format(PyExc_TypeError,
                 "%s must be a numpy.ndarray of float32, got %.200s "
                 "(convert with numpy.asarray(..., dtype=numpy.float32))",
                 name, Py_TYPE(obj)->tp_name);
    return -1;
  }
  PyArrayObject *arr = (PyArrayObject *)obj;
  if (PyArray_TYPE(arr) != NPY_FLOAT32 || !PyArray_ISNOTSWAPPED(arr)) {
    PyErr_Format(PyExc_TypeError,
                 "%s must have dtype float32 in native byte order, got %S",
                 name, (PyObject *)PyArray_DESCR(arr));
    return -1;
  }
  int ndim = PyArray_NDIM(arr);
  if (ndim < 2 + MIN_SPATIAL_DIMS || ndim > 2 + MAX_SPATIAL_DIMS) {
    PyErr_Format(PyExc_ValueError,
                 "%s must have 3 to 5 dimensions (N, C, 1 to 3 spatial), "
                 "got %d", name, ndim);
    return -1;
  }
  for (int i = 0; i < ndim; i++) {
    if (PyArray_DIM(arr, i) == 0) {
      PyErr_Format(PyExc_ValueError,
                   "%s has a zero-size dimension (axis %d); every dimension "
                   "must be at least 1", name, i);
      return -1;
    }
  }
  if (!PyArray_ISALIGNED(arr)) {
    PyErr_Format(PyExc_ValueError, "%s is not aligned to 4 bytes", name);
    return -1;
  }
  return 0;
}

/* Layout of a checked activation array, or -1 with ValueError. */
static int detect_layout(PyArrayObject *arr, const char *name) {
  if (is_dense_in(arr, SCSE_LAYOUT_CHANNELS_FIRST)) {
    return SCSE_LAYOUT_CHANNELS_FIRST;
  }
  if (is_dense_in(arr, SCSE_LAYOUT_CHANNELS_LAST)) {
    return SCSE_LAYOUT_CHANNELS_LAST;
  }
  PyErr_Format(PyExc_ValueError,
               "%s must be dense: C-contiguous (channels first) or channels "
               "last (x.transpose(0, 2, ..., 1) C-contiguous); use "
               "numpy.ascontiguousarray to get a channels-first copy", name);
  return -1;
}

static int same_shape(PyArrayObject *a, PyArrayObject *b) {
  return PyArray_NDIM(a) == PyArray_NDIM(b) &&
         PyArray_CompareLists(PyArray_DIMS(a), PyArray_DIMS(b), PyArray_NDIM(a));
}

/* A new float32 array with like's shape, dense in the given layout. */
static PyArrayObject *new_activation(PyArrayObject *like, scse_layout layout) {
  int ndim = PyArray_NDIM(like);
  int order[NPY_MAXDIMS];
  npy_intp dims[NPY_MAXDIMS];
  layout_order(layout, ndim, order);
  for (int i = 0; i < ndim; i++) dims[i] = PyArray_DIM(like, order[i]);
  PyArrayObject *memory = (PyArrayObject *)PyArray_SimpleNew(ndim, dims, NPY_FLOAT32);
  if (memory == NULL || layout == SCSE_LAYOUT_CHANNELS_FIRST) {
    return memory;
  }
  /* Inverse permutation: result axis `order[i]` is memory axis i. */
  npy_intp inverse[NPY_MAXDIMS];
  for (int i = 0; i < ndim; i++) inverse[order[i]] = i;
  PyArray_Dims perm = {inverse, ndim};
  PyArrayObject *view = (PyArrayObject *)PyArray_Transpose(memory, &perm);
  Py_DECREF(memory);
  return view;
}

static void activation_sizes(PyArrayObject *x, int64_t *batch, int64_t *channels,
                             int64_t *spatial) {
  *batch = (int64_t)PyArray_DIM(x, 0);
  *channels = (int64_t)PyArray_DIM(x, 1);
  *spatial = 1;
  for (int i = 2; i < PyArray_NDIM(x); i++) *spatial *= (int64_t)PyArray_DIM(x, i);
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                               */

/* Converts a parameter to an aligned C-contiguous float32 array of shape
 * [rows, cols, 1...] (cols < 0: 1-D of length rows; rows < 0: any first
 * extent). Returns a new reference or NULL with an exception. */
static PyArrayObject *param_array(PyObject *obj, const char *name,
                                  npy_intp rows, npy_intp cols) {
  if (!PyArray_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "%s must be a numpy.ndarray of float32, got %.200s",
                 name, Py_TYPE(obj)->tp_name);
    return NULL;
  }
  PyArrayObject *arr = (PyArrayObject *)obj;
  if (PyArray_TYPE(arr) != NPY_FLOAT32) {
    PyErr_Format(PyExc_TypeError, "%s must have dtype float32, got %S",
                 name, (PyObject *)PyArray_DESCR(arr));
    return NULL;
  }
  int ndim = PyArray_NDIM(arr);
  int ok;
  if (cols < 0) {
    ok = ndim == 1 && PyArray_DIM(arr, 0) == rows;
  } else {
    ok = ndim >= 2 && (rows < 0 || PyArray_DIM(arr, 0) == rows) &&
         PyArray_DIM(arr, 1) == cols;
    for (int i = 2; ok && i < ndim; i++) ok = PyArray_DIM(arr, i) == 1;
  }
  if (!ok) {
    PyObject *shape = PyArray_IntTupleFromIntp(ndim, PyArray_DIMS(arr));
    if (shape == NULL) return NULL;
    if (cols < 0) {
      PyErr_Format(PyExc_ValueError, "%s must have shape (%zd,), got %R",
                   name, (Py_ssize_t)rows, shape);
    } else if (rows < 0) {
      PyErr_Format(PyExc_ValueError, "%s must have shape (K, %zd, 1...), got %R",
                   name, (Py_ssize_t)cols, shape);
    } else {
      PyErr_Format(PyExc_ValueError, "%s must have shape (%zd, %zd, 1...), got %R",
                   name, (Py_ssize_t)rows, (Py_ssize_t)cols, shape);
    }
    Py_DECREF(shape);
    return NULL;
  }
  return (PyArrayObject *)PyArray_FROM_OTF(obj, NPY_FLOAT32, NPY_ARRAY_IN_ARRAY);
}

static const float *param_data(PyArrayObject *arr) {
  return arr == NULL ? NULL : (const float *)PyArray_DATA(arr);
}

/* Owned arrays behind a channel gate. */
typedef struct {
  int present;
  scse_channel_gate gate;
  PyArrayObject *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} cse_args;

typedef struct {
  int present;
  scse_spatial_gate gate;
  PyArrayObject *weight, *bias;
} sse_args;

static void cse_release(cse_args *a) {
  Py_CLEAR(a->fc1_w);
  Py_CLEAR(a->fc1_b);
  Py_CLEAR(a->fc2_w);
  Py_CLEAR(a->fc2_b);
}

static void sse_release(sse_args *a) {
  Py_CLEAR(a->weight);
  Py_CLEAR(a->bias);
}

static int parse_cse(PyObject *obj, npy_intp channels, cse_args *a) {
  memset(a, 0, sizeof(*a));
  if (obj == Py_None) return 0;
  PyObject *w1, *b1, *w2, *b2;
  long long hidden;
  if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 5) {
    PyErr_SetString(PyExc_TypeError,
                    "cse must be None or a tuple (hidden, fc1_weight, fc1_bias, "
                    "fc2_weight, fc2_bias)");
    return -1;
  }
  if (!PyArg_ParseTuple(obj, "LOOOO;cse must be (hidden: int, fc1_weight, "
                        "fc1_bias, fc2_weight, fc2_bias)",
                        &hidden, &w1, &b1, &w2, &b2)) {
    return -1;
  }
  if (hidden < 0 || hidden > (long long)NPY_MAX_INTP) {
    PyErr_Format(PyExc_ValueError, "cse hidden width must be >= 0, got %lld", hidden);
    return -1;
  }
  npy_intp h = (npy_intp)hidden;
  a->present = 1;
  a->gate.hidden = (int64_t)hidden;
  /* With hidden == 0 the weights are empty: never read, and passed as NULL. */
  if (h > 0 || w1 != Py_None) {
    if ((a->fc1_w = param_array(w1, "fc1_weight", h, channels)) == NULL) goto fail;
  }
  if (h > 0 || w2 != Py_None) {
    if ((a->fc2_w = param_array(w2, "fc2_weight", channels, h)) == NULL) goto fail;
  }
  if (b1 != Py_None && (a->fc1_b = param_array(b1, "fc1_bias", h, -1)) == NULL) goto fail;
  if (b2 != Py_None && (a->fc2_b = param_array(b2, "fc2_bias", channels, -1)) == NULL) goto fail;
  if (h > 0) {
    a->gate.fc1_weight = param_data(a->fc1_w);
    a->gate.fc2_weight = param_data(a->fc2_w);
    a->gate.fc1_bias = param_data(a->fc1_b);
  }
  a->gate.fc2_bias = param_data(a->fc2_b);
  return 0;
fail:
  cse_release(a);
  return -1;
}

static int parse_sse(PyObject *obj, npy_intp channels, sse_args *a) {
  memset(a, 0, sizeof(*a));
  if (obj == Py_None) return 0;
  PyObject *w, *b;
  if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 2) {
    PyErr_SetString(PyExc_TypeError, "sse must be None or a tuple (weight, bias)");
    return -1;
  }
  w = PyTuple_GET_ITEM(obj, 0);
  b = PyTuple_GET_ITEM(obj, 1);
  a->present = 1;
  if ((a->weight = param_array(w, "sse weight", -1, channels)) == NULL) goto fail;
  if (PyArray_DIM(a->weight, 0) < 1) {
    PyErr_SetString(PyExc_ValueError, "sse weight needs at least one row");
    goto fail;
  }
  if (b != Py_None && (a->bias = param_array(b, "sse bias", 1, -1)) == NULL) goto fail;
  a->gate.weight_rows = (int64_t)PyArray_DIM(a->weight, 0);
  a->gate.weight = param_data(a->weight);
  a->gate.bias = param_data(a->bias);
  return 0;
fail:
  sse_release(a);
  return -1;
}

/* Parses the shared arguments: x, gates and aggregate. */
static int parse_common(PyObject *x_obj, PyObject *cse_obj, PyObject *sse_obj,
                        int aggregate, int *layout, cse_args *cse, sse_args *sse) {
  memset(cse, 0, sizeof(*cse));
  memset(sse, 0, sizeof(*sse));
  if (check_activation(x_obj, "x") < 0) return -1;
  if ((*layout = detect_layout((PyArrayObject *)x_obj, "x")) < 0) return -1;
  if (aggregate != SCSE_AGGREGATE_SUM && aggregate != SCSE_AGGREGATE_MAX) {
    PyErr_Format(PyExc_ValueError, "aggregate must be 0 (sum) or 1 (max), got %d",
                 aggregate);
    return -1;
  }
  if (cse_obj == Py_None && sse_obj == Py_None) {
    PyErr_SetString(PyExc_ValueError, "at least one of cse and sse must be given");
    return -1;
  }
  npy_intp channels = PyArray_DIM((PyArrayObject *)x_obj, 1);
  if (parse_cse(cse_obj, channels, cse) < 0) return -1;
  if (parse_sse(sse_obj, channels, sse) < 0) {
    cse_release(cse);
    return -1;
  }
  return 0;
}

/* The array an entry point writes its activation-shaped result to: out_obj
 * checked (a writeable float32 array of x's shape and memory order), or a new
 * array in x's layout when it is None. A new reference, or NULL with
 * ValueError/TypeError set. Overlap with the inputs is the library's to
 * judge (SCSE_STATUS_ALIASING). */
static PyArrayObject *output_for(PyObject *out_obj, PyArrayObject *x, scse_layout layout) {
  if (out_obj == Py_None) return new_activation(x, layout);
  if (check_activation(out_obj, "out") < 0) return NULL;
  PyArrayObject *out = (PyArrayObject *)out_obj;
  if (!same_shape(x, out)) {
    PyErr_SetString(PyExc_ValueError, "out must have the shape of x");
    return NULL;
  }
  if (!is_dense_in(out, layout)) {
    PyErr_SetString(PyExc_ValueError, "out must have the memory order of x");
    return NULL;
  }
  /* numpy raises ValueError("out is read-only") here. */
  if (PyArray_FailUnlessWriteable(out, "out") < 0) return NULL;
  Py_INCREF(out);
  return out;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */

PyDoc_STRVAR(forward_doc,
"forward(x, cse=None, sse=None, aggregate=0, out=None) -> y\n\n"
"cSE, sSE or scSE forward (see the module docstring).");

static PyObject *native_forward(PyObject *module, PyObject *args, PyObject *kwargs) {
  static char *keywords[] = {"x", "cse", "sse", "aggregate", "out", NULL};
  PyObject *x_obj, *cse_obj = Py_None, *sse_obj = Py_None, *out_obj = Py_None;
  int aggregate = SCSE_AGGREGATE_SUM, layout;
  cse_args cse;
  sse_args sse;
  PyArrayObject *y = NULL;
  scse_status status;

  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOiO:forward", keywords, &x_obj,
                                   &cse_obj, &sse_obj, &aggregate, &out_obj)) {
    return NULL;
  }
  if (parse_common(x_obj, cse_obj, sse_obj, aggregate, &layout, &cse, &sse) < 0) {
    return NULL;
  }
  PyArrayObject *x = (PyArrayObject *)x_obj;
  if ((y = output_for(out_obj, x, (scse_layout)layout)) == NULL) goto fail;

  int64_t n, c, s;
  activation_sizes(x, &n, &c, &s);
  const float *xd = (const float *)PyArray_DATA(x);
  float *yd = (float *)PyArray_DATA(y);
  Py_BEGIN_ALLOW_THREADS
  if (cse.present && sse.present) {
    status = scse_scse_forward(n, c, s, (scse_layout)layout, (scse_aggregate)aggregate,
                               &cse.gate, &sse.gate, xd, yd);
  } else if (cse.present) {
    status = scse_cse_forward(n, c, s, (scse_layout)layout, &cse.gate, xd, yd);
  } else {
    status = scse_sse_forward(n, c, s, (scse_layout)layout, &sse.gate, xd, yd);
  }
  Py_END_ALLOW_THREADS
  if (status != SCSE_STATUS_SUCCESS) {
    raise_status(module, status);
    goto fail;
  }
  cse_release(&cse);
  sse_release(&sse);
  return (PyObject *)y;
fail:
  cse_release(&cse);
  sse_release(&sse);
  Py_XDECREF(y);
  return NULL;
}

/* A zero-initialised float32 array with the shape of a parameter. */
static PyArrayObject *grad_like(PyArrayObject *param, npy_intp d0, npy_intp d1) {
  if (param != NULL) {
    return (PyArrayObject *)PyArray_ZEROS(PyArray_NDIM(param), PyArray_DIMS(param),
                                          NPY_FLOAT32, 0);
  }
  npy_intp dims[2] = {d0, d1};
  return (PyArrayObject *)PyArray_ZEROS(2, dims, NPY_FLOAT32, 0);
}

static float *grad_data(PyArrayObject *arr) {
  return arr == NULL ? NULL : (float *)PyArray_DATA(arr);
}

PyDoc_STRVAR(backward_doc,
"backward(x, grad_output, cse=None, sse=None, aggregate=0, out=None)\n"
"    -> (grad_x, cse_grads or None, sse_grads or None)\n\n"
"Gradients of sum(grad_output * forward(x)) (see the module docstring);\n"
"grad_x is written to ``out`` when given (as forward's ``out``; it may be\n"
"grad_output itself).");

static PyObject *native_backward(PyObject *module, PyObject *args, PyObject *kwargs) {
  static char *keywords[] = {"x", "grad_output", "cse", "sse", "aggregate", "out", NULL};
  PyObject *x_obj, *gy_obj, *cse_obj = Py_None, *sse_obj = Py_None, *out_obj = Py_None;
  int aggregate = SCSE_AGGREGATE_SUM, layout;
  cse_args cse;
  sse_args sse;
  PyArrayObject *gy = NULL, *gx = NULL;
  PyArrayObject *g_w1 = NULL, *g_b1 = NULL, *g_w2 = NULL, *g_b2 = NULL;
  PyArrayObject *g_sw = NULL, *g_sb = NULL;
  PyObject *cse_grads = NULL, *sse_grads = NULL, *result = NULL;
  scse_status status;

  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OOiO:backward", keywords, &x_obj,
                                   &gy_obj, &cse_obj, &sse_obj, &aggregate, &out_obj)) {
    return NULL;
  }
  if (parse_common(x_obj, cse_obj, sse_obj, aggregate, &layout, &cse, &sse) < 0) {
    return NULL;
  }
  PyArrayObject *x = (PyArrayObject *)x_obj;
  if (check_activation(gy_obj, "grad_output") < 0) goto fail;
  if (!same_shape(x, (PyArrayObject *)gy_obj)) {
    PyErr_SetString(PyExc_ValueError, "grad_output must have the shape of x");
    goto fail;
  }
  if (is_dense_in((PyArrayObject *)gy_obj, (scse_layout)layout)) {
    gy = (PyArrayObject *)gy_obj;
    Py_INCREF(gy);
  } else {
    if (detect_layout((PyArrayObject *)gy_obj, "grad_output") < 0) goto fail;
    if ((gy = new_activation(x, (scse_layout)layout)) == NULL) goto fail;
    if (PyArray_CopyInto(gy, (PyArrayObject *)gy_obj) < 0) goto fail;
  }
  if ((gx = output_for(out_obj, x, (scse_layout)layout)) == NULL) goto fail;

  npy_intp channels = PyArray_DIM(x, 1), hidden = (npy_intp)cse.gate.hidden;
  scse_channel_gate_grad cg = {NULL, NULL, NULL, NULL};
  scse_spatial_gate_grad sg = {NULL, NULL};
  if (cse.present) {
    if ((g_w1 = grad_like(cse.fc1_w, hidden, channels)) == NULL) goto fail;
    if ((g_w2 = grad_like(cse.fc2_w, channels, hidden)) == NULL) goto fail;
    if (cse.fc1_b != NULL && (g_b1 = grad_like(cse.fc1_b, 0, 0)) == NULL) goto fail;
    if (cse.fc2_b != NULL && (g_b2 = grad_like(cse.fc2_b, 0, 0)) == NULL) goto fail;
    if (hidden > 0) {
      cg.fc1_weight_out = grad_data(g_w1);
      cg.fc2_weight_out = grad_data(g_w2);
      cg.fc1_bias_out = grad_data(g_b1);
    }
    cg.fc2_bias_out = grad_data(g_b2);
  }
  if (sse.present) {
    if ((g_sw = grad_like(sse.weight, 0, 0)) == NULL) goto fail;
    if (sse.bias != NULL && (g_sb = grad_like(sse.bias, 0, 0)) == NULL) goto fail;
    sg.weight_out = grad_data(g_sw);
    sg.bias_out = grad_data(g_sb);
  }

  int64_t n, c, s;
  activation_sizes(x, &n, &c, &s);
  const float *xd = (const float *)PyArray_DATA(x);
  const float *gyd = (const float *)PyArray_DATA(gy);
  float *gxd = (float *)PyArray_DATA(gx);
  Py_BEGIN_ALLOW_THREADS
  if (cse.present && sse.present) {
    status = scse_scse_backward(n, c, s, (scse_layout)layout, (scse_aggregate)aggregate,
                                &cse.gate, &sse.gate, xd, gyd, gxd, &cg, &sg);
  } else if (cse.present) {
    status = scse_cse_backward(n, c, s, (scse_layout)layout, &cse.gate, xd, gyd, gxd, &cg);
  } else {
    status = scse_sse_backward(n, c, s, (scse_layout)layout, &sse.gate, xd, gyd, gxd, &sg);
  }
  Py_END_ALLOW_THREADS
  if (status != SCSE_STATUS_SUCCESS) {
    raise_status(module, status);
    goto fail;
  }

  if (cse.present) {
    cse_grads = Py_BuildValue("(OOOO)", g_w1, g_b1 ? (PyObject *)g_b1 : Py_None,
                              g_w2, g_b2 ? (PyObject *)g_b2 : Py_None);
    if (cse_grads == NULL) goto fail;
  } else {
    Py_INCREF(Py_None);
    cse_grads = Py_None;
  }
  if (sse.present) {
    sse_grads = Py_BuildValue("(OO)", g_sw, g_sb ? (PyObject *)g_sb : Py_None);
    if (sse_grads == NULL) goto fail;
  } else {
    Py_INCREF(Py_None);
    sse_grads = Py_None;
  }
  result = PyTuple_Pack(3, (PyObject *)gx, cse_grads, sse_grads);
fail:
  cse_release(&cse);
  sse_release(&sse);
  Py_XDECREF(gy);
  Py_XDECREF(gx);
  Py_XDECREF(g_w1);
  Py_XDECREF(g_b1);
  Py_XDECREF(g_w2);
  Py_XDECREF(g_b2);
  Py_XDECREF(g_sw);
  Py_XDECREF(g_sb);
  Py_XDECREF(cse_grads);
  Py_XDECREF(sse_grads);
  return result;
}

/* A Python int that fits in a C int (PyLong_AsInt is 3.13+ only). */
static int as_int(PyObject *obj, int *value) {
  long v = PyLong_AsLong(obj);
  if (v == -1 && PyErr_Occurred()) return -1;
  if (v < INT32_MIN || v > INT32_MAX) {
    PyErr_SetString(PyExc_OverflowError, "value does not fit in a 32-bit int");
    return -1;
  }
  *value = (int)v;
  return 0;
}

PyDoc_STRVAR(version_doc, "version() -> str\n\nscse_version(): the library's version.");

static PyObject *native_version(PyObject *module, PyObject *unused) {
  const char *text;
  Py_BEGIN_ALLOW_THREADS
  text = scse_version();
  Py_END_ALLOW_THREADS
  return PyUnicode_FromString(text);
}

PyDoc_STRVAR(status_string_doc,
"status_string(code) -> str\n\nscse_status_string(code): description of a status.");

static PyObject *native_status_string(PyObject *module, PyObject *arg) {
  int code;
  if (as_int(arg, &code) < 0) return NULL;
  const char *text;
  Py_BEGIN_ALLOW_THREADS
  text = scse_status_string((scse_status)code);
  Py_END_ALLOW_THREADS
  return PyUnicode_FromString(text);
}

PyDoc_STRVAR(set_num_threads_doc,
"set_num_threads(n) -> None\n\n"
"scse_set_num_threads(n): n >= 1 threads, 0 for the default (SCSE_NUM_THREADS\n"
"or the number of online processors). Negative n raises Error.");

static PyObject *native_set_num_threads(PyObject *module, PyObject *arg) {
  int n;
  scse_status status;
  if (as_int(arg, &n) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  status = scse_set_num_threads((int32_t)n);
  Py_END_ALLOW_THREADS
  if (status != SCSE_STATUS_SUCCESS) {
    raise_status(module, status);
    return NULL;
  }
  Py_RETURN_NONE;
}

PyDoc_STRVAR(get_num_threads_doc,
"get_num_threads() -> int\n\nscse_get_num_threads(): threads later calls use.");

static PyObject *native_get_num_threads(PyObject *module, PyObject *unused) {
  int32_t n;
  Py_BEGIN_ALLOW_THREADS
  n = scse_get_num_threads();
  Py_END_ALLOW_THREADS
  return PyLong_FromLong((long)n);
}

PyDoc_STRVAR(cpu_isa_doc,
"cpu_isa() -> str\n\nscse_cpu_isa(): the kernel variant in use, \"avx2\" or \"baseline\".");

static PyObject *native_cpu_isa(PyObject *module, PyObject *unused) {
  const char *text;
  Py_BEGIN_ALLOW_THREADS
  text = scse_cpu_isa();
  Py_END_ALLOW_THREADS
  return PyUnicode_FromString(text);
}

static PyMethodDef native_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))native_forward, METH_VARARGS | METH_KEYWORDS,
     forward_doc},
    {"backward", (PyCFunction)(void (*)(void))native_backward, METH_VARARGS | METH_KEYWORDS,
     backward_doc},
    {"version", native_version, METH_NOARGS, version_doc},
    {"status_string", native_status_string, METH_O, status_string_doc},
    {"set_num_threads", native_set_num_threads, METH_O, set_num_threads_doc},
    {"get_num_threads", native_get_num_threads, METH_NOARGS, get_num_threads_doc},
    {"cpu_isa", native_cpu_isa, METH_NOARGS, cpu_isa_doc},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------------ */
/* Module                                                                   */

PyDoc_STRVAR(error_doc,
"A libscse call failed. ``status`` is the scse_status code; the message is\n"
"scse_status_string(status).");

static int native_exec(PyObject *module) {
  module_state *state = get_state(module);
  PyObject *attrs = NULL;
  const char *runtime;

  if (PyArray_ImportNumPyAPI() < 0) return -1;

  /* The binding is compiled against one header; a library reporting another
   * version may have another ABI, so refuse to load rather than misbehave. */
  Py_BEGIN_ALLOW_THREADS
  runtime = scse_version();
  Py_END_ALLOW_THREADS
  if (strcmp(runtime, HEADER_VERSION) != 0) {
    PyErr_Format(PyExc_ImportError,
                 "scse._native was built for libscse " HEADER_VERSION
                 " but loaded libscse %s", runtime);
    return -1;
  }

  if ((attrs = PyDict_New()) == NULL) goto fail;
  /* Class-level default so that user-made instances have the attribute. */
  if (PyDict_SetItemString(attrs, "status", Py_None) < 0) goto fail;
  state->error = PyErr_NewExceptionWithDoc("scse.Error", error_doc,
                                           PyExc_Exception, attrs);
  if (state->error == NULL) goto fail;
  if (PyModule_AddType(module, (PyTypeObject *)state->error) < 0) goto fail;
  if (PyModule_AddStringConstant(module, "HEADER_VERSION", HEADER_VERSION) < 0) goto fail;
  if (PyModule_AddIntConstant(module, "AGGREGATE_SUM", SCSE_AGGREGATE_SUM) < 0) goto fail;
  if (PyModule_AddIntConstant(module, "AGGREGATE_MAX", SCSE_AGGREGATE_MAX) < 0) goto fail;
  if (PyModule_AddIntConstant(module, "MIN_SPATIAL_DIMS", MIN_SPATIAL_DIMS) < 0) goto fail;
  if (PyModule_AddIntConstant(module, "MAX_SPATIAL_DIMS", MAX_SPATIAL_DIMS) < 0) goto fail;
  Py_DECREF(attrs);
  return 0;
fail:
  Py_XDECREF(attrs);
  return -1;
}

static PyModuleDef_Slot native_slots[] = {
    {Py_mod_exec, (void *)native_exec},
#ifdef Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED
    /* NumPy does not support subinterpreters. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#ifdef Py_MOD_GIL_NOT_USED
    /* No mutable module-level state; the library is reentrant. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static int native_traverse(PyObject *module, visitproc visit, void *arg) {
  module_state *state = get_state(module);
  if (state != NULL) Py_VISIT(state->error);
  return 0;
}

static int native_clear(PyObject *module) {
  module_state *state = get_state(module);
  if (state != NULL) Py_CLEAR(state->error);
  return 0;
}

static void native_free(void *module) { native_clear((PyObject *)module); }

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    "scse._native",
    module_doc,
    sizeof(module_state),
    native_methods,
    native_slots,
    native_traverse,
    native_clear,
    native_free,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModuleDef_Init(&native_module); }
