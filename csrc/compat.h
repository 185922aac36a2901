/* compat.h -- the few newer C-API helpers we use, for Python 3.9 and 3.10.
 *
 * Only what this extension needs; each shim follows the documented
 * behaviour of the CPython function it stands in for. */
#ifndef XDIST_C_COMPAT_H
#define XDIST_C_COMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
_xc_Py_NewRef(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}
static inline PyObject *
_xc_Py_XNewRef(PyObject *obj)
{
    Py_XINCREF(obj);
    return obj;
}
#define Py_NewRef(obj) _xc_Py_NewRef((PyObject *)(obj))
#define Py_XNewRef(obj) _xc_Py_XNewRef((PyObject *)(obj))

static inline int
PyModule_AddObjectRef(PyObject *mod, const char *name, PyObject *value)
{
    int res;
    Py_XINCREF(value);
    res = PyModule_AddObject(mod, name, value);
    if (res < 0) {
        Py_XDECREF(value);
    }
    return res;
}
#endif

#if PY_VERSION_HEX < 0x030D0000
/* New reference in *result (NULL when missing); 1 found, 0 missing,
 * -1 error. */
static inline int
PyDict_GetItemRef(PyObject *mp, PyObject *key, PyObject **result)
{
    PyObject *item = PyDict_GetItemWithError(mp, key);
    if (item != NULL) {
        *result = Py_NewRef(item);
        return 1;
    }
    *result = NULL;
    return PyErr_Occurred() ? -1 : 0;
}
#endif

#endif /* XDIST_C_COMPAT_H */
