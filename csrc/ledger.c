/* ledger.c -- plain-C bookkeeping of test indices per node.
 *
 * Python equivalent (what the scheduler types would otherwise keep):
 *
 *     class Ledger:
 *         def __init__(self):
 *             self.nodes = []                 # slot -> NodeRecord
 *             self.pending = collections.deque()
 *         def add_node(self):
 *             self.nodes.append(NodeRecord(pending=deque(), ncompleted=0))
 *             return len(self.nodes) - 1
 *         def send(self, slot, n):
 *             moved = [self.pending.popleft()
 *                      for _ in range(min(n, len(self.pending)))]
 *             self.nodes[slot].pending.extend(moved)
 *             return len(moved)
 *         def complete(self, slot, item):
 *             rec = self.nodes[slot]
 *             if item not in rec.pending:
 *                 return False
 *             rec.pending.remove(item)        # O(1) for the front item
 *             rec.ncompleted += 1
 *             return True
 *
 * The deques are ring buffers of Py_ssize_t whose capacity is a power of
 * two, so push/pop at either end are O(1) amortized and removing the k-th
 * element costs O(min(k, len - k)).
 */
#include "ledger.h"

#include <string.h>

#define XC_IDEQUE_MIN_CAP 8

void
xc_ideque_init(xc_ideque *dq)
{
    dq->buf = NULL;
    dq->cap = 0;
    dq->head = 0;
    dq->len = 0;
}

void
xc_ideque_free(xc_ideque *dq)
{
    PyMem_Free(dq->buf);
    xc_ideque_init(dq);
}

void
xc_ideque_clear(xc_ideque *dq)
{
    dq->head = 0;
    dq->len = 0;
}

/* Grow to a capacity of at least `need`, unwrapping the elements to the
 * start of the new buffer.  0 / -1 with MemoryError. */
static int
ideque_grow(xc_ideque *dq, Py_ssize_t need)
{
    Py_ssize_t newcap = dq->cap ? dq->cap : XC_IDEQUE_MIN_CAP;
    while (newcap < need) {
        if (newcap > PY_SSIZE_T_MAX / 2 / (Py_ssize_t)sizeof(Py_ssize_t)) {
            PyErr_NoMemory();
            return -1;
        }
        newcap *= 2;
    }
    Py_ssize_t *nbuf = PyMem_New(Py_ssize_t, (size_t)newcap);
    if (nbuf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (dq->len > 0) {
        Py_ssize_t first = dq->cap - dq->head;
        if (first > dq->len) {
            first = dq->len;
        }
        memcpy(nbuf, dq->buf + dq->head, (size_t)first * sizeof(Py_ssize_t));
        memcpy(nbuf + first, dq->buf,
               (size_t)(dq->len - first) * sizeof(Py_ssize_t));
    }
    PyMem_Free(dq->buf);
    dq->buf = nbuf;
    dq->cap = newcap;
    dq->head = 0;
    return 0;
}

int
xc_ideque_reserve(xc_ideque *dq, Py_ssize_t extra)
{
    assert(extra >= 0);
    if (extra > PY_SSIZE_T_MAX - dq->len) {
        PyErr_NoMemory();
        return -1;
    }
    if (dq->len + extra <= dq->cap) {
        return 0;
    }
    return ideque_grow(dq, dq->len + extra);
}

int
xc_ideque_push_back(xc_ideque *dq, Py_ssize_t value)
{
    if (dq->len == dq->cap && ideque_grow(dq, dq->len + 1) < 0) {
        return -1;
    }
    dq->buf[(dq->head + dq->len) & (dq->cap - 1)] = value;
    dq->len++;
    return 0;
}

int
xc_ideque_push_front(xc_ideque *dq, Py_ssize_t value)
{
    if (dq->len == dq->cap && ideque_grow(dq, dq->len + 1) < 0) {
        return -1;
    }
    dq->head = (dq->head - 1) & (dq->cap - 1);
    dq->buf[dq->head] = value;
    dq->len++;
    return 0;
}

Py_ssize_t
xc_ideque_pop_front(xc_ideque *dq)
{
    assert(dq->len > 0);
    Py_ssize_t value = dq->buf[dq->head];
    dq->head = (dq->head + 1) & (dq->cap - 1);
    dq->len--;
    return value;
}

Py_ssize_t
xc_ideque_pop_back(xc_ideque *dq)
{
    assert(dq->len > 0);
    dq->len--;
    return dq->buf[(dq->head + dq->len) & (dq->cap - 1)];
}

Py_ssize_t
xc_ideque_find(const xc_ideque *dq, Py_ssize_t value)
{
    Py_ssize_t mask = dq->cap - 1;
    for (Py_ssize_t i = 0; i < dq->len; i++) {
        if (dq->buf[(dq->head + i) & mask] == value) {
            return i;
        }
    }
    return -1;
}

void
xc_ideque_remove_at(xc_ideque *dq, Py_ssize_t pos)
{
    assert(pos >= 0 && pos < dq->len);
    Py_ssize_t mask = dq->cap - 1;
    if (pos < dq->len - 1 - pos) {
        /* Shift the front part one step towards the back. */
        for (Py_ssize_t i = pos; i > 0; i--) {
            dq->buf[(dq->head + i) & mask] =
                dq->buf[(dq->head + i - 1) & mask];
        }
        dq->head = (dq->head + 1) & mask;
    }
    else {
        /* Shift the back part one step towards the front. */
        for (Py_ssize_t i = pos; i < dq->len - 1; i++) {
            dq->buf[(dq->head + i) & mask] =
                dq->buf[(dq->head + i + 1) & mask];
        }
    }
    dq->len--;
}

int
xc_ideque_remove(xc_ideque *dq, Py_ssize_t value)
{
    Py_ssize_t pos = xc_ideque_find(dq, value);
    if (pos < 0) {
        return 0;
    }
    xc_ideque_remove_at(dq, pos);
    return 1;
}

int
xc_ideque_append_range(xc_ideque *dq, Py_ssize_t start, Py_ssize_t stop)
{
    if (stop <= start) {
        return 0;
    }
    if (xc_ideque_reserve(dq, stop - start) < 0) {
        return -1;
    }
    Py_ssize_t mask = dq->cap - 1;
    for (Py_ssize_t v = start; v < stop; v++) {
        dq->buf[(dq->head + dq->len) & mask] = v;
        dq->len++;
    }
    return 0;
}

/* Append elements first .. first + n - 1 of src to dst, which has room. */
static void
ideque_copy_back(xc_ideque *dst, const xc_ideque *src, Py_ssize_t first,
                 Py_ssize_t n)
{
    Py_ssize_t dmask = dst->cap - 1;
    for (Py_ssize_t i = first; i < first + n; i++) {
        dst->buf[(dst->head + dst->len) & dmask] = xc_ideque_get(src, i);
        dst->len++;
    }
}

int
xc_ideque_extend(xc_ideque *dst, const xc_ideque *src)
{
    assert(dst != src);
    if (xc_ideque_reserve(dst, src->len) < 0) {
        return -1;
    }
    ideque_copy_back(dst, src, 0, src->len);
    return 0;
}

Py_ssize_t
xc_ideque_move_front(xc_ideque *dst, xc_ideque *src, Py_ssize_t n)
{
    assert(dst != src);
    if (n > src->len) {
        n = src->len;
    }
    if (n <= 0) {
        return 0;
    }
    if (xc_ideque_reserve(dst, n) < 0) {
        return -1;
    }
    ideque_copy_back(dst, src, 0, n);
    src->head = (src->head + n) & (src->cap - 1);
    src->len -= n;
    return n;
}

void
xc_ideque_swap(xc_ideque *a, xc_ideque *b)
{
    xc_ideque tmp = *a;
    *a = *b;
    *b = tmp;
}

/* --- ledger ------------------------------------------------------------ */

void
xc_ledger_init(xc_ledger *lg)
{
    lg->nodes = NULL;
    lg->nslots = 0;
    lg->cap = 0;
    lg->nactive = 0;
    xc_ideque_init(&lg->pending);
    lg->ncompleted = 0;
    lg->weight = NULL;
    lg->nweight = 0;
    lg->unsent_w = 0.0;
}

void
xc_ledger_free(xc_ledger *lg)
{
    for (Py_ssize_t i = 0; i < lg->nslots; i++) {
        xc_ideque_free(&lg->nodes[i].pending);
        xc_ideque_free(&lg->nodes[i].home);
    }
    PyMem_Free(lg->nodes);
    xc_ideque_free(&lg->pending);
    PyMem_Free(lg->weight);
    xc_ledger_init(lg);
}

Py_ssize_t
xc_ledger_add_node(xc_ledger *lg)
{
    if (lg->nslots == lg->cap) {
        Py_ssize_t newcap = lg->cap ? lg->cap * 2 : 4;
        if (newcap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(xc_node_rec)) {
            PyErr_NoMemory();
            return -1;
        }
        xc_node_rec *nodes =
            PyMem_Resize(lg->nodes, xc_node_rec, (size_t)newcap);
        if (nodes == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        lg->nodes = nodes;
        lg->cap = newcap;
    }
    Py_ssize_t slot = lg->nslots++;
    xc_node_rec *rec = &lg->nodes[slot];
    xc_ideque_init(&rec->pending);
    xc_ideque_init(&rec->home);
    rec->home_start = rec->home_stop = 0;
    rec->last_sent = -1;
    rec->victim = -1;
    rec->ncompleted = 0;
    rec->queued_w = 0.0;
    rec->flags = 0;
    lg->nactive++;
    return slot;
}

void
xc_ledger_remove_node(xc_ledger *lg, Py_ssize_t slot)
{
    xc_node_rec *rec = xc_ledger_node(lg, slot);
    if (!(rec->flags & XC_NODE_REMOVED)) {
        rec->flags |= XC_NODE_REMOVED;
        lg->nactive--;
    }
}

/* The slot whose home the node takes from when its own is empty (see
 * xc_ledger_send); some home must hold an index. */
static Py_ssize_t
ledger_victim(xc_ledger *lg, xc_node_rec *rec)
{
    if (rec->victim >= 0 && lg->nodes[rec->victim].home.len > 0) {
        return rec->victim;
    }
    Py_ssize_t ahead = -1, any = -1;
    for (Py_ssize_t i = 0; i < lg->nslots; i++) {
        const xc_ideque *h = &lg->nodes[i].home;
        if (h->len == 0) {
            continue;
        }
        if (any < 0 || h->len > lg->nodes[any].home.len) {
            any = i;
        }
        if (xc_ideque_get(h, 0) > rec->last_sent &&
            (ahead < 0 || h->len > lg->nodes[ahead].home.len)) {
            ahead = i;
        }
    }
    assert(any >= 0); /* unsent counted it */
    rec->victim = ahead >= 0 ? ahead : any;
    return rec->victim;
}

Py_ssize_t
xc_ledger_send(xc_ledger *lg, Py_ssize_t slot, Py_ssize_t n)
{
    xc_node_rec *rec = xc_ledger_node(lg, slot);
    Py_ssize_t want = n < xc_ledger_unsent(lg) ? n : xc_ledger_unsent(lg);
    if (want <= 0) {
        return 0;
    }
    if (xc_ideque_reserve(&rec->pending, want) < 0) {
        return -1;
    }
    /* Nothing below allocates any more: the moves cannot fail.  With
     * weights the shared deque (the longest tests first) comes before the
     * node's own home. */
    Py_ssize_t moved = 0;
    if (lg->weight != NULL) {
        moved = xc_ideque_move_front(&rec->pending, &lg->pending, want);
    }
    Py_ssize_t k0 =
        xc_ideque_move_front(&rec->pending, &rec->home, want - moved);
    lg->nhome -= k0;
    moved += k0;
    moved += xc_ideque_move_front(&rec->pending, &lg->pending, want - moved);
    while (moved < want) {
        xc_ideque *victim = &lg->nodes[ledger_victim(lg, rec)].home;
        Py_ssize_t k =
            xc_ideque_move_front(&rec->pending, victim, want - moved);
        lg->nhome -= k;
        moved += k;
    }
    Py_ssize_t len = xc_ideque_len(&rec->pending);
    for (Py_ssize_t i = len - moved; i < len; i++) {
        Py_ssize_t index = xc_ideque_get(&rec->pending, i);
        if (index > rec->last_sent) {
            rec->last_sent = index;
        }
        if (lg->weight != NULL) {
            double w = xc_ledger_weight(lg, index);
            rec->queued_w += w;
            lg->unsent_w -= w;
        }
    }
    if (lg->weight != NULL && xc_ledger_unsent(lg) == 0) {
        lg->unsent_w = 0.0; /* no drift left over */
    }
    return moved;
}

int
xc_ledger_fill(xc_ledger *lg, Py_ssize_t n)
{
    /* Owner of each index, or -1; checks the ranges on the way. */
    Py_ssize_t *owner = PyMem_New(Py_ssize_t, (size_t)n + 1);
    if (owner == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        owner[i] = -1;
    }
    int usable = 1;
    for (Py_ssize_t s = 0; s < lg->nslots && usable; s++) {
        xc_node_rec *rec = &lg->nodes[s];
        if (rec->flags & XC_NODE_REMOVED) {
            continue;
        }
        if (rec->home_start < 0 || rec->home_start > rec->home_stop ||
            rec->home_stop > n) {
            usable = 0;
            break;
        }
        for (Py_ssize_t i = rec->home_start; i < rec->home_stop; i++) {
            if (owner[i] != -1) {
                usable = 0;
                break;
            }
            owner[i] = s;
        }
    }
    xc_ideque_clear(&lg->pending);
    lg->nhome = 0;
    for (Py_ssize_t s = 0; s < lg->nslots; s++) {
        xc_ideque_clear(&lg->nodes[s].home);
    }
    int rc = 0;
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        Py_ssize_t s = usable ? owner[i] : -1;
        if (s < 0) {
            rc = xc_ideque_push_back(&lg->pending, i);
        }
        else {
            rc = xc_ideque_push_back(&lg->nodes[s].home, i);
            lg->nhome++;
        }
    }
    PyMem_Free(owner);
    return rc;
}

int
xc_ledger_release_home(xc_ledger *lg, Py_ssize_t slot)
{
    xc_node_rec *rec = xc_ledger_node(lg, slot);
    if (xc_ideque_extend(&lg->pending, &rec->home) < 0) {
        return -1;
    }
    lg->nhome -= rec->home.len;
    xc_ideque_free(&rec->home);
    return 0;
}

int
xc_ledger_complete(xc_ledger *lg, Py_ssize_t slot, Py_ssize_t item)
{
    xc_node_rec *rec = xc_ledger_node(lg, slot);
    if (!xc_ideque_remove(&rec->pending, item)) {
        return 0;
    }
    if (lg->weight != NULL) {
        rec->queued_w = rec->pending.len == 0
                            ? 0.0
                            : rec->queued_w - xc_ledger_weight(lg, item);
    }
    rec->ncompleted++;
    lg->ncompleted++;
    return 1;
}

/* qsort order: descending weight, then ascending key. */
static int
weighed_cmp(const void *a, const void *b)
{
    const xc_weighed *x = a, *y = b;
    if (x->w != y->w) {
        return x->w > y->w ? -1 : 1;
    }
    return (x->key > y->key) - (x->key < y->key);
}

void
xc_sort_heaviest_first(xc_weighed *v, Py_ssize_t n)
{
    qsort(v, (size_t)n, sizeof(xc_weighed), weighed_cmp);
}

/* Drop from dq every index flagged in isbig; returns how many went. */
static Py_ssize_t
ideque_drop_flagged(xc_ideque *dq, const unsigned char *isbig)
{
    Py_ssize_t kept = 0, len = dq->len, mask = dq->cap - 1;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_ssize_t v = xc_ideque_get(dq, i);
        if (!isbig[v]) {
            dq->buf[(dq->head + kept) & mask] = v;
            kept++;
        }
    }
    dq->len = kept;
    return len - kept;
}

int
xc_ledger_weigh(xc_ledger *lg, double *weight, Py_ssize_t n, double big)
{
    xc_weighed *bigs = NULL;
    unsigned char *isbig = PyMem_Calloc((size_t)n + 1, 1);
    Py_ssize_t nbig = 0;
    if (isbig == NULL) {
        goto nomem;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (weight[i] >= big) {
            isbig[i] = 1;
            nbig++;
        }
    }
    bigs = PyMem_New(xc_weighed, (size_t)nbig + 1);
    if (bigs == NULL || xc_ideque_reserve(&lg->pending, nbig) < 0) {
        goto nomem;
    }
    /* Only unsent indices move (all of them, right after the fill). */
    nbig = 0;
    for (Py_ssize_t s = -1; s < lg->nslots; s++) {
        xc_ideque *dq = s < 0 ? &lg->pending : &lg->nodes[s].home;
        for (Py_ssize_t i = 0; i < dq->len; i++) {
            Py_ssize_t v = xc_ideque_get(dq, i);
            if (v >= 0 && v < n && isbig[v]) {
                /* ties in index order */
                bigs[nbig].w = weight[v];
                bigs[nbig].key = v;
                bigs[nbig].item = v;
                nbig++;
            }
        }
        Py_ssize_t dropped = ideque_drop_flagged(dq, isbig);
        if (s >= 0) {
            lg->nhome -= dropped;
        }
    }
    xc_sort_heaviest_first(bigs, nbig);
    for (Py_ssize_t i = nbig - 1; i >= 0; i--) {
        (void)xc_ideque_push_front(&lg->pending, bigs[i].item); /* room */
    }
    PyMem_Free(lg->weight);
    lg->weight = weight;
    lg->nweight = n;
    xc_ledger_reweigh(lg);
    PyMem_Free(bigs);
    PyMem_Free(isbig);
    return 0;
nomem:
    PyErr_NoMemory();
    PyMem_Free(bigs);
    PyMem_Free(isbig);
    PyMem_Free(weight);
    return -1;
}

void
xc_ledger_reweigh(xc_ledger *lg)
{
    if (lg->weight == NULL) {
        return;
    }
    double unsent = 0.0;
    for (Py_ssize_t i = 0; i < lg->pending.len; i++) {
        unsent += xc_ledger_weight(lg, xc_ideque_get(&lg->pending, i));
    }
    for (Py_ssize_t s = 0; s < lg->nslots; s++) {
        xc_node_rec *rec = &lg->nodes[s];
        double queued = 0.0;
        for (Py_ssize_t i = 0; i < rec->home.len; i++) {
            unsent += xc_ledger_weight(lg, xc_ideque_get(&rec->home, i));
        }
        for (Py_ssize_t i = 0; i < rec->pending.len; i++) {
            queued += xc_ledger_weight(lg, xc_ideque_get(&rec->pending, i));
        }
        rec->queued_w = queued;
    }
    lg->unsent_w = unsent;
}

int
xc_ledger_any_node_has(const xc_ledger *lg, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < lg->nslots; i++) {
        const xc_node_rec *rec = &lg->nodes[i];
        if (!(rec->flags & XC_NODE_REMOVED) && rec->pending.len >= n) {
            return 1;
        }
    }
    return 0;
}

Py_ssize_t
xc_ledger_shortest_queue(const xc_ledger *lg)
{
    const unsigned int skip = XC_NODE_REMOVED | XC_NODE_IGNORED;
    Py_ssize_t shortest = -1;
    for (Py_ssize_t i = 0; i < lg->nslots; i++) {
        const xc_node_rec *rec = &lg->nodes[i];
        if ((rec->flags & skip) || !(rec->flags & XC_NODE_HAS_COLLECTION)) {
            continue;
        }
        if (shortest < 0 || rec->pending.len < shortest) {
            shortest = rec->pending.len;
        }
    }
    return shortest;
}
