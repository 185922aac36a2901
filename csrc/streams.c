/* streams.c -- frames that workers write straight into a pipe.
 *
 * Python equivalent (semantics, not speed; POSIX only):
 *
 *     class Streams:                       # owned by one Pump
 *         def attach(self, slot, fd):      # Pump.attach_stream
 *             os.set_blocking(fd, False); self.streams.append([slot, fd,
 *             b""]); make the wake-up pipe on first use
 *
 *         def poke(self):                  # a feeder queued an entry
 *             if a get() waits in poll(): os.write(self.wake_w, b"\0")
 *
 *         def poll(self, out, wait):       # get()'s wait
 *             select.poll() every fd and the wake-up pipe for `wait`
 *             (GIL released); for each readable one, read at most
 *             XC_STREAM_BUDGET bytes, split the bytes into frames
 *             (header checked: magic, a body of at most 1 GiB) and decode
 *             each into `out`; EOF or a bad frame closes the stream (a bad
 *             one becomes (slot, EV_BADFRAME, message))
 *
 *         def drain_slot(self, slot, out): # before slot's EV_CLOSED
 *             read slot's stream to its end into `out`, close it
 *
 * Built without streams (MS_WINDOWS, or -DXC_NO_STREAMS) attach() raises
 * NotImplementedError, so no stream is ever open: poll() and drain_slot()
 * have nothing to do and poke() never writes.  Every POSIX call here is
 * behind XC_HAVE_STREAMS (.ci/portability_check.py checks that).
 */
#include "xdist_core.h"
#include "streams.h"

#include <string.h>

/* Streams (FIFOs polled with poll()) are POSIX only; Windows gets events
 * over the channel alone.  -DXC_NO_STREAMS builds that stream-less pump
 * elsewhere too (.ci/portability_check.py compiles it so on Linux). */
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
#define XC_STREAM_MAX_FRAME ((Py_ssize_t)1 << 30) /* body bytes */
#define XC_STREAM_READ 65536        /* bytes asked of each read() */
#define XC_STREAM_BUDGET (4 << 20)  /* bytes read per stream per get() */
/* clang-format on */

/* One worker's frame stream: a non-blocking fd and the bytes read from
 * it that do not make a whole frame yet.  Plain C, GIL-protected. */
struct xc_stream {
    int fd;          /* owned; -1 once closed */
    PyObject *slot;  /* int; strong */
    char *buf;       /* PyMem; `len` bytes pending, `cap` allocated */
    Py_ssize_t len;
    Py_ssize_t cap;
};

void
xc_streams_init(xc_streams *ss)
{
    ss->items = NULL;
    ss->n = ss->cap = 0;
    ss->wake_r = ss->wake_w = -1;
    ss->polling = 0;
}

int
xc_streams_traverse(xc_streams *ss, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < ss->n; i++) {
        Py_VISIT(ss->items[i].slot);
    }
    return 0;
}

void
xc_streams_clear(xc_streams *ss)
{
    for (Py_ssize_t i = 0; i < ss->n; i++) {
        Py_CLEAR(ss->items[i].slot);
    }
}


/* Close stream i and drop it from the list (order of the rest kept). */
static void
stream_close(xc_streams *ss, Py_ssize_t i)
{
    xc_stream *s = &ss->items[i];
#ifdef XC_HAVE_STREAMS
    if (s->fd >= 0) {
        close(s->fd);
    }
#endif
    Py_XDECREF(s->slot);
    PyMem_Free(s->buf);
    ss->n--;
    memmove(s, s + 1, (size_t)(ss->n - i) * sizeof(xc_stream));
}

/* Index of the stream of `slot` (an int), or -1. */
static Py_ssize_t
stream_find(xc_streams *ss, PyObject *slot)
{
    for (Py_ssize_t i = 0; i < ss->n; i++) {
        PyObject *other = ss->items[i].slot;
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

void
xc_streams_free(xc_streams *ss)
{
    while (ss->n > 0) {
        stream_close(ss, ss->n - 1);
    }
    PyMem_Free(ss->items);
    ss->items = NULL;
#ifdef XC_HAVE_STREAMS
    if (ss->wake_r >= 0) {
        close(ss->wake_r);
        close(ss->wake_w);
    }
#endif
    ss->wake_r = ss->wake_w = -1;
}

void
xc_streams_poke(xc_streams *ss)
{
#ifdef XC_HAVE_STREAMS
    if (ss->polling && ss->wake_w >= 0) {
        ss->polling = 0; /* one byte is enough to end the poll() */
        ssize_t n;
        do {
            n = write(ss->wake_w, "", 1);
        } while (n < 0 && errno == EINTR);
    }
#else
    (void)ss;
#endif
}

int
xc_streams_attach(xc_streams *ss, PyObject *slot_arg, PyObject *fd_arg)
{
#ifndef XC_HAVE_STREAMS
    (void)ss;
    (void)slot_arg;
    (void)fd_arg;
    PyErr_SetString(PyExc_NotImplementedError,
                    "event pipes are not supported on this platform");
    return -1;
#else
    PyObject *slot = PyNumber_Index(slot_arg);
    if (slot == NULL) {
        return -1;
    }
    int fd = PyObject_AsFileDescriptor(fd_arg);
    if (fd < 0) {
        Py_DECREF(slot);
        return -1;
    }
    if (stream_find(ss, slot) >= 0) {
        PyErr_Format(PyExc_ValueError, "slot %R already has a stream", slot);
        Py_DECREF(slot);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(slot);
        return -1;
    }
    if (ss->wake_r < 0) {
        int p[2];
        if (pipe(p) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            Py_DECREF(slot);
            return -1;
        }
        for (int k = 0; k < 2; k++) {
            int fl = fcntl(p[k], F_GETFL);
            (void)fcntl(p[k], F_SETFL, fl | O_NONBLOCK);
            (void)fcntl(p[k], F_SETFD, FD_CLOEXEC);
        }
        ss->wake_r = p[0];
        ss->wake_w = p[1];
    }
    if (ss->n == ss->cap) {
        Py_ssize_t cap = ss->cap ? ss->cap * 2 : 8;
        xc_stream *streams =
            PyMem_Realloc(ss->items, (size_t)cap * sizeof(xc_stream));
        if (streams == NULL) {
            Py_DECREF(slot);
            PyErr_NoMemory();
            return -1;
        }
        ss->items = streams;
        ss->cap = cap;
    }
    xc_stream *s = &ss->items[ss->n++];
    s->fd = fd; /* owned from here on */
    s->slot = slot;
    s->buf = NULL;
    s->len = s->cap = 0;
    return 0;
#endif
}

#ifdef XC_HAVE_STREAMS
/* Decode every whole frame buffered in stream i into `out`.  Returns 0;
 * 1 when the stream turned out to be malformed (one EV_BADFRAME event was
 * appended; the caller closes the stream); -1 with an exception set
 * (MemoryError: the stream is left as it was). */
static int
stream_split(xc_streams *ss, xc_state *st, Py_ssize_t i, PyObject *out)
{
    xc_stream *s = &ss->items[i];
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
            msg = xc_take_error_message();
        }
        if (msg == NULL ||
            xc_append_event(out, s->slot, XC_EV_BADFRAME, msg) < 0) {
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
stream_fill(xc_streams *ss, xc_state *st, Py_ssize_t i, PyObject *out,
            Py_ssize_t budget)
{
    Py_ssize_t got = 0;
    for (;;) {
        xc_stream *s = &ss->items[i];
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
            stream_close(ss, i); /* end of file, or a dead pipe */
            return 0;
        }
        s->len += n;
        int r = stream_split(ss, st, i, out);
        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            stream_close(ss, i);
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
int
xc_streams_poll(xc_streams *ss, xc_state *st, PyObject *out, int64_t wait_us)
{
    Py_ssize_t n = ss->n;
    struct pollfd stackfds[17];
    struct pollfd *fds = stackfds;
    if (n + 1 > (Py_ssize_t)(sizeof(stackfds) / sizeof(stackfds[0]))) {
        fds = PyMem_Malloc((size_t)(n + 1) * sizeof(struct pollfd));
        if (fds == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    fds[0].fd = ss->wake_r;
    fds[0].events = POLLIN;
    fds[0].revents = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        fds[i + 1].fd = ss->items[i].fd;
        fds[i + 1].events = POLLIN;
        fds[i + 1].revents = 0;
    }
    int timeout_ms = (int)((wait_us + 999) / 1000);
    int r;
    if (timeout_ms > 0) {
        ss->polling = 1;
        Py_BEGIN_ALLOW_THREADS
        r = poll(fds, (nfds_t)(n + 1), timeout_ms);
        Py_END_ALLOW_THREADS
        ss->polling = 0;
    }
    else {
        r = poll(fds, (nfds_t)(n + 1), 0);
    }
    int result = 0;
    if (r > 0) {
        if (fds[0].revents) {
            char drain[64];
            while (read(ss->wake_r, drain, sizeof(drain)) > 0) {
            }
        }
        /* streams may close while reading: walk the poll results by fd */
        for (Py_ssize_t k = 1; k <= n && result == 0; k++) {
            if (!fds[k].revents) {
                continue;
            }
            for (Py_ssize_t i = 0; i < ss->n; i++) {
                if (ss->items[i].fd == fds[k].fd) {
                    result = stream_fill(ss, st, i, out, XC_STREAM_BUDGET);
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
int
xc_streams_drain_slot(xc_streams *ss, xc_state *st, PyObject *slot,
                      PyObject *out)
{
    Py_ssize_t i = stream_find(ss, slot);
    if (i < 0) {
        return 0;
    }
#ifdef XC_HAVE_STREAMS
    Py_ssize_t before = ss->n;
    if (stream_fill(ss, st, i, out, -1) < 0) {
        return -1;
    }
    if (ss->n == before) {
        stream_close(ss, i);
    }
#else
    (void)st;
    (void)out;
    stream_close(ss, i);
#endif
    return 0;
}
