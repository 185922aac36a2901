/* sched_each.c -- EachScheduler: every node runs every test it collected
 * (pytest-xdist's `--dist each`).
 *
 * Python equivalent (per-node `pending` lists are deques):
 *
 *     class EachScheduler(_SchedulerBase):
 *         def __init__(self, numnodes): ...
 *
 *         def add_node_collection(self, node, collection):
 *             if not self.collection_is_completed:
 *                 self._store_collection(node, collection)  # no check
 *                 return
 *             for dead in self._orphans:        # removed, work left
 *                 if dead.gateway.spec == node.gateway.spec:
 *                     if collection != ids_of(dead):
 *                         self._collection_mismatch(dead, node,
 *                                                   ids_of(dead), ids)
 *                         return                # ignored: no work
 *                     node_pending = self._orphans.pop(dead)
 *                     ids_of(node) = ids_of(dead)
 *                     return
 *             # a late node with nothing to take over: idle
 *
 *         def schedule(self):
 *             for node in self.nodes:
 *                 if node is started: continue
 *                 if node_pending:             # replaces a dead node
 *                     node.send_runtest_some(list(node_pending))
 *                 elif node sent its collection in time:
 *                     node_pending = deque(range(len(ids_of(node))))
 *                     node.send_runtest_all(); node.shutdown()
 *                 elif node is late:           # idle or ignored
 *                     node.shutdown()
 *                 else:
 *                     continue                 # no collection yet
 *                 mark node started
 *
 *         def mark_test_complete(self, node, item_index, duration=0):
 *             node_pending.remove(item_index)  # O(1): it is in front
 *
 *         def remove_node(self, node):
 *             pending = node_pending of node; forget node
 *             if not pending: return None
 *             crashed = ids_of(node)[pending.popleft()]
 *             if pending: self._orphans[node] = pending
 *             return crashed
 *
 * pytest-xdist raises KeyError in schedule() for a late node that replaces
 * nobody (or whose collection differs) and loses the crash item when a
 * replacement node crashes; here the former is shut down and the latter
 * inherits the dead node's collection, so its own crash is reported and
 * its remaining tests can be taken over again.
 */
#include "xdist_core.h"

static PyObject *
each_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    return xc_sched_alloc(type);
}

static int
each_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"numnodes", NULL};
    xc_sched *self = (xc_sched *)op;
    Py_ssize_t numnodes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:EachScheduler", kwlist,
                                     &numnodes)) {
        return -1;
    }
    if (numnodes < 0) {
        PyErr_SetString(PyExc_ValueError, "numnodes must be >= 0");
        return -1;
    }
    self->numnodes = numnodes;
    return 0;
}

static PyObject *
each_get_collection(PyObject *op, void *closure)
{
    (void)closure;
    xc_sched *self = (xc_sched *)op;
    if (self->base_ids != NULL) {
        return Py_NewRef(self->base_ids);
    }
    Py_RETURN_NONE;
}

/* New reference: node.gateway.spec. */
static PyObject *
node_spec(xc_sched_state *ss, PyObject *node)
{
    PyObject *gw = PyObject_GetAttr(node, ss->str_gateway);
    if (gw == NULL) {
        return NULL;
    }
    PyObject *spec = PyObject_GetAttr(gw, ss->str_spec);
    Py_DECREF(gw);
    return spec;
}

/* Let the node in `slot` take over the work of the removed node `dead`,
 * whose collection it shares.  0 / -1. */
static int
each_take_over(xc_sched *self, Py_ssize_t slot, Py_ssize_t dead)
{
    xc_node_rec *rec = xc_ledger_node(&self->ledger, slot);
    xc_node_rec *drec = xc_ledger_node(&self->ledger, dead);
    if (!xc_ideque_remove(&self->orphans, dead)) {
        /* Taken over meanwhile (re-entrant call): stay idle. */
        return 0;
    }
    xc_ideque_swap(&rec->pending, &drec->pending);
    xc_ideque_free(&drec->pending);
    drec->flags &= ~(unsigned int)XC_NODE_ORPHANED;
    rec->flags |= XC_NODE_HAS_COLLECTION;
    PyObject *own = Py_NewRef(PyList_GET_ITEM(self->slot_colls, dead));
    /* Steals own. */
    return PyList_SetItem(self->slot_colls, slot, own);
}

static PyObject *
each_add_node_collection(PyObject *op, PyTypeObject *cls,
                         PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    static const char *const names[] = {"node", "collection"};
    PyObject *argv[2] = {NULL, NULL};
    PyObject *node = NULL, *spec = NULL, *dead_node = NULL;
    PyObject *dead_spec = NULL, *dead_ids = NULL, *ids = NULL;
    xc_sched *self = (xc_sched *)op;
    xc_sched_state *ss = xc_sched_state_of(cls);
    if (ss == NULL || xc_sched_check(self) < 0 ||
        xc_parse_args("add_node_collection", args, nargs, kwnames, names, 2,
                      2, argv) < 0) {
        return NULL;
    }
    Py_ssize_t slot = xc_sched_slot_of(self, argv[0]);
    if (slot < 0) {
        return NULL;
    }
    if (xc_ledger_node(&self->ledger, slot)->flags &
        (XC_NODE_HAS_COLLECTION | XC_NODE_LATE)) {
        PyErr_SetString(PyExc_ValueError, "node already sent its collection");
        return NULL;
    }
    if (self->ncollections < self->numnodes) {
        if (xc_sched_store_collection(self, slot, argv[1]) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    /* Late: it may replace a removed node with the same spec. */
    xc_ledger_node(&self->ledger, slot)->flags |= XC_NODE_LATE;
    node = Py_NewRef(argv[0]);
    for (Py_ssize_t i = 0; i < xc_ideque_len(&self->orphans); i++) {
        Py_ssize_t dead = xc_ideque_get(&self->orphans, i);
        if (spec == NULL && (spec = node_spec(ss, node)) == NULL) {
            goto error;
        }
        dead_node = Py_NewRef(xc_sched_node(self, dead));
        if ((dead_spec = node_spec(ss, dead_node)) == NULL) {
            goto error;
        }
        int eq = PyObject_RichCompareBool(dead_spec, spec, Py_EQ);
        Py_CLEAR(dead_spec);
        if (eq < 0) {
            goto error;
        }
        if (!eq) {
            Py_CLEAR(dead_node);
            continue;
        }
        dead_ids = Py_XNewRef(xc_sched_coll_of(self, dead));
        int same =
            dead_ids == NULL ? 0 : xc_sched_same_ids(dead_ids, argv[1]);
        if (same < 0) {
            goto error;
        }
        if (same) {
            if (each_take_over(self, slot, dead) < 0) {
                goto error;
            }
            break;
        }
        /* Collected something else: report it, give it nothing. */
        xc_ledger_node(&self->ledger, slot)->flags |= XC_NODE_IGNORED;
        if ((ids = PySequence_List(argv[1])) == NULL) {
            goto error;
        }
        if (dead_ids == NULL) {
            dead_ids = PyList_New(0);
            if (dead_ids == NULL) {
                goto error;
            }
        }
        if (xc_sched_report_mismatch(self, ss, dead_node, node, dead_ids,
                                     ids) < 0) {
            goto error;
        }
        break;
    }
    Py_XDECREF(ids);
    Py_XDECREF(dead_ids);
    Py_XDECREF(dead_node);
    Py_XDECREF(spec);
    Py_DECREF(node);
    Py_RETURN_NONE;
error:
    Py_XDECREF(ids);
    Py_XDECREF(dead_ids);
    Py_XDECREF(dead_spec);
    Py_XDECREF(dead_node);
    Py_XDECREF(spec);
    Py_XDECREF(node);
    return NULL;
}

/* Start one node (see the module docstring).  0 / -1. */
static int
each_start(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot)
{
    xc_node_rec *rec = xc_ledger_node(&self->ledger, slot);
    if (xc_ideque_len(&rec->pending) > 0) {
        if (xc_sched_send_some(self, ss, slot, xc_ideque_len(&rec->pending)) <
            0) {
            return -1;
        }
    }
    else if ((rec->flags & XC_NODE_HAS_COLLECTION) &&
             !(rec->flags & XC_NODE_LATE)) {
        PyObject *ids = xc_sched_coll_of(self, slot);
        if (xc_ideque_append_range(&rec->pending, 0, PyList_GET_SIZE(ids)) <
            0) {
            return -1;
        }
        PyObject *node = Py_NewRef(xc_sched_node(self, slot));
        PyObject *res =
            PyObject_CallMethodNoArgs(node, ss->str_send_runtest_all);
        Py_DECREF(node);
        if (res == NULL) {
            return -1;
        }
        Py_DECREF(res);
        if (xc_sched_shutdown_node(self, ss, slot) < 0) {
            return -1;
        }
    }
    else if (rec->flags & XC_NODE_LATE) {
        if (xc_sched_shutdown_node(self, ss, slot) < 0) {
            return -1;
        }
    }
    else {
        return 0; /* its collection has not arrived yet */
    }
    xc_ledger_node(&self->ledger, slot)->flags |= XC_NODE_STARTED;
    return 0;
}

static PyObject *
each_schedule(PyObject *op, PyTypeObject *cls, PyObject *const *args,
              Py_ssize_t nargs, PyObject *kwnames)
{
    xc_sched *self = (xc_sched *)op;
    xc_sched_state *ss = xc_sched_state_of(cls);
    if (ss == NULL || xc_sched_check(self) < 0 ||
        xc_parse_args("schedule", args, nargs, kwnames, NULL, 0, 0, NULL) <
            0) {
        return NULL;
    }
    if (self->ncollections < self->numnodes) {
        PyErr_SetString(PyExc_RuntimeError,
                        "schedule() called before collection completed");
        return NULL;
    }
    for (Py_ssize_t s = 0; s < self->ledger.nslots; s++) {
        unsigned int flags = xc_ledger_node(&self->ledger, s)->flags;
        if (flags & (XC_NODE_REMOVED | XC_NODE_STARTED)) {
            continue;
        }
        if (each_start(self, ss, s) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
each_mark_test_complete(PyObject *op, PyTypeObject *cls,
                        PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames)
{
    static const char *const names[] = {"node", "item_index", "duration"};
    PyObject *argv[3] = {NULL, NULL, NULL};
    xc_sched *self = (xc_sched *)op;
    (void)cls;
    if (xc_sched_check(self) < 0 ||
        xc_parse_args("mark_test_complete", args, nargs, kwnames, names, 2, 3,
                      argv) < 0) {
        return NULL;
    }
    if (argv[2] != NULL) {
        double duration = PyFloat_AsDouble(argv[2]);
        if (duration == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
    }
    Py_ssize_t slot = xc_sched_slot_of(self, argv[0]);
    if (slot < 0 || xc_sched_complete(self, slot, argv[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
each_mark_test_pending(PyObject *op, PyTypeObject *cls, PyObject *const *args,
                       Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"item"};
    PyObject *item = NULL;
    (void)op;
    (void)cls;
    if (xc_parse_args("mark_test_pending", args, nargs, kwnames, names, 1, 1,
                      &item) < 0) {
        return NULL;
    }
    PyErr_SetString(PyExc_NotImplementedError,
                    "each scheduling cannot put a test back");
    return NULL;
}

static PyObject *
each_remove_node(PyObject *op, PyTypeObject *cls, PyObject *const *args,
                 Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"node"};
    PyObject *node = NULL;
    xc_sched *self = (xc_sched *)op;
    (void)cls;
    if (xc_sched_check(self) < 0 ||
        xc_parse_args("remove_node", args, nargs, kwnames, names, 1, 1,
                      &node) < 0) {
        return NULL;
    }
    Py_ssize_t slot = xc_sched_slot_of(self, node);
    if (slot < 0 || xc_sched_unregister(self, slot) < 0) {
        return NULL;
    }
    xc_node_rec *rec = xc_ledger_node(&self->ledger, slot);
    if (xc_ideque_len(&rec->pending) == 0) {
        xc_ideque_free(&rec->pending);
        Py_RETURN_NONE;
    }
    /* The first pending test is the one that was running. */
    PyObject *crashed = xc_sched_coll_item(xc_sched_coll_of(self, slot),
                                           xc_ideque_get(&rec->pending, 0));
    if (crashed == NULL) {
        return NULL;
    }
    if (xc_ideque_reserve(&self->orphans, 1) < 0) {
        Py_DECREF(crashed);
        return NULL;
    }
    (void)xc_ideque_pop_front(&rec->pending);
    if (xc_ideque_len(&rec->pending) > 0) {
        /* Kept for a replacement node with the same spec. */
        rec->flags |= XC_NODE_ORPHANED;
        (void)xc_ideque_push_back(&self->orphans, slot); /* reserved */
    }
    else {
        xc_ideque_free(&rec->pending);
    }
    return crashed;
}

static PyMethodDef each_methods[] = {
    {"add_node_collection",
     (PyCFunction)(void (*)(void))each_add_node_collection, XC_METH,
     PyDoc_STR("add_node_collection($self, node, collection)\n--\n\n"
               "Record the ids a node collected (never cross-checked); a\n"
               "late node takes over a removed node with the same spec.")},
    {"schedule", (PyCFunction)(void (*)(void))each_schedule, XC_METH,
     PyDoc_STR("schedule($self)\n--\n\n"
               "Start every node not started yet.")},
    {"mark_test_complete",
     (PyCFunction)(void (*)(void))each_mark_test_complete, XC_METH,
     PyDoc_STR("mark_test_complete($self, node, item_index, "
               "duration=0)\n--\n\n"
               "The node finished a test.")},
    {"mark_test_pending", (PyCFunction)(void (*)(void))each_mark_test_pending,
     XC_METH,
     PyDoc_STR("mark_test_pending($self, item)\n--\n\n"
               "Not supported: raises NotImplementedError.")},
    {"remove_node", (PyCFunction)(void (*)(void))each_remove_node, XC_METH,
     PyDoc_STR("remove_node($self, node)\n--\n\n"
               "Forget a node; keep its unfinished tests for a replacement\n"
               "and return the nodeid that was running, or None.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef each_getset[] = {
    {"collection", each_get_collection, NULL,
     PyDoc_STR("The first collection received, or None."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot each_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("EachScheduler(numnodes)\n--\n\n"
                                  "pytest-xdist's `each` scheduling.")},
    {Py_tp_new, each_new},
    {Py_tp_init, each_init},
    {Py_tp_dealloc, xc_sched_dealloc},
    {Py_tp_traverse, xc_sched_traverse_obj},
    {Py_tp_clear, xc_sched_clear_obj},
    {Py_tp_methods, each_methods},
    {Py_tp_getset, each_getset},
    {0, NULL},
};

PyType_Spec xc_each_spec = {
    .name = "xdist_c._core.EachScheduler",
    .basicsize = sizeof(xc_sched),
    .flags = XC_SCHED_FLAGS,
    .slots = each_slots,
};
