/* ring.h -- the pump's queue of entries (see ring.c). */
#ifndef XDIST_C_RING_H
#define XDIST_C_RING_H

#include <Python.h>

#define XC_RAW (-1) /* entry kind: a frame to decode */

/* One queued entry: what a feeder or put() handed to the pump. */
typedef struct {
    PyObject *slot; /* int; strong */
    PyObject *obj;  /* frame bytes (kind XC_RAW) or payload; strong */
    int kind;
} xc_entry;

/* A growable FIFO of entries; all zero is an empty ring. */
typedef struct {
    xc_entry *items; /* PyMem; `cap` allocated, `count` from `head` */
    Py_ssize_t head;
    Py_ssize_t count;
    Py_ssize_t cap;
} xc_ring;

/* Append; slot and obj are borrowed (the ring takes new references).
 * 0 / -1 with MemoryError. */
int xc_ring_push(xc_ring *r, PyObject *slot, int kind, PyObject *obj);

/* Put back an entry taken by xc_ring_pop(), ahead of the others; steals
 * its references (releases them if there is no memory left for it). */
void xc_ring_unpop(xc_ring *r, xc_entry e);

/* Remove the oldest entry; the caller owns its references.  The ring
 * must not be empty. */
xc_entry xc_ring_pop(xc_ring *r);

#endif
