/* codec.h -- the wire codec component: its module state and the
 * interface between its files (codec.c: module functions and hooks;
 * encode.c, decode.c, framewriter.c; buffer.h and wire.h below them). */
#ifndef XDIST_C_CODEC_H
#define XDIST_C_CODEC_H

#include <Python.h>

#include "buffer.h"
#include "wire.h"

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

struct xc_state;

#define XC_INLINE_BUF 512  /* bytes of stack storage for one encoding */
#define XC_INLINE_STRS 64  /* decoder string-table entries held inline */
#define XC_WRITER_KEEP 65536 /* take() shrinks a buffer bigger than this */

/* ---- encoder (encode.c) ---- */

/* The encoder.  Every enc_* helper returns 0, or -1 with an exception
 * set; after -1 the buffer may end in a partial value (callers discard
 * it, or FrameWriter.add() rolls back). */
typedef struct {
    xc_buf buf;
    xc_strtab tab;
} xc_enc;

void xc_enc_init(xc_enc *e, char *storage, Py_ssize_t size);
void xc_enc_free(xc_enc *e);
/* Append one value.  0 / -1 with TypeError / ValueError / MemoryError. */
int xc_enc_value(xc_enc *e, PyObject *v);
/* Append one event (kind byte, payload value).  0 / -1; on -1 the buffer
 * may hold a partial event (the caller rolls back). */
int xc_enc_event(xc_enc *e, PyObject *kind, PyObject *payload);
/* Fill in the header at e->buf.data[0..XC_HEADER_SIZE).  0 / -1 with
 * ValueError when the frame is too large for the header. */
int xc_enc_write_header(xc_enc *e, Py_ssize_t count);

/* ---- decoder (decode.c) ---- */

typedef struct {
    const unsigned char *start;
    const unsigned char *p;
    const unsigned char *end;
    PyObject *FrameError; /* borrowed */
    /* borrowed: the module's caches shared across frames (dec_key(),
     * dec_cached_str(), dec_int()), or NULL to share nothing */
    xc_codec_state *caches;
    /* the last tuple of plain values that added nothing to the string
     * table, and its bytes (tag included): see dec_seq() */
    PyObject *last_tuple; /* new reference, or NULL */
    const unsigned char *last_tuple_at;
    Py_ssize_t last_tuple_size;
    PyObject **strs; /* string table: new references */
    Py_ssize_t nstrs;
    Py_ssize_t strs_cap;
    PyObject *inline_strs[XC_INLINE_STRS];
} xc_dec;

void xc_dec_init(xc_dec *d, struct xc_state *st, const char *buf,
                 Py_ssize_t len);
void xc_dec_free(xc_dec *d);
/* Decode one value: new reference, or NULL with FrameError (or
 * MemoryError) set. */
PyObject *xc_dec_value(xc_dec *d);

static inline Py_ssize_t
xc_dec_left(xc_dec *d)
{
    return d->end - d->p;
}

/* ---- FrameWriter (framewriter.c) ---- */

extern PyType_Spec xc_FrameWriter_spec;

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
