/* module.c -- xdist_c._core: module definition, multi-phase init, state.
 *
 * Python equivalent:
 *
 *     from ._codec import *; from ._pump import *; from ._sched import *
 *     from ._hookexec import *
 *
 * All state lives in the per-module xc_state (see xdist_core.h); there are
 * no mutable static globals, so the module can be loaded in several
 * sub-interpreters and re-imported after being removed from sys.modules.
 */
#include "xdist_core.h"

PyTypeObject *
xc_add_type(PyObject *module, PyType_Spec *spec, PyObject *base)
{
    PyTypeObject *tp =
        (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, base);
    if (tp == NULL) {
        return NULL;
    }
    if (PyModule_AddType(module, tp) < 0) {
        Py_DECREF(tp);
        return NULL;
    }
    return tp;
}

int
xc_intern_names(void *state, const xc_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        PyObject **field = (PyObject **)((char *)state + names[i].offset);
        *field = PyUnicode_InternFromString(names[i].text);
        if (*field == NULL) {
            return -1;
        }
    }
    return 0;
}

void
xc_clear_names(void *state, const xc_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Py_CLEAR(*(PyObject **)((char *)state + names[i].offset));
    }
}

xc_state *
xc_state_from_type(PyTypeObject *tp)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *mod = PyType_GetModuleByDef(tp, &xc_module_def); /* borrowed */
    if (mod != NULL) {
        return xc_state_from_module(mod);
    }
    if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
        return NULL;
    }
    PyErr_Clear();
#else
    /* PyType_GetModuleByDef's walk, for Python 3.9 and 3.10 */
    PyObject *mro = tp->tp_mro;
    if (mro != NULL && PyTuple_Check(mro)) {
        Py_ssize_t n = PyTuple_GET_SIZE(mro);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
            if (!(base->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
                continue;
            }
            PyObject *mod = PyType_GetModule(base);
            if (mod == NULL) {
                PyErr_Clear();
                continue;
            }
            if (PyModule_GetDef(mod) == &xc_module_def) {
                return xc_state_from_module(mod);
            }
        }
    }
#endif
    PyErr_Format(PyExc_TypeError, "%s is not an xdist_c._core type",
                 tp->tp_name);
    return NULL;
}

static int
xc_exec(PyObject *module)
{
    xc_state *st = xc_state_from_module(module);
    if (xc_codec_exec(module, st) < 0) {
        return -1;
    }
    if (xc_pump_exec(module, st) < 0) {
        return -1;
    }
    if (xc_sched_exec(module, st) < 0) {
        return -1;
    }
    if (xc_hookexec_exec(module, st) < 0) {
        return -1;
    }
    return 0;
}

static int
xc_traverse(PyObject *module, visitproc visit, void *arg)
{
    xc_state *st = xc_state_from_module(module);
    if (st == NULL) {
        return 0;
    }
    int r;
    if ((r = xc_codec_traverse(st, visit, arg)) != 0) {
        return r;
    }
    if ((r = xc_pump_traverse(st, visit, arg)) != 0) {
        return r;
    }
    if ((r = xc_sched_traverse(st, visit, arg)) != 0) {
        return r;
    }
    return xc_hookexec_traverse(st, visit, arg);
}

static int
xc_clear(PyObject *module)
{
    xc_state *st = xc_state_from_module(module);
    if (st != NULL) {
        xc_hookexec_clear(st);
        xc_sched_clear(st);
        xc_pump_clear(st);
        xc_codec_clear(st);
    }
    return 0;
}

static void
xc_free(void *module)
{
    (void)xc_clear((PyObject *)module);
}

static PyModuleDef_Slot xc_slots[] = {
    {Py_mod_exec, xc_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(xc_doc, "Private C core of xdist_c: wire codec, channel pump, "
                     "ledger, schedulers and plain hook calls.");

PyModuleDef xc_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "xdist_c._core",
    .m_doc = xc_doc,
    .m_size = sizeof(xc_state),
    .m_slots = xc_slots,
    .m_traverse = xc_traverse,
    .m_clear = xc_clear,
    .m_free = xc_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&xc_module_def);
}
