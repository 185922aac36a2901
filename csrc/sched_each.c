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

/* Python: add_node_collection(node, collection), see above. */
static int
each_add_collection(xc_sched *self, xc_sched_state *ss, PyObject *argnode,
                    PyObject *collection)
{
    PyObject *node = NULL, *spec = NULL, *dead_node = NULL;
    PyObject *dead_spec = NULL, *dead_ids = NULL, *ids = NULL;
    Py_ssize_t slot = xc_sched_slot_of(self, argnode);
    if (slot < 0) {
        return -1;
    }
    if (xc_ledger_node(&self->ledger, slot)->flags &
        (XC_NODE_HAS_COLLECTION | XC_NODE_LATE)) {
        PyErr_SetString(PyExc_ValueError, "node already sent its collection");
        return -1;
    }
    if (self->ncollections < self->numnodes) {
        return xc_sched_store_collection(self, slot, collection);
    }
    /* Late: it may replace a removed node with the same spec. */
    xc_ledger_node(&self->ledger, slot)->flags |= XC_NODE_LATE;
    node = Py_NewRef(argnode);
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
            dead_ids == NULL ? 0 : xc_sched_same_ids(dead_ids, collection);
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
        if ((ids = PySequence_List(collection)) == NULL) {
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
    return 0;
error:
    Py_XDECREF(ids);
    Py_XDECREF(dead_ids);
    Py_XDECREF(dead_spec);
    Py_XDECREF(dead_node);
    Py_XDECREF(spec);
    Py_XDECREF(node);
    return -1;
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
        if (xc_sched_call_node(self, slot, ss->str_send_runtest_all, NULL) <
                0 ||
            xc_sched_shutdown_node(self, ss, slot) < 0) {
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

/* Python: schedule() -- start every node not started yet. */
static int
each_topup(xc_sched *self, xc_sched_state *ss)
{
    for (Py_ssize_t s = 0; s < self->ledger.nslots; s++) {
        unsigned int flags = xc_ledger_node(&self->ledger, s)->flags;
        if (flags & (XC_NODE_REMOVED | XC_NODE_STARTED)) {
            continue;
        }
        if (each_start(self, ss, s) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Python: remove_node(node), see above. */
static PyObject *
each_removed(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot)
{
    (void)ss;
    xc_node_rec *rec = xc_ledger_node(&self->ledger, slot);
    if (xc_ideque_len(&rec->pending) == 0) {
        xc_ideque_free(&rec->pending);
        Py_RETURN_NONE;
    }
    if (xc_ideque_reserve(&self->orphans, 1) < 0) {
        return NULL;
    }
    PyObject *crashed =
        xc_sched_pop_crashed(self, slot, xc_sched_coll_of(self, slot));
    if (crashed == NULL) {
        return NULL;
    }
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

static const xc_sched_ops each_ops = {
    .init_format = "n:EachScheduler",
    .add_collection = each_add_collection,
    .topup = each_topup,
    .removed = each_removed,
    .collection_early = 1,
};

static PyObject *
each_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    return xc_sched_alloc(type, &each_ops);
}

static PyType_Slot each_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("EachScheduler(numnodes)\n--\n\n"
                                  "pytest-xdist's `each` scheduling.")},
    {Py_tp_new, each_new},
    {Py_tp_init, xc_sched_init},
    {Py_tp_dealloc, xc_sched_dealloc},
    {Py_tp_traverse, xc_sched_traverse_obj},
    {Py_tp_clear, xc_sched_clear_obj},
    {0, NULL},
};

PyType_Spec xc_each_spec = {
    .name = "xdist_c._core.EachScheduler",
    .basicsize = sizeof(xc_sched),
    .flags = XC_SCHED_FLAGS,
    .slots = each_slots,
};
