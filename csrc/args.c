/* args.c -- the one argument parser for METH_FASTCALL | METH_KEYWORDS
 * methods and functions of xdist_c._core (see args.h), and the check of
 * the types that take no arguments.
 *
 * Python equivalent, for names = ("a", "b", "c"), nrequired = 1:
 *
 *     def f(a, b=<preset out[1]>, c=<preset out[2]>): ...
 *
 * i.e. positional-or-keyword parameters; an argument not given leaves the
 * caller's preset value (NULL or a default) in out[]; the TypeError
 * messages follow CPython's wording for too many positionals, an unknown
 * keyword, a value given twice and a missing required argument.
 *
 * xc_no_args, for a type's tp_new: def __new__(cls): ... (no parameter). */
#include "args.h"

#include <assert.h>

int
xc_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
              PyObject *kwnames, const char *const *names,
              Py_ssize_t nrequired, Py_ssize_t nmax, PyObject **out)
{
    unsigned int seen = 0;
    assert(nmax <= 16);
    if (nargs > nmax) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most %zd positional arguments "
                     "(%zd given)",
                     fname, nmax, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        out[i] = args[i];
        seen |= 1u << i;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t j = 0;
        while (j < nmax &&
               PyUnicode_CompareWithASCIIString(key, names[j]) != 0) {
            j++;
        }
        if (j == nmax) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got an unexpected keyword argument '%U'",
                         fname, key);
            return -1;
        }
        if (seen & (1u << j)) {
            PyErr_Format(PyExc_TypeError,
                         "%s() got multiple values for argument '%s'", fname,
                         names[j]);
            return -1;
        }
        seen |= 1u << j;
        out[j] = args[nargs + k];
    }
    for (Py_ssize_t i = 0; i < nrequired; i++) {
        if (!(seen & (1u << i))) {
            PyErr_Format(PyExc_TypeError,
                         "%s() missing required argument '%s'", fname,
                         names[i]);
            return -1;
        }
    }
    return 0;
}

int
xc_no_args(const char *name, PyObject *args, PyObject *kwds)
{
    if ((args != NULL && PyTuple_GET_SIZE(args) != 0) ||
        (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_Format(PyExc_TypeError, "%s() takes no arguments", name);
        return -1;
    }
    return 0;
}
