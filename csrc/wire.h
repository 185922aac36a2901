/* wire.h -- the wire format's constants, in one place: value tags, event
 * and command kinds, frame header layout and limits.
 *
 * Byte layout (all multi-byte integers little-endian)
 * ---------------------------------------------------
 * varint  = unsigned LEB128, at most 10 bytes / 64 bits.
 *
 * value   = tag byte, then:
 *   'N'  None            'T'  True            'F'  False
 *   'i'  int in int64:   varint of the zigzag-encoded value
 *                        (0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...)
 *   'I'  any other int:  varint n, then n ASCII bytes "-"? [0-9a-f]+
 *                        (hexadecimal: no digit limit, linear time)
 *   'd'  float:          8 bytes IEEE 754 binary64
 *   's'  short str:      1 byte n (<= 255), n bytes UTF-8 (surrogatepass);
 *                        appended to the string table (see below)
 *   'S'  long str:       varint n (> 255), n bytes UTF-8 (surrogatepass)
 *   'r'  str back-ref:   varint index into the string table
 *   'b'  bytes:          varint n, n bytes
 *   'l'  list:           varint n, n values
 *   't'  tuple:          varint n, n values
 *   'm'  dict:           varint n, n (key value, value value) pairs
 *   Every other tag byte is malformed.  Containers nest at most
 *   XC_MAX_DEPTH levels.
 *
 * String table: while encoding one frame (or one dumps() call) every str
 * written with tag 's' gets the next index, up to XC_STRTAB_MAX entries;
 * an equal str met later is written as 'r' + index.  The decoder appends
 * each decoded 's' str (while the table has room) and answers 'r' with the
 * very same object, so repeated dict keys and node ids cost 2 bytes and
 * one object.
 *
 * frame   = header, then `count` events; each event = kind byte, value.
 *   header = b"XC", FORMAT_VERSION (1 byte), count (uint32),
 *            body length (uint32) -- 11 bytes; the body is everything
 *            after the header, exactly.
 *   kind   = one of EV_* / CMD_* that travel on the wire (0..11, 32..37).
 *
 * Decoding trusts nothing: every length and count is checked against the
 * bytes left before anything is allocated, and every problem raises
 * FrameError.
 */
#ifndef XDIST_C_WIRE_H
#define XDIST_C_WIRE_H

#include <Python.h>

#include <stdint.h>

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

/* Value tags. */
#define XC_T_NONE 'N'
#define XC_T_TRUE 'T'
#define XC_T_FALSE 'F'
#define XC_T_INT 'i'
#define XC_T_BIGINT 'I'
#define XC_T_FLOAT 'd'
#define XC_T_STR8 's'
#define XC_T_STR 'S'
#define XC_T_STRREF 'r'
#define XC_T_BYTES 'b'
#define XC_T_LIST 'l'
#define XC_T_TUPLE 't'
#define XC_T_DICT 'm'

#define XC_STR8_MAX 255        /* longest str (UTF-8 bytes) in the table */
#define XC_STRTAB_MAX 65536    /* most entries in one string table */
#define XC_U32_MAX ((uint64_t)0xFFFFFFFFu)

/* Kinds that may appear in a frame. */
#define XC_WIRE_KINDS                                                        \
    (((UINT64_C(1) << (XC_EV_INTERNALERROR + 1)) - 1) |                      \
     (UINT64_C(0x3F) << XC_CMD_RUNTESTS))

static inline int
xc_is_wire_kind(long kind)
{
    return kind >= 0 && kind < 64 && ((XC_WIRE_KINDS >> kind) & 1);
}

/* The little-endian u32 at p (frame header fields). */
static inline uint32_t
xc_get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* 'd': IEEE 754 binary64, little-endian. */
#if PY_VERSION_HEX < 0x030B0000
#define xc_float_pack8(x, p) _PyFloat_Pack8((x), (unsigned char *)(p), 1)
#define xc_float_unpack8(p) _PyFloat_Unpack8((const unsigned char *)(p), 1)
#else
#define xc_float_pack8(x, p) PyFloat_Pack8((x), (char *)(p), 1)
#define xc_float_unpack8(p) PyFloat_Unpack8((const char *)(p), 1)
#endif

#endif /* XDIST_C_WIRE_H */
