/* Optional C speed-up for nb_sse_signals._identity (pure-Python fallback there).
 *
 * identical_run(a, b, limit, from_end, skip): how many leading (or trailing) items
 * two lists share as the very same objects, at most `limit`, given that the first
 * `skip` are. The pure-Python proof costs one call per item (about 20 ns); here it
 * is one pointer comparison (under 1 ns), which keeps `ServerSignal.set()` of an
 * appended-to 100k-item list far below the cost of serialising it. Only the public
 * list API is used (PyList_GET_ITEM on an index below PyList_GET_SIZE).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static Py_ssize_t
run(PyObject *a, PyObject *b, Py_ssize_t limit, int from_end, Py_ssize_t skip)
{
    Py_ssize_t la = PyList_GET_SIZE(a), lb = PyList_GET_SIZE(b);
    if (limit > la) limit = la;
    if (limit > lb) limit = lb;
    if (limit <= skip) return limit < 0 ? 0 : limit;
    Py_ssize_t i = skip;
    if (from_end) {
        while (i < limit && PyList_GET_ITEM(a, la - 1 - i) == PyList_GET_ITEM(b, lb - 1 - i)) i++;
    } else {
        while (i < limit && PyList_GET_ITEM(a, i) == PyList_GET_ITEM(b, i)) i++;
    }
    return i;
}

static PyObject *
identical_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "identical_run() expected 5 arguments, got %zd", nargs);
        return NULL;
    }
    if (!PyList_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "identical_run() expected two lists");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    int from_end = PyObject_IsTrue(args[3]);
    if (from_end < 0) return NULL;
    Py_ssize_t skip = PyLong_AsSsize_t(args[4]);
    if (skip == -1 && PyErr_Occurred()) return NULL;
    if (skip < 0) skip = 0;
    Py_ssize_t result;
#ifdef Py_GIL_DISABLED
    /* Free-threaded Python: hold both lists still while we read them. */
    Py_BEGIN_CRITICAL_SECTION2(args[0], args[1]);
    result = run(args[0], args[1], limit, from_end, skip);
    Py_END_CRITICAL_SECTION2();
#else
    result = run(args[0], args[1], limit, from_end, skip);
#endif
    return PyLong_FromSsize_t(result);
}

static PyMethodDef methods[] = {
    {"identical_run", (PyCFunction)(void (*)(void))identical_run, METH_FASTCALL,
     "identical_run(a, b, limit, from_end, skip) -> int"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nb_sse_signals._speedups", NULL, 0, methods, slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module);
}
