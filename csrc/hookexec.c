/* hookexec.c -- pluggy's `_multicall` in C, for calls whose hook
 * implementations are all plain.
 *
 * A controller relays five hook calls per test (logstart, three
 * logreports, logfinish) and pytest's terminal reporter nests one more per
 * report (report_teststatus).  pluggy runs each through its Python
 * `_multicall`, which costs about as much as the implementations it calls.
 * A HookExec takes the place of a plugin manager's `_inner_hookexec`:
 *
 *     class HookExec:
 *         def __init__(self, fallback):
 *             self.fallback = fallback          # pluggy's _multicall
 *
 *         def __call__(self, hook_name, hook_impls, caller_kwargs, firstresult):
 *             impls = tuple(hook_impls)
 *             if not all(plain(impl, caller_kwargs) for impl in impls):
 *                 return self.fallback(hook_name, hook_impls, caller_kwargs,
 *                                      firstresult)
 *             results = []
 *             for impl in reversed(impls):
 *                 res = impl.function(*[caller_kwargs[a] for a in impl.argnames])
 *                 if res is not None:
 *                     results.append(res)
 *                     if firstresult:
 *                         break
 *             if firstresult:
 *                 return results[0] if results else None
 *             return results
 *
 * plain(impl, kw): neither an old-style (`hookwrapper`) nor a new-style
 * (`wrapper`) wrapper, no optional keyword arguments (`kwargnames`, pluggy
 * >= 1.6), and every argument it takes present in kw.  For such calls this
 * is what `_multicall` does, step for step: the same functions in the same
 * order with the same arguments, the same results, and an exception raised
 * by an implementation propagates unchanged.  Anything else -- a wrapper, a
 * missing argument (pluggy's HookCallError), more implementations or
 * arguments than fit the fixed arrays below, a `caller_kwargs` that is not
 * a dict -- goes to the fallback, which then behaves as pluggy does. */
#include "xdist_core.h"
#include "structmember.h"

/* Calls with more implementations, or implementations with more
 * arguments, take the fallback. */
#define HOOKEXEC_MAX_IMPLS 64
#define HOOKEXEC_MAX_ARGS 16

typedef struct {
    PyObject_HEAD
    PyObject *fallback;
    vectorcallfunc vectorcall;
} HookExecObject;

/* Attribute `name` of `obj` is present and true: 1; absent or false: 0;
 * error: -1. */
static int
attr_is_true(PyObject *obj, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    int r = PyObject_IsTrue(value);
    Py_DECREF(value);
    return r;
}

/* Fill functions[i] and argnames[i] (new references) for a plain
 * implementation.  1: plain; 0: not (nothing stored); -1: error. */
static int
plain_impl(const xc_hookexec_state *hs, PyObject *impl, PyObject *kwargs,
           PyObject **function, PyObject **argnames)
{
    int r;
    if ((r = attr_is_true(impl, hs->s_hookwrapper)) != 0 ||
        (r = attr_is_true(impl, hs->s_wrapper)) != 0 ||
        (r = attr_is_true(impl, hs->s_kwargnames)) != 0) {
        return r < 0 ? -1 : 0;
    }
    PyObject *args = PyObject_GetAttr(impl, hs->s_argnames);
    if (args == NULL) {
        return -1;
    }
    if (!PyTuple_CheckExact(args) ||
        PyTuple_GET_SIZE(args) > HOOKEXEC_MAX_ARGS) {
        Py_DECREF(args);
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
        PyObject *value =
            PyDict_GetItemWithError(kwargs, PyTuple_GET_ITEM(args, i));
        if (value == NULL) {
            Py_DECREF(args);
            return PyErr_Occurred() ? -1 : 0;
        }
    }
    PyObject *func = PyObject_GetAttr(impl, hs->s_function);
    if (func == NULL) {
        Py_DECREF(args);
        return -1;
    }
    *function = func;
    *argnames = args;
    return 1;
}

/* Call the implementations from last to first; see the comment at the top.
 * `functions`/`argnames` hold `n` plain implementations. */
static PyObject *
call_plain(PyObject **functions, PyObject **argnames, Py_ssize_t n,
           PyObject *kwargs, int firstresult)
{
    PyObject *results = PyList_New(0);
    if (results == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        PyObject *args[HOOKEXEC_MAX_ARGS];
        Py_ssize_t nargs = PyTuple_GET_SIZE(argnames[i]);
        Py_ssize_t k;
        /* An earlier implementation cannot reach `kwargs` (it is the
         * caller's own dict), but hold the values anyway. */
        for (k = 0; k < nargs; k++) {
            PyObject *value = PyDict_GetItemWithError(
                kwargs, PyTuple_GET_ITEM(argnames[i], k));
            if (value == NULL) {
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_RuntimeError,
                                    "hook call arguments changed during "
                                    "the call");
                }
                break;
            }
            args[k] = Py_NewRef(value);
        }
        PyObject *res = NULL;
        if (k == nargs) {
            res =
                PyObject_Vectorcall(functions[i], args, (size_t)nargs, NULL);
        }
        while (k > 0) {
            Py_DECREF(args[--k]);
        }
        if (res == NULL) {
            Py_DECREF(results);
            return NULL;
        }
        if (res != Py_None) {
            int r = PyList_Append(results, res);
            Py_DECREF(res);
            if (r < 0) {
                Py_DECREF(results);
                return NULL;
            }
            if (firstresult) {
                break;
            }
        }
        else {
            Py_DECREF(res);
        }
    }
    if (!firstresult) {
        return results;
    }
    PyObject *first =
        PyList_GET_SIZE(results) ? PyList_GET_ITEM(results, 0) : Py_None;
    Py_INCREF(first);
    Py_DECREF(results);
    return first;
}

/* Run `impls` (a tuple) as `_multicall` would if they are all plain.
 * 1: done, *result set (NULL on error raised by a call); 0: not all
 * plain, nothing called; -1: error before any call. */
static int
run_plain(xc_state *st, PyObject *impls, PyObject *kwargs, int firstresult,
          PyObject **result)
{
    Py_ssize_t n = PyTuple_GET_SIZE(impls);
    if (n > HOOKEXEC_MAX_IMPLS) {
        return 0;
    }
    PyObject *functions[HOOKEXEC_MAX_IMPLS];
    PyObject *argnames[HOOKEXEC_MAX_IMPLS];
    Py_ssize_t filled = 0;
    int plain = 1;
    for (; filled < n; filled++) {
        plain = plain_impl(&st->hookexec, PyTuple_GET_ITEM(impls, filled),
                           kwargs, &functions[filled], &argnames[filled]);
        if (plain != 1) {
            break;
        }
    }
    if (plain == 1) {
        *result = call_plain(functions, argnames, n, kwargs, firstresult);
    }
    for (Py_ssize_t i = 0; i < filled; i++) {
        Py_DECREF(functions[i]);
        Py_DECREF(argnames[i]);
    }
    return plain;
}

static PyObject *
HookExec_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                    PyObject *kwnames)
{
    HookExecObject *self = (HookExecObject *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (self->fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "HookExec has been cleared");
        return NULL;
    }
    if (nargs != 4 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) ||
        !PyDict_CheckExact(args[2])) {
        /* Not pluggy's call shape: let pluggy's function judge it. */
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    int firstresult = PyObject_IsTrue(args[3]);
    if (firstresult < 0) {
        return NULL;
    }
    /* pluggy passes a copy of its list; a tuple keeps ours fixed even if
     * an implementation were handed the same list. */
    PyObject *impls = PySequence_Tuple(args[1]);
    if (impls == NULL) {
        return NULL;
    }
    /* Not subclassable: the type is the module's own. */
    xc_state *st = xc_state_from_type(Py_TYPE(self));
    PyObject *result = NULL;
    int r =
        st == NULL ? -1 : run_plain(st, impls, args[2], firstresult, &result);
    Py_DECREF(impls);
    if (r == 0) {
        return PyObject_Vectorcall(self->fallback, args, nargsf, NULL);
    }
    return result;
}

/* getattr(obj, name, None) as a new reference; NULL only on error. */
static PyObject *
attr_or_none(PyObject *obj, PyObject *name)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        value = Py_NewRef(Py_None);
    }
    return value;
}

/* Whether `hc(**kwargs)` may skip HookCaller.__call__ and the plugin
 * manager's _hookexec: this HookExec is the manager's _inner_hookexec (no
 * tracing or monitoring wrapped around it), the hook has a spec, is not
 * historic and every argument of the spec is given.  1 yes (with
 * *impls a new tuple and *firstresult set), 0 no, -1 error. */
static int
relay_direct(HookExecObject *self, xc_state *st, PyObject *hc,
             PyObject *kwargs, PyObject **impls, int *firstresult)
{
    int ok = 0;
    PyObject *pmexec = NULL, *pm = NULL, *inner = NULL, *history = NULL;
    PyObject *spec = NULL, *opts = NULL, *specargs = NULL, *list = NULL;
    xc_hookexec_state *hs = &st->hookexec;
    if ((pmexec = attr_or_none(hc, hs->s__hookexec)) == NULL ||
        (pm = attr_or_none(pmexec, hs->s___self__)) == NULL ||
        (inner = attr_or_none(pm, hs->s__inner_hookexec)) == NULL) {
        goto error;
    }
    if (inner != (PyObject *)self) {
        goto done;
    }
    if ((history = attr_or_none(hc, hs->s__call_history)) == NULL ||
        (spec = attr_or_none(hc, hs->s_spec)) == NULL) {
        goto error;
    }
    if (history != Py_None || spec == Py_None) {
        goto done;
    }
    if ((opts = attr_or_none(spec, hs->s_opts)) == NULL ||
        (specargs = attr_or_none(spec, hs->s_argnames)) == NULL) {
        goto error;
    }
    if (!PyDict_Check(opts) || !PyTuple_Check(specargs)) {
        goto done;
    }
    PyObject *first = PyDict_GetItemWithError(opts, hs->s_firstresult);
    if (first == NULL && PyErr_Occurred()) {
        goto error;
    }
    if ((*firstresult = first == NULL ? 0 : PyObject_IsTrue(first)) < 0) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(specargs); i++) {
        int has = PyDict_Contains(kwargs, PyTuple_GET_ITEM(specargs, i));
        if (has <= 0) {
            ok = has;
            goto done;
        }
    }
    if ((list = PyObject_GetAttr(hc, hs->s__hookimpls)) == NULL ||
        (*impls = PySequence_Tuple(list)) == NULL) {
        goto error;
    }
    ok = 1;
    goto done;
error:
    ok = -1;
done:
    Py_XDECREF(pmexec);
    Py_XDECREF(pm);
    Py_XDECREF(inner);
    Py_XDECREF(history);
    Py_XDECREF(spec);
    Py_XDECREF(opts);
    Py_XDECREF(specargs);
    Py_XDECREF(list);
    return ok;
}

PyDoc_STRVAR(
    HookExec_relay_doc,
    "relay($self, hookcaller, kwargs, /)\n--\n\n"
    "hookcaller(**kwargs), skipping pluggy's Python frames where that changes\n"
    "nothing: this object is the plugin manager's _inner_hookexec, the hook\n"
    "has a spec, is not historic, gets every argument of its spec and has\n"
    "only plain implementations.");

static PyObject *
HookExec_relay(HookExecObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError,
                        "relay() takes a hook caller and a dict");
        return NULL;
    }
    PyObject *hc = args[0], *kwargs = args[1];
    if (!PyDict_CheckExact(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "relay() kwargs must be a dict");
        return NULL;
    }
    xc_state *st = xc_state_from_type(Py_TYPE(self));
    if (st == NULL) {
        return NULL;
    }
    PyObject *impls = NULL, *result = NULL;
    int firstresult = 0;
    int r = relay_direct(self, st, hc, kwargs, &impls, &firstresult);
    if (r == 1) {
        r = run_plain(st, impls, kwargs, firstresult, &result);
        Py_DECREF(impls);
    }
    if (r < 0) {
        return NULL;
    }
    if (r == 0) {
        result = PyObject_VectorcallDict(hc, NULL, 0, kwargs);
    }
    return result;
}

static PyMethodDef HookExec_methods[] = {
    {"relay", (PyCFunction)(void (*)(void))HookExec_relay, METH_FASTCALL,
     HookExec_relay_doc},
    {NULL, NULL, 0, NULL},
};

static PyObject *
HookExec_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *fallback;
    static char *kwlist[] = {"fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:HookExec", kwlist,
                                     &fallback)) {
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return NULL;
    }
    HookExecObject *self = (HookExecObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->fallback = Py_NewRef(fallback);
    self->vectorcall = HookExec_vectorcall;
    return (PyObject *)self;
}

static int
HookExec_traverse(HookExecObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->fallback);
    return 0;
}

static int
HookExec_clear(HookExecObject *self)
{
    Py_CLEAR(self->fallback);
    return 0;
}

static void
HookExec_dealloc(HookExecObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)HookExec_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
HookExec_get_fallback(HookExecObject *self, void *closure)
{
    (void)closure;
    if (self->fallback == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(self->fallback);
}

static PyGetSetDef HookExec_getset[] = {
    {"fallback", (getter)HookExec_get_fallback, NULL,
     PyDoc_STR("The function that takes the calls this one does not."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef HookExec_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(HookExecObject, vectorcall),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot HookExec_slots[] = {
    {Py_tp_new, HookExec_new},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_dealloc, HookExec_dealloc},
    {Py_tp_traverse, HookExec_traverse},
    {Py_tp_clear, HookExec_clear},
    {Py_tp_getset, HookExec_getset},
    {Py_tp_methods, HookExec_methods},
    {Py_tp_members, HookExec_members},
    {Py_tp_doc, (void *)PyDoc_STR(
                    "HookExec(fallback)\n--\n\n"
                    "A plugin manager's _inner_hookexec: calls hooks whose "
                    "implementations are all plain, hands the others to "
                    "fallback (pluggy's _multicall).")},
    {0, NULL},
};

static PyType_Spec HookExec_spec = {
    .name = "xdist_c._core.HookExec",
    .basicsize = sizeof(HookExecObject),
    .flags = XC_GC_TYPE_FLAGS | Py_TPFLAGS_HAVE_VECTORCALL,
    .slots = HookExec_slots,
};

/* ------------------------------------------------------------------ */
/* Component hooks.                                                   */
/* ------------------------------------------------------------------ */

#define HOOKEXEC_NAME(field, text) XC_NAME(xc_hookexec_state, field, text)
static const xc_name hookexec_names[] = {
    HOOKEXEC_NAME(s_function, "function"),
    HOOKEXEC_NAME(s_argnames, "argnames"),
    HOOKEXEC_NAME(s_kwargnames, "kwargnames"),
    HOOKEXEC_NAME(s_hookwrapper, "hookwrapper"),
    HOOKEXEC_NAME(s_wrapper, "wrapper"),
    HOOKEXEC_NAME(s__hookexec, "_hookexec"),
    HOOKEXEC_NAME(s___self__, "__self__"),
    HOOKEXEC_NAME(s__inner_hookexec, "_inner_hookexec"),
    HOOKEXEC_NAME(s__call_history, "_call_history"),
    HOOKEXEC_NAME(s_spec, "spec"),
    HOOKEXEC_NAME(s_opts, "opts"),
    HOOKEXEC_NAME(s_firstresult, "firstresult"),
    HOOKEXEC_NAME(s__hookimpls, "_hookimpls"),
};
#undef HOOKEXEC_NAME

int
xc_hookexec_exec(PyObject *module, xc_state *st)
{
    if (xc_intern_names(&st->hookexec, hookexec_names,
                        XC_NNAMES(hookexec_names)) < 0) {
        return -1;
    }
    st->hookexec.HookExec_Type = xc_add_type(module, &HookExec_spec, NULL);
    return st->hookexec.HookExec_Type == NULL ? -1 : 0;
}

int
xc_hookexec_traverse(xc_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->hookexec.HookExec_Type);
    return 0;
}

void
xc_hookexec_clear(xc_state *st)
{
    Py_CLEAR(st->hookexec.HookExec_Type);
    xc_clear_names(&st->hookexec, hookexec_names, XC_NNAMES(hookexec_names));
}
