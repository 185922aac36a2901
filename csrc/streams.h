/* streams.h -- worker event pipes read by the pump (see streams.c). */
#ifndef XDIST_C_STREAMS_H
#define XDIST_C_STREAMS_H

#include <Python.h>
#include <stdint.h>

struct xc_state;

typedef struct xc_stream xc_stream; /* one pipe; private to streams.c */

/* A Pump's open streams and its wake-up pipe.  Plain C, GIL-protected;
 * holds a strong reference to each stream's slot. */
typedef struct {
    xc_stream *items; /* PyMem; open streams, in attach order */
    Py_ssize_t n;
    Py_ssize_t cap;
    int wake_r, wake_w; /* self-pipe poked by pushes while polling */
    int polling;        /* a get() waits in poll(): a push must poke */
} xc_streams;

/* No streams and no wake-up pipe yet. */
void xc_streams_init(xc_streams *ss);

/* GC support: visit / release every stream's slot (fds stay open). */
int xc_streams_traverse(xc_streams *ss, visitproc visit, void *arg);
void xc_streams_clear(xc_streams *ss);

/* Close every stream and the wake-up pipe; free the memory. */
void xc_streams_free(xc_streams *ss);

/* Read frames for `slot_arg` (an index) from the pipe `fd_arg` (made
 * non-blocking; owned from then on).  0 / -1: ValueError if the slot has
 * a stream already, OSError, NotImplementedError without streams. */
int xc_streams_attach(xc_streams *ss, PyObject *slot_arg, PyObject *fd_arg);

/* An entry was queued: end a poll() that a get() is waiting in. */
void xc_streams_poke(xc_streams *ss);

/* poll() the streams and the wake-up pipe for up to `wait_us` (0: just
 * look), with the GIL released when waiting; then read every stream that
 * has data into `out`.  0 / -1 with an exception set; EINTR returns 0
 * (the caller runs the signal handlers). */
int xc_streams_poll(xc_streams *ss, struct xc_state *st, PyObject *out,
                    int64_t wait_us);

/* Before handing out EV_CLOSED for `slot`: read its stream to the end
 * into `out` and close it (nothing if it has none).  0 / -1. */
int xc_streams_drain_slot(xc_streams *ss, struct xc_state *st, PyObject *slot,
                          PyObject *out);

#endif
