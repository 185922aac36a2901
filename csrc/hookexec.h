/* hookexec.h -- hook-call state (see hookexec.c). */
#ifndef XDIST_C_HOOKEXEC_H
#define XDIST_C_HOOKEXEC_H

#include <Python.h>

typedef struct {
    PyTypeObject *HookExec_Type;
    /* Interned attribute names of pluggy's HookImpl. */
    PyObject *s_function;
    PyObject *s_argnames;
    PyObject *s_kwargnames;
    PyObject *s_hookwrapper;
    PyObject *s_wrapper;
    /* ... and of HookCaller, HookSpec and PluginManager (relay()). */
    PyObject *s__hookexec;
    PyObject *s___self__;
    PyObject *s__inner_hookexec;
    PyObject *s__call_history;
    PyObject *s_spec;
    PyObject *s_opts;
    PyObject *s_firstresult;
    PyObject *s__hookimpls;
} xc_hookexec_state;

#endif
