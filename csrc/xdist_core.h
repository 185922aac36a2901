/* xdist_core.h -- module state shared by every component of xdist_c._core.
 *
 * The module is split by concern; each component owns a sub-struct of the
 * module state and three functions called from module.c:
 *
 *   int  xc_<component>_exec(PyObject *module, xc_state *st);   0 / -1
 *   int  xc_<component>_traverse(xc_state *st, visitproc, void *);
 *   void xc_<component>_clear(xc_state *st);
 *
 * Components:  codec.c  (wire format: values and frames)
 *              pump.c   (frames from worker channels -> events)
 *              ledger.c (plain-C bookkeeping of tests per worker)
 *              sched_*.c (scheduler types built on the ledger)
 *              hookexec.c (pluggy's _multicall for plain hook calls)
 */
#ifndef XDIST_CORE_H
#define XDIST_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>             /* offsetof, for the xc_name tables */

#include "compat.h"
#include "codec.h"
#include "pump.h"
#include "sched.h"
#include "hookexec.h"

typedef struct xc_state {
    xc_codec_state codec;
    xc_pump_state pump;
    xc_sched_state sched;
    xc_hookexec_state hookexec;
} xc_state;

/* The module definition; used to find the module state from a type. */
extern PyModuleDef xc_module_def;

/* Module state of the module that defined `tp` or one of its bases, so
 * Python subclasses of our heap types find it too.  Never NULL for a type
 * that derives from one of ours; sets TypeError and returns NULL
 * otherwise.  The one way to reach the state from an object: through
 * PyType_GetModuleByDef on 3.11+, the same walk over the MRO before. */
xc_state *xc_state_from_type(PyTypeObject *tp);

static inline xc_state *
xc_state_from_module(PyObject *module)
{
    return (xc_state *)PyModule_GetState(module);
}

/* Flags of our GC types that Python code may neither subclass nor change
 * (FrameWriter, Pump, Feeder, HookExec): immutable where the Python has
 * Py_TPFLAGS_IMMUTABLETYPE (3.10+).  The schedulers: XC_SCHED_FLAGS. */
#ifdef Py_TPFLAGS_IMMUTABLETYPE
#define XC_GC_TYPE_FLAGS                                                     \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE)
#else
#define XC_GC_TYPE_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC)
#endif

/* Helper to create a heap type from a spec and add it to the module.
 * Returns a new reference (stored by the caller in the state). */
PyTypeObject *xc_add_type(PyObject *module, PyType_Spec *spec,
                          PyObject *base);

/* Interned attribute names kept in a component's state: each entry names
 * the PyObject * field at `offset` in that state and its text. */
typedef struct {
    size_t offset;
    const char *text;
} xc_name;

/* An entry of such a table: field `field` of the state struct `type`. */
#define XC_NAME(type, field, text) {offsetof(type, field), text}
/* The number of entries of a table (an array, not a pointer). */
#define XC_NNAMES(names) (sizeof(names) / sizeof((names)[0]))

/* Fill every field of `names` in `state` with its interned text: 0, or -1
 * with an exception set.  xc_clear_names() releases them. */
int xc_intern_names(void *state, const xc_name *names, size_t n);
void xc_clear_names(void *state, const xc_name *names, size_t n);

int xc_codec_exec(PyObject *module, xc_state *st);
int xc_codec_traverse(xc_state *st, visitproc visit, void *arg);
void xc_codec_clear(xc_state *st);

int xc_pump_exec(PyObject *module, xc_state *st);
int xc_pump_traverse(xc_state *st, visitproc visit, void *arg);
void xc_pump_clear(xc_state *st);

int xc_sched_exec(PyObject *module, xc_state *st);
int xc_sched_traverse(xc_state *st, visitproc visit, void *arg);
void xc_sched_clear(xc_state *st);

int xc_hookexec_exec(PyObject *module, xc_state *st);
int xc_hookexec_traverse(xc_state *st, visitproc visit, void *arg);
void xc_hookexec_clear(xc_state *st);

#endif /* XDIST_CORE_H */
