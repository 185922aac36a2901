/* ledger.h -- plain-C bookkeeping of which test indices are where.
 *
 * No Python objects live here: only Py_ssize_t indices, counters and flags.
 * Every scheduler type (sched_*.c) keeps one xc_ledger next to the Python
 * objects it needs (nodes, collections), so the hot paths -- handing out
 * indices, marking one complete -- need no reference counting.
 *
 * Conventions: functions returning int give 0 on success and -1 with
 * MemoryError set on failure; nothing here calls back into Python.
 */
#ifndef XDIST_C_LEDGER_H
#define XDIST_C_LEDGER_H

#include <Python.h>

/* --- xc_ideque: growable ring buffer of indices ------------------------ */

typedef struct {
    Py_ssize_t *buf; /* NULL or an array of cap entries */
    Py_ssize_t cap;  /* 0 or a power of two */
    Py_ssize_t head; /* position of the first element in buf */
    Py_ssize_t len;  /* number of elements */
} xc_ideque;

#define XC_IDEQUE_INIT {NULL, 0, 0, 0}

static inline Py_ssize_t
xc_ideque_len(const xc_ideque *dq)
{
    return dq->len;
}

/* The i-th element from the front; 0 <= i < len (not checked). */
static inline Py_ssize_t
xc_ideque_get(const xc_ideque *dq, Py_ssize_t i)
{
    assert(i >= 0 && i < dq->len);
    return dq->buf[(dq->head + i) & (dq->cap - 1)];
}

void xc_ideque_init(xc_ideque *dq);
/* Releases the buffer; the deque is empty and reusable afterwards. */
void xc_ideque_free(xc_ideque *dq);
/* Drops every element, keeps the buffer. */
void xc_ideque_clear(xc_ideque *dq);
/* Make room for `extra` more elements without further allocation. */
int xc_ideque_reserve(xc_ideque *dq, Py_ssize_t extra);
int xc_ideque_push_back(xc_ideque *dq, Py_ssize_t value);
int xc_ideque_push_front(xc_ideque *dq, Py_ssize_t value);
/* Remove and return the first / last element; the deque must not be
 * empty. */
Py_ssize_t xc_ideque_pop_front(xc_ideque *dq);
Py_ssize_t xc_ideque_pop_back(xc_ideque *dq);
/* Position of the first element equal to value, scanning from the front
 * (so O(k) for the k-th element), or -1. */
Py_ssize_t xc_ideque_find(const xc_ideque *dq, Py_ssize_t value);
/* Remove the element at position pos, moving whichever side is shorter:
 * O(1) at either end. */
void xc_ideque_remove_at(xc_ideque *dq, Py_ssize_t pos);
/* Remove the first element equal to value: 1 if removed, 0 if absent. */
int xc_ideque_remove(xc_ideque *dq, Py_ssize_t value);
/* Append start, start+1, ..., stop-1. */
int xc_ideque_append_range(xc_ideque *dq, Py_ssize_t start, Py_ssize_t stop);
/* Append every element of src (src unchanged; src != dst). */
int xc_ideque_extend(xc_ideque *dst, const xc_ideque *src);
/* Move the first min(n, len(src)) elements of src to the back of dst, in
 * order; returns how many were moved, or -1 (then nothing moved). */
Py_ssize_t xc_ideque_move_front(xc_ideque *dst, xc_ideque *src, Py_ssize_t n);
/* Exchange the contents of two deques (O(1)). */
void xc_ideque_swap(xc_ideque *a, xc_ideque *b);

/* --- xc_ledger: per-node records and the global pending deque ----------- */

/* Node record flags. */
enum {
    XC_NODE_REMOVED = 1 << 0,       /* remove_node() was called */
    XC_NODE_SHUTDOWN_SENT = 1 << 1, /* we called node.shutdown() */
    XC_NODE_HAS_COLLECTION = 1 << 2, /* its collection was accepted */
    XC_NODE_STARTED = 1 << 3,       /* initial work was sent (each) */
    XC_NODE_LATE = 1 << 4,          /* collection came after completion */
    XC_NODE_IGNORED = 1 << 5, /* late and collection differs: no work */
    XC_NODE_ORPHANED = 1 << 6, /* removed with work left for a
                                       replacement node (each) */
};

typedef struct {
    xc_ideque pending; /* indices sent to the node, not completed */
    xc_ideque home; /* not yet sent, kept for this node first */
    Py_ssize_t home_start; /* the range given by set_home(), or 0, 0 */
    Py_ssize_t home_stop;
    Py_ssize_t last_sent; /* the highest index ever sent to it, or -1 */
    Py_ssize_t victim; /* the slot whose home it takes from, or -1 */
    Py_ssize_t ncompleted; /* indices the node reported complete */
    double queued_w; /* expected seconds of `pending` (weights only) */
    unsigned int flags;
} xc_node_rec;

typedef struct {
    xc_node_rec *nodes; /* indexed by slot; slots are never reused */
    Py_ssize_t nslots;
    Py_ssize_t cap;
    Py_ssize_t nactive; /* slots without XC_NODE_REMOVED */
    xc_ideque pending; /* indices not yet sent to any node (and in
                              no node's home) */
    Py_ssize_t nhome; /* indices in the nodes' home deques */
    Py_ssize_t ncompleted; /* completions over all nodes */
    /* Duration weights (xc_ledger_weigh), or NULL: then none of the
     * fields below is used and everything is as without them. */
    double *weight;   /* index -> expected seconds (PyMem, owned) */
    Py_ssize_t nweight;
    double unsent_w;  /* expected seconds of the unsent indices */
} xc_ledger;

/* Indices not yet sent to any node: the shared deque and every home.
 *
 * Homes serve split collection (xdist_c/speedups/split.py): a worker has collected
 * one block of the files first, so the tests of that block are kept for it
 * and it is sent them before any other. */
static inline Py_ssize_t
xc_ledger_unsent(const xc_ledger *lg)
{
    return lg->pending.len + lg->nhome;
}

void xc_ledger_init(xc_ledger *lg);
void xc_ledger_free(xc_ledger *lg);
/* A fresh, empty, active node record; returns its slot or -1. */
Py_ssize_t xc_ledger_add_node(xc_ledger *lg);

/* Borrowed pointer to the record of `slot` (0 <= slot < nslots); valid
 * until the next xc_ledger_add_node(). */
static inline xc_node_rec *
xc_ledger_node(xc_ledger *lg, Py_ssize_t slot)
{
    assert(slot >= 0 && slot < lg->nslots);
    return &lg->nodes[slot];
}

/* May the node be sent tests?  Not once removed, and not before its
 * collection is accepted (a node still collecting, a replacement say, or
 * a late one whose collection differs: that one is never accepted). */
static inline int
xc_node_can_work(const xc_node_rec *rec)
{
    return (rec->flags & (XC_NODE_REMOVED | XC_NODE_HAS_COLLECTION)) ==
           XC_NODE_HAS_COLLECTION;
}

/* Flag the node removed.  Its pending deque is left as is: the caller
 * decides whether to requeue, hand over or drop it. */
void xc_ledger_remove_node(xc_ledger *lg, Py_ssize_t slot);
/* Move up to n unsent indices to the back of the node's pending: from the
 * front of its home first, then from the front of the shared deque, then
 * from the front of another node's home -- the tests its owner would get
 * next, so the last tests of a home are shared out in small pieces as a
 * shared deque's are.  It keeps to one other home until that is empty
 * (so it never comes back to a file it has left), and picks the biggest
 * home ahead of everything it was sent (so its tests stay in ascending
 * order), or, when none is ahead, the biggest.  Without homes that is the
 * shared deque's first n.
 * Returns how many (the node's last ones), or -1. */
Py_ssize_t xc_ledger_send(xc_ledger *lg, Py_ssize_t slot, Py_ssize_t n);
/* Move every index in [0, n) that is in no active node's home range to
 * the shared deque, and each home range to its node's home deque (ranges
 * must lie in [0, n) and not overlap: else none is used).  0 / -1. */
int xc_ledger_fill(xc_ledger *lg, Py_ssize_t n);
/* Give the node's home back to the shared deque (a node going away). */
int xc_ledger_release_home(xc_ledger *lg, Py_ssize_t slot);
/* Mark `item` complete on the node: 1 if it was pending there, 0 if not
 * (nothing changes).  O(1) when item is the node's first pending. */
int xc_ledger_complete(xc_ledger *lg, Py_ssize_t slot, Py_ssize_t item);
/* Take ownership of weight[0..n) (expected seconds per index, from
 * PyMem_Malloc) after xc_ledger_fill(lg, n), and order the unsent indices
 * longest first: every index weighing at least `big` leaves its home or
 * place and goes to the front of the shared deque, by descending weight
 * (ties in index order); the others keep their order and homes.  Sends
 * then take the shared deque before a node's own home, and the ledger
 * keeps the expected seconds unsent and queued on each node.  0 / -1
 * (then weight is freed and nothing changed). */
int xc_ledger_weigh(xc_ledger *lg, double *weight, Py_ssize_t n, double big);
/* Recompute unsent_w and every node's queued_w (after indices moved back
 * to the shared deque outside xc_ledger_send); O(n). */
void xc_ledger_reweigh(xc_ledger *lg);
/* Expected seconds of `index` (0.0 without weights). */
static inline double
xc_ledger_weight(const xc_ledger *lg, Py_ssize_t index)
{
    if (lg->weight == NULL || index < 0 || index >= lg->nweight) {
        return 0.0;
    }
    return lg->weight[index];
}
/* Something to order by weight (xc_sort_heaviest_first): its expected
 * seconds w, a tie-break key (its position, for a stable order) and the
 * item itself. */
typedef struct {
    double w;
    Py_ssize_t key;
    Py_ssize_t item;
} xc_weighed;
/* Sort v[0:n] by descending w, ties by ascending key. */
void xc_sort_heaviest_first(xc_weighed *v, Py_ssize_t n);
/* Does any active node have at least `n` pending indices? */
int xc_ledger_any_node_has(const xc_ledger *lg, Py_ssize_t n);
/* The fewest pending indices of a node that may be given work (not
 * removed, not ignored, collection accepted); -1 when there is none. */
Py_ssize_t xc_ledger_shortest_queue(const xc_ledger *lg);

#endif /* XDIST_C_LEDGER_H */
