/* sched.c -- the scheduler protocol, written once: the _SchedulerBase
 * type (its slots, node registry, pytest-xdist's protocol methods behind
 * one preamble, protocol_enter) and the component's init.  The helpers the
 * modes share are in sched_shared.c, the duration weights (set_durations)
 * in sched_weights.c; all are declared in sched.h.  A mode
 * (sched_load.c, sched_scope.c, sched_steal.c, sched_each.c) is its policy
 * alone: a table of plain-C functions, xc_sched_ops, set by its tp_new.
 * Just over 800 lines: 120 of them comments (this Python equivalent
 * included), and the method and getter tables with their docstrings and
 * the type's GC slots, which belong with the type; what the modes share
 * was moved out already.
 *
 * Python equivalent (self._ops: the mode's table):
 *
 *     class _SchedulerBase:
 *         # every protocol method: module state, not cleared, arguments
 *         def add_node_collection(self, node, collection):
 *             self._ops.add_collection(node, collection)  # default:
 *             # store before scheduling; a late node's is compared
 *
 *         def schedule(self):
 *             if not self.collection_is_completed: raise RuntimeError
 *             if self._ops.distribute is None or self.scheduled:
 *                 return self._ops.topup()
 *             if some stored collection differs: report each; return
 *             self._ops.distribute()
 *
 *         def mark_test_complete(self, node, item_index, duration=0):
 *             node_pending.remove(item_index)   # O(1): it is in front
 *             self._ops.completed(node, duration)
 *
 *         def mark_test_pending(self, item):   # NotImplementedError if
 *             if not self.scheduled: raise RuntimeError  # no requeue
 *             self._ops.requeue(self.collection.index(item))
 *
 *         def remove_node(self, node):
 *             forget node; return self._ops.removed(node)  # crashed id
 *
 *         def remove_pending_tests_from_node(self, node, indices):
 *             self._ops.given_back(node, indices)  # worksteal only
 *
 * The registry:
 *
 *     class _SchedulerBase:
 *         def __init__(self):
 *             self._slots = []          # slot -> node, in add order
 *             self._slot_colls = []     # slot -> None or a differing list
 *             self._node2slot = {}      # live node -> slot
 *             self._base_node = self._base_ids = None
 *             self._ledger = Ledger()   # ledger.c
 *
 *         nodes = property(lambda self: [n for n in self._node2slot])
 *         collection_is_completed = property(
 *             lambda self: self._ncollections >= self.numnodes)
 *
 *         @property
 *         def tests_finished(self):
 *             return (self.collection_is_completed
 *                     and not self._ops.unsent()  # default: the ledger's
 *                     and not self._orphans and not self._ops.awaiting()
 *                     and all(len(r.pending) < 2
 *                             for r in self._ledger.live()))
 *
 *         has_pending = property(lambda self: self._ops.unsent() or
 *             any(r.pending for r in self._ledger.live()))
 *
 *         def add_node(self, node):
 *             if node in self._node2slot:
 *                 raise ValueError("node already added")
 *             self._node2slot[node] = len(self._slots)
 *             self._slots.append(node); self._slot_colls.append(None)
 *             self._ledger.add_node()
 *
 *         def _store_collection(self, slot, collection): ...  # sched_shared.c
 *
 *         def _collection_mismatch(self, base_node, node, base_ids, ids):
 *             pass                            # subclasses report it
 */
#include "xdist_core.h"

#if PY_VERSION_HEX < 0x030C0000
#include "structmember.h"
#endif

/* --- managed __dict__ (3.12+) or a dict member (older) ----------------- */

#if PY_VERSION_HEX >= 0x030D0000
#define XC_VISIT_DICT(op, visit, arg)                                        \
    PyObject_VisitManagedDict(op, visit, arg)
#define XC_CLEAR_DICT(op) PyObject_ClearManagedDict(op)
#elif PY_VERSION_HEX >= 0x030C0000
#define XC_VISIT_DICT(op, visit, arg)                                        \
    _PyObject_VisitManagedDict(op, visit, arg)
#define XC_CLEAR_DICT(op) _PyObject_ClearManagedDict(op)
#endif

/* Parse the optional duration argument of mark_test_complete (NULL: not
 * given, 0.0).  0 / -1 with TypeError. */
static int
parse_duration(PyObject *arg, double *out)
{
    *out = 0.0;
    if (arg == NULL) {
        return 0;
    }
    double d = PyFloat_AsDouble(arg);
    if (d == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    *out = d;
    return 0;
}

/* --- object lifecycle --------------------------------------------------- */

PyObject *
xc_sched_alloc(PyTypeObject *type, const xc_sched_ops *ops)
{
    xc_sched *self = (xc_sched *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->ops = ops;
    /* tp_alloc zeroed the struct: every pointer is NULL, counts are 0. */
    xc_ledger_init(&self->ledger);
    xc_ideque_init(&self->coll_order);
    xc_ideque_init(&self->orphans);
    self->slots = PyList_New(0);
    self->slot_colls = PyList_New(0);
    self->node2slot = PyDict_New();
    if (self->slots == NULL || self->slot_colls == NULL ||
        self->node2slot == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

int
xc_sched_traverse_obj(PyObject *op, visitproc visit, void *arg)
{
    xc_sched *self = (xc_sched *)op;
    Py_VISIT(Py_TYPE(op));
#if PY_VERSION_HEX >= 0x030C0000
    {
        int r = XC_VISIT_DICT(op, visit, arg);
        if (r) {
            return r;
        }
    }
#else
    Py_VISIT(self->dict);
#endif
    Py_VISIT(self->slots);
    Py_VISIT(self->slot_colls);
    Py_VISIT(self->node2slot);
    Py_VISIT(self->base_node);
    Py_VISIT(self->base_ids);
    Py_VISIT(self->id2index);
    Py_VISIT(self->durations);
    return 0;
}

int
xc_sched_clear_obj(PyObject *op)
{
    xc_sched *self = (xc_sched *)op;
#if PY_VERSION_HEX >= 0x030C0000
    XC_CLEAR_DICT(op);
#else
    Py_CLEAR(self->dict);
#endif
    Py_CLEAR(self->slots);
    Py_CLEAR(self->slot_colls);
    Py_CLEAR(self->node2slot);
    Py_CLEAR(self->base_node);
    Py_CLEAR(self->base_ids);
    Py_CLEAR(self->id2index);
    Py_CLEAR(self->durations);
    return 0;
}

void
xc_sched_dealloc(PyObject *op)
{
    xc_sched *self = (xc_sched *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)xc_sched_clear_obj(op);
    xc_ledger_free(&self->ledger);
    xc_ideque_free(&self->coll_order);
    xc_ideque_free(&self->orphans);
    tp->tp_free(op);
    Py_DECREF(tp);
}

/* --- _SchedulerBase: what every scheduler shares ------------------------ */

static PyObject *
base_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    PyErr_Format(PyExc_TypeError, "cannot create '%s' instances",
                 type->tp_name);
    return NULL;
}

/* Python: [node for node in self._node2slot] (add order) */
static PyObject *
base_get_nodes(PyObject *op, void *closure)
{
    (void)closure;
    xc_sched *self = (xc_sched *)op;
    if (xc_sched_check(self) < 0) {
        return NULL;
    }
    PyObject *nodes = PyList_New(0);
    if (nodes == NULL) {
        return NULL;
    }
    for (Py_ssize_t s = 0; s < self->ledger.nslots; s++) {
        if (xc_ledger_node(&self->ledger, s)->flags & XC_NODE_REMOVED) {
            continue;
        }
        if (PyList_Append(nodes, xc_sched_node(self, s)) < 0) {
            Py_DECREF(nodes);
            return NULL;
        }
    }
    return nodes;
}

static PyObject *
base_get_collection_is_completed(PyObject *op, void *closure)
{
    (void)closure;
    xc_sched *self = (xc_sched *)op;
    return PyBool_FromLong(self->ncollections >= self->numnodes);
}

/* The work waiting to be sent: ops->unsent, or the ledger's tests. */
static inline Py_ssize_t
base_unsent(const xc_sched *self)
{
    const xc_sched_ops *ops = self->ops;
    return ops != NULL && ops->unsent != NULL
               ? ops->unsent(self)
               : xc_ledger_unsent(&self->ledger);
}

/* ops->awaiting, or 0. */
static inline int
base_awaiting(const xc_sched *self)
{
    const xc_sched_ops *ops = self->ops;
    return ops != NULL && ops->awaiting != NULL && ops->awaiting(self);
}

/* Read after every event (DSession): the cheap tests first, the mode's
 * awaiting (rarely false while tests run) last. */
static PyObject *
base_get_tests_finished(PyObject *op, void *closure)
{
    (void)closure;
    xc_sched *self = (xc_sched *)op;
    int finished =
        self->ncollections >= self->numnodes && base_unsent(self) == 0 &&
        xc_ideque_len(&self->orphans) == 0 &&
        !xc_ledger_any_node_has(&self->ledger, 2) && !base_awaiting(self);
    return PyBool_FromLong(finished);
}

static PyObject *
base_get_has_pending(PyObject *op, void *closure)
{
    (void)closure;
    xc_sched *self = (xc_sched *)op;
    int has =
        base_unsent(self) > 0 || xc_ledger_any_node_has(&self->ledger, 1);
    return PyBool_FromLong(has);
}

/* Python: min(len(pending) for the nodes that may be given work), or
 * None when there is none */
static PyObject *
base_get_shortest_queue(PyObject *op, void *closure)
{
    (void)closure;
    Py_ssize_t n = xc_ledger_shortest_queue(&((xc_sched *)op)->ledger);
    if (n < 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromSsize_t(n);
}

/* Python: self._node2slot[node] = new slot (ValueError if present) */
static PyObject *
base_add_node(PyObject *op, PyTypeObject *Py_UNUSED(cls),
              PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const xc_sched_sig sig = {"add_node", {"node"}, 1, 1};
    PyObject *node = NULL;
    xc_sched *self = (xc_sched *)op;
    if (xc_sched_enter(self, &sig, args, nargs, kwnames, &node) < 0) {
        return NULL;
    }
    int present = PyDict_Contains(self->node2slot, node);
    if (present < 0) {
        return NULL;
    }
    if (present) {
        PyErr_SetString(PyExc_ValueError, "node was already added");
        return NULL;
    }
    /* No Python code runs between the appends and the ledger slot, so the
     * lists and the ledger keep the same length. */
    Py_ssize_t slot = PyList_GET_SIZE(self->slots);
    assert(slot == self->ledger.nslots);
    if (PyList_Append(self->slots, node) < 0) {
        return NULL;
    }
    if (PyList_Append(self->slot_colls, Py_None) < 0) {
        (void)PyList_SetSlice(self->slots, slot, slot + 1, NULL);
        return NULL;
    }
    if (xc_ledger_add_node(&self->ledger) < 0) {
        (void)PyList_SetSlice(self->slots, slot, slot + 1, NULL);
        (void)PyList_SetSlice(self->slot_colls, slot, slot + 1, NULL);
        return NULL;
    }
    PyObject *pyslot = PyLong_FromSsize_t(slot);
    if (pyslot == NULL || PyDict_SetItem(self->node2slot, node, pyslot) < 0) {
        /* The slot stays allocated but is never live. */
        Py_XDECREF(pyslot);
        xc_ledger_remove_node(&self->ledger, slot);
        return NULL;
    }
    Py_DECREF(pyslot);
    Py_RETURN_NONE;
}

/* Python: list(self._ledger.nodes[slot_of(node)].pending) */
static PyObject *
base_node_pending(PyObject *op, PyTypeObject *Py_UNUSED(cls),
                  PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const xc_sched_sig sig = {"node_pending", {"node"}, 1, 1};
    PyObject *node = NULL;
    xc_sched *self = (xc_sched *)op;
    if (xc_sched_enter(self, &sig, args, nargs, kwnames, &node) < 0) {
        return NULL;
    }
    Py_ssize_t slot = xc_sched_slot_of(self, node);
    if (slot < 0) {
        return NULL;
    }
    return xc_sched_ideque_list(&xc_ledger_node(&self->ledger, slot)->pending,
                                0);
}

/* Python: the tests [start, stop) go to node first (load, worksteal) */
static PyObject *
base_set_home(PyObject *op, PyTypeObject *Py_UNUSED(cls),
              PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const xc_sched_sig sig = {
        "set_home", {"node", "start", "stop"}, 3, 3};
    PyObject *argv[3] = {NULL, NULL, NULL};
    xc_sched *self = (xc_sched *)op;
    if (xc_sched_enter(self, &sig, args, nargs, kwnames, argv) < 0) {
        return NULL;
    }
    Py_ssize_t slot = xc_sched_slot_of(self, argv[0]);
    if (slot < 0) {
        return NULL;
    }
    Py_ssize_t start = PyNumber_AsSsize_t(argv[1], PyExc_OverflowError);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t stop = PyNumber_AsSsize_t(argv[2], PyExc_OverflowError);
    if (stop == -1 && PyErr_Occurred()) {
        return NULL;
    }
    /* Checked against the collection when it is distributed. */
    xc_node_rec *rec = xc_ledger_node(&self->ledger, slot);
    rec->home_start = start;
    rec->home_stop = stop;
    Py_RETURN_NONE;
}

/* --- the protocol, once; the mode's policy through self->ops --------- */

/* The preamble of every protocol method: the module state (NULL if
 * cleared), then xc_sched_enter (the object usable, the arguments parsed
 * into out by sig), then the mode's table.  0 / -1. */
static int
protocol_enter(xc_sched *self, PyTypeObject *cls, xc_sched_state **ss,
               const xc_sched_sig *sig, PyObject *const *args,
               Py_ssize_t nargs, PyObject *kwnames, PyObject **out)
{
    *ss = xc_sched_state_of(cls);
    if (*ss == NULL ||
        xc_sched_enter(self, sig, args, nargs, kwnames, out) < 0) {
        return -1;
    }
    if (self->ops == NULL) { /* unreachable: the base is not instantiable */
        PyErr_SetString(PyExc_NotImplementedError,
                        "implemented by the concrete scheduler types");
        return -1;
    }
    return 0;
}

/* A protocol step the mode may leave out: 0 if its hook is `present`,
 * else -1 with NotImplementedError(what). */
static int
require_hook(int present, const char *what)
{
    if (!present) {
        PyErr_SetString(PyExc_NotImplementedError, what);
        return -1;
    }
    return 0;
}

/* Python: see each mode's add_node_collection (accept_collection for the
 * run-once modes). */
static PyObject *
base_add_node_collection(PyObject *op, PyTypeObject *cls,
                         PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    static const xc_sched_sig sig = {
        "add_node_collection", {"node", "collection"}, 2, 2};
    PyObject *argv[2] = {NULL, NULL};
    xc_sched *self = (xc_sched *)op;
    xc_sched_state *ss;
    if (protocol_enter(self, cls, &ss, &sig, args, nargs, kwnames, argv) <
        0) {
        return NULL;
    }
    int r = self->ops->add_collection != NULL
                ? self->ops->add_collection(self, ss, argv[0], argv[1])
                : xc_sched_accept_collection(self, ss, argv[0], argv[1]);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Python:
 *     def schedule(self):
 *         assert self.collection_is_completed     # RuntimeError
 *         if self.collection is not None: self._topup(); return
 *         if no collection at all or some differs (each reported): return
 *         self._distribute()
 */
static PyObject *
base_schedule(PyObject *op, PyTypeObject *cls, PyObject *const *args,
              Py_ssize_t nargs, PyObject *kwnames)
{
    static const xc_sched_sig sig = {"schedule", {NULL}, 0, 0};
    xc_sched *self = (xc_sched *)op;
    xc_sched_state *ss;
    if (protocol_enter(self, cls, &ss, &sig, args, nargs, kwnames, NULL) <
        0) {
        return NULL;
    }
    if (self->ncollections < self->numnodes) {
        PyErr_SetString(PyExc_RuntimeError,
                        "schedule() called before collection completed");
        return NULL;
    }
    const xc_sched_ops *ops = self->ops;
    if (ops->distribute == NULL || self->scheduled) {
        if (ops->topup(self, ss) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (self->base_ids == NULL) {
        Py_RETURN_NONE; /* no collection at all (numnodes == 0) */
    }
    int same = xc_sched_check_collections(self, ss);
    if (same < 0) {
        return NULL;
    }
    if (!same || self->scheduled) {
        Py_RETURN_NONE; /* nothing is run; or a callback scheduled */
    }
    if (ops->distribute(self, ss) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Python: node_pending.remove(item_index); then the mode's reaction */
static PyObject *
base_mark_test_complete(PyObject *op, PyTypeObject *cls,
                        PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames)
{
    static const xc_sched_sig sig = {
        "mark_test_complete", {"node", "item_index", "duration"}, 2, 3};
    PyObject *argv[3] = {NULL, NULL, NULL};
    xc_sched *self = (xc_sched *)op;
    xc_sched_state *ss;
    double duration;
    if (protocol_enter(self, cls, &ss, &sig, args, nargs, kwnames, argv) <
            0 ||
        parse_duration(argv[2], &duration) < 0) {
        return NULL;
    }
    Py_ssize_t slot = xc_sched_slot_of(self, argv[0]);
    if (slot < 0 || xc_sched_complete(self, slot, argv[1]) < 0) {
        return NULL;
    }
    if (self->ops->completed != NULL &&
        self->ops->completed(self, ss, slot, duration) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Python: the mode queues self.collection.index(item) again */
static PyObject *
base_mark_test_pending(PyObject *op, PyTypeObject *cls, PyObject *const *args,
                       Py_ssize_t nargs, PyObject *kwnames)
{
    static const xc_sched_sig sig = {"mark_test_pending", {"item"}, 1, 1};
    PyObject *item = NULL;
    xc_sched *self = (xc_sched *)op;
    xc_sched_state *ss;
    if (protocol_enter(self, cls, &ss, &sig, args, nargs, kwnames, &item) <
            0 ||
        require_hook(self->ops->requeue != NULL,
                     "this scheduler cannot put a test back") < 0) {
        return NULL;
    }
    if (!self->scheduled) {
        PyErr_SetString(PyExc_RuntimeError,
                        "mark_test_pending() called before schedule()");
        return NULL;
    }
    Py_ssize_t index = xc_sched_index_of(self, item);
    if (index < 0 || self->ops->requeue(self, ss, index) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Python: forget node; return the nodeid it was running, or None */
static PyObject *
base_remove_node(PyObject *op, PyTypeObject *cls, PyObject *const *args,
                 Py_ssize_t nargs, PyObject *kwnames)
{
    static const xc_sched_sig sig = {"remove_node", {"node"}, 1, 1};
    PyObject *node = NULL;
    xc_sched *self = (xc_sched *)op;
    xc_sched_state *ss;
    if (protocol_enter(self, cls, &ss, &sig, args, nargs, kwnames, &node) <
        0) {
        return NULL;
    }
    Py_ssize_t slot = xc_sched_slot_of(self, node);
    if (slot < 0 || xc_sched_unregister(self, slot) < 0) {
        return NULL;
    }
    return self->ops->removed(self, ss, slot);
}

/* Python: a worker's answer to a steal (worksteal only) */
static PyObject *
base_remove_pending_tests_from_node(PyObject *op, PyTypeObject *cls,
                                    PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    static const xc_sched_sig sig = {
        "remove_pending_tests_from_node", {"node", "indices"}, 2, 2};
    PyObject *argv[2] = {NULL, NULL};
    xc_sched *self = (xc_sched *)op;
    xc_sched_state *ss;
    if (protocol_enter(self, cls, &ss, &sig, args, nargs, kwnames, argv) <
            0 ||
        require_hook(self->ops->given_back != NULL,
                     "this scheduler never steals tests back from a node") <
            0) {
        return NULL;
    }
    Py_ssize_t slot = xc_sched_slot_of(self, argv[0]);
    if (slot < 0 || self->ops->given_back(self, ss, slot, argv[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
base_collection_mismatch(PyObject *op, PyTypeObject *cls,
                         PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    static const char *const names[] = {"base_node", "node", "base_ids",
                                        "ids"};
    PyObject *argv[4] = {NULL, NULL, NULL, NULL};
    (void)op;
    (void)cls;
    if (xc_parse_args("_collection_mismatch", args, nargs, kwnames, names, 4,
                      4, argv) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

#define XC_PROTO(name, doc)                                                  \
    {#name, (PyCFunction)(void (*)(void))base_##name, XC_METH, PyDoc_STR(doc)}

static PyMethodDef base_methods[] = {
    XC_PROTO(add_node_collection,
             "add_node_collection($self, node, collection)\n--\n\n"
             "Record the ids a node collected."),
    XC_PROTO(schedule, "schedule($self)\n--\n\n"
                       "Distribute the tests once all collections are in;\n"
                       "later calls give each node what it lacks."),
    XC_PROTO(mark_test_complete,
             "mark_test_complete($self, node, item_index, "
             "duration=0)\n--\n\n"
             "The node finished a test; send it more if it runs low."),
    XC_PROTO(mark_test_pending,
             "mark_test_pending($self, item)\n--\n\n"
             "Queue nodeid item again, first in line (not in each mode)."),
    XC_PROTO(remove_node,
             "remove_node($self, node)\n--\n\n"
             "Forget a node; return the nodeid that was running when it\n"
             "went down, or None, and queue (or, in each mode, keep for a\n"
             "replacement) its unfinished tests."),
    {"add_node", (PyCFunction)(void (*)(void))base_add_node, XC_METH,
     PyDoc_STR(
         "add_node($self, node)\n--\n\nRegister a node that is ready.")},
    {"node_pending", (PyCFunction)(void (*)(void))base_node_pending, XC_METH,
     PyDoc_STR("node_pending($self, node)\n--\n\n"
               "Indices sent to node and not yet completed, in order.")},
    {"set_home", (PyCFunction)(void (*)(void))base_set_home, XC_METH,
     PyDoc_STR("set_home($self, node, start, stop)\n--\n\n"
               "Keep the tests start..stop-1 for node first (load and\n"
               "worksteal; before schedule()): it collected their files.")},
    {"set_durations", (PyCFunction)(void (*)(void))xc_sched_set_durations,
     XC_METH,
     PyDoc_STR("set_durations($self, durations)\n--\n\n"
               "Expected seconds by nodeid (a dict, or None), read by the\n"
               "first schedule(): load and worksteal then hand out the\n"
               "longest tests first, the scope modes the longest units.")},
    XC_PROTO(remove_pending_tests_from_node,
             "remove_pending_tests_from_node($self, node, indices)\n--\n\n"
             "A node's answer to a steal: the indices it gave back\n"
             "(worksteal; NotImplementedError in the other modes)."),
    {"_collection_mismatch",
     (PyCFunction)(void (*)(void))base_collection_mismatch, XC_METH,
     PyDoc_STR("_collection_mismatch($self, base_node, node, base_ids, "
               "ids)\n--\n\n"
               "Called for each collection that differs from the one it\n"
               "should equal; does nothing here, subclasses report it.")},
    {NULL, NULL, 0, NULL},
};
#undef XC_PROTO

/* Python: the agreed collection once distributed (the first one received,
 * at once, in each mode), else None */
static PyObject *
base_get_collection(PyObject *op, void *closure)
{
    (void)closure;
    xc_sched *self = (xc_sched *)op;
    if (self->ops != NULL && self->base_ids != NULL &&
        (self->scheduled || self->ops->collection_early)) {
        return Py_NewRef(self->base_ids);
    }
    Py_RETURN_NONE;
}

PyObject *
xc_sched_get_pending(PyObject *op, void *closure)
{
    (void)closure;
    return xc_sched_unsent_list((xc_sched *)op);
}

static PyGetSetDef base_getset[] = {
    {"collection", base_get_collection, NULL,
     PyDoc_STR(
         "The agreed list of nodeids, or None before schedule() (each:\n"
         "the first collection received, or None)."),
     NULL},
    {"nodes", base_get_nodes, NULL,
     PyDoc_STR("The nodes not removed, in the order they were added."), NULL},
    {"collection_is_completed", base_get_collection_is_completed, NULL,
     PyDoc_STR("True once numnodes collections were received."), NULL},
    {"tests_finished", base_get_tests_finished, NULL,
     PyDoc_STR("True when every test has run or is the last one running "
               "on its node\n(in worksteal: and no steal awaits its "
               "answer)."),
     NULL},
    {"has_pending", base_get_has_pending, NULL,
     PyDoc_STR("True while some test is not sent or not completed."), NULL},
    {"shortest_queue", base_get_shortest_queue, NULL,
     PyDoc_STR("The fewest tests a node holds (sent, not completed) among\n"
               "the nodes that may be given work, or None."),
     NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL,
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#if PY_VERSION_HEX < 0x030C0000
static PyMemberDef base_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(xc_sched, dict), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};
#endif

static PyType_Slot base_slots[] = {
    {Py_tp_doc,
     (void *)PyDoc_STR("Common part of the xdist_c schedulers; not "
                       "instantiable.")},
    {Py_tp_new, base_new},
    {Py_tp_dealloc, xc_sched_dealloc},
    {Py_tp_traverse, xc_sched_traverse_obj},
    {Py_tp_clear, xc_sched_clear_obj},
    {Py_tp_methods, base_methods},
    {Py_tp_getset, base_getset},
#if PY_VERSION_HEX < 0x030C0000
    {Py_tp_members, base_members},
#endif
    {0, NULL},
};

static PyType_Spec base_spec = {
    .name = "xdist_c._core._SchedulerBase",
    .basicsize = sizeof(xc_sched),
    .flags = XC_SCHED_FLAGS,
    .slots = base_slots,
};

/* --- component init ----------------------------------------------------- */

#define SCHED_NAME(field, text) XC_NAME(xc_sched_state, field, text)
static const xc_name sched_names[] = {
    SCHED_NAME(str_send_runtest_some, "send_runtest_some"),
    SCHED_NAME(str_send_runtest_all, "send_runtest_all"),
    SCHED_NAME(str_shutdown, "shutdown"),
    SCHED_NAME(str_shutting_down, "shutting_down"),
    SCHED_NAME(str_gateway, "gateway"),
    SCHED_NAME(str_spec, "spec"),
    SCHED_NAME(str_collection_mismatch, "_collection_mismatch"),
    SCHED_NAME(str_send_steal, "send_steal"),
    SCHED_NAME(str_split_scope, "_split_scope"),
};
#undef SCHED_NAME

int
xc_sched_exec(PyObject *module, xc_state *st)
{
    xc_sched_state *ss = &st->sched;
    if (xc_intern_names(ss, sched_names, XC_NNAMES(sched_names)) < 0) {
        return -1;
    }

    ss->SchedulerBase_Type = xc_add_type(module, &base_spec, NULL);
    if (ss->SchedulerBase_Type == NULL) {
        return -1;
    }
    /* A tuple: Python 3.9 accepts nothing else as bases. */
    PyObject *bases = PyTuple_Pack(1, (PyObject *)ss->SchedulerBase_Type);
    if (bases == NULL) {
        return -1;
    }
    ss->LoadScheduler_Type = xc_add_type(module, &xc_load_spec, bases);
    if (ss->LoadScheduler_Type != NULL) {
        ss->EachScheduler_Type = xc_add_type(module, &xc_each_spec, bases);
    }
    if (ss->EachScheduler_Type != NULL) {
        ss->ScopeScheduler_Type = xc_add_type(module, &xc_scope_spec, bases);
    }
    if (ss->ScopeScheduler_Type != NULL) {
        ss->WorkStealScheduler_Type =
            xc_add_type(module, &xc_steal_spec, bases);
    }
    Py_DECREF(bases);
    return ss->WorkStealScheduler_Type == NULL ? -1 : 0;
}

int
xc_sched_traverse(xc_state *st, visitproc visit, void *arg)
{
    xc_sched_state *ss = &st->sched;
    Py_VISIT(ss->SchedulerBase_Type);
    Py_VISIT(ss->LoadScheduler_Type);
    Py_VISIT(ss->EachScheduler_Type);
    Py_VISIT(ss->ScopeScheduler_Type);
    Py_VISIT(ss->WorkStealScheduler_Type);
    return 0;
}

void
xc_sched_clear(xc_state *st)
{
    xc_sched_state *ss = &st->sched;
    Py_CLEAR(ss->SchedulerBase_Type);
    Py_CLEAR(ss->LoadScheduler_Type);
    Py_CLEAR(ss->EachScheduler_Type);
    Py_CLEAR(ss->ScopeScheduler_Type);
    Py_CLEAR(ss->WorkStealScheduler_Type);
    xc_clear_names(ss, sched_names, XC_NNAMES(sched_names));
}
