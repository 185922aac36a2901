/* codec.h -- wire codec state (see codec.c). */
#ifndef XDIST_C_CODEC_H
#define XDIST_C_CODEC_H

#include <Python.h>

/* Event kinds.  Values 0..11 and 32..37 travel on the wire; EV_CLOSED and
 * EV_BADFRAME are made by the Pump only and are rejected in a frame. */
enum {
    XC_EV_WORKERREADY = 0,
    XC_EV_COLLECTIONSTART = 1,
    XC_EV_COLLECTREPORT = 2,
    XC_EV_COLLECTIONFINISH = 3,
    XC_EV_LOGSTART = 4,
    XC_EV_TESTREPORT = 5,
    XC_EV_LOGFINISH = 6,
    XC_EV_COMPLETE = 7,
    XC_EV_UNSCHEDULED = 8,
    XC_EV_WARNING = 9,
    XC_EV_WORKERFINISHED = 10,
    XC_EV_INTERNALERROR = 11,
    XC_CMD_RUNTESTS = 32,
    XC_CMD_RUNTESTS_ALL = 33,
    XC_CMD_STEAL = 34,
    XC_CMD_SHUTDOWN = 35,
    XC_CMD_COLLECTION = 36, /* the joined collection, to a split worker */
    XC_CMD_STOP = 37,       /* drop the queued tests (-x, --maxfail) */
    XC_EV_CLOSED = 64,
    XC_EV_BADFRAME = 65,
};

#define XC_FORMAT_VERSION 1
/* A frame's header: b"XC", the format version, then two little-endian
 * u32s at offsets 3 and 7: the event count and the body length. */
#define XC_HEADER_SIZE 11
#define XC_MAX_DEPTH 200
/* Decoded str dict keys up to this length are interned and cached, up to
 * this many distinct keys (codec.c: dec_key). */
#define XC_KEY_CACHE_MAX_LENGTH 64
#define XC_KEY_CACHE_MAX 4096
/* Decoded ASCII str values up to this many bytes are remembered across
 * frames in a two-way set-associative table of this many slots (a power
 * of two; slots 2k and 2k+1 form a set, most recently used first), so
 * that the same text decoded again is the same object (codec.c:
 * dec_cached_str). */
#define XC_STR_CACHE_MAX_LENGTH 64
#define XC_STR_CACHE_SLOTS 1024

typedef struct {
    PyObject *FrameError; /* exception type, subclass of ValueError */
    PyTypeObject *FrameWriter_Type;
    PyObject *key_cache; /* dict: canonical dict keys, dec_key() */
    PyObject *str_cache[XC_STR_CACHE_SLOTS]; /* exact ASCII strs, or NULL */
    /* the last int decoded outside CPython's small-int range, and its
     * value: a test's reports carry the same item_index (dec_value) */
    PyObject *last_int; /* exact int, or NULL */
    long long last_int_value;
} xc_codec_state;

/* The little-endian u32 at p (frame header fields). */
static inline uint32_t
xc_get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

struct xc_state;

/* Decode one frame; new reference to a list of (kind, payload) tuples, or
 * NULL with FrameError (or MemoryError) set.  Used by pump.c. */
PyObject *xc_decode_frame(struct xc_state *st, const char *buf,
                          Py_ssize_t len);

/* Decode one frame and append its events to the list `out`: as
 * (slot, kind, payload) when `slot` is not NULL (borrowed), else as
 * (kind, payload).  0 on success; -1 with FrameError (or MemoryError) set,
 * in which case `out` is back at the length it had on entry. */
int xc_decode_frame_into(struct xc_state *st, const char *buf, Py_ssize_t len,
                         PyObject *slot, PyObject *out);

/* The FrameError type of `st` (borrowed); ValueError once the module state
 * has been cleared. */
PyObject *xc_frame_error_type(struct xc_state *st);

#endif
