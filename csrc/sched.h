/* sched.h -- scheduler types (sched.c, sched_shared.c, sched_weights.c,
 * sched_load.c, sched_each.c, sched_scope.c, sched_steal.c).
 *
 * sched.c's _SchedulerBase owns pytest-xdist's scheduler protocol (the
 * Python methods, their arguments and checks); each mode supplies only
 * its policy, as a table of plain-C functions (xc_sched_ops) that the
 * base calls, the way CPython's codecs or _io's layers are stacked.  The
 * helpers the modes share are in sched_shared.c, the duration weights in
 * sched_weights.c. */
#ifndef XDIST_C_SCHED_H
#define XDIST_C_SCHED_H

#include <Python.h>

#include "args.h"
#include "ledger.h"
#include "units.h"

typedef struct {
    PyTypeObject *SchedulerBase_Type;
    PyTypeObject *LoadScheduler_Type;
    PyTypeObject *EachScheduler_Type;
    PyTypeObject *ScopeScheduler_Type;
    PyTypeObject *WorkStealScheduler_Type;
    /* Interned names of the node attributes and methods we use. */
    PyObject *str_send_runtest_some;
    PyObject *str_send_runtest_all;
    PyObject *str_shutdown;
    PyObject *str_shutting_down;
    PyObject *str_gateway;
    PyObject *str_spec;
    PyObject *str_collection_mismatch;
    PyObject *str_send_steal;
    PyObject *str_split_scope;
} xc_sched_state;

typedef struct xc_sched xc_sched;

/* What a mode does at each protocol step; the base has already parsed
 * and checked the arguments.  Every hook returns 0 / -1 unless said. */
typedef struct {
    /* tp_init format of a mode whose one argument is numnodes
     * (xc_sched_init), e.g. "n:EachScheduler"; else unused. */
    const char *init_format;
    /* add_node_collection(node, collection); NULL: the run-once modes'
     * xc_sched_accept_collection. */
    int (*add_collection)(xc_sched *self, xc_sched_state *ss, PyObject *node,
                          PyObject *collection);
    /* The first schedule() once every collection is in and all are equal
     * (the base reports those that differ); NULL: the mode compares
     * nothing, every schedule() calls topup. */
    int (*distribute)(xc_sched *self, xc_sched_state *ss);
    /* Every later schedule(): give each node what it lacks. */
    int (*topup)(xc_sched *self, xc_sched_state *ss);
    /* After mark_test_complete() recorded the test; NULL: nothing. */
    int (*completed)(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                     double duration);
    /* mark_test_pending(): queue test `index` again (the base checked that
     * schedule() ran); NULL: NotImplementedError. */
    int (*requeue)(xc_sched *self, xc_sched_state *ss, Py_ssize_t index);
    /* remove_node(), the node already unregistered: new reference, the
     * nodeid that was running on it or None; NULL on error. */
    PyObject *(*removed)(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot);
    /* remove_pending_tests_from_node(); NULL: NotImplementedError. */
    int (*given_back)(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                      PyObject *indices);
    /* The work waiting to be sent, read by tests_finished and has_pending:
     * tests, or units in the scope modes.  NULL: the ledger's unsent
     * tests. */
    Py_ssize_t (*unsent)(const xc_sched *self);
    /* 1 while tests_finished must also wait for something of the mode's
     * own (worksteal: the answer to a steal); NULL: nothing. */
    int (*awaiting)(const xc_sched *self);
    /* 1: `collection` is the first one received even before schedule(). */
    int collection_early;
} xc_sched_ops;

/* The object layout shared by every scheduler type.
 *
 * Nodes are opaque Python objects.  Each node gets a slot when added; the
 * slot indexes both xc_ledger.nodes (plain-C bookkeeping) and the two
 * Python lists below.  Slots are never reused, so a removed node keeps its
 * collection (needed for mismatch reports and, in `each`, for the node that
 * replaces it). */
struct xc_sched {
    PyObject_HEAD
#if PY_VERSION_HEX < 0x030C0000
    PyObject *dict; /* instance __dict__ (Py_TPFLAGS_MANAGED_DICT later) */
#endif
    const xc_sched_ops *ops; /* the mode's policy, set by its tp_new */
    xc_ledger ledger;
    PyObject *slots;      /* list: slot -> node, every node ever added */
    PyObject *slot_colls; /* list: slot -> None when the node's collection
                             is the base one (or not yet known), else the
                             node's own, differing, list of ids */
    PyObject *node2slot;  /* dict: node not removed -> int slot */
    PyObject *base_node;  /* node whose collection came first, or NULL */
    PyObject *base_ids;   /* list: that first collection, stored once */
    PyObject *id2index;   /* dict: nodeid -> first index (lazy), or NULL */
    PyObject *durations;  /* dict: nodeid -> seconds (set_durations), or
                             NULL: the order of a run without them */
    xc_ideque coll_order; /* slots in the order their collection came */
    xc_ideque orphans;    /* each: removed slots with work left, in
                             removal order */
    Py_ssize_t numnodes;
    Py_ssize_t maxschedchunk; /* load; meaningful if has_maxschedchunk */
    Py_ssize_t ncollections;  /* accepted collections (never decreases) */
    int has_maxschedchunk;
    int scheduled;      /* load: collection agreed on and distributed */
    double mean_test_s; /* load: moving mean of the tests' durations as
                           completed (0: none reported yet) */
    int quick_suite;    /* load: the stored durations time every test and
                           none is long (set by xc_sched_weigh_ledger) */
};

/* Flags of every scheduler type: GC, subclassable, with an instance
 * __dict__ (managed from 3.12 on, a dict member before). */
#if PY_VERSION_HEX >= 0x030C0000
#define XC_SCHED_FLAGS                                                       \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE |         \
     Py_TPFLAGS_MANAGED_DICT)
#else
#define XC_SCHED_FLAGS                                                       \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE)
#endif

/* METH_* flags of every scheduler method (PEP 573 defining class). */
#define XC_METH (METH_METHOD | METH_FASTCALL | METH_KEYWORDS)

/* Type specs, defined in sched_load.c / sched_each.c / sched_scope.c /
 * sched_steal.c. */
extern PyType_Spec xc_load_spec;
extern PyType_Spec xc_each_spec;
extern PyType_Spec xc_scope_spec;
extern PyType_Spec xc_steal_spec;

struct xc_state;

/* --- shared helpers (sched.c, sched_shared.c), used by the modes ------ */

/* Module state reached from a METH_METHOD method's defining class;
 * NULL with an exception if the module was already cleared. */
xc_sched_state *xc_sched_state_of(PyTypeObject *defining_class);

/* Allocate an empty scheduler of `type` following `ops`; new reference
 * or NULL. */
PyObject *xc_sched_alloc(PyTypeObject *type, const xc_sched_ops *ops);
/* tp_init of a mode whose one argument is numnodes (ops->init_format). */
int xc_sched_init(PyObject *self, PyObject *args, PyObject *kwds);
/* self.numnodes = numnodes, or -1 with ValueError if negative. */
int xc_sched_set_numnodes(xc_sched *self, Py_ssize_t numnodes);
/* Getter: new reference, xc_sched_unsent_list(self) (load, worksteal). */
PyObject *xc_sched_get_pending(PyObject *self, void *closure);
int xc_sched_traverse_obj(PyObject *self, visitproc visit, void *arg);
int xc_sched_clear_obj(PyObject *self);
void xc_sched_dealloc(PyObject *self);

/* 0 if the object is usable, -1 with RuntimeError if tp_clear ran. */
int xc_sched_check(xc_sched *self);

/* A scheduler method's name and parameters, as xc_parse_args reads them:
 * the first nrequired of params must be given, at most nmax may be. */
typedef struct {
    const char *name;
    const char *params[4];
    Py_ssize_t nrequired;
    Py_ssize_t nmax;
} xc_sched_sig;

/* The start of a scheduler method: xc_sched_check, then the arguments
 * parsed into out (preset by the caller) by sig.  0 / -1.  Inline: every
 * call, mark_test_complete's above all, then parses with constants. */
static inline int
xc_sched_enter(xc_sched *self, const xc_sched_sig *sig, PyObject *const *args,
               Py_ssize_t nargs, PyObject *kwnames, PyObject **out)
{
    if (xc_sched_check(self) < 0) {
        return -1;
    }
    return xc_parse_args(sig->name, args, nargs, kwnames, sig->params,
                         sig->nrequired, sig->nmax, out);
}

/* Slot of an active node, or -1 with KeyError(node). */
Py_ssize_t xc_sched_slot_of(xc_sched *self, PyObject *node);

/* Borrowed: the node in `slot`. */
static inline PyObject *
xc_sched_node(xc_sched *self, Py_ssize_t slot)
{
    return PyList_GET_ITEM(self->slots, slot);
}

/* Borrowed: the collection the node in `slot` works on (its own list if
 * it differs from the base one), or NULL (no exception) if none. */
PyObject *xc_sched_coll_of(xc_sched *self, Py_ssize_t slot);

/* Item `index` of collection `coll`: new reference, or NULL with
 * IndexError if the list is shorter (it is exposed to Python). */
PyObject *xc_sched_coll_item(PyObject *coll, Py_ssize_t index);

/* Record `collection` for the node in `slot`: the first one becomes the
 * base (copied once); a later one equal to the base is dropped, a
 * differing one is copied and kept.  Counts it.  0 / -1. */
int xc_sched_store_collection(xc_sched *self, Py_ssize_t slot,
                              PyObject *collection);

/* 1 if `collection` (any sequence) has the same items in the same order
 * as the list `ids`, 0 if not, -1 on error. */
int xc_sched_same_ids(PyObject *ids, PyObject *collection);

/* New reference: a list of the ints in dq[start:]. */
PyObject *xc_sched_ideque_list(const xc_ideque *dq, Py_ssize_t start);
/* The indices not yet sent: the shared deque, then each node's home. */
PyObject *xc_sched_unsent_list(xc_sched *self);

/* Call self._collection_mismatch(base_node, node, base_ids, ids) (looked
 * up on the instance).  0 / -1. */
int xc_sched_report_mismatch(xc_sched *self, xc_sched_state *ss,
                             PyObject *base_node, PyObject *node,
                             PyObject *base_ids, PyObject *ids);

/* Python: the check at the start of the first schedule(): every stored
 * collection that differs from the base one is reported through
 * _collection_mismatch, in arrival order.  1 if none differs, 0 if some
 * did, -1 on error. */
int xc_sched_check_collections(xc_sched *self, xc_sched_state *ss);

/* Python: node.<method>(arg), or node.<method>() when arg is NULL, for the
 * node in `slot`; the result is dropped.  0 / -1. */
int xc_sched_call_node(xc_sched *self, Py_ssize_t slot, PyObject *method,
                       PyObject *arg);

/* Python: node.<method>(list(node's pending)[-n:]) (n capped at its
 * length).  0 / -1. */
int xc_sched_call_with_tail(xc_sched *self, Py_ssize_t slot, Py_ssize_t n,
                            PyObject *method);
/* Call node.send_runtest_some(<the node's last n pending indices>), or
 * node.shutdown() with the flag recorded.  0 / -1. */
int xc_sched_send_some(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot,
                       Py_ssize_t n);
int xc_sched_shutdown_node(xc_sched *self, xc_sched_state *ss,
                           Py_ssize_t slot);

/* Mark the item index `arg` complete on the node in `slot`.  0, or -1
 * with TypeError/OverflowError (not an int), IndexError (outside the
 * node's collection) or ValueError (not pending on the node). */
int xc_sched_complete(xc_sched *self, Py_ssize_t slot, PyObject *arg);

/* Remove the node in `slot` from the registry (node2slot, ledger).
 * 0 / -1. */
int xc_sched_unregister(xc_sched *self, Py_ssize_t slot);

/* Python: coll[node_pending.popleft()] -- the test that was running on a
 * removed node (its first pending one; there must be one): new reference,
 * or NULL with IndexError (then nothing was popped). */
PyObject *xc_sched_pop_crashed(xc_sched *self, Py_ssize_t slot,
                               PyObject *coll);

/* load and worksteal, on remove_node: the node's home and its pending
 * tests but the crashed one go back to the shared queue (in that order),
 * the weights are recomputed.  *crashed: a new reference to the nodeid
 * that was running, or NULL if none.  0 / -1. */
int xc_sched_requeue_node(xc_sched *self, Py_ssize_t slot,
                          PyObject **crashed);

/* load and worksteal's mark_test_pending: index first in the shared
 * queue, then ops->topup.  0 / -1. */
int xc_sched_requeue_first(xc_sched *self, xc_sched_state *ss,
                           Py_ssize_t index);

static inline Py_ssize_t
xc_ssize_min(Py_ssize_t a, Py_ssize_t b)
{
    return a < b ? a : b;
}

static inline Py_ssize_t
xc_ssize_max(Py_ssize_t a, Py_ssize_t b)
{
    return a > b ? a : b;
}

/* --- helpers of the schedulers that run each test once (sched_scope.c,
 * sched_steal.c) ---------------------------------------------------------- */

/* Python: add_node_collection(node, collection) as pytest-xdist's load,
 * loadscope and worksteal schedulers do it: before scheduling the
 * collection is stored; afterwards (a node replacing a dead one) it is
 * compared with the agreed one and the node either accepted (flagged
 * XC_NODE_LATE) or ignored (XC_NODE_IGNORED, reported through
 * _collection_mismatch, never given work).  The collection of a node
 * already removed (let go as surplus before it arrived) is dropped.
 * 0 / -1 (KeyError for a node never added). */
int xc_sched_accept_collection(xc_sched *self, xc_sched_state *ss,
                               PyObject *node, PyObject *collection);

/* Python: self.collection.index(item) -- the first index of nodeid `item`
 * in the agreed collection (a dict built on first use), or -1 with
 * ValueError if absent.  O(1) after the first call. */
Py_ssize_t xc_sched_index_of(xc_sched *self, PyObject *item);

/* --- duration weights (sched_weights.c) -------------------------------- */

/* Method set_durations(durations): self._durations = dict(durations), or
 * NULL for None; new reference to None, or NULL with TypeError. */
PyObject *xc_sched_set_durations(PyObject *self, PyTypeObject *cls,
                                 PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames);

/* Python: the expected seconds of each test of the agreed collection,
 * from set_durations(): [durations.get(id, median) for id in base_ids],
 * where median is that of the tests timed.  Stores a new PyMem array in
 * *out (free with PyMem_Free), or NULL when no test of the collection is
 * timed; *total receives the sum.  0 / -1. */
int xc_sched_weights(xc_sched *self, double **out, double *total,
                     Py_ssize_t *ntimed);

/* load, in a run whose stored durations say every test is quick: the
 * seconds of work a node keeps queued at least, beyond pytest-xdist's two
 * tests, so that it does not run dry while the next tests are on their way
 * (a completion, the controller's reply, the worker's wake-up: a
 * millisecond or more on a busy machine).  At most XC_REFILL_MAX_TESTS
 * tests.  Without durations (a first run) the next tests may be slow ones,
 * which a deep queue would leave on one node: pytest-xdist's two. */
#define XC_REFILL_COVER 0.003
#define XC_REFILL_MAX_TESTS 64

/* Seconds below which a test is never moved ahead by duration order. */
#define XC_LONG_TEST_FLOOR 0.05

/* load and worksteal, right after xc_ledger_fill(): order the unsent tests
 * longest first when durations are known (xc_ledger_weigh; a test is
 * moved ahead if it weighs 1/50 of a node's fair share and at least
 * XC_LONG_TEST_FLOOR, the rest keep their order; with no such test the
 * durations are not used at all).  0 / -1. */
int xc_sched_weigh_ledger(xc_sched *self);

/* The scope modes: reorder the unit ids order[0:count] of `units` by each
 * unit's expected seconds (xc_sched_weights), longest first, ties in the
 * order given.  Nothing changes when no test is timed.  0 / -1. */
int xc_sched_order_units(xc_sched *self, const xc_units *units,
                         Py_ssize_t count, Py_ssize_t *order);

/* --- the rest of the shared helpers (sched_shared.c) -------------------- */

/* Python: bool(node.shutting_down) for the node in `slot`: 1, 0, or -1
 * on error.  Runs Python code: re-read ledger records afterwards. */
int xc_sched_node_down(xc_sched *self, xc_sched_state *ss, Py_ssize_t slot);

/* Python: [slot for slot, node in enumerate(slots) if node is live], in a
 * new PyMem array stored in *out (free with PyMem_Free); returns the count
 * or -1. */
Py_ssize_t xc_sched_live_slots(xc_sched *self, Py_ssize_t **out);

#endif
