/* pump.c -- frames from worker channels -> events on the main thread.
 *
 * Python equivalent (semantics, not speed):
 *
 *     class Pump:
 *         def __init__(self):
 *             self.endmarker = object()
 *             self._queue = collections.deque()  # (slot, kind|RAW, obj)
 *             self._wake = threading.Lock()
 *
 *         def feeder(self, slot):              # runs in execnet threads
 *             def feed(data):
 *                 if isinstance(data, (bytes, bytearray)):
 *                     self._queue.append((slot, RAW, bytes(data)))
 *                 elif data is self.endmarker:
 *                     self._queue.append((slot, EV_CLOSED, None))
 *                 else:
 *                     self._queue.append((slot, EV_BADFRAME, "expected..."))
 *                 wake the getter
 *             return feed
 *
 *         def put(self, slot, kind, payload):
 *             self._queue.append((slot, kind, payload)); wake the getter
 *
 *         def get(self, timeout=None):         # main thread only
 *             wait (GIL released, signals handled) until the queue is not
 *             empty or the timeout passed; then
 *             out = []
 *             while self._queue:
 *                 slot, kind, obj = self._queue.popleft()
 *                 if kind is RAW:
 *                     try:
 *                         out += [(slot, k, p) for k, p in decode_frame(obj)]
 *                     except FrameError as e:
 *                         out.append((slot, EV_BADFRAME, str(e)))
 *                 else:
 *                     out.append((slot, kind, obj))
 *             return out
 *
 * As in CPython's SimpleQueue (Modules/_queuemodule.c) the queue itself is
 * a plain-C ring buffer protected by the GIL; the PyThread lock is used
 * only to sleep: it is held while the queue is empty and a getter waits,
 * and every put releases it.  Frames are decoded by the consumer, so the
 * receiver threads hold the GIL only long enough to append.
 */
#include "xdist_core.h"

#include <math.h>
#include <stdint.h>

#ifdef MS_WINDOWS
#include <windows.h>
#else
#include <time.h>
#endif

#define XC_RAW (-1)                 /* entry kind: a frame to decode */
#define XC_WAIT_SLICE_US 50000      /* wake this often to run signal
                                       handlers the OS did not deliver to
                                       our thread (interrupt_main()) */

/* Microseconds of a monotonic clock. */
static int64_t
xc_monotonic_us(void)
{
#ifdef MS_WINDOWS
    return (int64_t)GetTickCount64() * 1000;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
#endif
}

/* ------------------------------------------------------------------ */
/* Ring buffer of entries: plain C, protected by the GIL.             */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject *slot; /* int; strong */
    PyObject *obj;  /* frame bytes (kind XC_RAW) or payload; strong */
    int kind;
} xc_entry;

typedef struct {
    xc_entry *items;
    Py_ssize_t head;
    Py_ssize_t count;
    Py_ssize_t cap;
} xc_ring;

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
static int
ring_push(xc_ring *r, PyObject *slot, int kind, PyObject *obj)
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

/* Put back an entry taken by ring_pop(), ahead of the others; steals its
 * references (releases them if there is no memory left for it). */
static void
ring_unpop(xc_ring *r, xc_entry e)
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
static xc_entry
ring_pop(xc_ring *r)
{
    assert(r->count > 0);
    xc_entry e = r->items[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return e;
}

/* ------------------------------------------------------------------ */
/* Pump.                                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    xc_ring ring;
    PyThread_type_lock lock;
    int locked;          /* `lock` is held: a put must release it */
    PyObject *endmarker; /* a plain object(), unique to this pump */
} PumpObject;

typedef struct {
    PyObject_HEAD
    PumpObject *pump;
    PyObject *slot; /* int */
} FeederObject;

/* Queue one entry and wake a waiting get().  0 / -1. */
static int
pump_push(PumpObject *self, PyObject *slot, int kind, PyObject *obj)
{
    if (ring_push(&self->ring, slot, kind, obj) < 0) {
        return -1;
    }
    if (self->locked) {
        self->locked = 0;
        PyThread_release_lock(self->lock);
    }
    return 0;
}

static PyObject *
Pump_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if ((args != NULL && PyTuple_GET_SIZE(args) != 0) ||
        (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Pump() takes no arguments");
        return NULL;
    }
    PumpObject *self = (PumpObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_MemoryError, "can't allocate lock");
        return NULL;
    }
    self->endmarker = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    if (self->endmarker == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
Pump_traverse(PumpObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->endmarker);
    xc_ring *r = &self->ring;
    for (Py_ssize_t i = 0; i < r->count; i++) {
        xc_entry *e = &r->items[(r->head + i) % r->cap];
        Py_VISIT(e->slot);
        Py_VISIT(e->obj);
    }
    return 0;
}

static int
Pump_clear(PumpObject *self)
{
    /* one entry at a time: releasing one may run code that queues more */
    while (self->ring.count > 0) {
        xc_entry e = ring_pop(&self->ring);
        Py_DECREF(e.slot);
        Py_DECREF(e.obj);
    }
    Py_CLEAR(self->endmarker);
    return 0;
}

static void
Pump_dealloc(PumpObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)Pump_clear(self);
    PyMem_Free(self->ring.items);
    self->ring.items = NULL;
    if (self->lock != NULL) {
        if (self->locked) {
            /* a held lock must not be freed */
            PyThread_release_lock(self->lock);
        }
        PyThread_free_lock(self->lock);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* Append (slot, kind, obj) to the list `out`.  0 / -1. */
static int
append_event(PyObject *out, PyObject *slot, int kind, PyObject *obj)
{
    PyObject *k = PyLong_FromLong(kind);
    if (k == NULL) {
        return -1;
    }
    PyObject *ev = PyTuple_New(3);
    if (ev == NULL) {
        Py_DECREF(k);
        return -1;
    }
    PyTuple_SET_ITEM(ev, 0, Py_NewRef(slot));
    PyTuple_SET_ITEM(ev, 1, k);
    PyTuple_SET_ITEM(ev, 2, Py_NewRef(obj));
    int r = PyList_Append(out, ev);
    Py_DECREF(ev);
    return r;
}

/* The current exception (FrameError) as its message; clears it.  New
 * reference, or NULL with an exception set. */
static PyObject *
take_error_message(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *msg = PyObject_Str(exc);
    Py_DECREF(exc);
    return msg;
#else
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *msg = v != NULL ? PyObject_Str(v) : PyObject_Str(t);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return msg;
#endif
}

/* Wait until the queue is not empty or `deadline_us` (monotonic; < 0:
 * never) passes.  1 something queued, 0 timed out, -1 a signal handler
 * raised. */
static int
pump_wait(PumpObject *self, int64_t deadline_us)
{
    while (self->ring.count == 0) {
        PY_TIMEOUT_T wait_us = XC_WAIT_SLICE_US;
        if (deadline_us >= 0) {
            int64_t left = deadline_us - xc_monotonic_us();
            if (left <= 0) {
                return 0;
            }
            if (left < wait_us) {
                wait_us = (PY_TIMEOUT_T)left;
            }
        }
        /* the lock is free only if a put released it (or at first):
         * taking it without waiting then means "look again" */
        PyLockStatus r = PyThread_acquire_lock_timed(self->lock, 0, 0);
        if (r == PY_LOCK_FAILURE) {
            Py_BEGIN_ALLOW_THREADS
            r = PyThread_acquire_lock_timed(self->lock, wait_us, 1);
            Py_END_ALLOW_THREADS
        }
        if (r == PY_LOCK_ACQUIRED) {
            self->locked = 1;
            continue;
        }
        /* interrupted (PY_LOCK_INTR) or a slice passed: run the signal
         * handlers, so that Ctrl-C raises KeyboardInterrupt here */
        if (PyErr_CheckSignals() < 0) {
            return -1;
        }
    }
    return 1;
}

static PyObject *
Pump_get(PumpObject *self, PyObject *const *args, Py_ssize_t nargs,
         PyObject *kwnames)
{
    static const char *const names[] = {"timeout"};
    PyObject *timeout;
    PyObject *out = NULL;
    int64_t deadline_us = -1;

    if (xc_unpack_args("get", args, nargs, kwnames, names, 0, 1, &timeout) <
        0) {
        return NULL;
    }
    if (timeout != NULL && timeout != Py_None) {
        double t = PyFloat_AsDouble(timeout);
        if (t == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        if (!(t >= 0.0)) {
            PyErr_SetString(PyExc_ValueError,
                            "'timeout' must be a non-negative number");
            return NULL;
        }
        if (t < 1e9) { /* otherwise: as good as forever */
            deadline_us = xc_monotonic_us() + (int64_t)ceil(t * 1e6);
        }
    }
    xc_state *st = xc_state_from_type(Py_TYPE(self));
    if (st == NULL) {
        return NULL;
    }
    int w = pump_wait(self, deadline_us);
    if (w < 0) {
        return NULL;
    }
    out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    while (self->ring.count > 0) {
        xc_entry e = ring_pop(&self->ring);
        int r;
        if (e.kind == XC_RAW) {
            r = xc_decode_frame_into(st, PyBytes_AS_STRING(e.obj),
                                     PyBytes_GET_SIZE(e.obj), e.slot, out);
            if (r < 0 && PyErr_ExceptionMatches(xc_frame_error_type(st))) {
                PyObject *msg = take_error_message();
                if (msg != NULL) {
                    r = append_event(out, e.slot, XC_EV_BADFRAME, msg);
                    Py_DECREF(msg);
                }
            }
        }
        else {
            r = append_event(out, e.slot, e.kind, e.obj);
        }
        if (r < 0) {
            /* MemoryError and the like: keep the entry for the next get()
             * and hand out what is done, or raise if nothing is */
            ring_unpop(&self->ring, e);
            if (PyList_GET_SIZE(out) == 0) {
                Py_DECREF(out);
                return NULL;
            }
            PyErr_Clear();
            return out;
        }
        Py_DECREF(e.slot);
        Py_DECREF(e.obj);
    }
    return out;
}

static PyObject *
Pump_put(PumpObject *self, PyObject *const *argv, Py_ssize_t nargs,
         PyObject *kwnames)
{
    static const char *const names[] = {"slot", "kind", "payload"};
    PyObject *args[3];
    if (xc_unpack_args("put", argv, nargs, kwnames, names, 3, 3, args) < 0) {
        return NULL;
    }
    if (!PyLong_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "event kind must be int, not %.200s",
                     Py_TYPE(args[1])->tp_name);
        return NULL;
    }
    int overflow = 0;
    long kind = PyLong_AsLongAndOverflow(args[1], &overflow);
    if (kind == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow || kind < 0 || kind > 255) {
        PyErr_Format(PyExc_ValueError, "event kind %R is not in 0..255",
                     args[1]);
        return NULL;
    }
    PyObject *slot = PyNumber_Index(args[0]);
    if (slot == NULL) {
        return NULL;
    }
    int r = pump_push(self, slot, (int)kind, args[2]);
    Py_DECREF(slot);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Pump_feeder(PumpObject *self, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    static const char *const names[] = {"slot"};
    PyObject *slot_arg;
    if (xc_unpack_args("feeder", args, nargs, kwnames, names, 1, 1,
                       &slot_arg) < 0) {
        return NULL;
    }
    xc_state *st = xc_state_from_type(Py_TYPE(self));
    if (st == NULL) {
        return NULL;
    }
    PyObject *slot = PyNumber_Index(slot_arg);
    if (slot == NULL) {
        return NULL;
    }
    FeederObject *f = PyObject_GC_New(FeederObject, st->pump.Feeder_Type);
    if (f == NULL) {
        Py_DECREF(slot);
        return NULL;
    }
    f->pump = (PumpObject *)Py_NewRef(self);
    f->slot = slot;
    PyObject_GC_Track(f);
    return (PyObject *)f;
}

static Py_ssize_t
Pump_len(PumpObject *self)
{
    return self->ring.count;
}

static PyObject *
Pump_get_endmarker(PumpObject *self, void *Py_UNUSED(closure))
{
    if (self->endmarker == NULL) {
        PyErr_SetString(PyExc_AttributeError, "endmarker");
        return NULL;
    }
    return Py_NewRef(self->endmarker);
}

static PyMethodDef Pump_methods[] = {
    {"feeder", (PyCFunction)(void (*)(void))Pump_feeder,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("feeder($self, slot)\n--\n\n"
               "Callback for one worker's channel: bytes -> queued frame; "
               "endmarker -> EV_CLOSED; anything else -> EV_BADFRAME.")},
    {"put", (PyCFunction)(void (*)(void))Pump_put,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("put($self, slot, kind, payload)\n--\n\n"
               "Queue one already-decoded event.")},
    {"get", (PyCFunction)(void (*)(void))Pump_get,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("get($self, timeout=None)\n--\n\n"
               "Wait until something is queued (or timeout seconds), then "
               "return every queued event as (slot, kind, payload); [] on "
               "timeout.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Pump_getset[] = {
    {"endmarker", (getter)Pump_get_endmarker, NULL,
     PyDoc_STR("The object execnet passes to a feeder when the channel "
               "closes."),
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Pump_slots[] = {
    {Py_tp_new, Pump_new},
    {Py_tp_dealloc, Pump_dealloc},
    {Py_tp_traverse, Pump_traverse},
    {Py_tp_clear, Pump_clear},
    {Py_tp_methods, Pump_methods},
    {Py_tp_getset, Pump_getset},
    {Py_sq_length, Pump_len},
    {Py_tp_doc, (void *)PyDoc_STR(
                    "Pump()\n--\n\n"
                    "Multi-producer single-consumer hand-off of frames from "
                    "execnet receiver threads to the controller's main "
                    "thread.")},
    {0, NULL},
};

static PyType_Spec Pump_spec = {
    .name = "xdist_c._core.Pump",
    .basicsize = sizeof(PumpObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
#ifdef Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_IMMUTABLETYPE
#endif
    ,
    .slots = Pump_slots,
};

/* ------------------------------------------------------------------ */
/* Feeder.                                                            */
/* ------------------------------------------------------------------ */

static PyObject *
Feeder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    PyErr_Format(PyExc_TypeError,
                 "cannot create '%.200s' instances; use Pump.feeder()",
                 type->tp_name);
    return NULL;
}

static PyObject *
Feeder_call(FeederObject *self, PyObject *args, PyObject *kwds)
{
    if ((kwds != NULL && PyDict_GET_SIZE(kwds) != 0) ||
        PyTuple_GET_SIZE(args) != 1) {
        PyErr_SetString(PyExc_TypeError,
                        "a feeder takes exactly one positional argument");
        return NULL;
    }
    PyObject *data = PyTuple_GET_ITEM(args, 0);
    PumpObject *pump = self->pump;
    PyObject *obj = NULL;
    int kind, r;
    if (PyBytes_Check(data)) {
        kind = XC_RAW;
        obj = Py_NewRef(data);
    }
    else if (data == pump->endmarker) {
        kind = XC_EV_CLOSED;
        obj = Py_NewRef(Py_None);
    }
    else if (PyByteArray_Check(data)) {
        kind = XC_RAW; /* copied: the sender may reuse its bytearray */
        obj = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(data),
                                        PyByteArray_GET_SIZE(data));
    }
    else {
        kind = XC_EV_BADFRAME;
        obj = PyUnicode_FromFormat(
            "expected a bytes frame from the worker, got %.200s",
            Py_TYPE(data)->tp_name);
    }
    if (obj == NULL) {
        return NULL;
    }
    r = pump_push(pump, self->slot, kind, obj);
    Py_DECREF(obj);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
Feeder_traverse(FeederObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->pump);
    Py_VISIT(self->slot);
    return 0;
}

static int
Feeder_clear(FeederObject *self)
{
    Py_CLEAR(self->pump);
    Py_CLEAR(self->slot);
    return 0;
}

static void
Feeder_dealloc(FeederObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)Feeder_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
Feeder_repr(FeederObject *self)
{
    if (self->slot == NULL) {
        return PyUnicode_FromString("<xdist_c._core.Feeder (cleared)>");
    }
    return PyUnicode_FromFormat("<xdist_c._core.Feeder slot=%R>",
                                self->slot);
}

static PyObject *
Feeder_call_checked(PyObject *self, PyObject *args, PyObject *kwds)
{
    FeederObject *f = (FeederObject *)self;
    if (f->pump == NULL || f->slot == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "feeder has been cleared");
        return NULL;
    }
    return Feeder_call(f, args, kwds);
}

static PyType_Slot Feeder_slots[] = {
    {Py_tp_new, Feeder_new},
    {Py_tp_call, Feeder_call_checked},
    {Py_tp_dealloc, Feeder_dealloc},
    {Py_tp_traverse, Feeder_traverse},
    {Py_tp_clear, Feeder_clear},
    {Py_tp_repr, Feeder_repr},
    {Py_tp_doc, (void *)PyDoc_STR(
                    "Channel callback made by Pump.feeder(slot).")},
    {0, NULL},
};

static PyType_Spec Feeder_spec = {
    .name = "xdist_c._core.Feeder",
    .basicsize = sizeof(FeederObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
#ifdef Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_IMMUTABLETYPE
#endif
    ,
    .slots = Feeder_slots,
};

/* ------------------------------------------------------------------ */
/* Component hooks.                                                   */
/* ------------------------------------------------------------------ */

int
xc_pump_exec(PyObject *module, xc_state *st)
{
    st->pump.Pump_Type = xc_add_type(module, &Pump_spec, NULL);
    if (st->pump.Pump_Type == NULL) {
        return -1;
    }
    st->pump.Feeder_Type = xc_add_type(module, &Feeder_spec, NULL);
    if (st->pump.Feeder_Type == NULL) {
        return -1;
    }
    return 0;
}

int
xc_pump_traverse(xc_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->pump.Pump_Type);
    Py_VISIT(st->pump.Feeder_Type);
    return 0;
}

void
xc_pump_clear(xc_state *st)
{
    Py_CLEAR(st->pump.Pump_Type);
    Py_CLEAR(st->pump.Feeder_Type);
}
