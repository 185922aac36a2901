/* sched_steal.c -- WorkStealScheduler: the suite is split evenly up front
 * and rebalanced by taking queued tests back from the busiest node
 * (pytest-xdist's `--dist worksteal`).
 *
 * Python equivalent (`pending` lists are deques of indices):
 *
 *     class WorkStealScheduler(_SchedulerBase):
 *         def __init__(self, numnodes): ...
 *         steal_requested_from_node = None   # one steal in flight at most
 *
 *         def schedule(self):
 *             if self.collection is not None:      # a node joined later
 *                 self._check_schedule(); return
 *             if any collection differs: report each; return
 *             self.collection = self._base_ids
 *             self.pending = deque(range(len(self.collection)))
 *             if self.collection: self._check_schedule()
 *
 *         def _check_schedule(self):
 *             if self.collection is None: return   # not distributed yet
 *             up = [n for n in self.nodes if not n.shutting_down
 *                   and n has an accepted collection]
 *             idle = [n for n in up if len(n_pending) < 2]
 *             if not idle: return
 *             if self.pending:                     # split evenly
 *                 for i, node in enumerate(idle):
 *                     self._send(node, len(self.pending) // (len(idle) - i))
 *                 idle = [n for n in up if len(n_pending) < 2]
 *                 if not idle: return
 *             if self.steal_requested_from_node is not None: return
 *             victim = max(up, key=lambda n: len(n_pending), default=None)
 *             k = 0 if victim is None else min(len(v_pending) // 2,
 *                                              max(0, len(v_pending) - 2))
 *             if k == 0:                           # nothing left to share
 *                 for node in idle: node.shutdown()
 *                 return
 *             victim.send_steal(list(v_pending)[-k:])   # the tail half
 *             self.steal_requested_from_node = victim
 *
 *         def remove_pending_tests_from_node(self, node, indices):
 *             # the worker's answer ("unscheduled"): the tests it gave
 *             # back, all of those asked for or none
 *             assert node is self.steal_requested_from_node
 *             self.steal_requested_from_node = None
 *             given = Counter(indices) & Counter(n_pending)  # multisets
 *             remove given from n_pending (last occurrences)
 *             self.pending.extend(i for i in indices if taken from given)
 *             self._check_schedule()
 *
 *         def mark_test_complete(self, node, item_index, duration=0):
 *             n_pending.remove(item_index)          # O(1): it is in front
 *             self._check_schedule()
 *
 *         def mark_test_pending(self, item):
 *             self.pending.appendleft(self.collection.index(item))
 *             self._check_schedule()
 *
 *         def remove_node(self, node):
 *             pending = n_pending of node; forget node
 *             crashed = self.collection[pending.popleft()] if pending \
 *                 else None
 *             self.pending.extend(pending)
 *             if self.steal_requested_from_node is node:
 *                 self.steal_requested_from_node = None
 *             self._check_schedule()
 *             return crashed
 *
 * With durations (set_durations()): the tests are dealt longest first to
 * the idle node expected to be free soonest, the victim is the node with
 * the most expected seconds queued (holding more than two tests), and a
 * steal takes from its tail up to half of what waits behind its current
 * test.
 *
 * _check_schedule() is O(nodes) on every event, as in pytest-xdist, but
 * reads node.shutting_down only when some node is short of work (pytest-
 * xdist reads it for every node on every event).  Everything else is O(1)
 * amortized per test, plus the tests sent or stolen.
 *
 * Differences from pytest-xdist, on purpose: an index given back that was
 * not pending on the node is ignored (pytest-xdist would queue it and run
 * it twice); a node whose late collection differs gets no work; nothing
 * is rebalanced before the first distribution (pytest-xdist shuts every
 * idle node down when a node dies during collection); a node is never
 * sent tests (nor asked to stop) before its collection is accepted
 * (pytest-xdist sends them to a replacement still collecting).
 */
#include "xdist_core.h"

typedef struct {
    xc_sched base;
    Py_ssize_t steal_slot; /* the node asked to give tests back, or -1 */
    Py_ssize_t *mark;      /* scratch, a count per test (remove_pending_
                              tests_from_node); all zero between calls */
    Py_ssize_t nmark;
} xc_steal;

/* May the node in `slot` be given work at all?  A node still collecting
 * (a replacement, say) is left alone until the schedule() that follows its
 * collection. */
static inline int
steal_usable(xc_steal *self, Py_ssize_t slot)
{
    return xc_node_can_work(xc_ledger_node(&self->base.ledger, slot));
}

static inline Py_ssize_t
steal_npending(xc_steal *self, Py_ssize_t slot)
{
    return xc_ideque_len(&xc_ledger_node(&self->base.ledger, slot)->pending);
}

/* Python: self._send(node, num) -- move pending[:num] to the node and call
 * node.send_runtest_some(those) if there are any.  0 / -1. */
static int
steal_send(xc_steal *self, xc_sched_state *ss, Py_ssize_t slot,
           Py_ssize_t num)
{
    Py_ssize_t count =
        xc_ssize_min(num, xc_ledger_unsent(&self->base.ledger));
    if (count <= 0 || !steal_usable(self, slot)) {
        return 0;
    }
    Py_ssize_t moved = xc_ledger_send(&self->base.ledger, slot, count);
    if (moved < 0) {
        return -1;
    }
    return xc_sched_send_some(&self->base, ss, slot, moved);
}

/* Python: node.send_steal(list(n_pending)[-num:]).  0 / -1. */
static int
steal_request(xc_steal *self, xc_sched_state *ss, Py_ssize_t slot,
              Py_ssize_t num)
{
    return xc_sched_call_with_tail(&self->base, slot, num,
                                   ss->str_send_steal);
}

/* Fill idle[] with the slots of up[0:nup] still live and holding fewer
 * than 2 tests; returns how many. */
static Py_ssize_t
steal_idle(xc_steal *self, const Py_ssize_t *up, Py_ssize_t nup,
           Py_ssize_t *idle)
{
    Py_ssize_t nidle = 0;
    for (Py_ssize_t i = 0; i < nup; i++) {
        if (steal_usable(self, up[i]) && steal_npending(self, up[i]) < 2) {
            idle[nidle++] = up[i];
        }
    }
    return nidle;
}

/* With durations: deal every unsent test, longest first, to the idle
 * node expected to be free soonest (LPT), then send each its share in one
 * message.  0 / -1. */
static int
steal_deal_weighted(xc_steal *self, xc_sched_state *ss,
                    const Py_ssize_t *idle, Py_ssize_t nidle)
{
    xc_ledger *lg = &self->base.ledger;
    Py_ssize_t *count = PyMem_Calloc((size_t)nidle, sizeof(Py_ssize_t));
    if (count == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    while (xc_ledger_unsent(lg) > 0) {
        Py_ssize_t best = 0;
        for (Py_ssize_t i = 1; i < nidle; i++) {
            if (xc_ledger_node(lg, idle[i])->queued_w <
                xc_ledger_node(lg, idle[best])->queued_w) {
                best = i;
            }
        }
        if (xc_ledger_send(lg, idle[best], 1) < 0) {
            PyMem_Free(count);
            return -1;
        }
        count[best]++;
    }
    for (Py_ssize_t i = 0; i < nidle; i++) {
        if (count[i] > 0 &&
            xc_sched_send_some(&self->base, ss, idle[i], count[i]) < 0) {
            PyMem_Free(count);
            return -1;
        }
    }
    PyMem_Free(count);
    return 0;
}

/* With durations: the node of up[0:nup] holding more than two tests with
 * the most expected seconds queued is the victim (*victim, or -1); returns how many tests to take
 * from the tail of its queue: as many as make up to half of what waits
 * behind its current test, at least one, leaving it two. */
static Py_ssize_t
steal_weighted_victim(xc_steal *self, const Py_ssize_t *up, Py_ssize_t nup,
                      Py_ssize_t *victim)
{
    xc_ledger *lg = &self->base.ledger;
    *victim = -1;
    for (Py_ssize_t i = 0; i < nup; i++) {
        if (steal_usable(self, up[i]) && steal_npending(self, up[i]) > 2 &&
            (*victim < 0 || xc_ledger_node(lg, up[i])->queued_w >
                                xc_ledger_node(lg, *victim)->queued_w)) {
            *victim = up[i];
        }
    }
    if (*victim < 0) {
        return 0;
    }
    const xc_ideque *pending = &xc_ledger_node(lg, *victim)->pending;
    Py_ssize_t vlen = xc_ideque_len(pending);
    if (vlen <= 2) {
        return 0;
    }
    double half = (xc_ledger_node(lg, *victim)->queued_w -
                   xc_ledger_weight(lg, xc_ideque_get(pending, 0))) /
                  2;
    double taken = 0.0;
    Py_ssize_t num = 0;
    while (num < vlen - 2) {
        double w =
            xc_ledger_weight(lg, xc_ideque_get(pending, vlen - 1 - num));
        if (num > 0 && taken + w > half) {
            break;
        }
        taken += w;
        num++;
    }
    return num;
}

/* Python: self._check_schedule().  0 / -1. */
static int
steal_check(xc_steal *self, xc_sched_state *ss)
{
    Py_ssize_t *up = NULL, *idle = NULL;
    Py_ssize_t nslots = self->base.ledger.nslots;
    int short_of_work = 0, rc = -1;
    if (!self->base.scheduled) {
        /* Before the first distribution every node is idle and nothing is
         * pending: pytest-xdist would shut them all down here when a node
         * dies during collection, and the run would end with nothing
         * run. */
        return 0;
    }
    for (Py_ssize_t s = 0; s < nslots && !short_of_work; s++) {
        short_of_work = steal_usable(self, s) && steal_npending(self, s) < 2;
    }
    if (!short_of_work) {
        return 0; /* no node is idle, whichever are shutting down */
    }
    up = PyMem_New(Py_ssize_t, (size_t)nslots + 1);
    idle = PyMem_New(Py_ssize_t, (size_t)nslots + 1);
    if (up == NULL || idle == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    Py_ssize_t nup = 0;
    for (Py_ssize_t s = 0; s < nslots; s++) {
        if (!steal_usable(self, s)) {
            continue;
        }
        int down = xc_sched_node_down(&self->base, ss, s);
        if (down < 0) {
            goto error;
        }
        if (!down) {
            up[nup++] = s;
        }
    }
    Py_ssize_t nidle = steal_idle(self, up, nup, idle);
    if (nidle == 0) {
        goto done;
    }
    if (xc_ledger_unsent(&self->base.ledger) > 0 &&
        self->base.ledger.weight != NULL) {
        if (steal_deal_weighted(self, ss, idle, nidle) < 0) {
            goto error;
        }
        nidle = steal_idle(self, up, nup, idle);
        if (nidle == 0) {
            goto done;
        }
    }
    else if (xc_ledger_unsent(&self->base.ledger) > 0) {
        for (Py_ssize_t i = 0; i < nidle; i++) {
            Py_ssize_t num =
                xc_ledger_unsent(&self->base.ledger) / (nidle - i);
            if (steal_send(self, ss, idle[i], num) < 0) {
                goto error;
            }
        }
        nidle = steal_idle(self, up, nup, idle);
        if (nidle == 0) {
            goto done;
        }
    }
    if (self->steal_slot >= 0) {
        goto done; /* one steal at a time */
    }
    Py_ssize_t victim = -1, vlen = -1;
    Py_ssize_t num = 0;
    if (self->base.ledger.weight != NULL) {
        num = steal_weighted_victim(self, up, nup, &victim);
    }
    else {
        for (Py_ssize_t i = 0; i < nup; i++) {
            if (steal_usable(self, up[i]) &&
                steal_npending(self, up[i]) > vlen) {
                victim = up[i];
                vlen = steal_npending(self, up[i]);
            }
        }
        if (victim >= 0) {
            num = xc_ssize_min(vlen / 2, vlen - 2 > 0 ? vlen - 2 : 0);
        }
    }
    if (num == 0) {
        /* Nothing worth taking: let the idle nodes finish and stop. */
        for (Py_ssize_t i = 0; i < nidle; i++) {
            if (steal_usable(self, idle[i]) &&
                xc_sched_shutdown_node(&self->base, ss, idle[i]) < 0) {
                goto error;
            }
        }
        goto done;
    }
    if (steal_request(self, ss, victim, num) < 0) {
        goto error;
    }
    self->steal_slot = victim;
done:
    rc = 0;
error:
    PyMem_Free(up);
    PyMem_Free(idle);
    return rc;
}

/* --- the type ----------------------------------------------------------- */

static int steal_distribute(xc_sched *base, xc_sched_state *ss);
static int steal_topup(xc_sched *self, xc_sched_state *ss);
static int steal_completed(xc_sched *self, xc_sched_state *ss,
                           Py_ssize_t slot, double duration);
static int steal_given_back(xc_sched *base, xc_sched_state *ss,
                            Py_ssize_t slot, PyObject *indices);
static PyObject *steal_removed(xc_sched *base, xc_sched_state *ss,
                               Py_ssize_t slot);

/* ops->awaiting: a steal was sent and not answered (tests_finished) */
static int
steal_awaiting(const xc_sched *base)
{
    return ((const xc_steal *)base)->steal_slot >= 0;
}

static const xc_sched_ops steal_ops = {
    .init_format = "n:WorkStealScheduler",
    .distribute = steal_distribute,
    .topup = steal_topup,
    .completed = steal_completed,
    .requeue = xc_sched_requeue_first,
    .removed = steal_removed,
    .given_back = steal_given_back,
    .awaiting = steal_awaiting,
};

static PyObject *
steal_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    xc_steal *self = (xc_steal *)xc_sched_alloc(type, &steal_ops);
    if (self == NULL) {
        return NULL;
    }
    self->steal_slot = -1;
    self->mark = NULL;
    self->nmark = 0;
    return (PyObject *)self;
}

static void
steal_dealloc(PyObject *op)
{
    xc_steal *self = (xc_steal *)op;
    PyObject_GC_UnTrack(op);
    PyMem_Free(self->mark);
    self->mark = NULL;
    xc_sched_dealloc(op); /* untracking twice is harmless */
}

/* Python: the first schedule(), the collections agreed on. */
static int
steal_distribute(xc_sched *base, xc_sched_state *ss)
{
    xc_steal *self = (xc_steal *)base;
    Py_ssize_t n = PyList_GET_SIZE(base->base_ids);
    Py_ssize_t *mark = PyMem_Calloc((size_t)n + 1, sizeof(Py_ssize_t));
    if (mark == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (xc_ledger_fill(&base->ledger, n) < 0 ||
        xc_sched_weigh_ledger(base) < 0) {
        PyMem_Free(mark);
        return -1;
    }
    PyMem_Free(self->mark);
    self->mark = mark;
    self->nmark = n;
    base->scheduled = 1;
    return n > 0 ? steal_check(self, ss) : 0;
}

/* Python: self._check_schedule(), on every event. */
static int
steal_topup(xc_sched *self, xc_sched_state *ss)
{
    return steal_check((xc_steal *)self, ss);
}

static int
steal_completed(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                double duration)
{
    (void)slot;
    (void)duration;
    return steal_check((xc_steal *)self, ss);
}

/* Python: remove_pending_tests_from_node(node, indices), see above. */
static int
steal_given_back(xc_sched *base, xc_sched_state *ss, Py_ssize_t slot,
                 PyObject *indices)
{
    PyObject *seq = NULL;
    Py_ssize_t *given = NULL;
    xc_steal *self = (xc_steal *)base;
    if (self->steal_slot != slot) {
        PyErr_SetString(PyExc_ValueError,
                        "no steal was requested from this node");
        return -1;
    }
    seq = PySequence_Fast(indices, "indices must be a sequence");
    if (seq == NULL) {
        return -1;
    }
    Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
    given = PyMem_New(Py_ssize_t, (size_t)m + 1);
    if (given == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (Py_ssize_t k = 0; k < m; k++) {
        /* An int's __index__ runs no user code, but a subclass's may:
         * nothing below depends on state read before this loop. */
        Py_ssize_t v = PyNumber_AsSsize_t(PySequence_Fast_GET_ITEM(seq, k),
                                          PyExc_OverflowError);
        if (v == -1 && PyErr_Occurred()) {
            goto error;
        }
        if (v < 0 || v >= self->nmark) {
            PyErr_Format(PyExc_IndexError,
                         "index %zd is outside the collection", v);
            goto error;
        }
        given[k] = v;
    }
    Py_CLEAR(seq);
    if (self->steal_slot != slot ||
        (xc_ledger_node(&base->ledger, slot)->flags & XC_NODE_REMOVED)) {
        PyErr_SetString(PyExc_ValueError,
                        "no steal was requested from this node");
        goto error;
    }
    if (xc_ideque_reserve(&base->ledger.pending, m) < 0) {
        goto error;
    }
    /* From here on nothing can fail before _check_schedule().  The answer
     * is a multiset: an index queued twice on the node (after
     * mark_test_pending) and given back twice leaves twice. */
    self->steal_slot = -1;
    Py_ssize_t *mark = self->mark;
    for (Py_ssize_t k = 0; k < m; k++) {
        mark[given[k]]++; /* asked back */
    }
    /* One pass over the node's queue, from the back (a steal takes the
     * tail; the worker's current and next tests are not in its queue any
     * more), keeps the rest in order. */
    xc_ideque *pending = &xc_ledger_node(&base->ledger, slot)->pending;
    Py_ssize_t len = xc_ideque_len(pending);
    for (Py_ssize_t r = 0; r < len; r++) {
        Py_ssize_t t = xc_ideque_pop_back(pending);
        if (mark[t] > 0) {
            mark[t]--; /* taken */
        }
        else {
            (void)xc_ideque_push_front(pending, t); /* room: just popped */
        }
    }
    /* What is still counted was not pending there: drop those entries
     * (the last ones of each index), so nothing runs twice, and queue
     * the rest in the order given. */
    for (Py_ssize_t k = m - 1; k >= 0; k--) {
        if (mark[given[k]] > 0) {
            mark[given[k]]--;
            given[k] = -1;
        }
    }
    for (Py_ssize_t k = 0; k < m; k++) {
        if (given[k] >= 0) {
            (void)xc_ideque_push_back(&base->ledger.pending, given[k]);
        }
    }
    PyMem_Free(given);
    xc_ledger_reweigh(&base->ledger);
    return steal_check(self, ss);
error:
    Py_XDECREF(seq);
    PyMem_Free(given);
    return -1;
}

/* Python: remove_node's requeueing (see the module docstring). */
static PyObject *
steal_removed(xc_sched *base, xc_sched_state *ss, Py_ssize_t slot)
{
    PyObject *crashed = NULL;
    xc_steal *self = (xc_steal *)base;
    if (xc_sched_requeue_node(base, slot, &crashed) < 0) {
        return NULL;
    }
    if (self->steal_slot == slot) {
        self->steal_slot = -1; /* a dead node will not answer */
    }
    if (steal_check(self, ss) < 0) {
        Py_XDECREF(crashed);
        return NULL;
    }
    return crashed != NULL ? crashed : Py_NewRef(Py_None);
}

static PyObject *
steal_get_requested(PyObject *op, void *closure)
{
    (void)closure;
    xc_steal *self = (xc_steal *)op;
    if (self->steal_slot < 0 || self->base.slots == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(xc_sched_node(&self->base, self->steal_slot));
}

static PyGetSetDef steal_getset[] = {
    {"pending", xc_sched_get_pending, NULL,
     PyDoc_STR("Indices not yet sent to any node, in order."), NULL},
    {"steal_requested_from_node", steal_get_requested, NULL,
     PyDoc_STR("The node a steal was sent to and has not answered, or "
               "None."),
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot steal_slots[] = {
    {Py_tp_doc, (void *)PyDoc_STR("WorkStealScheduler(numnodes)\n--\n\n"
                                  "pytest-xdist's `worksteal` scheduling.")},
    {Py_tp_new, steal_new},
    {Py_tp_init, xc_sched_init},
    {Py_tp_dealloc, steal_dealloc},
    {Py_tp_traverse, xc_sched_traverse_obj},
    {Py_tp_clear, xc_sched_clear_obj},
    {Py_tp_getset, steal_getset},
    {0, NULL},
};

PyType_Spec xc_steal_spec = {
    .name = "xdist_c._core.WorkStealScheduler",
    .basicsize = sizeof(xc_steal),
    .flags = XC_SCHED_FLAGS,
    .slots = steal_slots,
};
