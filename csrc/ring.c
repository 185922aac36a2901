/* ring.c -- the pump's queue: a plain-C ring buffer of entries.
 *
 * Python equivalent:
 *
 *     ring = collections.deque()     # of (slot, kind, obj)
 *     ring.append(entry)             # xc_ring_push
 *     ring.popleft()                 # xc_ring_pop
 *     ring.appendleft(entry)         # xc_ring_unpop
 *
 * As CPython's RingBuf (Modules/_queuemodule.c): no lock of its own, the
 * GIL protects it; it holds strong references that its owner (the Pump)
 * visits and releases.  It doubles when full and never shrinks.
 */
#include "xdist_core.h"
#include "ring.h"

/* Room for one more entry.  0 / -1 with MemoryError. */
static int
ring_make_room(xc_ring *r)
{
    if (r->count < r->cap) {
        return 0;
    }
    Py_ssize_t cap = r->cap ? r->cap * 2 : 64;
    if (cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(xc_entry)) {
        PyErr_NoMemory();
        return -1;
    }
    xc_entry *items = PyMem_Malloc((size_t)cap * sizeof(xc_entry));
    if (items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < r->count; i++) {
        items[i] = r->items[(r->head + i) % r->cap];
    }
    PyMem_Free(r->items);
    r->items = items;
    r->head = 0;
    r->cap = cap;
    return 0;
}

/* Append; slot and obj are borrowed (the ring takes new references).
 * 0 / -1 with MemoryError. */
int
xc_ring_push(xc_ring *r, PyObject *slot, int kind, PyObject *obj)
{
    if (ring_make_room(r) < 0) {
        return -1;
    }
    xc_entry *e = &r->items[(r->head + r->count) % r->cap];
    e->slot = Py_NewRef(slot);
    e->obj = Py_NewRef(obj);
    e->kind = kind;
    r->count++;
    return 0;
}

/* Put back an entry taken by xc_ring_pop(), ahead of the others; steals its
 * references (releases them if there is no memory left for it). */
void
xc_ring_unpop(xc_ring *r, xc_entry e)
{
    if (ring_make_room(r) < 0) {
        Py_DECREF(e.slot);
        Py_DECREF(e.obj);
        return;
    }
    r->head = (r->head + r->cap - 1) % r->cap;
    r->items[r->head] = e;
    r->count++;
}

/* Remove the oldest entry; the caller owns its references.  The ring
 * must not be empty. */
xc_entry
xc_ring_pop(xc_ring *r)
{
    assert(r->count > 0);
    xc_entry e = r->items[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return e;
}
