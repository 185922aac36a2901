/* args.h -- the argument checks of xdist_c._core (see args.c). */
#ifndef XDIST_C_ARGS_H
#define XDIST_C_ARGS_H

#include <Python.h>

/* Parse METH_FASTCALL | METH_KEYWORDS arguments against `names` (at most
 * 16): out[i] (preset by the caller to NULL or a default) receives a
 * borrowed reference for each argument given, positionally or by keyword;
 * the first nrequired must be given.  0 / -1 with TypeError. */
int xc_parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
                  PyObject *kwnames, const char *const *names,
                  Py_ssize_t nrequired, Py_ssize_t nmax, PyObject **out);

/* The check of a tp_new whose type takes no arguments: 0, or -1 with
 * TypeError("<name>() takes no arguments"). */
int xc_no_args(const char *name, PyObject *args, PyObject *kwds);

#endif /* XDIST_C_ARGS_H */
