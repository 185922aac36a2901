/* sched_weights.c -- the expected duration of each test, for ordering:
 * set_durations() stores the seconds by nodeid, and at the first
 * schedule() load and worksteal order their unsent tests (longest first,
 * xc_sched_weigh_ledger, through ledger.c) and the scope modes their
 * units (xc_sched_order_units).
 *
 * Python equivalent:
 *
 *     class _SchedulerBase:
 *         def set_durations(self, durations):    # a dict or None
 *             self._durations = dict(durations) if durations is not None \
 *                 else None
 *
 *         def _weights(self):                     # None: nothing timed
 *             d = [self._durations.get(id) for id in self._base_ids]
 *             d = [x if isinstance(x, (int, float)) and 0 <= x < 1e9
 *                  else None for x in d]              # bad: not timed
 *             timed = sorted(x for x in d if x is not None)
 *             if not timed: return None
 *             median = timed[len(timed) // 2]
 *             return [median if x is None else x for x in d]
 *
 *         def _weigh_ledger(self):                # load, worksteal
 *             w = self._weights()
 *             if w is None: return
 *             big = max(sum(w) / max(nodes, 1) / 50, XC_LONG_TEST_FLOOR)
 *             if any(x >= big for x in w):
 *                 self._ledger.weigh(w, big)      # long tests first
 *             else:                               # see refill_floor()
 *                 self.quick_suite = all(id in self._durations
 *                                        for id in self._base_ids)
 *
 *         def _order_units(self, order):          # the scope modes
 *             w = self._weights()
 *             if w is not None:                   # stable: ties keep order
 *                 order.sort(key=lambda u: -sum(w[i] for i in units[u]))
 */
#include "xdist_core.h"

/* Python: self._durations = dict(durations) (read at schedule()) */
PyObject *
xc_sched_set_durations(PyObject *op, PyTypeObject *Py_UNUSED(cls),
                       PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames)
{
    static const xc_sched_sig sig = {"set_durations", {"durations"}, 1, 1};
    PyObject *arg = NULL;
    xc_sched *self = (xc_sched *)op;
    if (xc_sched_enter(self, &sig, args, nargs, kwnames, &arg) < 0) {
        return NULL;
    }
    PyObject *copy = NULL;
    if (arg != Py_None && !PyDict_Check(arg)) {
        PyErr_Format(PyExc_TypeError,
                     "durations must be a dict or None, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    if (arg != Py_None) {
        copy = PyDict_Copy(arg);
        if (copy == NULL) {
            return NULL;
        }
    }
    PyObject *old = self->durations;
    self->durations = copy;
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

/* qsort order of doubles, ascending. */
static int
double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int
xc_sched_weights(xc_sched *self, double **out, double *total,
                 Py_ssize_t *ntimed)
{
    double *w = NULL, *known = NULL;
    Py_ssize_t nknown = 0;
    int rc = -1;
    *out = NULL;
    *total = 0.0;
    if (ntimed != NULL) {
        *ntimed = 0;
    }
    if (self->durations == NULL || self->base_ids == NULL ||
        PyDict_GET_SIZE(self->durations) == 0) {
        return 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(self->base_ids);
    w = PyMem_New(double, (size_t)n + 1);
    known = PyMem_New(double, (size_t)n + 1);
    if (w == NULL || known == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = NULL;
        w[i] = -1.0; /* unknown */
        int r = PyDict_GetItemRef(self->durations,
                                  PyList_GET_ITEM(self->base_ids, i), &v);
        if (r < 0) {
            goto error;
        }
        if (r == 0) {
            continue;
        }
        double d =
            PyFloat_Check(v) || PyLong_Check(v) ? PyFloat_AsDouble(v) : -1.0;
        Py_DECREF(v);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear(); /* an int too large: not a duration */
        }
        if (d >= 0.0 && d < 1e9) { /* not NaN, not absurd */
            w[i] = d;
            known[nknown++] = d;
        }
    }
    if (nknown > 0) { /* else no test is timed: *out stays NULL */
        qsort(known, (size_t)nknown, sizeof(double), double_cmp);
        double median = known[nknown / 2];
        for (Py_ssize_t i = 0; i < n; i++) {
            if (w[i] < 0.0) {
                w[i] = median;
            }
            *total += w[i];
        }
        *out = w;
        w = NULL;
    }
    if (ntimed != NULL) {
        *ntimed = nknown;
    }
    rc = 0;
error:
    PyMem_Free(w);
    PyMem_Free(known);
    return rc;
}

int
xc_sched_weigh_ledger(xc_sched *self)
{
    double *w = NULL, total = 0.0;
    Py_ssize_t ntimed = 0;
    if (xc_sched_weights(self, &w, &total, &ntimed) < 0) {
        return -1;
    }
    if (w == NULL) {
        return 0;
    }
    /* "Long": a 50th of a worker's fair share, and at least
     * XC_LONG_TEST_FLOOR seconds -- a shorter test cannot leave a worker
     * idle for long at the end, so moving it would change the order (and
     * file locality) for nothing.  With no long test at all (a quick
     * suite, where the timings are mostly noise), the durations are not
     * used: the tests go out exactly as without them. */
    Py_ssize_t n = PyList_GET_SIZE(self->base_ids);
    Py_ssize_t nodes = self->ledger.nactive > 0 ? self->ledger.nactive : 1;
    double big = total / (double)nodes / 50.0;
    if (big < XC_LONG_TEST_FLOOR) {
        big = XC_LONG_TEST_FLOOR;
    }
    Py_ssize_t i = 0;
    while (i < n && w[i] < big) {
        i++;
    }
    if (i == n) {
        /* Every test timed and none long: load may keep a few
         * milliseconds of them queued on each node (refill_floor). */
        self->quick_suite = ntimed == n;
        PyMem_Free(w);
        return 0;
    }
    return xc_ledger_weigh(&self->ledger, w, n, big);
}

/* With durations (set_durations): reorder order[0:count] by each unit's
 * expected seconds, longest first, ties in the order given.  Nothing
 * changes when no test is timed.  0 / -1. */
int
xc_sched_order_units(xc_sched *self, const xc_units *units, Py_ssize_t count,
                     Py_ssize_t *order)
{
    double *w = NULL, total = 0.0;
    if (xc_sched_weights(self, &w, &total, NULL) < 0) {
        return -1;
    }
    if (w == NULL) {
        return 0;
    }
    xc_weighed *wu = PyMem_New(xc_weighed, (size_t)count + 1);
    if (wu == NULL) {
        PyMem_Free(w);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t len;
        const Py_ssize_t *tests = xc_units_tests(units, order[k], &len);
        wu[k].w = 0.0;
        for (Py_ssize_t j = 0; j < len; j++) {
            wu[k].w += w[tests[j]];
        }
        wu[k].key = k; /* ties in the order given */
        wu[k].item = order[k];
    }
    xc_sort_heaviest_first(wu, count);
    for (Py_ssize_t k = 0; k < count; k++) {
        order[k] = wu[k].item;
    }
    PyMem_Free(wu);
    PyMem_Free(w);
    return 0;
}
