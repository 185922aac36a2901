/* sched_load.c -- LoadScheduler: each test runs once, on whichever node
 * asks for more (pytest-xdist's `--dist load`).
 *
 * Python equivalent (nodes are opaque; `pending` lists are deques):
 *
 *     class LoadScheduler(_SchedulerBase):
 *         def __init__(self, numnodes, maxschedchunk=None): ...
 *
 *         def schedule(self):
 *             if self.collection is not None:      # a node joined later
 *                 for node in self.nodes: self._check_schedule(node)
 *                 return
 *             differing = [(n, ids) for n, ids in collections_in_order
 *                          if ids != self._base_ids]
 *             for node, ids in differing:
 *                 self._collection_mismatch(self._base_node, node,
 *                                           self._base_ids, ids)
 *             if differing:
 *                 return                           # nothing is run
 *             self.collection = self._base_ids
 *             n = len(self.collection)
 *             self.pending = deque(range(n))
 *             if not n: return
 *             if self.maxschedchunk is None: self.maxschedchunk = n
 *             nodes = [n for n in self.nodes if n has a collection]
 *             if n < 2 * len(nodes):               # one at a time
 *                 for _, node in zip(range(n), cycle(nodes)):
 *                     self._send(node, 1)
 *             else:                                # consecutive chunks
 *                 chunk = max(2, min(n // len(nodes) // 4,
 *                                    self.maxschedchunk))
 *                 for node in nodes:        # capped by its home, if any
 *                     self._send(node, min(chunk, home_cap(node, 0)))
 *             if not self.pending:
 *                 for node in self.nodes: node.shutdown()
 *
 *         def _check_schedule(self, node, duration=0.0):
 *             if node.shutting_down: return
 *             if not self.pending:
 *                 node.shutdown(); return
 *             if node has no accepted collection: return
 *             lo = max(2, len(self.pending) // len(self.nodes) // 4)
 *             hi = max(2, len(self.pending) // len(self.nodes) // 2)
 *             have = len(node_pending)
 *             if node has a home (split collection; home_cap()):
 *                 cap = max(2, (have + len(home)) // 4)
 *                 hi = min(hi, cap); lo = min(lo, max(2, cap // 2))
 *             keep = refill_floor()   # quick suites: XC_REFILL_COVER s
 *             if keep > 2: lo = max(lo, keep); hi = max(hi, 2 * keep)
 *             if have < lo and not (duration >= 0.1 and have >= 2):
 *                 self._send(node, min(hi - have,
 *                                      max(2 - have, self.maxschedchunk)))
 *
 *         def mark_test_complete(self, node, item_index, duration=0):
 *             node_pending.remove(item_index)      # O(1): it is in front
 *             if duration > 0:                     # moving mean, 1/8
 *                 self.mean += ((duration - self.mean) / 8
 *                               if self.mean else duration)
 *             self._check_schedule(node, duration)
 *
 *         def mark_test_pending(self, item):
 *             self.pending.appendleft(self._index_of(item))  # dict, lazy
 *             for node in self.nodes: self._check_schedule(node)
 *
 *         def remove_node(self, node):
 *             pending = node_pending of node; forget node
 *             if not pending: return None
 *             crashed = self.collection[pending.popleft()]
 *             self.pending.extend(pending)
 *             for node in self.nodes: self._check_schedule(node)
 *             return crashed
 *
 * With durations (set_durations(), xc_sched_weights): the unsent tests are
 * ordered longest first (xc_ledger_weigh), the first distribution deals
 * them to the node expected to be free soonest, and _check_schedule counts
 * expected seconds where it counts tests above (lo, hi: a quarter and a
 * half of the node's share of the seconds left; no home cap).
 *
 * A node whose collection arrives after scheduling and differs is reported
 * through _collection_mismatch() and never given work.  A node is never
 * sent tests before its collection is accepted (pytest-xdist sends them
 * to a replacement still collecting, whose indices may then mean other
 * tests); it may be told to shut down, though, when nothing is left.
 */
#include "xdist_core.h"

/* How many items `seq[:num]` holds for a sequence of length len (Python
 * slice semantics, so a negative num counts from the end). */
static Py_ssize_t
slice_count(Py_ssize_t len, Py_ssize_t num)
{
    if (num >= 0) {
        return xc_ssize_min(num, len);
    }
    return xc_ssize_max(0, len + num);
}

/* Python: self._send(node, num) -- move pending[:num] to the node and
 * call node.send_runtest_some(those).  0 / -1. */
static int
load_send(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot, Py_ssize_t num)
{
    if (xc_ledger_node(&self->ledger, slot)->flags & XC_NODE_REMOVED) {
        return 0;
    }
    Py_ssize_t count = slice_count(xc_ledger_unsent(&self->ledger), num);
    if (count == 0) {
        return 0;
    }
    Py_ssize_t moved = xc_ledger_send(&self->ledger, slot, count);
    if (moved < 0) {
        return -1;
    }
    return xc_sched_send_some(self, ss, slot, moved);
}

/* The most a node with a home (split collection) may hold: a quarter of
 * what it holds and has left at home, at least 2.  Homes are blocks of
 * files, so one may hold the suite's slowest tests; sent in pieces, they
 * are shared out as the end of pytest-xdist's single queue is, instead of
 * all going to the home's owner while the global queue still looks long.
 * PY_SSIZE_T_MAX for a node without a home. */
static Py_ssize_t
home_cap(const xc_node_rec *rec, Py_ssize_t have)
{
    Py_ssize_t home = xc_ideque_len(&rec->home);
    if (home == 0) {
        return PY_SSIZE_T_MAX;
    }
    return xc_ssize_max(2, (have + home) / 4);
}

/* How many tests a node keeps queued at least: in a quick suite (the
 * stored durations time every test, none long), those it runs in
 * XC_REFILL_COVER seconds at the mean duration so far, within
 * [2, XC_REFILL_MAX_TESTS]; else, before any test completed, and for tests
 * of 1.5 ms and more, 2 (pytest-xdist's).  Near the end a node may so hold
 * about 2 * XC_REFILL_COVER seconds more than another: less than the
 * refills it would wait for. */
static Py_ssize_t
refill_floor(const xc_sched *self)
{
    double mean = self->mean_test_s;
    if (!self->quick_suite || !(mean > 0)) {
        return 2;
    }
    double tests = XC_REFILL_COVER / mean; /* < 2 from 1.5 ms on */
    if (tests >= XC_REFILL_MAX_TESTS) {
        return XC_REFILL_MAX_TESTS;
    }
    return xc_ssize_max(2, (Py_ssize_t)tests);
}

/* With durations (ledger weights): move tests to the node one at a time,
 * longest first, until it holds two and `target` expected seconds, or
 * `limit` tests were moved; then send them in one message.  0 / -1. */
static int
load_send_weighted(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                   double target, Py_ssize_t limit)
{
    xc_ledger *lg = &self->ledger;
    Py_ssize_t moved = 0;
    while (moved < limit && xc_ledger_unsent(lg) > 0) {
        const xc_node_rec *rec = xc_ledger_node(lg, slot);
        if (xc_ideque_len(&rec->pending) >= 2 && rec->queued_w >= target) {
            break;
        }
        Py_ssize_t k = xc_ledger_send(lg, slot, 1);
        if (k < 0) {
            return -1;
        }
        moved += k;
    }
    return moved > 0 ? xc_sched_send_some(self, ss, slot, moved) : 0;
}

/* Python: self._check_schedule(node, duration) with durations: as without
 * them, counting expected seconds instead of tests, so a node holds a
 * quarter to a half of its share of what is left, and at the end (little
 * left) two tests: the one it runs and the next.  0 / -1. */
static int
load_check_weighted(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                    double duration)
{
    const xc_node_rec *rec = xc_ledger_node(&self->ledger, slot);
    double share = self->ledger.unsent_w / (double)self->ledger.nactive;
    Py_ssize_t have = xc_ideque_len(&rec->pending);
    if (have >= 2 && (rec->queued_w >= share / 4 || duration >= 0.1)) {
        return 0;
    }
    Py_ssize_t chunk =
        self->has_maxschedchunk ? self->maxschedchunk : PY_SSIZE_T_MAX;
    return load_send_weighted(self, ss, slot, share / 2,
                              xc_ssize_max(2 - have, chunk));
}

/* Python: self._check_schedule(node, duration).  0 / -1. */
static int
load_check_schedule(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                    double duration)
{
    const unsigned int skip = XC_NODE_REMOVED | XC_NODE_IGNORED;
    if (xc_ledger_node(&self->ledger, slot)->flags & skip) {
        return 0;
    }
    int down = xc_sched_node_down(self, ss, slot);
    if (down != 0) {
        return down < 0 ? -1 : 0;
    }
    /* The property ran Python code: look at the record afresh. */
    xc_node_rec *rec = xc_ledger_node(&self->ledger, slot);
    if (rec->flags & skip) {
        return 0;
    }
    Py_ssize_t npending = xc_ledger_unsent(&self->ledger);
    if (npending == 0) {
        return xc_sched_shutdown_node(self, ss, slot);
    }
    if (!(rec->flags & XC_NODE_HAS_COLLECTION)) {
        /* Still starting or collecting (a replacement, say): indices mean
         * nothing to it until its collection is accepted.  The schedule()
         * that follows its collection tops it up. */
        return 0;
    }
    if (self->ledger.weight != NULL) {
        return load_check_weighted(self, ss, slot, duration);
    }
    Py_ssize_t nnodes = self->ledger.nactive; /* >= 1: this one */
    Py_ssize_t lo = xc_ssize_max(2, npending / nnodes / 4);
    Py_ssize_t hi = xc_ssize_max(2, npending / nnodes / 2);
    Py_ssize_t have = xc_ideque_len(&rec->pending);
    Py_ssize_t cap = home_cap(rec, have);
    hi = xc_ssize_min(hi, cap);
    lo = xc_ssize_min(lo, xc_ssize_max(2, cap / 2));
    Py_ssize_t keep = refill_floor(self);
    if (keep > 2) {
        lo = xc_ssize_max(lo, keep);
        hi = xc_ssize_max(hi, 2 * keep);
    }
    if (have >= lo) {
        return 0;
    }
    if (duration >= 0.1 && have >= 2) {
        /* Slow tests and enough queued: let it work on those first. */
        return 0;
    }
    Py_ssize_t chunk =
        self->has_maxschedchunk ? self->maxschedchunk : PY_SSIZE_T_MAX;
    Py_ssize_t want = xc_ssize_min(hi - have, xc_ssize_max(2 - have, chunk));
    return want > 0 ? load_send(self, ss, slot, want) : 0;
}

/* Python: for node in self.nodes: self._check_schedule(node) */
static int
load_check_all(xc_sched *self, xc_sched_state *ss)
{
    /* Slots only grow and are never reused: walk them by index. */
    for (Py_ssize_t s = 0; s < self->ledger.nslots; s++) {
        if (load_check_schedule(self, ss, s, 0.0) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The first distribution with durations: each test in turn, longest
 * first, goes to the node expected to be free soonest (LPT) among those
 * still short of two tests or of a quarter of their share, each node
 * taking at most max(2, maxschedchunk); then one message per node.
 * 0 / -1. */
static int
load_initial_weighted(xc_sched *self, xc_sched_state *ss,
                      const Py_ssize_t *live, Py_ssize_t nlive)
{
    xc_ledger *lg = &self->ledger;
    double quarter = lg->unsent_w / (double)nlive / 4;
    Py_ssize_t limit = xc_ssize_max(2, self->maxschedchunk);
    Py_ssize_t *count = PyMem_Calloc((size_t)nlive, sizeof(Py_ssize_t));
    if (count == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    while (xc_ledger_unsent(lg) > 0) {
        Py_ssize_t best = -1;
        for (Py_ssize_t i = 0; i < nlive; i++) {
            const xc_node_rec *rec = xc_ledger_node(lg, live[i]);
            if (count[i] >= limit ||
                (count[i] >= 2 && rec->queued_w >= quarter)) {
                continue;
            }
            if (best < 0 ||
                rec->queued_w < xc_ledger_node(lg, live[best])->queued_w) {
                best = i;
            }
        }
        if (best < 0) {
            break;
        }
        if (xc_ledger_send(lg, live[best], 1) < 0) {
            PyMem_Free(count);
            return -1;
        }
        count[best]++;
    }
    for (Py_ssize_t i = 0; i < nlive; i++) {
        if (count[i] > 0 &&
            xc_sched_send_some(self, ss, live[i], count[i]) < 0) {
            PyMem_Free(count);
            return -1;
        }
    }
    PyMem_Free(count);
    return 0;
}

/* The first distribution of the agreed collection.  0 / -1. */
static int
load_initial(xc_sched *self, xc_sched_state *ss)
{
    Py_ssize_t *live = NULL;
    Py_ssize_t nlive = 0;
    Py_ssize_t n = PyList_GET_SIZE(self->base_ids);

    if (xc_ledger_fill(&self->ledger, n) < 0 ||
        xc_sched_weigh_ledger(self) < 0) {
        return -1;
    }
    self->scheduled = 1;
    if (n == 0) {
        return 0;
    }
    if (!self->has_maxschedchunk) {
        self->maxschedchunk = n;
        self->has_maxschedchunk = 1;
    }
    /* The nodes as they are now (pytest-xdist iterates a copy too). */
    live = PyMem_New(Py_ssize_t, (size_t)self->ledger.nslots + 1);
    if (live == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* Only nodes whose collection was accepted: one still collecting gets
     * its share from the schedule() after its collection comes. */
    for (Py_ssize_t s = 0; s < self->ledger.nslots; s++) {
        if (xc_node_can_work(xc_ledger_node(&self->ledger, s))) {
            live[nlive++] = s;
        }
    }
    if (nlive == 0) {
        goto done; /* nobody to send to; it stays pending */
    }
    if (n < 2 * nlive) {
        /* Round-robin, one test per message. */
        for (Py_ssize_t i = 0; i < n; i++) {
            if (load_send(self, ss, live[i % nlive], 1) < 0) {
                goto error;
            }
        }
    }
    else if (self->ledger.weight != NULL) {
        if (load_initial_weighted(self, ss, live, nlive) < 0) {
            goto error;
        }
    }
    else {
        Py_ssize_t chunk =
            xc_ssize_max(2, xc_ssize_min(n / nlive / 4, self->maxschedchunk));
        for (Py_ssize_t i = 0; i < nlive; i++) {
            const xc_node_rec *rec = xc_ledger_node(&self->ledger, live[i]);
            Py_ssize_t first = xc_ssize_min(chunk, home_cap(rec, 0));
            if (load_send(self, ss, live[i], first) < 0) {
                goto error;
            }
        }
    }
    if (xc_ledger_unsent(&self->ledger) == 0) {
        /* Everything went out at once: the nodes may stop when done. */
        for (Py_ssize_t s = 0; s < self->ledger.nslots; s++) {
            if (xc_ledger_node(&self->ledger, s)->flags & XC_NODE_REMOVED) {
                continue;
            }
            if (xc_sched_shutdown_node(self, ss, s) < 0) {
                goto error;
            }
        }
    }
done:
    PyMem_Free(live);
    return 0;
error:
    PyMem_Free(live);
    return -1;
}

/* Python: self._check_schedule(node, duration) after a test ended. */
static int
load_completed(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
               double duration)
{
    if (duration > 0 && duration < 1e9) {
        double mean = self->mean_test_s;
        self->mean_test_s =
            mean > 0 ? mean + (duration - mean) / 8 : duration;
    }
    return load_check_schedule(self, ss, slot, duration);
}

static int
load_topup(xc_sched *self, xc_sched_state *ss)
{
    return load_check_all(self, ss);
}

/* Python: remove_node's requeueing (see the module docstring). */
static PyObject *
load_removed(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot)
{
    PyObject *crashed = NULL;
    Py_ssize_t home =
        xc_ideque_len(&xc_ledger_node(&self->ledger, slot)->home);
    if (xc_sched_requeue_node(self, slot, &crashed) < 0) {
        return NULL;
    }
    if (crashed == NULL && home == 0) {
        Py_RETURN_NONE; /* nothing went back to the queue */
    }
    if (load_check_all(self, ss) < 0) {
        Py_XDECREF(crashed);
        return NULL;
    }
    return crashed != NULL ? crashed : Py_NewRef(Py_None);
}

static const xc_sched_ops load_ops = {
    .distribute = load_initial,
    .topup = load_topup,
    .completed = load_completed,
    .requeue = xc_sched_requeue_first,
    .removed = load_removed,
};

static PyObject *
load_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    return xc_sched_alloc(type, &load_ops);
}

static int
load_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"numnodes", "maxschedchunk", NULL};
    xc_sched *self = (xc_sched *)op;
    Py_ssize_t numnodes;
    PyObject *chunk = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|O:LoadScheduler", kwlist,
                                     &numnodes, &chunk)) {
        return -1;
    }
    if (xc_sched_set_numnodes(self, numnodes) < 0) {
        return -1;
    }
    Py_ssize_t value = 0;
    if (chunk != Py_None) {
        value = PyNumber_AsSsize_t(chunk, PyExc_OverflowError);
        if (value == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    self->has_maxschedchunk = chunk != Py_None;
    self->maxschedchunk = value;
    return 0;
}

static PyGetSetDef load_getset[] = {
    {"pending", xc_sched_get_pending, NULL,
     PyDoc_STR("Indices not yet sent to any node, in order."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot load_slots[] = {
    {Py_tp_doc,
     (void *)PyDoc_STR("LoadScheduler(numnodes, maxschedchunk=None)\n--\n\n"
                       "pytest-xdist's `load` scheduling.")},
    {Py_tp_new, load_new},
    {Py_tp_init, load_init},
    {Py_tp_dealloc, xc_sched_dealloc},
    {Py_tp_traverse, xc_sched_traverse_obj},
    {Py_tp_clear, xc_sched_clear_obj},
    {Py_tp_getset, load_getset},
    {0, NULL},
};

PyType_Spec xc_load_spec = {
    .name = "xdist_c._core.LoadScheduler",
    .basicsize = sizeof(xc_sched),
    .flags = XC_SCHED_FLAGS,
    .slots = load_slots,
};
