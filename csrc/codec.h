/* codec.h -- wire codec state (see codec.c). */
#ifndef XDIST_C_CODEC_H
#define XDIST_C_CODEC_H

#include <Python.h>

typedef struct {
    PyObject *FrameError;          /* exception type, subclass of ValueError */
    PyTypeObject *FrameWriter_Type;
} xc_codec_state;

struct xc_state;

/* Decode one frame; new reference to a list of (kind, payload) tuples, or
 * NULL with FrameError (or MemoryError) set.  Used by pump.c. */
PyObject *xc_decode_frame(struct xc_state *st, const char *buf,
                          Py_ssize_t len);

#endif
