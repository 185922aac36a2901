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
 *         def attach_stream(self, slot, fd):   # POSIX only
 *             # a pipe the worker writes frames to directly (popen
 *             # workers); get() reads it, splits it into frames and
 *             # decodes them like channel frames.  The pump owns fd.
 *
 * Streams are the fast path: a worker writes each frame with one write()
 * to a FIFO, and get() polls every stream (and a wake-up pipe that feeders
 * poke) with the GIL released, so no Python runs per frame in any thread
 * and execnet's receiver threads stay idle.  A stream is read to its end
 * before that slot's EV_CLOSED (or an EV_BADFRAME from its channel) is
 * handed out: whatever a worker wrote before it died, finished or
 * misbehaved is delivered first.
 *
 * As in CPython's SimpleQueue (Modules/_queuemodule.c) the queue itself is
 * a plain-C ring buffer protected by the GIL; the PyThread lock is used
 * only to sleep: it is held while the queue is empty and a getter waits,
 * and every put releases it.  Frames are decoded by the consumer, so the
 * receiver threads hold the GIL only long enough to append.
 *
 * Layout: ring.c is the queue, streams.c reads the event pipes (every
 * POSIX call is there); this file is the Pump and Feeder types and get(),
 * whose loop is its steps: take what is queued (get_take_queued), linger
 * once for more (get_linger), then wait -- on the ring alone
 * (get_wait_ring) or polling the pipes (get_read_streams), which also
 * runs the signal handlers -- and finish (get_finish).  Over 800 lines
 * for a reason: the two types and get()'s steps all work on PumpObject,
 * which a further split would have to publish in a header.
 */
#include "xdist_core.h"
#include "args.h"
#include "ring.h"
#include "streams.h"

#include <math.h>
#include <stdint.h>

#ifdef MS_WINDOWS
#include <windows.h>
#else
#include <time.h>
#endif

/* Not formatted: clang-format cannot lay out comments that go on after a
 * #define. */
/* clang-format off */
#define XC_WAIT_SLICE_US 50000      /* wake this often to run signal
                                       handlers the OS did not deliver to
                                       our thread (interrupt_main()) */
#define XC_LINGER_EVENTS 48         /* get(linger=...) lingers only when
                                       fewer events than this are ready */
#define XC_LINGER_MAX_US 1000000    /* and for at most a second */
/* clang-format on */


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
/* Pump.                                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    xc_ring ring;
    PyThread_type_lock lock;
    int locked;          /* `lock` is held: a put must release it */
    PyObject *endmarker; /* a plain object(), unique to this pump */
    xc_streams streams;  /* worker event pipes (streams.c) */
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
    if (xc_ring_push(&self->ring, slot, kind, obj) < 0) {
        return -1;
    }
    if (self->locked) {
        self->locked = 0;
        PyThread_release_lock(self->lock);
    }
    xc_streams_poke(&self->streams);
    return 0;
}

static PyObject *
Pump_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (xc_no_args("Pump", args, kwds) < 0) {
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
    xc_streams_init(&self->streams);
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
    return xc_streams_traverse(&self->streams, visit, arg);
}

static int
Pump_clear(PumpObject *self)
{
    /* one entry at a time: releasing one may run code that queues more */
    while (self->ring.count > 0) {
        xc_entry e = xc_ring_pop(&self->ring);
        Py_DECREF(e.slot);
        Py_DECREF(e.obj);
    }
    Py_CLEAR(self->endmarker);
    xc_streams_clear(&self->streams);
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
    xc_streams_free(&self->streams);
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

int
xc_append_event(PyObject *out, PyObject *slot, int kind, PyObject *obj)
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

PyObject *
xc_take_error_message(void)
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


static PyObject *
Pump_attach_stream(PumpObject *self, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames)
{
    static const char *const names[] = {"slot", "fd"};
    PyObject *argv[2];
    if (xc_parse_args("attach_stream", args, nargs, kwnames, names, 2, 2,
                      argv) < 0) {
        return NULL;
    }
    if (xc_streams_attach(&self->streams, argv[0], argv[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}


static PyObject *
Pump_get_nstreams(PumpObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->streams.n);
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

/* Sleep `us` microseconds with the GIL released (get()'s linger: frames
 * that arrive meanwhile wait in the pipes and the ring). */
static void
pump_linger(int64_t us)
{
    Py_BEGIN_ALLOW_THREADS
#ifdef MS_WINDOWS
    Sleep((DWORD)((us + 999) / 1000));
#else
    struct timespec ts;
    ts.tv_sec = (time_t)(us / 1000000);
    ts.tv_nsec = (long)(us % 1000000) * 1000;
    (void)nanosleep(&ts, NULL); /* EINTR: stop early, signals run later */
#endif
    Py_END_ALLOW_THREADS
}

/* One call of get(): what it was asked and what it has gathered. */
typedef struct {
    xc_state *st;
    PyObject *out;       /* the events to hand out; new reference */
    int64_t deadline_us; /* monotonic; < 0: wait for ever */
    int64_t linger_us;   /* linger not yet spent; 0: none (left) */
} xc_get;

/* A number of seconds passed as `name`: 1 with *out set, 0 when absent
 * (NULL or None), -1 with TypeError / ValueError (negative, NaN). */
static int
seconds_arg(PyObject *arg, const char *name, double *out)
{
    if (arg == NULL || arg == Py_None) {
        return 0;
    }
    double t = PyFloat_AsDouble(arg);
    if (t == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    if (!(t >= 0.0)) {
        PyErr_Format(PyExc_ValueError, "'%s' must be a non-negative number",
                     name);
        return -1;
    }
    *out = t;
    return 1;
}

/* Step 0: parse get()'s arguments into `g`, with an empty `out`.
 * 0 / -1. */
static int
get_begin(PumpObject *self, PyObject *const *args, Py_ssize_t nargs,
          PyObject *kwnames, xc_get *g)
{
    static const char *const names[] = {"timeout", "linger"};
    PyObject *argv[2] = {NULL, NULL};
    g->deadline_us = -1;
    g->linger_us = 0;

    if (xc_parse_args("get", args, nargs, kwnames, names, 0, 2, argv) < 0) {
        return -1;
    }
    double t;
    int given = seconds_arg(argv[1], "linger", &t);
    if (given < 0) {
        return -1;
    }
    if (given) {
        g->linger_us = t * 1e6 < XC_LINGER_MAX_US ? (int64_t)(t * 1e6)
                                                  : XC_LINGER_MAX_US;
    }
    given = seconds_arg(argv[0], "timeout", &t);
    if (given < 0) {
        return -1;
    }
    if (given) {
        if (t < 1e9) { /* otherwise: as good as forever */
            g->deadline_us = xc_monotonic_us() + (int64_t)ceil(t * 1e6);
        }
    }
    g->st = xc_state_from_type(Py_TYPE(self));
    if (g->st == NULL) {
        return -1;
    }
    g->out = PyList_New(0);
    return g->out == NULL ? -1 : 0;
}

/* One entry taken from the ring -> its events in g->out: a frame decoded
 * (a bad one: the slot's pipe drained, then EV_BADFRAME), an event that
 * ends a worker after everything its pipe holds.  Borrows `e`.
 * 0 / -1. */
static int
get_take_entry(PumpObject *self, xc_get *g, xc_entry e)
{
    xc_state *st = g->st;
    PyObject *out = g->out;
    int r = 0;
    if (e.kind == XC_RAW) {
        r = xc_decode_frame_into(st, PyBytes_AS_STRING(e.obj),
                                 PyBytes_GET_SIZE(e.obj), e.slot, out);
        if (r < 0 && PyErr_ExceptionMatches(xc_frame_error_type(st))) {
            PyObject *msg = xc_take_error_message();
            r = -1;
            if (msg != NULL) {
                /* the worker is done for: first what its pipe
                 * already holds (sent before the garbage) */
                r = xc_streams_drain_slot(&self->streams, st, e.slot, out);
                if (r == 0) {
                    r = xc_append_event(out, e.slot, XC_EV_BADFRAME, msg);
                }
                Py_DECREF(msg);
            }
        }
    }
    else {
        /* an event that ends the worker comes after everything
         * its pipe holds: it wrote that before */
        if (e.kind == XC_EV_CLOSED || e.kind == XC_EV_BADFRAME) {
            r = xc_streams_drain_slot(&self->streams, st, e.slot, out);
        }
        if (r == 0) {
            r = xc_append_event(out, e.slot, e.kind, e.obj);
        }
    }
    return r;
}

/* Step 1: move every queued entry into g->out as events.  0 / -1 (the
 * entry that failed is back at the head of the ring). */
static int
get_take_queued(PumpObject *self, xc_get *g)
{
    while (self->ring.count > 0) {
        xc_entry e = xc_ring_pop(&self->ring);
        if (get_take_entry(self, g, e) < 0) {
            /* MemoryError and the like: keep the entry for the next
             * get() and hand out what is done, or raise if nothing */
            xc_ring_unpop(&self->ring, e);
            return -1;
        }
        Py_DECREF(e.slot);
        Py_DECREF(e.obj);
    }
    return 0;
}

/* Step 2: g->out holds some events, only a few and all of them a test's
 * progress, and the caller asked for a linger not yet spent: sleep it
 * (once) and return 1, so that the caller collects what arrived
 * meanwhile; else 0.  Each wake-up of the controller (a context switch,
 * poll(), read()) then serves several tests instead of one. */
static int
get_linger(xc_get *g)
{
    Py_ssize_t n = PyList_GET_SIZE(g->out);
    if (n == 0 || g->linger_us <= 0 || n >= XC_LINGER_EVENTS) {
        return 0;
    }
    /* Only a test's progress waits: start-up, collection, warnings, a
     * worker finishing or going away are handled at once. */
    for (Py_ssize_t i = 0; i < n; i++) {
        long kind =
            PyLong_AsLong(PyTuple_GET_ITEM(PyList_GET_ITEM(g->out, i), 1));
        if (kind != XC_EV_LOGSTART && kind != XC_EV_TESTREPORT &&
            kind != XC_EV_LOGFINISH && kind != XC_EV_COMPLETE) {
            return 0;
        }
    }
    pump_linger(g->linger_us);
    g->linger_us = 0;
    return 1;
}

/* Step 3, no streams open: hand out what is ready, else wait for the
 * ring.  1 look again, 0 hand out (timed out), -1 a signal handler
 * raised. */
static int
get_wait_ring(PumpObject *self, xc_get *g)
{
    if (PyList_GET_SIZE(g->out) > 0) {
        return 0;
    }
    return pump_wait(self, g->deadline_us);
}

/* How long step 3 may poll: 0 when events are ready, else a slice (so
 * that signal handlers run) cut to the deadline. */
static int64_t
get_poll_wait_us(xc_get *g)
{
    if (PyList_GET_SIZE(g->out) > 0) {
        return 0;
    }
    int64_t wait_us = XC_WAIT_SLICE_US;
    if (g->deadline_us >= 0) {
        int64_t left = g->deadline_us - xc_monotonic_us();
        if (left < wait_us) {
            wait_us = left > 0 ? left : 0;
        }
    }
    return wait_us;
}

/* Step 3, streams open: poll them and the wake-up pipe, reading what they
 * hold into g->out; then look again (the ring got entries, a linger was
 * spent, a slice passed quietly), or hand out (events ready, timed out).
 * 1 look again, 0 hand out, -1 an error (a signal handler raised). */
static int
get_read_streams(PumpObject *self, xc_get *g)
{
    if (xc_streams_poll(&self->streams, g->st, g->out, get_poll_wait_us(g)) <
        0) {
        return -1;
    }
    if (self->ring.count > 0) {
        return 1; /* a feeder pushed while we polled */
    }
    if (PyList_GET_SIZE(g->out) > 0) {
        return get_linger(g);
    }
    if (g->deadline_us >= 0 && xc_monotonic_us() >= g->deadline_us) {
        return 0;
    }
    return PyErr_CheckSignals() < 0 ? -1 : 1;
}

/* Step 4: the result of get().  After an error (r < 0), the events taken
 * before it, the error dropped; or, if there are none, NULL with the
 * error set.  New reference, or NULL. */
static PyObject *
get_finish(xc_get *g, int r)
{
    if (r < 0) {
        if (PyList_GET_SIZE(g->out) == 0) {
            Py_DECREF(g->out);
            return NULL;
        }
        PyErr_Clear();
    }
    return g->out;
}

static PyObject *
Pump_get(PumpObject *self, PyObject *const *args, Py_ssize_t nargs,
         PyObject *kwnames)
{
    xc_get g;
    if (get_begin(self, args, nargs, kwnames, &g) < 0) {
        return NULL;
    }
    for (;;) {
        if (get_take_queued(self, &g) < 0) {
            return get_finish(&g, -1);
        }
        if (get_linger(&g)) {
            continue;
        }
        int r = self->streams.n == 0 ? get_wait_ring(self, &g)
                                     : get_read_streams(self, &g);
        if (r <= 0) {
            return get_finish(&g, r);
        }
    }
}

static PyObject *
Pump_put(PumpObject *self, PyObject *const *argv, Py_ssize_t nargs,
         PyObject *kwnames)
{
    static const char *const names[] = {"slot", "kind", "payload"};
    PyObject *args[3];
    if (xc_parse_args("put", argv, nargs, kwnames, names, 3, 3, args) < 0) {
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
    if (xc_parse_args("feeder", args, nargs, kwnames, names, 1, 1,
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
    {"attach_stream", (PyCFunction)(void (*)(void))Pump_attach_stream,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("attach_stream($self, slot, fd)\n--\n\n"
               "Read frames for `slot` from the pipe `fd` (made "
               "non-blocking; owned and closed by the pump).  POSIX "
               "only.")},
    {"get", (PyCFunction)(void (*)(void))Pump_get,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("get($self, timeout=None, linger=0.0)\n--\n\n"
               "Wait until something is queued (or timeout seconds), then "
               "return every queued event as (slot, kind, payload); [] on "
               "timeout.  With linger > 0, when fewer than 48 events are "
               "ready, sleep that many seconds once first, so that more "
               "arrive.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Pump_getset[] = {
    {"nstreams", (getter)Pump_get_nstreams, NULL,
     PyDoc_STR("Number of event pipes still open."), NULL},
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
    .flags = XC_GC_TYPE_FLAGS,
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
    return PyUnicode_FromFormat("<xdist_c._core.Feeder slot=%R>", self->slot);
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
    {Py_tp_doc,
     (void *)PyDoc_STR("Channel callback made by Pump.feeder(slot).")},
    {0, NULL},
};

static PyType_Spec Feeder_spec = {
    .name = "xdist_c._core.Feeder",
    .basicsize = sizeof(FeederObject),
    .flags = XC_GC_TYPE_FLAGS,
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
