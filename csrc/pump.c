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
 */
#include "xdist_core.h"
#include "args.h"

#include <math.h>
#include <stdint.h>

/* Streams (FIFOs polled with poll()) are POSIX only; Windows gets events
 * over the channel alone.  -DXC_NO_STREAMS builds that stream-less pump
 * elsewhere too (.ci/portability_check.py compiles it so on Linux). */
#ifdef MS_WINDOWS
#include <windows.h>
#else
#include <time.h>
#endif
#if !defined(MS_WINDOWS) && !defined(XC_NO_STREAMS)
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#define XC_HAVE_STREAMS 1
#endif

/* Not formatted: clang-format cannot lay out comments that go on after a
 * #define. */
/* clang-format off */
#define XC_RAW (-1)                 /* entry kind: a frame to decode */
#define XC_WAIT_SLICE_US 50000      /* wake this often to run signal
                                       handlers the OS did not deliver to
                                       our thread (interrupt_main()) */
#define XC_STREAM_MAX_FRAME ((Py_ssize_t)1 << 30) /* body bytes */
#define XC_STREAM_READ 65536        /* bytes asked of each read() */
#define XC_STREAM_BUDGET (4 << 20)  /* bytes read per stream per get() */
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

/* One worker's frame stream: a non-blocking fd and the bytes read from
 * it that do not make a whole frame yet.  Plain C, GIL-protected. */
typedef struct {
    int fd;          /* owned; -1 once closed */
    PyObject *slot;  /* int; strong */
    char *buf;       /* PyMem; `len` bytes pending, `cap` allocated */
    Py_ssize_t len;
    Py_ssize_t cap;
} xc_stream;

typedef struct {
    PyObject_HEAD
    xc_ring ring;
    PyThread_type_lock lock;
    int locked;          /* `lock` is held: a put must release it */
    PyObject *endmarker; /* a plain object(), unique to this pump */
    xc_stream *streams;  /* open streams, in attach order */
    Py_ssize_t nstreams;
    Py_ssize_t capstreams;
    int wake_r, wake_w;  /* self-pipe poked by pushes while polling */
    int polling;         /* get() waits in poll(): a push must poke */
} PumpObject;

static void stream_close(PumpObject *self, Py_ssize_t i);

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
#ifdef XC_HAVE_STREAMS
    if (self->polling && self->wake_w >= 0) {
        self->polling = 0; /* one byte is enough to end the poll() */
        ssize_t n;
        do {
            n = write(self->wake_w, "", 1);
        } while (n < 0 && errno == EINTR);
    }
#endif
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
    self->wake_r = self->wake_w = -1;
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
    for (Py_ssize_t i = 0; i < self->nstreams; i++) {
        Py_VISIT(self->streams[i].slot);
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
    for (Py_ssize_t i = 0; i < self->nstreams; i++) {
        Py_CLEAR(self->streams[i].slot);
    }
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
    while (self->nstreams > 0) {
        stream_close(self, self->nstreams - 1);
    }
    PyMem_Free(self->streams);
#ifdef XC_HAVE_STREAMS
    if (self->wake_r >= 0) {
        close(self->wake_r);
        close(self->wake_w);
    }
#endif
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


/* ------------------------------------------------------------------ */
/* Streams: frames written by workers straight into a pipe.           */
/* ------------------------------------------------------------------ */

/* Close stream i and drop it from the list (order of the rest kept). */
static void
stream_close(PumpObject *self, Py_ssize_t i)
{
    xc_stream *s = &self->streams[i];
#ifdef XC_HAVE_STREAMS
    if (s->fd >= 0) {
        close(s->fd);
    }
#endif
    Py_XDECREF(s->slot);
    PyMem_Free(s->buf);
    self->nstreams--;
    memmove(s, s + 1, (size_t)(self->nstreams - i) * sizeof(xc_stream));
}

/* Index of the stream of `slot` (an int), or -1. */
static Py_ssize_t
stream_find(PumpObject *self, PyObject *slot)
{
    for (Py_ssize_t i = 0; i < self->nstreams; i++) {
        PyObject *other = self->streams[i].slot;
        if (other == slot) {
            return i;
        }
        int eq = PyObject_RichCompareBool(other, slot, Py_EQ);
        if (eq != 0) {
            if (eq < 0) {
                PyErr_Clear(); /* ints: cannot fail */
                continue;
            }
            return i;
        }
    }
    return -1;
}

#ifdef XC_HAVE_STREAMS
/* Decode every whole frame buffered in stream i into `out`.  Returns 0;
 * 1 when the stream turned out to be malformed (one EV_BADFRAME event was
 * appended; the caller closes the stream); -1 with an exception set
 * (MemoryError: the stream is left as it was). */
static int
stream_split(PumpObject *self, xc_state *st, Py_ssize_t i, PyObject *out)
{
    xc_stream *s = &self->streams[i];
    Py_ssize_t pos = 0;
    int result = 0;
    while (s->len - pos >= XC_HEADER_SIZE) {
        const unsigned char *h = (const unsigned char *)s->buf + pos;
        Py_ssize_t body = (Py_ssize_t)xc_get_u32le(h + 7);
        PyObject *msg = NULL;
        if (h[0] != 'X' || h[1] != 'C') {
            msg = PyUnicode_FromString(
                "not an xdist_c frame (bad magic bytes) on the event pipe");
        }
        else if (body > XC_STREAM_MAX_FRAME) {
            msg = PyUnicode_FromFormat(
                "frame of %zd bytes on the event pipe exceeds the limit of "
                "%zd bytes",
                body, XC_STREAM_MAX_FRAME);
        }
        else if (s->len - pos < XC_HEADER_SIZE + body) {
            break; /* the rest of this frame is still on its way */
        }
        else {
            int r = xc_decode_frame_into(st, s->buf + pos,
                                         XC_HEADER_SIZE + body, s->slot, out);
            if (r == 0) {
                pos += XC_HEADER_SIZE + body;
                continue;
            }
            if (!PyErr_ExceptionMatches(xc_frame_error_type(st))) {
                result = -1;
                break;
            }
            msg = take_error_message();
        }
        if (msg == NULL ||
            append_event(out, s->slot, XC_EV_BADFRAME, msg) < 0) {
            Py_XDECREF(msg);
            result = -1;
            break;
        }
        Py_DECREF(msg);
        return 1;
    }
    if (pos > 0) {
        memmove(s->buf, s->buf + pos, (size_t)(s->len - pos));
        s->len -= pos;
    }
    return result;
}

/* Read what stream i has without blocking (at most `budget` bytes; < 0:
 * until it would block) and decode its whole frames into `out`.  Closes
 * the stream at end of file (a partial frame left by a worker that died
 * while writing is dropped: its crash is reported by its channel) or when
 * it is malformed.  0 / -1 with an exception set. */
static int
stream_fill(PumpObject *self, xc_state *st, Py_ssize_t i, PyObject *out,
            Py_ssize_t budget)
{
    Py_ssize_t got = 0;
    for (;;) {
        xc_stream *s = &self->streams[i];
        if (s->cap - s->len < XC_STREAM_READ) {
            if (s->len > PY_SSIZE_T_MAX / 2 - XC_STREAM_READ) {
                PyErr_NoMemory();
                return -1;
            }
            Py_ssize_t cap = (s->len + XC_STREAM_READ) * 2;
            char *buf = PyMem_Realloc(s->buf, (size_t)cap);
            if (buf == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            s->buf = buf;
            s->cap = cap;
        }
        ssize_t n = read(s->fd, s->buf + s->len, (size_t)(s->cap - s->len));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return 0;
            }
            stream_close(self, i); /* end of file, or a dead pipe */
            return 0;
        }
        s->len += n;
        int r = stream_split(self, st, i, out);
        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            stream_close(self, i);
            return 0;
        }
        got += n;
        if (budget >= 0 && got >= budget) {
            return 0;
        }
    }
}

/* poll() the streams and the wake-up pipe for up to `wait_us` (0: just
 * look), with the GIL released when waiting; then read every stream that
 * has data into `out`.  0 / -1 with an exception set; EINTR returns 0
 * (the caller runs the signal handlers). */
static int
streams_poll(PumpObject *self, xc_state *st, PyObject *out, int64_t wait_us)
{
    Py_ssize_t n = self->nstreams;
    struct pollfd stackfds[17];
    struct pollfd *fds = stackfds;
    if (n + 1 > (Py_ssize_t)(sizeof(stackfds) / sizeof(stackfds[0]))) {
        fds = PyMem_Malloc((size_t)(n + 1) * sizeof(struct pollfd));
        if (fds == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    fds[0].fd = self->wake_r;
    fds[0].events = POLLIN;
    fds[0].revents = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        fds[i + 1].fd = self->streams[i].fd;
        fds[i + 1].events = POLLIN;
        fds[i + 1].revents = 0;
    }
    int timeout_ms = (int)((wait_us + 999) / 1000);
    int r;
    if (timeout_ms > 0) {
        self->polling = 1;
        Py_BEGIN_ALLOW_THREADS
        r = poll(fds, (nfds_t)(n + 1), timeout_ms);
        Py_END_ALLOW_THREADS
        self->polling = 0;
    }
    else {
        r = poll(fds, (nfds_t)(n + 1), 0);
    }
    int result = 0;
    if (r > 0) {
        if (fds[0].revents) {
            char drain[64];
            while (read(self->wake_r, drain, sizeof(drain)) > 0) {
            }
        }
        /* streams may close while reading: walk the poll results by fd */
        for (Py_ssize_t k = 1; k <= n && result == 0; k++) {
            if (!fds[k].revents) {
                continue;
            }
            for (Py_ssize_t i = 0; i < self->nstreams; i++) {
                if (self->streams[i].fd == fds[k].fd) {
                    result = stream_fill(self, st, i, out, XC_STREAM_BUDGET);
                    break;
                }
            }
        }
    }
    if (fds != stackfds) {
        PyMem_Free(fds);
    }
    return result;
}
#endif

/* Before handing out EV_CLOSED for `slot`: everything its worker wrote is
 * already in the pipe (it finished or died), so read it all, then close
 * the stream.  0 / -1. */
static int
stream_drain_slot(PumpObject *self, xc_state *st, PyObject *slot,
                  PyObject *out)
{
    Py_ssize_t i = stream_find(self, slot);
    if (i < 0) {
        return 0;
    }
#ifdef XC_HAVE_STREAMS
    Py_ssize_t before = self->nstreams;
    if (stream_fill(self, st, i, out, -1) < 0) {
        return -1;
    }
    if (self->nstreams == before) {
        stream_close(self, i);
    }
#else
    (void)st;
    (void)out;
    stream_close(self, i);
#endif
    return 0;
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
#ifndef XC_HAVE_STREAMS
    (void)self;
    PyErr_SetString(PyExc_NotImplementedError,
                    "event pipes are not supported on this platform");
    return NULL;
#else
    PyObject *slot = PyNumber_Index(argv[0]);
    if (slot == NULL) {
        return NULL;
    }
    int fd = PyObject_AsFileDescriptor(argv[1]);
    if (fd < 0) {
        Py_DECREF(slot);
        return NULL;
    }
    if (stream_find(self, slot) >= 0) {
        PyErr_Format(PyExc_ValueError, "slot %R already has a stream", slot);
        Py_DECREF(slot);
        return NULL;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(slot);
        return NULL;
    }
    if (self->wake_r < 0) {
        int p[2];
        if (pipe(p) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            Py_DECREF(slot);
            return NULL;
        }
        for (int k = 0; k < 2; k++) {
            int fl = fcntl(p[k], F_GETFL);
            (void)fcntl(p[k], F_SETFL, fl | O_NONBLOCK);
            (void)fcntl(p[k], F_SETFD, FD_CLOEXEC);
        }
        self->wake_r = p[0];
        self->wake_w = p[1];
    }
    if (self->nstreams == self->capstreams) {
        Py_ssize_t cap = self->capstreams ? self->capstreams * 2 : 8;
        xc_stream *streams =
            PyMem_Realloc(self->streams, (size_t)cap * sizeof(xc_stream));
        if (streams == NULL) {
            Py_DECREF(slot);
            return PyErr_NoMemory();
        }
        self->streams = streams;
        self->capstreams = cap;
    }
    xc_stream *s = &self->streams[self->nstreams++];
    s->fd = fd; /* owned from here on */
    s->slot = slot;
    s->buf = NULL;
    s->len = s->cap = 0;
    Py_RETURN_NONE;
#endif
}

static PyObject *
Pump_get_nstreams(PumpObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->nstreams);
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

/* get() has `out` ready to hand out: if it is only a few events, all of
 * them a test's progress, and the caller asked for a linger not yet
 * spent, sleep it (once) and say so; the
 * caller then collects what arrived meanwhile.  Each wake-up of the
 * controller (a context switch, poll(), read()) then serves several tests
 * instead of one. */
static int
pump_should_linger(PyObject *out, int64_t *linger_us)
{
    Py_ssize_t n = PyList_GET_SIZE(out);
    if (*linger_us <= 0 || n >= XC_LINGER_EVENTS) {
        return 0;
    }
    /* Only a test's progress waits: start-up, collection, warnings, a
     * worker finishing or going away are handled at once. */
    for (Py_ssize_t i = 0; i < n; i++) {
        long kind =
            PyLong_AsLong(PyTuple_GET_ITEM(PyList_GET_ITEM(out, i), 1));
        if (kind != XC_EV_LOGSTART && kind != XC_EV_TESTREPORT &&
            kind != XC_EV_LOGFINISH && kind != XC_EV_COMPLETE) {
            return 0;
        }
    }
    pump_linger(*linger_us);
    *linger_us = 0;
    return 1;
}

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

static PyObject *
Pump_get(PumpObject *self, PyObject *const *args, Py_ssize_t nargs,
         PyObject *kwnames)
{
    static const char *const names[] = {"timeout", "linger"};
    PyObject *argv[2] = {NULL, NULL};
    PyObject *out = NULL;
    int64_t deadline_us = -1;
    int64_t linger_us = 0;

    if (xc_parse_args("get", args, nargs, kwnames, names, 0, 2, argv) < 0) {
        return NULL;
    }
    double t;
    int given = seconds_arg(argv[1], "linger", &t);
    if (given < 0) {
        return NULL;
    }
    if (given) {
        linger_us = t * 1e6 < XC_LINGER_MAX_US ? (int64_t)(t * 1e6)
                                               : XC_LINGER_MAX_US;
    }
    given = seconds_arg(argv[0], "timeout", &t);
    if (given < 0) {
        return NULL;
    }
    if (given) {
        if (t < 1e9) { /* otherwise: as good as forever */
            deadline_us = xc_monotonic_us() + (int64_t)ceil(t * 1e6);
        }
    }
    xc_state *st = xc_state_from_type(Py_TYPE(self));
    if (st == NULL) {
        return NULL;
    }
    out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (;;) {
        while (self->ring.count > 0) {
            xc_entry e = ring_pop(&self->ring);
            int r = 0;
            if (e.kind == XC_RAW) {
                r = xc_decode_frame_into(st, PyBytes_AS_STRING(e.obj),
                                         PyBytes_GET_SIZE(e.obj), e.slot,
                                         out);
                if (r < 0 &&
                    PyErr_ExceptionMatches(xc_frame_error_type(st))) {
                    PyObject *msg = take_error_message();
                    r = -1;
                    if (msg != NULL) {
                        /* the worker is done for: first what its pipe
                         * already holds (sent before the garbage) */
                        r = stream_drain_slot(self, st, e.slot, out);
                        if (r == 0) {
                            r = append_event(out, e.slot, XC_EV_BADFRAME,
                                             msg);
                        }
                        Py_DECREF(msg);
                    }
                }
            }
            else {
                /* an event that ends the worker comes after everything
                 * its pipe holds: it wrote that before */
                if (e.kind == XC_EV_CLOSED || e.kind == XC_EV_BADFRAME) {
                    r = stream_drain_slot(self, st, e.slot, out);
                }
                if (r == 0) {
                    r = append_event(out, e.slot, e.kind, e.obj);
                }
            }
            if (r < 0) {
                /* MemoryError and the like: keep the entry for the next
                 * get() and hand out what is done, or raise if nothing */
                ring_unpop(&self->ring, e);
                goto partial;
            }
            Py_DECREF(e.slot);
            Py_DECREF(e.obj);
        }
        int done = PyList_GET_SIZE(out) > 0;
        if (done && pump_should_linger(out, &linger_us)) {
            continue;
        }
        if (self->nstreams == 0) {
            if (done) {
                return out;
            }
            int w = pump_wait(self, deadline_us);
            if (w < 0) {
                Py_DECREF(out);
                return NULL;
            }
            if (w == 0) {
                return out;
            }
            continue;
        }
#ifdef XC_HAVE_STREAMS
        int64_t wait_us = 0;
        if (!done) {
            wait_us = XC_WAIT_SLICE_US;
            if (deadline_us >= 0) {
                int64_t left = deadline_us - xc_monotonic_us();
                if (left < wait_us) {
                    wait_us = left > 0 ? left : 0;
                }
            }
        }
        if (streams_poll(self, st, out, wait_us) < 0) {
            goto partial;
        }
#endif
        if (PyList_GET_SIZE(out) > 0 || self->ring.count > 0) {
            if (self->ring.count > 0) {
                continue; /* a feeder pushed while we polled */
            }
            if (pump_should_linger(out, &linger_us)) {
                continue;
            }
            return out;
        }
        if (deadline_us >= 0 && xc_monotonic_us() >= deadline_us) {
            return out;
        }
        if (PyErr_CheckSignals() < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }

partial:
    if (PyList_GET_SIZE(out) == 0) {
        Py_DECREF(out);
        return NULL;
    }
    PyErr_Clear();
    return out;
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
