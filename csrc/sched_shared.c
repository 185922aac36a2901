/* sched_shared.c -- the helpers the scheduler modes share, behind the
 * protocol of sched.c: node bookkeeping (slot of a node, its collection,
 * unregistering it), collection storage and comparison (the stored-once
 * collection, the mismatch reports, the check before the first
 * schedule(), a late node's collection), sending and shutting down nodes,
 * completing and requeueing tests (load, worksteal), the unsent tests, the
 * index of a nodeid, and the tp_init of the modes taking numnodes.  No
 * Python type is defined here; each function is declared in sched.h with
 * its contract.
 *
 * Python equivalent (methods of sched.c's _SchedulerBase):
 *
 *     class _SchedulerBase:
 *         def _store_collection(self, slot, collection):
 *             if self._base_ids is None:      # the one stored copy
 *                 self._base_node = self._slots[slot]
 *                 self._base_ids = list(collection)
 *             elif list(collection) != self._base_ids:
 *                 self._slot_colls[slot] = list(collection)
 *             # else: equal to the base one, dropped
 *             self._ncollections += 1
 *
 *         def _check_collections(self):      # the first schedule()
 *             same = True
 *             for slot in self._coll_order:    # arrival order
 *                 if self._slot_colls[slot] is not None:
 *                     same = False
 *                     self._collection_mismatch(self._base_node,
 *                         self._slots[slot], self._base_ids,
 *                         self._slot_colls[slot])
 *             return same
 *
 *         def _index_of(self, item):          # self.collection.index
 *             return self._id2index[item]      # a dict, built on first use
 *
 * The collection is kept once: the first node's list.  Every later one is
 * compared with it when it arrives and dropped when equal, so W workers
 * cost one list of ids, not W.
 */
#include "xdist_core.h"

/* --- shared helpers ----------------------------------------------------- */

xc_sched_state *
xc_sched_state_of(PyTypeObject *defining_class)
{
    xc_state *st = (xc_state *)PyType_GetModuleState(defining_class);
    if (st == NULL) {
        return NULL;
    }
    if (st->sched.str_collection_mismatch == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "xdist_c._core was already cleared");
        return NULL;
    }
    return &st->sched;
}

int
xc_sched_check(xc_sched *self)
{
    if (self->slots == NULL || self->slot_colls == NULL ||
        self->node2slot == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "scheduler was cleared and cannot be used");
        return -1;
    }
    return 0;
}

Py_ssize_t
xc_sched_slot_of(xc_sched *self, PyObject *node)
{
    PyObject *v = PyDict_GetItemWithError(self->node2slot, node);
    if (v == NULL) {
        if (!PyErr_Occurred()) {
            /* KeyError(node), as dict.pop() would raise */
            PyObject *key = PyTuple_Pack(1, node);
            if (key != NULL) {
                PyErr_SetObject(PyExc_KeyError, key);
                Py_DECREF(key);
            }
        }
        return -1;
    }
    return PyLong_AsSsize_t(v);
}

PyObject *
xc_sched_coll_of(xc_sched *self, Py_ssize_t slot)
{
    if (!(xc_ledger_node(&self->ledger, slot)->flags &
          XC_NODE_HAS_COLLECTION)) {
        return NULL;
    }
    PyObject *own = PyList_GET_ITEM(self->slot_colls, slot);
    return own != Py_None ? own : self->base_ids;
}

PyObject *
xc_sched_coll_item(PyObject *coll, Py_ssize_t index)
{
    if (coll == NULL || index < 0 || index >= PyList_GET_SIZE(coll)) {
        PyErr_Format(PyExc_IndexError,
                     "item index %zd is outside the collection", index);
        return NULL;
    }
    return Py_NewRef(PyList_GET_ITEM(coll, index));
}

int
xc_sched_same_ids(PyObject *ids, PyObject *collection)
{
    int result = 1;
    PyObject *seq =
        PySequence_Fast(collection, "a collection must be a sequence");
    if (seq == NULL) {
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(seq) != PyList_GET_SIZE(ids)) {
        result = 0;
        goto done;
    }
    /* Sizes are re-read each step: __eq__ of odd items may resize. */
    for (Py_ssize_t i = 0;; i++) {
        Py_ssize_t na = PyList_GET_SIZE(ids);
        Py_ssize_t nb = PySequence_Fast_GET_SIZE(seq);
        if (i >= na || i >= nb) {
            result = (na == nb);
            break;
        }
        PyObject *a = PyList_GET_ITEM(ids, i);
        PyObject *b = PySequence_Fast_GET_ITEM(seq, i);
        if (a == b) {
            continue;
        }
        Py_INCREF(a);
        Py_INCREF(b);
        int eq = PyObject_RichCompareBool(a, b, Py_EQ);
        Py_DECREF(a);
        Py_DECREF(b);
        if (eq <= 0) {
            result = eq;
            break;
        }
    }
done:
    Py_DECREF(seq);
    return result;
}

int
xc_sched_store_collection(xc_sched *self, Py_ssize_t slot,
                          PyObject *collection)
{
    PyObject *own = NULL;
    if (xc_ideque_reserve(&self->coll_order, 1) < 0) {
        return -1;
    }
    if (self->base_ids == NULL) {
        PyObject *ids = PySequence_List(collection);
        if (ids == NULL) {
            return -1;
        }
        if (self->base_ids != NULL) {
            /* Someone stored one while we iterated: compare with it. */
            Py_DECREF(ids);
        }
        else {
            self->base_node = Py_NewRef(xc_sched_node(self, slot));
            self->base_ids = ids;
            goto accepted;
        }
    }
    PyObject *base = Py_NewRef(self->base_ids);
    int same = xc_sched_same_ids(base, collection);
    Py_DECREF(base);
    if (same < 0) {
        return -1;
    }
    if (!same) {
        own = PySequence_List(collection);
        if (own == NULL) {
            return -1;
        }
        /* Steals own; drops the None that was there. */
        if (PyList_SetItem(self->slot_colls, slot, own) < 0) {
            return -1;
        }
    }
accepted:
    xc_ledger_node(&self->ledger, slot)->flags |= XC_NODE_HAS_COLLECTION;
    self->ncollections++;
    if (xc_ideque_push_back(&self->coll_order, slot) < 0) {
        return -1; /* cannot happen: reserved above */
    }
    return 0;
}

PyObject *
xc_sched_ideque_list(const xc_ideque *dq, Py_ssize_t start)
{
    Py_ssize_t n = xc_ideque_len(dq) - start;
    if (n < 0) {
        n = 0;
    }
    PyObject *list = PyList_New(n);
    if (list == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromSsize_t(xc_ideque_get(dq, start + i));
        if (v == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

PyObject *
xc_sched_unsent_list(xc_sched *self)
{
    PyObject *list = xc_sched_ideque_list(&self->ledger.pending, 0);
    for (Py_ssize_t s = 0; list != NULL && s < self->ledger.nslots; s++) {
        const xc_ideque *home = &xc_ledger_node(&self->ledger, s)->home;
        for (Py_ssize_t i = 0; i < xc_ideque_len(home); i++) {
            PyObject *v = PyLong_FromSsize_t(xc_ideque_get(home, i));
            if (v == NULL || PyList_Append(list, v) < 0) {
                Py_XDECREF(v);
                Py_CLEAR(list);
                break;
            }
            Py_DECREF(v);
        }
    }
    return list;
}

int
xc_sched_report_mismatch(xc_sched *self, xc_sched_state *ss,
                         PyObject *base_node, PyObject *node,
                         PyObject *base_ids, PyObject *ids)
{
    PyObject *res = PyObject_CallMethodObjArgs(
        (PyObject *)self, ss->str_collection_mismatch, base_node, node,
        base_ids, ids, NULL);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

int
xc_sched_call_node(xc_sched *self, Py_ssize_t slot, PyObject *method,
                   PyObject *arg)
{
    /* The node is held while its method runs: the call may remove it.
     * The call may use argv[0] for a while, as in PyObject_CallMethod*. */
    PyObject *argv[2] = {Py_NewRef(xc_sched_node(self, slot)), arg};
    size_t nargsf = (arg != NULL ? 2 : 1) | PY_VECTORCALL_ARGUMENTS_OFFSET;
    PyObject *res = PyObject_VectorcallMethod(method, argv, nargsf, NULL);
    Py_DECREF(argv[0]);
    if (res == NULL) {
        return -1;
    }
    Py_DECREF(res);
    return 0;
}

int
xc_sched_call_with_tail(xc_sched *self, Py_ssize_t slot, Py_ssize_t n,
                        PyObject *method)
{
    const xc_ideque *pending = &xc_ledger_node(&self->ledger, slot)->pending;
    Py_ssize_t len = xc_ideque_len(pending);
    if (n > len) {
        n = len;
    }
    PyObject *indices = xc_sched_ideque_list(pending, len - n);
    if (indices == NULL) {
        return -1;
    }
    int r = xc_sched_call_node(self, slot, method, indices);
    Py_DECREF(indices);
    return r;
}

int
xc_sched_send_some(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                   Py_ssize_t n)
{
    return xc_sched_call_with_tail(self, slot, n, ss->str_send_runtest_some);
}

int
xc_sched_shutdown_node(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot)
{
    xc_ledger_node(&self->ledger, slot)->flags |= XC_NODE_SHUTDOWN_SENT;
    return xc_sched_call_node(self, slot, ss->str_shutdown, NULL);
}

int
xc_sched_complete(xc_sched *self, Py_ssize_t slot, PyObject *arg)
{
    Py_ssize_t index = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (index == -1 && PyErr_Occurred()) {
        return -1;
    }
    PyObject *coll = xc_sched_coll_of(self, slot);
    if (coll == NULL) {
        coll = self->base_ids;
    }
    if (index < 0 || (coll != NULL && index >= PyList_GET_SIZE(coll))) {
        PyErr_Format(PyExc_IndexError,
                     "item_index %zd is outside the collection", index);
        return -1;
    }
    if (!xc_ledger_complete(&self->ledger, slot, index)) {
        PyErr_Format(PyExc_ValueError,
                     "item_index %zd is not pending on this node", index);
        return -1;
    }
    return 0;
}

int
xc_sched_unregister(xc_sched *self, Py_ssize_t slot)
{
    if (PyDict_DelItem(self->node2slot, xc_sched_node(self, slot)) < 0) {
        return -1;
    }
    xc_ledger_remove_node(&self->ledger, slot);
    return 0;
}

PyObject *
xc_sched_pop_crashed(xc_sched *self, Py_ssize_t slot, PyObject *coll)
{
    xc_ideque *pending = &xc_ledger_node(&self->ledger, slot)->pending;
    PyObject *crashed = xc_sched_coll_item(coll, xc_ideque_get(pending, 0));
    if (crashed != NULL) {
        (void)xc_ideque_pop_front(pending);
    }
    return crashed;
}

int
xc_sched_requeue_node(xc_sched *self, Py_ssize_t slot, PyObject **crashed)
{
    *crashed = NULL;
    if (xc_ledger_release_home(&self->ledger, slot) < 0) {
        return -1;
    }
    xc_ideque *pending = &xc_ledger_node(&self->ledger, slot)->pending;
    if (xc_ideque_len(pending) > 0) {
        *crashed = xc_sched_pop_crashed(
            self, slot, self->scheduled ? self->base_ids : NULL);
        if (*crashed == NULL) {
            return -1;
        }
        if (xc_ideque_extend(&self->ledger.pending, pending) < 0) {
            Py_CLEAR(*crashed);
            return -1;
        }
    }
    xc_ideque_free(pending);
    xc_ledger_reweigh(&self->ledger);
    return 0;
}

int
xc_sched_requeue_first(xc_sched *self, xc_sched_state *ss, Py_ssize_t index)
{
    if (xc_ideque_push_front(&self->ledger.pending, index) < 0) {
        return -1;
    }
    xc_ledger_reweigh(&self->ledger);
    return self->ops->topup(self, ss);
}

/* --- helpers of the run-once schedulers (scope, worksteal) -------------- */

/* 1 if `node` had a slot and was removed, else 0 (O(slots); only used on
 * a path that is otherwise an error). */
static int
was_removed(xc_sched *self, PyObject *node)
{
    for (Py_ssize_t s = 0; s < self->ledger.nslots; s++) {
        if (xc_sched_node(self, s) == node &&
            (xc_ledger_node(&self->ledger, s)->flags & XC_NODE_REMOVED)) {
            return 1;
        }
    }
    return 0;
}

int
xc_sched_accept_collection(xc_sched *self, xc_sched_state *ss, PyObject *node,
                           PyObject *collection)
{
    PyObject *ids = NULL, *base_node = NULL, *base_ids = NULL;
    PyObject *nodeobj = NULL;
    Py_ssize_t slot = xc_sched_slot_of(self, node);
    if (slot < 0) {
        /* A node let go before its collection came (more nodes than units
         * at the first schedule()): nothing to do with it. */
        if (PyErr_ExceptionMatches(PyExc_KeyError) &&
            was_removed(self, node)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    if (xc_ledger_node(&self->ledger, slot)->flags &
        (XC_NODE_HAS_COLLECTION | XC_NODE_IGNORED)) {
        PyErr_SetString(PyExc_ValueError, "node already sent its collection");
        return -1;
    }
    if (!(self->scheduled && self->ncollections >= self->numnodes)) {
        return xc_sched_store_collection(self, slot, collection);
    }
    /* A node that joined after scheduling (it replaces a dead one). */
    base_ids = Py_NewRef(self->base_ids);
    int same = xc_sched_same_ids(base_ids, collection);
    if (same < 0) {
        goto error;
    }
    /* The comparison may have run Python code (an item's __eq__). */
    if (xc_ledger_node(&self->ledger, slot)->flags & XC_NODE_REMOVED) {
        PyErr_SetString(PyExc_RuntimeError,
                        "node was removed while its collection was compared");
        goto error;
    }
    xc_node_rec *rec = xc_ledger_node(&self->ledger, slot);
    if (same) {
        rec->flags |= XC_NODE_HAS_COLLECTION | XC_NODE_LATE;
        self->ncollections++;
        Py_DECREF(base_ids);
        return 0;
    }
    rec->flags |= XC_NODE_LATE | XC_NODE_IGNORED;
    ids = PySequence_List(collection);
    if (ids == NULL) {
        goto error;
    }
    base_node = Py_NewRef(self->base_node);
    nodeobj = Py_NewRef(node);
    if (xc_sched_report_mismatch(self, ss, base_node, nodeobj, base_ids,
                                 ids) < 0) {
        goto error;
    }
    Py_DECREF(ids);
    Py_DECREF(base_node);
    Py_DECREF(base_ids);
    Py_DECREF(nodeobj);
    return 0;
error:
    Py_XDECREF(ids);
    Py_XDECREF(base_node);
    Py_XDECREF(base_ids);
    Py_XDECREF(nodeobj);
    return -1;
}

int
xc_sched_check_collections(xc_sched *self, xc_sched_state *ss)
{
    int same = 1;
    /* coll_order only grows (by add_node_collection, which a callback
     * could call): re-read its length every step. */
    for (Py_ssize_t i = 0; i < xc_ideque_len(&self->coll_order); i++) {
        Py_ssize_t slot = xc_ideque_get(&self->coll_order, i);
        if (PyList_GET_ITEM(self->slot_colls, slot) == Py_None) {
            continue;
        }
        same = 0;
        PyObject *base_node = Py_NewRef(self->base_node);
        PyObject *base_ids = Py_NewRef(self->base_ids);
        PyObject *node = Py_NewRef(xc_sched_node(self, slot));
        PyObject *ids = Py_NewRef(PyList_GET_ITEM(self->slot_colls, slot));
        int r = xc_sched_report_mismatch(self, ss, base_node, node, base_ids,
                                         ids);
        Py_DECREF(base_node);
        Py_DECREF(base_ids);
        Py_DECREF(node);
        Py_DECREF(ids);
        if (r < 0) {
            return -1;
        }
    }
    return same;
}


/* Build self->id2index: nodeid -> index of its first occurrence (like
 * list.index).  0 / -1. */
static int
build_index(xc_sched *self)
{
    PyObject *ids = Py_NewRef(self->base_ids);
    PyObject *map = PyDict_New();
    if (map == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ids); i++) {
        PyObject *index = PyLong_FromSsize_t(i);
        if (index == NULL) {
            goto error;
        }
        PyObject *key = Py_NewRef(PyList_GET_ITEM(ids, i));
        PyObject *r = PyDict_SetDefault(map, key, index); /* borrowed */
        Py_DECREF(key);
        Py_DECREF(index);
        if (r == NULL) {
            goto error;
        }
    }
    Py_DECREF(ids);
    Py_XSETREF(self->id2index, map);
    return 0;
error:
    Py_DECREF(ids);
    Py_XDECREF(map);
    return -1;
}

Py_ssize_t
xc_sched_index_of(xc_sched *self, PyObject *item)
{
    if (self->base_ids == NULL) {
        PyErr_Format(PyExc_ValueError, "%R is not in the collection", item);
        return -1;
    }
    if (self->id2index == NULL && build_index(self) < 0) {
        return -1;
    }
    PyObject *map = Py_NewRef(self->id2index);
    PyObject *found = NULL;
    Py_ssize_t index = -1;
    int r = PyDict_GetItemRef(map, item, &found);
    if (r == 0) {
        PyErr_Format(PyExc_ValueError, "%R is not in the collection", item);
    }
    else if (r > 0) {
        index = PyLong_AsSsize_t(found);
        Py_DECREF(found);
    }
    Py_DECREF(map);
    return index;
}

int
xc_sched_node_down(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot)
{
    PyObject *node = Py_NewRef(xc_sched_node(self, slot));
    PyObject *v = PyObject_GetAttr(node, ss->str_shutting_down);
    Py_DECREF(node);
    if (v == NULL) {
        return -1;
    }
    int r = PyObject_IsTrue(v);
    Py_DECREF(v);
    return r;
}

Py_ssize_t
xc_sched_live_slots(xc_sched *self, Py_ssize_t **out)
{
    Py_ssize_t n = 0;
    Py_ssize_t *live = PyMem_New(Py_ssize_t, (size_t)self->ledger.nslots + 1);
    if (live == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t s = 0; s < self->ledger.nslots; s++) {
        if (!(xc_ledger_node(&self->ledger, s)->flags & XC_NODE_REMOVED)) {
            live[n++] = s;
        }
    }
    *out = live;
    return n;
}

int
xc_sched_set_numnodes(xc_sched *self, Py_ssize_t numnodes)
{
    if (numnodes < 0) {
        PyErr_SetString(PyExc_ValueError, "numnodes must be >= 0");
        return -1;
    }
    self->numnodes = numnodes;
    return 0;
}

int
xc_sched_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"numnodes", NULL};
    xc_sched *self = (xc_sched *)op;
    Py_ssize_t numnodes;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, self->ops->init_format,
                                     kwlist, &numnodes)) {
        return -1;
    }
    return xc_sched_set_numnodes(self, numnodes);
}
