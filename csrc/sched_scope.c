/* sched_scope.c -- ScopeScheduler: tests grouped into work units, each unit
 * run by one node (pytest-xdist's `--dist loadscope`, `loadfile` and
 * `loadgroup`).
 *
 * Python equivalent (node pending lists are deques of indices, a unit is a
 * list of indices, the work queue a deque of units):
 *
 *     class ScopeScheduler(_SchedulerBase):
 *         def __init__(self, numnodes, mode="loadscope", reorder=True): ...
 *
 *         def _split_scope(self, nodeid):
 *             if self.mode == "loadscope":
 *                 return nodeid.rsplit("::", 1)[0]
 *             if self.mode == "loadfile":
 *                 return nodeid.split("::", 1)[0]
 *             if nodeid.rfind("@") > nodeid.rfind("]"):     # loadgroup
 *                 return nodeid.split("@")[-1]
 *             return nodeid
 *
 *         def schedule(self):
 *             if self.collection is not None:      # a node joined later
 *                 for node in self.nodes: self._reschedule(node)
 *                 return
 *             if any collection differs: report each; return
 *             self.collection = self._base_ids
 *             if not self.collection: return
 *             units = {}                           # scope -> [index]
 *             for i, nodeid in enumerate(self.collection):
 *                 units.setdefault(self._split_scope(nodeid), []).append(i)
 *             units = list(units.values())
 *             if self.reorder:
 *                 units.sort(key=len, reverse=True)   # stable
 *                 if self._durations:    # set_durations(), sched_weights.c
 *                     units.sort(key=expected_seconds, reverse=True)
 *             self.workqueue = deque(units)
 *             for node in reversed(self.nodes[len(units):]):
 *                 forget node; node.shutdown()     # more nodes than units
 *             for node in self.nodes: self._assign(node)
 *             for node in self.nodes: self._reschedule(node)
 *             if not self.workqueue:
 *                 for node in self.nodes: node.shutdown()
 *
 *         def _assign(self, node):
 *             unit = self.workqueue.popleft()
 *             node_pending.extend(unit)
 *             node.send_runtest_some(unit)
 *
 *         def _reschedule(self, node):
 *             if node.shutting_down: return
 *             if not self.workqueue: node.shutdown(); return
 *             if len(node_pending) <= 2 and node has a collection:
 *                 self._assign(node)
 *                 while len(node_pending) < 2 and self.workqueue:
 *                     self._assign(node)     # it needs a next test
 *
 *         def mark_test_complete(self, node, item_index, duration=0):
 *             node_pending.remove(item_index)      # O(1): it is in front
 *             self._reschedule(node)
 *
 *         def mark_test_pending(self, item):       # pytest-rerunfailures
 *             self.workqueue.appendleft([self.collection.index(item)])
 *             for node in self.nodes: self._reschedule(node)
 *
 *         def remove_node(self, node):
 *             pending = node_pending of node; forget node
 *             if not pending: return None
 *             crashed = self.collection[pending.popleft()]   # not re-run
 *             for unit, tests in groupby(pending, key=unit_of):
 *                 self.workqueue.append(list(tests))         # unstarted
 *             for node in self.nodes: self._reschedule(node)
 *             return crashed
 *
 * Cost: grouping is one pass with a dict of scopes and a counting sort
 * (units.c), ordering one sort of the units; after that every call is
 * O(1) amortized, plus the tests it sends, plus O(nodes) for the calls
 * that reschedule every node.  pytest-xdist finds each index with
 * list.index and recounts a node's pending tests on every completion,
 * O(n^2) over a run.
 *
 * Differences from pytest-xdist, on purpose:
 * - a crash: the crashed test is reported, not run again; tests the node
 *   finished stay finished; only its unstarted tests are queued again, one
 *   unit per unit they came from (pytest-xdist queues every scope the node
 *   ever had, completed ones as empty units, and reruns the crashed test);
 * - mark_test_pending works (pytest-xdist raises NotImplementedError);
 * - every collected item runs even when two share a nodeid (pytest-xdist
 *   keys its units by nodeid and runs such duplicates once);
 * - a node whose collection has not arrived, or was ignored because it
 *   differs, gets no work (pytest-xdist raises KeyError);
 * - a node left with fewer than two tests while units wait gets another
 *   unit at once (pytest-xdist can leave a replacement worker waiting).
 * A subclass may override _split_scope() in Python, as with pytest-xdist;
 * it is then called once per nodeid when the units are built.
 */
#include "xdist_core.h"

enum {
    XC_SPLIT_SCOPE = 0, /* loadscope: nodeid.rsplit("::", 1)[0] */
    XC_SPLIT_FILE = 1,  /* loadfile: nodeid.split("::", 1)[0] */
    XC_SPLIT_GROUP = 2, /* loadgroup: the name after "@", else nodeid */
};

static const char *const mode_names[] = {"loadscope", "loadfile",
                                         "loadgroup"};

typedef struct {
    xc_sched base;
    xc_units units;       /* every unit ever made (units.h) */
    xc_ideque workqueue;  /* ids of the units not sent yet, in order */
    int mode;             /* XC_SPLIT_* */
    int reorder;          /* largest unit first */
} xc_scope;

/* --- scopes ------------------------------------------------------------- */

/* Position of the first (direction 1) or last (-1) "::" in s, or -1. */
static Py_ssize_t
find_colons(PyObject *s, int direction)
{
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    if (direction > 0) {
        for (Py_ssize_t i = 0; i + 1 < len; i++) {
            if (PyUnicode_READ(kind, data, i) == ':' &&
                PyUnicode_READ(kind, data, i + 1) == ':') {
                return i;
            }
        }
    }
    else {
        for (Py_ssize_t i = len - 2; i >= 0; i--) {
            if (PyUnicode_READ(kind, data, i) == ':' &&
                PyUnicode_READ(kind, data, i + 1) == ':') {
                return i;
            }
        }
    }
    return -1;
}

/* New reference: the scope of `nodeid` under `mode` (see the Python
 * equivalent above), or NULL with TypeError if nodeid is not a str. */
static PyObject *
split_builtin(int mode, PyObject *nodeid)
{
    if (!PyUnicode_Check(nodeid)) {
        PyErr_Format(PyExc_TypeError, "a nodeid must be str, not %.100s",
                     Py_TYPE(nodeid)->tp_name);
        return NULL;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(nodeid);
    Py_ssize_t at, bracket, cut;
    switch (mode) {
    case XC_SPLIT_SCOPE:
    case XC_SPLIT_FILE:
        cut = find_colons(nodeid, mode == XC_SPLIT_SCOPE ? -1 : 1);
        if (cut < 0) {
            return Py_NewRef(nodeid);
        }
        return PyUnicode_Substring(nodeid, 0, cut);
    default:
        at = PyUnicode_FindChar(nodeid, '@', 0, len, -1);
        bracket = PyUnicode_FindChar(nodeid, ']', 0, len, -1);
        if (at == -2 || bracket == -2) {
            return NULL;
        }
        if (at > bracket) {
            return PyUnicode_Substring(nodeid, at + 1, len);
        }
        return Py_NewRef(nodeid);
    }
}

/* 1 if type(self) overrides _split_scope (in Python), 0 if not, -1. */
static int
has_custom_split(PyObject *self, xc_sched_state *ss)
{
    PyObject *mine =
        PyObject_GetAttr((PyObject *)Py_TYPE(self), ss->str_split_scope);
    if (mine == NULL) {
        return -1;
    }
    PyObject *builtin = PyObject_GetAttr((PyObject *)ss->ScopeScheduler_Type,
                                         ss->str_split_scope);
    int custom = builtin == NULL ? -1 : mine != builtin;
    Py_DECREF(mine);
    Py_XDECREF(builtin);
    return custom;
}

/* Group the agreed collection into units and fill the work queue (in
 * size order if reorder).  Marks the scheduler scheduled.  0 / -1. */
static int
scope_build(xc_scope *self, xc_sched_state *ss)
{
    PyObject *ids = Py_NewRef(self->base.base_ids);
    PyObject *scope_keys = NULL; /* scope -> int */
    Py_ssize_t *key = NULL, *order = NULL;
    xc_units units;
    xc_units_init(&units);
    Py_ssize_t n = PyList_GET_SIZE(ids);
    Py_ssize_t nkeys = 0;

    int custom = has_custom_split((PyObject *)self, ss);
    if (custom < 0) {
        goto error;
    }
    key = PyMem_New(Py_ssize_t, (size_t)n + 1);
    scope_keys = PyDict_New();
    if (key == NULL || scope_keys == NULL) {
        if (key == NULL) {
            PyErr_NoMemory();
        }
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyList_GET_SIZE(ids) != n) {
            PyErr_SetString(PyExc_RuntimeError,
                            "collection changed while it was grouped");
            goto error;
        }
        PyObject *nodeid = Py_NewRef(PyList_GET_ITEM(ids, i));
        PyObject *scope =
            custom ? PyObject_CallMethodOneArg((PyObject *)self,
                                               ss->str_split_scope, nodeid)
                   : split_builtin(self->mode, nodeid);
        Py_DECREF(nodeid);
        if (scope == NULL) {
            goto error;
        }
        PyObject *found = NULL;
        int r = PyDict_GetItemRef(scope_keys, scope, &found);
        if (r > 0) {
            key[i] = PyLong_AsSsize_t(found);
            Py_DECREF(found);
        }
        else if (r == 0) {
            PyObject *k = PyLong_FromSsize_t(nkeys);
            r = k == NULL ? -1 : PyDict_SetItem(scope_keys, scope, k);
            Py_XDECREF(k);
            key[i] = nkeys++;
        }
        Py_DECREF(scope);
        if (r < 0) {
            goto error;
        }
    }
    if (xc_units_group(&units, key, n, nkeys) < 0) {
        goto error;
    }
    order = PyMem_New(Py_ssize_t, (size_t)nkeys + 1);
    if (order == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    if (self->reorder) {
        if (xc_units_order_by_size(&units, nkeys, order) < 0 ||
            xc_sched_order_units(&self->base, &units, nkeys, order) < 0) {
            goto error;
        }
    }
    else {
        for (Py_ssize_t u = 0; u < nkeys; u++) {
            order[u] = u;
        }
    }
    if (self->base.scheduled) {
        /* _split_scope() called schedule() and it completed. */
        PyErr_SetString(PyExc_RuntimeError, "schedule() was re-entered");
        goto error;
    }
    xc_ideque_clear(&self->workqueue);
    if (xc_ideque_reserve(&self->workqueue, nkeys) < 0) {
        goto error;
    }
    for (Py_ssize_t u = 0; u < nkeys; u++) {
        (void)xc_ideque_push_back(&self->workqueue, order[u]); /* room */
    }
    xc_units_free(&self->units);
    self->units = units; /* the table moves into self */
    self->base.scheduled = 1;
    Py_DECREF(ids);
    Py_DECREF(scope_keys);
    PyMem_Free(key);
    PyMem_Free(order);
    return 0;
error:
    Py_DECREF(ids);
    Py_XDECREF(scope_keys);
    PyMem_Free(key);
    PyMem_Free(order);
    xc_units_free(&units);
    return -1;
}

/* --- scheduling --------------------------------------------------------- */

/* Python: self._assign(node) -- send the first unit of the work queue to
 * the node in `slot` (nothing if the queue is empty).  0 / -1. */
static int
scope_assign(xc_scope *self, xc_sched_state *ss, Py_ssize_t slot)
{
    if (xc_ideque_len(&self->workqueue) == 0) {
        return 0;
    }
    xc_ideque *pending = &xc_ledger_node(&self->base.ledger, slot)->pending;
    Py_ssize_t len;
    const Py_ssize_t *tests = xc_units_tests(
        &self->units, xc_ideque_get(&self->workqueue, 0), &len);
    if (xc_ideque_reserve(pending, len) < 0) {
        return -1;
    }
    (void)xc_ideque_pop_front(&self->workqueue);
    for (Py_ssize_t k = 0; k < len; k++) {
        (void)xc_ideque_push_back(pending, tests[k]); /* reserved */
    }
    return xc_sched_send_some(&self->base, ss, slot, len);
}

/* Python: self._reschedule(node) for the node in `slot`.  0 / -1. */
static int
scope_reschedule(xc_scope *self, xc_sched_state *ss, Py_ssize_t slot)
{
    const unsigned int can_work = XC_NODE_HAS_COLLECTION;
    xc_node_rec *rec = xc_ledger_node(&self->base.ledger, slot);
    if (rec->flags & XC_NODE_REMOVED) {
        return 0;
    }
    if (xc_ideque_len(&self->workqueue) > 0 &&
        (xc_ideque_len(&rec->pending) > 2 || !(rec->flags & can_work))) {
        /* Nothing to do whether or not it is shutting down: save asking
         * (the common case, on almost every completion). */
        return 0;
    }
    int down = xc_sched_node_down(&self->base, ss, slot);
    if (down != 0) {
        return down < 0 ? -1 : 0;
    }
    /* The property ran Python code: look at the record afresh. */
    rec = xc_ledger_node(&self->base.ledger, slot);
    if (rec->flags & XC_NODE_REMOVED) {
        return 0;
    }
    if (xc_ideque_len(&self->workqueue) == 0) {
        return xc_sched_shutdown_node(&self->base, ss, slot);
    }
    if (xc_ideque_len(&rec->pending) > 2 || !(rec->flags & can_work)) {
        return 0;
    }
    if (scope_assign(self, ss, slot) < 0) {
        return -1;
    }
    /* A worker takes its next test before it runs the current one: left
     * with a single test while units wait, it would wait for ever.  So a
     * node gets units until it holds two (pytest-xdist stops after one,
     * which can stall a replacement worker handed a one-test unit). */
    while (xc_ideque_len(&self->workqueue) > 0) {
        rec = xc_ledger_node(&self->base.ledger, slot);
        if ((rec->flags & XC_NODE_REMOVED) ||
            xc_ideque_len(&rec->pending) >= 2) {
            break;
        }
        if (scope_assign(self, ss, slot) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Python: for node in self.nodes: self._reschedule(node) */
static int
scope_reschedule_all(xc_scope *self, xc_sched_state *ss)
{
    /* Slots only grow and are never reused: walk them by index. */
    for (Py_ssize_t s = 0; s < self->base.ledger.nslots; s++) {
        if (scope_reschedule(self, ss, s) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The first distribution, once the units are built.  0 / -1. */
static int
scope_initial(xc_scope *self, xc_sched_state *ss)
{
    xc_sched *base = &self->base;
    Py_ssize_t *live = NULL;
    Py_ssize_t nlive = xc_sched_live_slots(base, &live);
    if (nlive < 0) {
        return -1;
    }
    /* More nodes than units: the last ones added are let go. */
    Py_ssize_t extra = nlive - xc_ideque_len(&self->workqueue);
    for (Py_ssize_t k = 0; k < extra; k++) {
        Py_ssize_t slot = live[nlive - 1 - k];
        if (xc_ledger_node(&base->ledger, slot)->flags & XC_NODE_REMOVED) {
            continue;
        }
        if (xc_sched_unregister(base, slot) < 0 ||
            xc_sched_shutdown_node(base, ss, slot) < 0) {
            goto error;
        }
    }
    if (extra > 0) {
        nlive -= extra;
    }
    for (Py_ssize_t i = 0; i < nlive; i++) {
        if (!xc_node_can_work(xc_ledger_node(&base->ledger, live[i]))) {
            continue;
        }
        if (scope_assign(self, ss, live[i]) < 0) {
            goto error;
        }
    }
    /* A node left with two tests or fewer gets a second unit (#277). */
    for (Py_ssize_t i = 0; i < nlive; i++) {
        if (scope_reschedule(self, ss, live[i]) < 0) {
            goto error;
        }
    }
    if (xc_ideque_len(&self->workqueue) == 0) {
        /* Everything went out at once: the nodes may stop when done. */
        for (Py_ssize_t s = 0; s < base->ledger.nslots; s++) {
            if (xc_ledger_node(&base->ledger, s)->flags & XC_NODE_REMOVED) {
                continue;
            }
            if (xc_sched_shutdown_node(base, ss, s) < 0) {
                goto error;
            }
        }
    }
    PyMem_Free(live);
    return 0;
error:
    PyMem_Free(live);
    return -1;
}

/* --- the type ----------------------------------------------------------- */

static int scope_distribute(xc_sched *base, xc_sched_state *ss);
static int scope_topup(xc_sched *self, xc_sched_state *ss);
static int scope_completed(xc_sched *self, xc_sched_state *ss,
                           Py_ssize_t slot, double duration);
static int scope_requeue_test(xc_sched *base, xc_sched_state *ss,
                              Py_ssize_t index);
static PyObject *scope_removed(xc_sched *base, xc_sched_state *ss,
                               Py_ssize_t slot);

/* ops->unsent: the units not sent yet (tests_finished, has_pending) */
static Py_ssize_t
scope_unsent(const xc_sched *base)
{
    return xc_ideque_len(&((const xc_scope *)base)->workqueue);
}

static const xc_sched_ops scope_ops = {
    .distribute = scope_distribute,
    .topup = scope_topup,
    .completed = scope_completed,
    .requeue = scope_requeue_test,
    .removed = scope_removed,
    .unsent = scope_unsent,
};

static PyObject *
scope_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    xc_scope *self = (xc_scope *)xc_sched_alloc(type, &scope_ops);
    if (self == NULL) {
        return NULL;
    }
    xc_units_init(&self->units);
    xc_ideque_init(&self->workqueue);
    self->mode = XC_SPLIT_SCOPE;
    self->reorder = 1;
    return (PyObject *)self;
}

static void
scope_dealloc(PyObject *op)
{
    xc_scope *self = (xc_scope *)op;
    PyObject_GC_UnTrack(op);
    xc_units_free(&self->units);
    xc_ideque_free(&self->workqueue);
    xc_sched_dealloc(op); /* untracking twice is harmless */
}

static int
scope_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"numnodes", "mode", "reorder", NULL};
    xc_scope *self = (xc_scope *)op;
    Py_ssize_t numnodes;
    const char *mode = "loadscope";
    int reorder = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|sp:ScopeScheduler",
                                     kwlist, &numnodes, &mode, &reorder)) {
        return -1;
    }
    if (numnodes < 0) {
        return xc_sched_set_numnodes(&self->base, numnodes); /* raises */
    }
    int m = 0;
    while (m < 3 && strcmp(mode, mode_names[m]) != 0) {
        m++;
    }
    if (m == 3) {
        PyErr_Format(PyExc_ValueError,
                     "mode must be 'loadscope', 'loadfile' or 'loadgroup', "
                     "not '%s'",
                     mode);
        return -1;
    }
    if (self->base.scheduled) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot re-initialize a scheduler in use");
        return -1;
    }
    self->base.numnodes = numnodes;
    self->mode = m;
    self->reorder = reorder;
    return 0;
}

/* Python: the first schedule(), the collections agreed on. */
static int
scope_distribute(xc_sched *base, xc_sched_state *ss)
{
    xc_scope *self = (xc_scope *)base;
    if (scope_build(self, ss) < 0) {
        return -1;
    }
    if (PyList_GET_SIZE(base->base_ids) == 0) {
        return 0;
    }
    return scope_initial(self, ss);
}

static int
scope_topup(xc_sched *self, xc_sched_state *ss)
{
    return scope_reschedule_all((xc_scope *)self, ss);
}

static int
scope_completed(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                double duration)
{
    (void)duration;
    return scope_reschedule((xc_scope *)self, ss, slot);
}

/* Python: mark_test_pending(item): its own unit, first in line (as load
 * queues it first). */
static int
scope_requeue_test(xc_sched *base, xc_sched_state *ss, Py_ssize_t index)
{
    xc_scope *self = (xc_scope *)base;
    if (xc_units_reserve(&self->units, 1, 1) < 0 ||
        xc_ideque_reserve(&self->workqueue, 1) < 0) {
        return -1;
    }
    Py_ssize_t u = xc_units_open(&self->units);
    xc_units_push(&self->units, index);
    (void)xc_ideque_push_front(&self->workqueue, u); /* reserved */
    return scope_reschedule_all(self, ss);
}

/* Queue the node's unstarted tests again: one new unit per run of tests
 * that came from the same unit, appended in order.  0 / -1 (then nothing
 * changed). */
static int
scope_requeue(xc_scope *self, xc_ideque *pending)
{
    Py_ssize_t m = xc_ideque_len(pending);
    if (m == 0) {
        return 0;
    }
    if (xc_units_reserve(&self->units, m, m) < 0 ||
        xc_ideque_reserve(&self->workqueue, m) < 0) {
        return -1;
    }
    Py_ssize_t prev = -1;
    for (Py_ssize_t k = 0; k < m; k++) {
        Py_ssize_t test = xc_ideque_get(pending, k);
        Py_ssize_t from = self->units.unit_of[test];
        if (k == 0 || from != prev) {
            Py_ssize_t u = xc_units_open(&self->units);
            (void)xc_ideque_push_back(&self->workqueue, u); /* reserved */
            prev = from;
        }
        xc_units_push(&self->units, test);
    }
    return 0;
}

/* Python: remove_node(node): the test that was running is reported as
 * the crash and not run again; the others are queued again. */
static PyObject *
scope_removed(xc_sched *base, xc_sched_state *ss, Py_ssize_t slot)
{
    xc_scope *self = (xc_scope *)base;
    xc_ideque *pending = &xc_ledger_node(&base->ledger, slot)->pending;
    if (xc_ideque_len(pending) == 0) {
        xc_ideque_free(pending);
        Py_RETURN_NONE;
    }
    PyObject *crashed = xc_sched_pop_crashed(
        base, slot, base->scheduled ? base->base_ids : NULL);
    if (crashed == NULL) {
        return NULL;
    }
    if (scope_requeue(self, pending) < 0) {
        Py_DECREF(crashed);
        return NULL;
    }
    xc_ideque_free(pending);
    if (scope_reschedule_all(self, ss) < 0) {
        Py_DECREF(crashed);
        return NULL;
    }
    return crashed;
}

static PyObject *
scope_split_scope(PyObject *op, PyTypeObject *cls, PyObject *const *args,
                  Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"nodeid"};
    PyObject *nodeid = NULL;
    (void)cls;
    if (xc_parse_args("_split_scope", args, nargs, kwnames, names, 1, 1,
                      &nodeid) < 0) {
        return NULL;
    }
    return split_builtin(((xc_scope *)op)->mode, nodeid);
}

static PyMethodDef scope_methods[] = {
    {"_split_scope", (PyCFunction)(void (*)(void))scope_split_scope, XC_METH,
     PyDoc_STR("_split_scope($self, nodeid)\n--\n\n"
               "The unit a nodeid belongs to under this mode; a subclass\n"
               "may override it.")},
    {NULL, NULL, 0, NULL},
};

/* Python: [list(unit) for unit in self.workqueue] */
static PyObject *
scope_get_pending_units(PyObject *op, void *closure)
{
    (void)closure;
    xc_scope *self = (xc_scope *)op;
    Py_ssize_t nu = xc_ideque_len(&self->workqueue);
    PyObject *out = PyList_New(nu);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nu; i++) {
        Py_ssize_t len;
        const Py_ssize_t *tests = xc_units_tests(
            &self->units, xc_ideque_get(&self->workqueue, i), &len);
        PyObject *unit = PyList_New(len);
        if (unit == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, unit);
        for (Py_ssize_t k = 0; k < len; k++) {
            PyObject *v = PyLong_FromSsize_t(tests[k]);
            if (v == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(unit, k, v);
        }
    }
    return out;
}

static PyObject *
scope_get_mode(PyObject *op, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(mode_names[((xc_scope *)op)->mode]);
}

static PyObject *
scope_get_reorder(PyObject *op, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((xc_scope *)op)->reorder);
}

static PyGetSetDef scope_getset[] = {
    {"pending_units", scope_get_pending_units, NULL,
     PyDoc_STR("The units not sent yet, in order, each a list of indices."),
     NULL},
    {"mode", scope_get_mode, NULL,
     PyDoc_STR("'loadscope', 'loadfile' or 'loadgroup'."), NULL},
    {"reorder", scope_get_reorder, NULL,
     PyDoc_STR("Whether the largest units go first."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot scope_slots[] = {
    {Py_tp_doc,
     (void *)PyDoc_STR(
         "ScopeScheduler(numnodes, mode='loadscope', reorder=True)\n--\n\n"
         "pytest-xdist's `loadscope`, `loadfile` and `loadgroup` "
         "scheduling.")},
    {Py_tp_new, scope_new},
    {Py_tp_init, scope_init},
    {Py_tp_dealloc, scope_dealloc},
    {Py_tp_traverse, xc_sched_traverse_obj},
    {Py_tp_clear, xc_sched_clear_obj},
    {Py_tp_methods, scope_methods},
    {Py_tp_getset, scope_getset},
    {0, NULL},
};

PyType_Spec xc_scope_spec = {
    .name = "xdist_c._core.ScopeScheduler",
    .basicsize = sizeof(xc_scope),
    .flags = XC_SCHED_FLAGS,
    .slots = scope_slots,
};
