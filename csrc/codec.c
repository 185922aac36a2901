/* codec.c -- the wire codec: values and frames.
 *
 * Python equivalent (semantics, not speed):
 *
 *     def dumps(value) -> bytes:          # one value, no header
 *     def loads(data) -> object:          # FrameError on anything malformed
 *     def encode_frame(events) -> bytes:  # header + (kind, value)...
 *         w = FrameWriter()
 *         for kind, payload in events:
 *             w.add(kind, payload)
 *         return w.take()
 *     def decode_frame(data) -> list[tuple[int, object]]
 *
 *     class FrameWriter:                  # worker-side batching
 *         def add(self, kind, payload): ...   # all or nothing
 *         def take(self) -> bytes: ...        # frame so far, then reset
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
#include "xdist_core.h"
#include "args.h"

#include <stdint.h>
#include <string.h>

#if PY_VERSION_HEX < 0x030B0000
#define xc_float_pack8(x, p) _PyFloat_Pack8((x), (unsigned char *)(p), 1)
#define xc_float_unpack8(p) _PyFloat_Unpack8((const unsigned char *)(p), 1)
#else
#define xc_float_pack8(x, p) PyFloat_Pack8((x), (char *)(p), 1)
#define xc_float_unpack8(p) PyFloat_Unpack8((const char *)(p), 1)
#endif

#define T_NONE 'N'
#define T_TRUE 'T'
#define T_FALSE 'F'
#define T_INT 'i'
#define T_BIGINT 'I'
#define T_FLOAT 'd'
#define T_STR8 's'
#define T_STR 'S'
#define T_STRREF 'r'
#define T_BYTES 'b'
#define T_LIST 'l'
#define T_TUPLE 't'
#define T_DICT 'm'

#define XC_STR8_MAX 255        /* longest str (UTF-8 bytes) in the table */
#define XC_STRTAB_MAX 65536    /* most entries in one string table */
#define XC_U32_MAX ((uint64_t)0xFFFFFFFFu)
#define XC_INLINE_BUF 512
#define XC_INLINE_STRS 64
#define XC_WRITER_KEEP 65536 /* take() shrinks a buffer bigger than this */

/* Kinds that may appear in a frame. */
static const uint64_t xc_wire_kinds =
    ((UINT64_C(1) << (XC_EV_INTERNALERROR + 1)) - 1) |
    (UINT64_C(0x3F) << XC_CMD_RUNTESTS);

static inline int
xc_is_wire_kind(long kind)
{
    return kind >= 0 && kind < 64 && ((xc_wire_kinds >> kind) & 1);
}

PyObject *
xc_frame_error_type(struct xc_state *st)
{
    if (st == NULL || st->codec.FrameError == NULL) {
        return PyExc_ValueError;
    }
    return st->codec.FrameError;
}

/* ------------------------------------------------------------------ */
/* Growable byte buffer.                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    char *inline_data; /* storage `data` starts in, not freed; or NULL */
} xc_buf;

static void
buf_init_inline(xc_buf *b, char *storage, Py_ssize_t size)
{
    b->data = storage;
    b->len = 0;
    b->cap = size;
    b->inline_data = storage;
}

static void
buf_free(xc_buf *b)
{
    if (b->data != NULL && b->data != b->inline_data) {
        PyMem_Free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Make room for `extra` more bytes.  0 / -1 with MemoryError. */
static int
buf_grow(xc_buf *b, Py_ssize_t extra)
{
    if (extra > PY_SSIZE_T_MAX - b->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = b->len + extra;
    Py_ssize_t cap = b->cap > 0 ? b->cap : 64;
    while (cap < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p;
    if (b->data == NULL || b->data == b->inline_data) {
        p = PyMem_Malloc((size_t)cap);
        if (p != NULL && b->len > 0) {
            memcpy(p, b->data, (size_t)b->len);
        }
    }
    else {
        p = PyMem_Realloc(b->data, (size_t)cap);
    }
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int
buf_reserve(xc_buf *b, Py_ssize_t n)
{
    if (b->cap - b->len >= n) {
        return 0;
    }
    return buf_grow(b, n);
}

static inline unsigned char *
buf_put_uvarint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static inline void
put_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* ------------------------------------------------------------------ */
/* Encoder.                                                           */
/* ------------------------------------------------------------------ */

/* The encoder's string table: exact strs -> index, in plain C.
 *
 * Open addressing with linear probing over `slots` (0 = empty, else
 * index + 1); `keys` and `hashes` are in index order, so undoing the
 * newest entries (a failed FrameWriter.add()) is a truncation plus a
 * rehash.  It holds strong references: a str must not be freed (and its
 * address reused) while the table can still match it.  A table starts in
 * inline storage, so small values cost no allocation.  (A dict of
 * str -> int did the same job at about three times the cost of the whole
 * encoding: resizes and index objects.) */
#define XC_TAB_INLINE_KEYS 32
#define XC_TAB_INLINE_SLOTS (2 * XC_TAB_INLINE_KEYS)

typedef struct {
    uint32_t *slots;
    size_t mask; /* number of slots - 1; a power of two - 1 */
    PyObject **keys; /* strong references */
    Py_hash_t *hashes;
    Py_ssize_t n; /* entries */
    Py_ssize_t cap; /* room in keys / hashes */
    uint32_t inline_slots[XC_TAB_INLINE_SLOTS];
    PyObject *inline_keys[XC_TAB_INLINE_KEYS];
    Py_hash_t inline_hashes[XC_TAB_INLINE_KEYS];
} xc_strtab;

static void
strtab_init(xc_strtab *t)
{
    t->slots = t->inline_slots;
    t->mask = XC_TAB_INLINE_SLOTS - 1;
    t->keys = t->inline_keys;
    t->hashes = t->inline_hashes;
    t->n = 0;
    t->cap = XC_TAB_INLINE_KEYS;
    memset(t->inline_slots, 0, sizeof(t->inline_slots));
}

/* Equality of two exact strs, as CPython's unicode_eq: strs are stored
 * in their narrowest kind, so equal strs have equal kind and bytes. */
static inline int
str_eq(PyObject *a, PyObject *b)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    if (n != PyUnicode_GET_LENGTH(b) ||
        PyUnicode_KIND(a) != PyUnicode_KIND(b)) {
        return 0;
    }
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b),
                  (size_t)n * PyUnicode_KIND(a)) == 0;
}

/* Index of the str `s` (hash `h`), or -1 if absent. */
static inline Py_ssize_t
strtab_find(xc_strtab *t, PyObject *s, Py_hash_t h)
{
    size_t i = (size_t)h & t->mask;
    uint32_t slot;
    while ((slot = t->slots[i]) != 0) {
        Py_ssize_t k = (Py_ssize_t)slot - 1;
        if (t->keys[k] == s || (t->hashes[k] == h && str_eq(t->keys[k], s))) {
            return k;
        }
        i = (i + 1) & t->mask;
    }
    return -1;
}

static inline void
strtab_place(xc_strtab *t, Py_ssize_t k)
{
    size_t i = (size_t)t->hashes[k] & t->mask;
    while (t->slots[i] != 0) {
        i = (i + 1) & t->mask;
    }
    t->slots[i] = (uint32_t)(k + 1);
}

/* Rebuild the slots from keys[0..n) (with `nslots` slots, if > 0). */
static int
strtab_rehash(xc_strtab *t, size_t nslots)
{
    if (nslots > 0) {
        uint32_t *slots = PyMem_Malloc(nslots * sizeof(uint32_t));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        if (t->slots != t->inline_slots) {
            PyMem_Free(t->slots);
        }
        t->slots = slots;
        t->mask = nslots - 1;
    }
    memset(t->slots, 0, (t->mask + 1) * sizeof(uint32_t));
    for (Py_ssize_t k = 0; k < t->n; k++) {
        strtab_place(t, k);
    }
    return 0;
}

/* Append `s` (hash `h`, not in the table yet).  0 / -1. */
static int
strtab_add(xc_strtab *t, PyObject *s, Py_hash_t h)
{
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap * 2;
        PyObject **keys;
        Py_hash_t *hashes;
        if (t->keys == t->inline_keys) {
            keys = PyMem_Malloc((size_t)cap * sizeof(*keys));
            hashes = PyMem_Malloc((size_t)cap * sizeof(*hashes));
            if (keys == NULL || hashes == NULL) {
                PyMem_Free(keys);
                PyMem_Free(hashes);
                PyErr_NoMemory();
                return -1;
            }
            memcpy(keys, t->keys, (size_t)t->n * sizeof(*keys));
            memcpy(hashes, t->hashes, (size_t)t->n * sizeof(*hashes));
        }
        else {
            keys = PyMem_Realloc(t->keys, (size_t)cap * sizeof(*keys));
            if (keys == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            t->keys = keys;
            hashes = PyMem_Realloc(t->hashes, (size_t)cap * sizeof(*hashes));
            if (hashes == NULL) {
                PyErr_NoMemory();
                return -1;
            }
        }
        t->keys = keys;
        t->hashes = hashes;
        t->cap = cap;
    }
    /* keep the load at most 1/2 */
    if ((size_t)(t->n + 1) * 2 > t->mask + 1 &&
        strtab_rehash(t, (t->mask + 1) * 2) < 0) {
        return -1;
    }
    t->keys[t->n] = Py_NewRef(s);
    t->hashes[t->n] = h;
    strtab_place(t, t->n);
    t->n++;
    return 0;
}

/* Drop the entries with index >= n.  Cannot fail (rehashes in place). */
static void
strtab_truncate(xc_strtab *t, Py_ssize_t n)
{
    if (n >= t->n) {
        return;
    }
    Py_ssize_t old = t->n;
    t->n = n;
    if (n == 0) {
        memset(t->slots, 0, (t->mask + 1) * sizeof(uint32_t));
    }
    else {
        (void)strtab_rehash(t, 0);
    }
    for (Py_ssize_t k = n; k < old; k++) {
        Py_CLEAR(t->keys[k]);
    }
}

static void
strtab_free(xc_strtab *t)
{
    strtab_truncate(t, 0);
    if (t->slots != t->inline_slots) {
        PyMem_Free(t->slots);
    }
    if (t->keys != t->inline_keys) {
        PyMem_Free(t->keys);
        PyMem_Free(t->hashes);
    }
    strtab_init(t);
}

/* The encoder.  Every enc_* helper returns 0, or -1 with an exception
 * set; after -1 the buffer may end in a partial value (callers discard
 * it, or FrameWriter.add() rolls back). */
typedef struct {
    xc_buf buf;
    xc_strtab tab;
} xc_enc;

static int enc_value(xc_enc *e, PyObject *v, int depth);

static void
enc_init(xc_enc *e, char *storage, Py_ssize_t size)
{
    buf_init_inline(&e->buf, storage, size);
    strtab_init(&e->tab);
}

static void
enc_free(xc_enc *e)
{
    buf_free(&e->buf);
    strtab_free(&e->tab);
}

static inline int
enc_byte(xc_enc *e, unsigned char c)
{
    if (buf_reserve(&e->buf, 1) < 0) {
        return -1;
    }
    e->buf.data[e->buf.len++] = (char)c;
    return 0;
}

/* tag + varint */
static inline int
enc_tag_uvarint(xc_enc *e, unsigned char tag, uint64_t v)
{
    if (buf_reserve(&e->buf, 11) < 0) {
        return -1;
    }
    unsigned char *p = (unsigned char *)e->buf.data + e->buf.len;
    *p++ = tag;
    p = buf_put_uvarint(p, v);
    e->buf.len = (char *)p - e->buf.data;
    return 0;
}

/* tag + varint length + raw bytes */
static int
enc_tag_blob(xc_enc *e, unsigned char tag, const char *s, Py_ssize_t n)
{
    if (n > PY_SSIZE_T_MAX - 11 || buf_reserve(&e->buf, n + 11) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    unsigned char *p = (unsigned char *)e->buf.data + e->buf.len;
    *p++ = tag;
    p = buf_put_uvarint(p, (uint64_t)n);
    if (n > 0) {
        memcpy(p, s, (size_t)n);
    }
    e->buf.len = (char *)p - e->buf.data + n;
    return 0;
}

static int
enc_int(xc_enc *e, PyObject *v)
{
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (!overflow) {
        uint64_t z = x < 0 ? ~((uint64_t)x << 1) : (uint64_t)x << 1;
        return enc_tag_uvarint(e, T_INT, z);
    }
    /* Big int: hexadecimal text ("-0x1f" -> "-1f"). */
    PyObject *hex = PyNumber_ToBase(v, 16);
    if (hex == NULL) {
        return -1;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(hex, &n);
    if (s == NULL) {
        Py_DECREF(hex);
        return -1;
    }
    int neg = (n > 0 && s[0] == '-');
    /* skip "0x" after the optional sign */
    if (n < neg + 3 || s[neg] != '0' || s[neg + 1] != 'x') {
        Py_DECREF(hex);
        PyErr_SetString(PyExc_SystemError, "unexpected int.__format__");
        return -1;
    }
    int r;
    if (neg) {
        /* write "-" then the digits as one blob: build it in place */
        Py_ssize_t ndig = n - 3;
        r = buf_reserve(&e->buf, ndig + 12);
        if (r == 0) {
            unsigned char *p = (unsigned char *)e->buf.data + e->buf.len;
            *p++ = T_BIGINT;
            p = buf_put_uvarint(p, (uint64_t)ndig + 1);
            *p++ = '-';
            memcpy(p, s + 3, (size_t)ndig);
            e->buf.len = (char *)p - e->buf.data + ndig;
        }
    }
    else {
        r = enc_tag_blob(e, T_BIGINT, s + 2, n - 2);
    }
    Py_DECREF(hex);
    return r;
}

static int
enc_float(xc_enc *e, PyObject *v)
{
    if (buf_reserve(&e->buf, 9) < 0) {
        return -1;
    }
    char *p = e->buf.data + e->buf.len;
    p[0] = T_FLOAT;
    if (xc_float_pack8(PyFloat_AS_DOUBLE(v), p + 1) < 0) {
        return -1;
    }
    e->buf.len += 9;
    return 0;
}

/* `s` is an exact str. */
static int
enc_str(xc_enc *e, PyObject *s)
{
    PyObject *tmp = NULL;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) {
        return -1;
    }
#endif
    Py_hash_t h = -1;
    if (PyUnicode_GET_LENGTH(s) <= XC_STR8_MAX) {
        h = PyObject_Hash(s);
        if (h == -1) {
            return -1;
        }
        if (e->tab.n > 0) {
            Py_ssize_t k = strtab_find(&e->tab, s, h);
            if (k >= 0) {
                return enc_tag_uvarint(e, T_STRREF, (uint64_t)k);
            }
        }
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return -1;
        }
        /* lone surrogates: encode them as-is so they survive */
        PyErr_Clear();
        tmp = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
        if (tmp == NULL) {
            return -1;
        }
        u = PyBytes_AS_STRING(tmp);
        n = PyBytes_GET_SIZE(tmp);
    }
    int r;
    if (n <= XC_STR8_MAX) {
        /* n <= 255 bytes implies <= 255 chars, so h is set */
        if (e->tab.n < XC_STRTAB_MAX && strtab_add(&e->tab, s, h) < 0) {
            goto error;
        }
        if (buf_reserve(&e->buf, n + 2) < 0) {
            goto error;
        }
        unsigned char *p = (unsigned char *)e->buf.data + e->buf.len;
        p[0] = T_STR8;
        p[1] = (unsigned char)n;
        memcpy(p + 2, u, (size_t)n);
        e->buf.len += n + 2;
        r = 0;
    }
    else {
        r = enc_tag_blob(e, T_STR, u, n);
    }
    Py_XDECREF(tmp);
    return r;
error:
    Py_XDECREF(tmp);
    return -1;
}

static int
enc_depth_error(void)
{
    PyErr_Format(PyExc_ValueError,
                 "value nested deeper than %d levels (or recursive)",
                 XC_MAX_DEPTH);
    return -1;
}

static int
enc_changed_error(const char *what)
{
    PyErr_Format(PyExc_RuntimeError, "%s changed size during encoding", what);
    return -1;
}

/* list or tuple (or subclass); tuple items are read the same way */
static int
enc_seq(xc_enc *e, PyObject *v, int is_list, int depth)
{
    if (depth >= XC_MAX_DEPTH) {
        return enc_depth_error();
    }
    Py_ssize_t n = Py_SIZE(v);
    if (enc_tag_uvarint(e, is_list ? T_LIST : T_TUPLE, (uint64_t)n) < 0) {
        return -1;
    }
    PyObject **items = is_list ? ((PyListObject *)v)->ob_item
                               : ((PyTupleObject *)v)->ob_item;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (is_list) {
            /* a list can only change if encoding ran Python code (a GC
             * finalizer); never index past its end */
            if (PyList_GET_SIZE(v) != n) {
                return enc_changed_error("list");
            }
            items = ((PyListObject *)v)->ob_item;
        }
        PyObject *item = items[i];
        Py_INCREF(item);
        int r = enc_value(e, item, depth + 1);
        Py_DECREF(item);
        if (r < 0) {
            return -1;
        }
    }
    if (is_list && PyList_GET_SIZE(v) != n) {
        return enc_changed_error("list");
    }
    return 0;
}

static int
enc_dict(xc_enc *e, PyObject *v, int depth)
{
    if (depth >= XC_MAX_DEPTH) {
        return enc_depth_error();
    }
    Py_ssize_t n = PyDict_GET_SIZE(v);
    if (enc_tag_uvarint(e, T_DICT, (uint64_t)n) < 0) {
        return -1;
    }
    Py_ssize_t pos = 0, done = 0;
    PyObject *key, *value;
    while (PyDict_Next(v, &pos, &key, &value)) {
        if (done == n) {
            return enc_changed_error("dict");
        }
        Py_INCREF(key);
        Py_INCREF(value);
        int r = enc_value(e, key, depth + 1);
        if (r == 0) {
            r = enc_value(e, value, depth + 1);
        }
        Py_DECREF(key);
        Py_DECREF(value);
        if (r < 0) {
            return -1;
        }
        done++;
    }
    if (done != n) {
        return enc_changed_error("dict");
    }
    return 0;
}

static int
enc_bytes(xc_enc *e, PyObject *v)
{
    return enc_tag_blob(e, T_BYTES, PyBytes_AS_STRING(v),
                        PyBytes_GET_SIZE(v));
}

/* Subclasses of the supported types are written as their base type. */
static int
enc_subclass(xc_enc *e, PyObject *v, int depth)
{
    if (PyLong_Check(v)) {
        return enc_int(e, v);
    }
    if (PyFloat_Check(v)) {
        return enc_float(e, v);
    }
    if (PyUnicode_Check(v)) {
        /* an exact copy: the string table must only hold exact strs,
         * whose hash and == run no Python code */
        PyObject *s = PyUnicode_FromObject(v);
        if (s == NULL) {
            return -1;
        }
        int r = enc_str(e, s);
        Py_DECREF(s);
        return r;
    }
    if (PyBytes_Check(v)) {
        return enc_bytes(e, v);
    }
    if (PyList_Check(v)) {
        return enc_seq(e, v, 1, depth);
    }
    if (PyTuple_Check(v)) {
        return enc_seq(e, v, 0, depth);
    }
    if (PyDict_Check(v)) {
        return enc_dict(e, v, depth);
    }
    PyErr_Format(PyExc_TypeError,
                 "cannot encode object of type '%.200s' for the wire",
                 Py_TYPE(v)->tp_name);
    return -1;
}

static int
enc_value(xc_enc *e, PyObject *v, int depth)
{
    PyTypeObject *tp = Py_TYPE(v);
    if (tp == &PyUnicode_Type) {
        return enc_str(e, v);
    }
    if (tp == &PyLong_Type) {
        return enc_int(e, v);
    }
    if (tp == &PyDict_Type) {
        return enc_dict(e, v, depth);
    }
    if (v == Py_None) {
        return enc_byte(e, T_NONE);
    }
    if (v == Py_True) {
        return enc_byte(e, T_TRUE);
    }
    if (v == Py_False) {
        return enc_byte(e, T_FALSE);
    }
    if (tp == &PyTuple_Type) {
        return enc_seq(e, v, 0, depth);
    }
    if (tp == &PyList_Type) {
        return enc_seq(e, v, 1, depth);
    }
    if (tp == &PyFloat_Type) {
        return enc_float(e, v);
    }
    if (tp == &PyBytes_Type) {
        return enc_bytes(e, v);
    }
    return enc_subclass(e, v, depth);
}

/* Check an event kind object; the kind as a C long, or -1 with
 * TypeError / ValueError set. */
static long
enc_kind(PyObject *kind)
{
    if (!PyLong_Check(kind)) {
        PyErr_Format(PyExc_TypeError, "event kind must be int, not %.200s",
                     Py_TYPE(kind)->tp_name);
        return -1;
    }
    int overflow = 0;
    long k = PyLong_AsLongAndOverflow(kind, &overflow);
    if (k == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || !xc_is_wire_kind(k)) {
        PyErr_Format(PyExc_ValueError, "%R is not an event kind of the wire",
                     kind);
        return -1;
    }
    return k;
}

/* Append one event (kind byte, payload value).  0 / -1; on -1 the buffer
 * may hold a partial event (the caller rolls back). */
static int
enc_event(xc_enc *e, PyObject *kind, PyObject *payload)
{
    long k = enc_kind(kind);
    if (k < 0) {
        return -1;
    }
    if (enc_byte(e, (unsigned char)k) < 0) {
        return -1;
    }
    return enc_value(e, payload, 0);
}

/* Fill in the header at e->buf.data[0..XC_HEADER_SIZE).  0 / -1 with
 * ValueError when the frame is too large for the header. */
static int
enc_write_header(xc_enc *e, Py_ssize_t count)
{
    Py_ssize_t body = e->buf.len - XC_HEADER_SIZE;
    if ((uint64_t)body > XC_U32_MAX || (uint64_t)count > XC_U32_MAX) {
        PyErr_SetString(PyExc_ValueError,
                        "frame too large (over 4 GiB or 2**32 events)");
        return -1;
    }
    unsigned char *p = (unsigned char *)e->buf.data;
    p[0] = 'X';
    p[1] = 'C';
    p[2] = XC_FORMAT_VERSION;
    put_u32le(p + 3, (uint32_t)count);
    put_u32le(p + 7, (uint32_t)body);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Decoder.                                                           */
/* ------------------------------------------------------------------ */

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

static void
dec_init(xc_dec *d, struct xc_state *st, const char *buf, Py_ssize_t len)
{
    d->start = d->p = (const unsigned char *)buf;
    d->end = d->start + len;
    d->FrameError = xc_frame_error_type(st);
    /* key_cache exists from the module's exec to its clear */
    d->caches = st != NULL && st->codec.key_cache != NULL ? &st->codec : NULL;
    d->last_tuple = NULL;
    d->last_tuple_at = NULL;
    d->last_tuple_size = 0;
    d->strs = d->inline_strs;
    d->nstrs = 0;
    d->strs_cap = XC_INLINE_STRS;
}

static void
dec_free(xc_dec *d)
{
    Py_CLEAR(d->last_tuple);
    for (Py_ssize_t i = 0; i < d->nstrs; i++) {
        Py_DECREF(d->strs[i]);
    }
    if (d->strs != d->inline_strs) {
        PyMem_Free(d->strs);
    }
    d->strs = d->inline_strs;
    d->nstrs = 0;
}

static inline Py_ssize_t
dec_left(xc_dec *d)
{
    return d->end - d->p;
}

static inline Py_ssize_t
dec_offset(xc_dec *d)
{
    return d->p - d->start;
}

static PyObject *
dec_truncated(xc_dec *d, const char *what)
{
    PyErr_Format(d->FrameError, "truncated %s at offset %zd", what,
                 dec_offset(d));
    return NULL;
}

static int
dec_uvarint(xc_dec *d, uint64_t *out)
{
    const unsigned char *p = d->p;
    if (p < d->end && *p < 0x80) {
        *out = *p;
        d->p = p + 1;
        return 0;
    }
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        if (p >= d->end) {
            dec_truncated(d, "varint");
            return -1;
        }
        unsigned char c = *p++;
        if (shift == 63 && c > 1) {
            PyErr_Format(d->FrameError, "varint over 64 bits at offset %zd",
                         dec_offset(d));
            return -1;
        }
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            break;
        }
    }
    d->p = p;
    *out = v;
    return 0;
}

/* A length or count of things taking at least `unit` bytes each, checked
 * against the bytes left.  0 / -1 with FrameError. */
static int
dec_length(xc_dec *d, Py_ssize_t unit, const char *what, Py_ssize_t *out)
{
    uint64_t v;
    if (dec_uvarint(d, &v) < 0) {
        return -1;
    }
    Py_ssize_t left = dec_left(d);
    if (v > (uint64_t)(left / unit)) {
        PyErr_Format(d->FrameError,
                     "%s of %llu declared at offset %zd, but only %zd bytes "
                     "are left",
                     what, (unsigned long long)v, dec_offset(d), left);
        return -1;
    }
    *out = (Py_ssize_t)v;
    return 0;
}

/* The decoder.  Every dec_* helper returning PyObject * returns a new
 * reference, or NULL with FrameError (or MemoryError) set. */
static PyObject *dec_value(xc_dec *d, int depth);

/* The str of the n bytes at d->p if they are ASCII and short, from the
 * cross-frame cache (filling its slot on a miss); new reference.  NULL
 * without an exception: not cacheable, decode as usual; NULL with one:
 * MemoryError.
 *
 * The string table shares a str within one frame; this shares it between
 * frames.  Every report of a run carries the same few values -- its
 * file's path, "passed", "call", the worker id, the run's uid -- and the
 * terminal reporter keeps every report, so without it each frame's copies
 * stay alive to the end of the session.  strs are immutable: sharing one
 * is invisible. */
static PyObject *
dec_cached_str(xc_dec *d, Py_ssize_t n)
{
    if (d->caches == NULL || n > XC_STR_CACHE_MAX_LENGTH) {
        return NULL;
    }
    const unsigned char *p = d->p;
    uint32_t h = 2166136261u; /* FNV-1a */
    unsigned char high = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        high |= p[i];
        h = (h ^ p[i]) * 16777619u;
    }
    if (high & 0x80) {
        return NULL;
    }
    /* Two ways: a value decoded in every frame keeps its place even when
     * another one that maps to the same set alternates with it. */
    PyObject **set =
        &d->caches->str_cache[(h & (XC_STR_CACHE_SLOTS / 2 - 1)) * 2];
    for (int way = 0; way < 2; way++) {
        PyObject *s = set[way];
        /* every cached str is compact ASCII: its data are its bytes */
        if (s != NULL && PyUnicode_GET_LENGTH(s) == n &&
            memcmp(PyUnicode_1BYTE_DATA(s), p, (size_t)n) == 0) {
            if (way == 1) {
                set[1] = set[0];
                set[0] = s;
            }
            return Py_NewRef(s);
        }
    }
    PyObject *s = PyUnicode_DecodeASCII((const char *)p, n, NULL);
    if (s != NULL) {
        Py_XSETREF(set[1], set[0]);
        set[0] = Py_NewRef(s);
    }
    return s;
}

/* The int x: the last one decoded outside CPython's small-int cache when
 * it has the same value (a test's three reports carry the same
 * item_index, and the terminal reporter keeps them all); new reference.
 * ints are immutable: sharing one is invisible. */
static PyObject *
dec_int(xc_dec *d, long long x)
{
    xc_codec_state *c = d->caches;
    if (c != NULL && c->last_int != NULL && c->last_int_value == x) {
        return Py_NewRef(c->last_int);
    }
    PyObject *v = PyLong_FromLongLong(x);
    if (v != NULL && c != NULL && (x < -5 || x > 256)) {
        Py_XSETREF(c->last_int, Py_NewRef(v));
        c->last_int_value = x;
    }
    return v;
}

/* new reference */
static PyObject *
dec_str(xc_dec *d, Py_ssize_t n, int tabled)
{
    PyObject *s = dec_cached_str(d, n);
    if (s == NULL && PyErr_Occurred()) {
        return NULL;
    }
    if (s == NULL) {
        s = PyUnicode_DecodeUTF8((const char *)d->p, n, "surrogatepass");
    }
    if (s == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            PyErr_Format(d->FrameError, "invalid UTF-8 in str at offset %zd",
                         dec_offset(d));
        }
        return NULL;
    }
    d->p += n;
    if (tabled && d->nstrs < XC_STRTAB_MAX) {
        if (d->nstrs == d->strs_cap) {
            Py_ssize_t cap = d->strs_cap * 2;
            PyObject **t;
            if (d->strs == d->inline_strs) {
                t = PyMem_Malloc((size_t)cap * sizeof(*t));
                if (t != NULL) {
                    memcpy(t, d->strs, (size_t)d->nstrs * sizeof(*t));
                }
            }
            else {
                t = PyMem_Realloc(d->strs, (size_t)cap * sizeof(*t));
            }
            if (t == NULL) {
                Py_DECREF(s);
                return PyErr_NoMemory();
            }
            d->strs = t;
            d->strs_cap = cap;
        }
        d->strs[d->nstrs++] = Py_NewRef(s);
    }
    return s;
}

/* new reference */
static PyObject *
dec_bigint(xc_dec *d, Py_ssize_t n)
{
    const unsigned char *s = d->p;
    Py_ssize_t i = (n > 0 && s[0] == '-') ? 1 : 0;
    if (i == n) {
        goto bad;
    }
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            goto bad;
        }
    }
    char *text = PyMem_Malloc((size_t)n + 1);
    if (text == NULL) {
        return PyErr_NoMemory();
    }
    memcpy(text, s, (size_t)n);
    text[n] = '\0';
    PyObject *v = PyLong_FromString(text, NULL, 16);
    PyMem_Free(text);
    if (v == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            goto bad;
        }
        return NULL;
    }
    d->p += n;
    return v;
bad:
    PyErr_Format(d->FrameError, "malformed big int at offset %zd",
                 dec_offset(d));
    return NULL;
}

/* Whether `t` holds only str, int, float, bool or None (exact types):
 * then sharing it is invisible, as for a str. */
static int
tuple_is_plain(PyObject *t)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *v = PyTuple_GET_ITEM(t, i);
        if (!(PyUnicode_CheckExact(v) || PyLong_CheckExact(v) ||
              PyFloat_CheckExact(v) || v == Py_None || PyBool_Check(v))) {
            return 0;
        }
    }
    return 1;
}

/* new reference: a list or tuple of n values.
 *
 * A test's events carry its location tuple five times in one frame
 * (logstart, three reports, logfinish); after the first, its strs are
 * back-references, so the later copies are the same bytes.  A tuple of
 * plain values whose bytes repeat those of the last such tuple (which
 * added nothing to the string table, so skipping its bytes skips nothing
 * else) is handed out again instead of rebuilt. */
static PyObject *
dec_seq(xc_dec *d, int is_list, int depth)
{
    const unsigned char *at = d->p - 1; /* the tag */
    Py_ssize_t nstrs = d->nstrs;
    Py_ssize_t n;
    if (!is_list && d->last_tuple != NULL &&
        d->end - at >= d->last_tuple_size &&
        memcmp(at, d->last_tuple_at, (size_t)d->last_tuple_size) == 0) {
        d->p = at + d->last_tuple_size;
        return Py_NewRef(d->last_tuple);
    }
    if (depth >= XC_MAX_DEPTH) {
        PyErr_Format(d->FrameError,
                     "values nested deeper than %d levels at offset %zd",
                     XC_MAX_DEPTH, dec_offset(d));
        return NULL;
    }
    if (dec_length(d, 1, is_list ? "list length" : "tuple length", &n) < 0) {
        return NULL;
    }
    PyObject *seq = is_list ? PyList_New(n) : PyTuple_New(n);
    if (seq == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = dec_value(d, depth + 1);
        if (item == NULL) {
            Py_DECREF(seq);
            return NULL;
        }
        if (is_list) {
            PyList_SET_ITEM(seq, i, item);
        }
        else {
            PyTuple_SET_ITEM(seq, i, item);
        }
    }
    if (!is_list && n > 0 && d->nstrs == nstrs && tuple_is_plain(seq)) {
        Py_XSETREF(d->last_tuple, Py_NewRef(seq));
        d->last_tuple_at = at;
        d->last_tuple_size = d->p - at;
    }
    return seq;
}

/* Replace the str dict key *key by its canonical, interned copy.
 *
 * Report dicts become keyword arguments (TestReport(**data)) and instance
 * dicts: with interned keys, CPython matches them to parameter names and
 * other dicts' keys by identity instead of comparing text.  The cache (in
 * module state) keeps each canonical key alive, so a key is interned once
 * per process instead of once per frame, and stops growing at
 * XC_KEY_CACHE_MAX entries (test names appear as keys too).  0, or -1
 * with an exception set. */
static int
dec_key(xc_dec *d, PyObject **key)
{
    if (!PyUnicode_CheckExact(*key) ||
        PyUnicode_GET_LENGTH(*key) > XC_KEY_CACHE_MAX_LENGTH) {
        return 0;
    }
    PyObject *key_cache = d->caches->key_cache;
    PyObject *canonical = PyDict_GetItemWithError(key_cache, *key);
    if (canonical != NULL) {
        Py_SETREF(*key, Py_NewRef(canonical));
        return 0;
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    if (PyDict_GET_SIZE(key_cache) >= XC_KEY_CACHE_MAX) {
        return 0;
    }
    PyUnicode_InternInPlace(key);
    return PyDict_SetItem(key_cache, *key, *key);
}

/* new reference */
static PyObject *
dec_dict(xc_dec *d, int depth)
{
    Py_ssize_t n;
    PyObject *dict = NULL, *key = NULL, *value = NULL;
    if (depth >= XC_MAX_DEPTH) {
        PyErr_Format(d->FrameError,
                     "values nested deeper than %d levels at offset %zd",
                     XC_MAX_DEPTH, dec_offset(d));
        return NULL;
    }
    if (dec_length(d, 2, "dict size", &n) < 0) {
        return NULL;
    }
    dict = PyDict_New();
    if (dict == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t at = dec_offset(d);
        key = dec_value(d, depth + 1);
        if (key == NULL) {
            goto error;
        }
        if (d->caches != NULL && dec_key(d, &key) < 0) {
            goto error;
        }
        value = dec_value(d, depth + 1);
        if (value == NULL) {
            goto error;
        }
        if (PyDict_SetItem(dict, key, value) < 0) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_Format(d->FrameError,
                             "unhashable dict key at offset %zd", at);
            }
            goto error;
        }
        Py_CLEAR(key);
        Py_CLEAR(value);
    }
    return dict;
error:
    Py_XDECREF(key);
    Py_XDECREF(value);
    Py_XDECREF(dict);
    return NULL;
}

/* new reference */
static PyObject *
dec_value(xc_dec *d, int depth)
{
    Py_ssize_t n;
    if (d->p >= d->end) {
        return dec_truncated(d, "value");
    }
    unsigned char tag = *d->p++;
    switch (tag) {
    case T_STRREF: {
        uint64_t idx;
        if (dec_uvarint(d, &idx) < 0) {
            return NULL;
        }
        if (idx >= (uint64_t)d->nstrs) {
            PyErr_Format(d->FrameError,
                         "str back-reference %llu at offset %zd, but the "
                         "table has %zd entries",
                         (unsigned long long)idx, dec_offset(d), d->nstrs);
            return NULL;
        }
        return Py_NewRef(d->strs[idx]);
    }
    case T_STR8:
        if (d->p >= d->end) {
            return dec_truncated(d, "str");
        }
        n = *d->p++;
        if (n > dec_left(d)) {
            return dec_truncated(d, "str");
        }
        return dec_str(d, n, 1);
    case T_INT: {
        uint64_t z;
        if (dec_uvarint(d, &z) < 0) {
            return NULL;
        }
        int64_t x = (z & 1) ? -(int64_t)(z >> 1) - 1 : (int64_t)(z >> 1);
        return dec_int(d, (long long)x);
    }
    case T_NONE:
        return Py_NewRef(Py_None);
    case T_TRUE:
        return Py_NewRef(Py_True);
    case T_FALSE:
        return Py_NewRef(Py_False);
    case T_DICT:
        return dec_dict(d, depth);
    case T_LIST:
        return dec_seq(d, 1, depth);
    case T_TUPLE:
        return dec_seq(d, 0, depth);
    case T_FLOAT: {
        if (dec_left(d) < 8) {
            return dec_truncated(d, "float");
        }
        double x = xc_float_unpack8(d->p);
        if (x == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        d->p += 8;
        return PyFloat_FromDouble(x);
    }
    case T_STR:
        if (dec_length(d, 1, "str length", &n) < 0) {
            return NULL;
        }
        return dec_str(d, n, 0);
    case T_BYTES: {
        if (dec_length(d, 1, "bytes length", &n) < 0) {
            return NULL;
        }
        PyObject *b = PyBytes_FromStringAndSize((const char *)d->p, n);
        if (b != NULL) {
            d->p += n;
        }
        return b;
    }
    case T_BIGINT:
        if (dec_length(d, 1, "int length", &n) < 0) {
            return NULL;
        }
        return dec_bigint(d, n);
    default:
        d->p--;
        PyErr_Format(d->FrameError, "unknown value tag 0x%02x at offset %zd",
                     (unsigned int)tag, dec_offset(d));
        return NULL;
    }
}

int
xc_decode_frame_into(struct xc_state *st, const char *buf, Py_ssize_t len,
                     PyObject *slot, PyObject *out)
{
    xc_dec d;
    PyObject *payload = NULL, *ev = NULL;
    Py_ssize_t out0 = PyList_GET_SIZE(out);
    const unsigned char *b = (const unsigned char *)buf;
    PyObject *FrameError = xc_frame_error_type(st);

    dec_init(&d, st, buf, len);
    if ((len >= 1 && b[0] != 'X') || (len >= 2 && b[1] != 'C')) {
        PyErr_SetString(FrameError, "not an xdist_c frame (bad magic bytes)");
        goto error;
    }
    if (len < 3) {
        PyErr_Format(FrameError, "truncated frame header (%zd bytes)", len);
        goto error;
    }
    if (b[2] != XC_FORMAT_VERSION) {
        PyErr_Format(FrameError,
                     "frame format version %d, expected %d: the controller "
                     "and worker run different xdist_c versions",
                     (int)b[2], XC_FORMAT_VERSION);
        goto error;
    }
    if (len < XC_HEADER_SIZE) {
        PyErr_Format(FrameError, "truncated frame header (%zd bytes)", len);
        goto error;
    }
    uint32_t count = xc_get_u32le(b + 3);
    uint32_t body = xc_get_u32le(b + 7);
    if ((uint64_t)body != (uint64_t)(len - XC_HEADER_SIZE)) {
        PyErr_Format(FrameError,
                     "frame header declares a body of %lu bytes, but %zd "
                     "bytes follow it (%s)",
                     (unsigned long)body, len - XC_HEADER_SIZE,
                     (uint64_t)body > (uint64_t)(len - XC_HEADER_SIZE)
                         ? "truncated"
                         : "trailing bytes");
        goto error;
    }
    if ((uint64_t)count > (uint64_t)body / 2) {
        PyErr_Format(FrameError,
                     "frame header declares %lu events in a body of %lu "
                     "bytes",
                     (unsigned long)count, (unsigned long)body);
        goto error;
    }
    d.p = b + XC_HEADER_SIZE;
    for (uint32_t i = 0; i < count; i++) {
        if (d.p >= d.end) {
            dec_truncated(&d, "event");
            goto error;
        }
        unsigned char kind = *d.p;
        if (!xc_is_wire_kind(kind)) {
            PyErr_Format(FrameError, "unknown event kind %d at offset %zd",
                         (int)kind, dec_offset(&d));
            goto error;
        }
        d.p++;
        payload = dec_value(&d, 0);
        if (payload == NULL) {
            goto error;
        }
        PyObject *k = PyLong_FromLong(kind);
        if (k == NULL) {
            goto error;
        }
        if (slot != NULL) {
            ev = PyTuple_New(3);
            if (ev == NULL) {
                Py_DECREF(k);
                goto error;
            }
            PyTuple_SET_ITEM(ev, 0, Py_NewRef(slot));
            PyTuple_SET_ITEM(ev, 1, k);
            PyTuple_SET_ITEM(ev, 2, payload);
        }
        else {
            ev = PyTuple_New(2);
            if (ev == NULL) {
                Py_DECREF(k);
                goto error;
            }
            PyTuple_SET_ITEM(ev, 0, k);
            PyTuple_SET_ITEM(ev, 1, payload);
        }
        payload = NULL; /* owned by ev now */
        if (PyList_Append(out, ev) < 0) {
            goto error;
        }
        Py_CLEAR(ev);
    }
    if (d.p != d.end) {
        PyErr_Format(FrameError,
                     "%zd trailing bytes after the last event at offset %zd",
                     dec_left(&d), dec_offset(&d));
        goto error;
    }
    dec_free(&d);
    return 0;
error:
    Py_XDECREF(payload);
    Py_XDECREF(ev);
    dec_free(&d);
    if (PyList_GET_SIZE(out) > out0) {
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *exc = PyErr_GetRaisedException();
#else
        PyObject *exc_type, *exc_value, *exc_tb;
        PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
#endif
        if (PyList_SetSlice(out, out0, PyList_GET_SIZE(out), NULL) < 0) {
            PyErr_Clear(); /* shrinking a list does not fail */
        }
#if PY_VERSION_HEX >= 0x030C0000
        PyErr_SetRaisedException(exc);
#else
        PyErr_Restore(exc_type, exc_value, exc_tb);
#endif
    }
    return -1;
}

PyObject *
xc_decode_frame(struct xc_state *st, const char *buf, Py_ssize_t len)
{
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    if (xc_decode_frame_into(st, buf, len, NULL, out) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Module functions.                                                  */
/* ------------------------------------------------------------------ */

/* Borrow the bytes of `obj`: bytes directly, anything else through the
 * buffer protocol (view->obj != NULL then; release it).  0 / -1. */
static int
get_input(PyObject *obj, Py_buffer *view, const char **buf, Py_ssize_t *len)
{
    view->obj = NULL;
    if (PyBytes_Check(obj)) {
        *buf = PyBytes_AS_STRING(obj);
        *len = PyBytes_GET_SIZE(obj);
        return 0;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    *buf = view->buf;
    *len = view->len;
    return 0;
}

static PyObject *
codec_dumps_impl(PyObject *module, PyObject *value)
{
    (void)module;
    char storage[XC_INLINE_BUF];
    xc_enc e;
    PyObject *res = NULL;
    enc_init(&e, storage, sizeof(storage));
    if (enc_value(&e, value, 0) < 0) {
        goto error;
    }
    res = PyBytes_FromStringAndSize(e.buf.data, e.buf.len);
error:
    enc_free(&e);
    return res;
}

static PyObject *
codec_loads_impl(PyObject *module, PyObject *data)
{
    xc_state *st = xc_state_from_module(module);
    Py_buffer view;
    const char *buf;
    Py_ssize_t len;
    PyObject *res = NULL;
    xc_dec d;
    if (get_input(data, &view, &buf, &len) < 0) {
        return NULL;
    }
    dec_init(&d, st, buf, len);
    res = dec_value(&d, 0);
    if (res != NULL && d.p != d.end) {
        PyErr_Format(d.FrameError, "%zd trailing bytes after the value",
                     dec_left(&d));
        Py_CLEAR(res);
    }
    dec_free(&d);
    if (view.obj != NULL) {
        PyBuffer_Release(&view);
    }
    return res;
}

static PyObject *
codec_encode_frame_impl(PyObject *module, PyObject *events)
{
    (void)module;
    char storage[XC_INLINE_BUF];
    xc_enc e;
    PyObject *it = NULL, *item = NULL, *res = NULL;
    Py_ssize_t count = 0;
    enc_init(&e, storage, sizeof(storage));
    e.buf.len = XC_HEADER_SIZE;

    it = PyObject_GetIter(events);
    if (it == NULL) {
        goto error;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *kind, *payload;
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2) {
            kind = PyTuple_GET_ITEM(item, 0);
            payload = PyTuple_GET_ITEM(item, 1);
        }
        else if (PyList_Check(item) && PyList_GET_SIZE(item) == 2) {
            kind = PyList_GET_ITEM(item, 0);
            payload = PyList_GET_ITEM(item, 1);
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "encode_frame() wants (kind, payload) pairs, "
                         "got %.200s",
                         Py_TYPE(item)->tp_name);
            goto error;
        }
        Py_INCREF(kind);
        Py_INCREF(payload);
        int r = enc_event(&e, kind, payload);
        Py_DECREF(kind);
        Py_DECREF(payload);
        if (r < 0) {
            goto error;
        }
        Py_CLEAR(item);
        count++;
    }
    if (PyErr_Occurred()) {
        goto error;
    }
    if (enc_write_header(&e, count) < 0) {
        goto error;
    }
    res = PyBytes_FromStringAndSize(e.buf.data, e.buf.len);
error:
    Py_XDECREF(item);
    Py_XDECREF(it);
    enc_free(&e);
    return res;
}

static PyObject *
codec_decode_frame_impl(PyObject *module, PyObject *data)
{
    xc_state *st = xc_state_from_module(module);
    Py_buffer view;
    const char *buf;
    Py_ssize_t len;
    if (get_input(data, &view, &buf, &len) < 0) {
        return NULL;
    }
    PyObject *res = xc_decode_frame(st, buf, len);
    if (view.obj != NULL) {
        PyBuffer_Release(&view);
    }
    return res;
}

/* The METH_FASTCALL | METH_KEYWORDS face of a one-argument function. */
#define XC_ONE_ARG_FUNCTION(NAME, ARG)                                       \
    static PyObject *codec_##NAME(PyObject *module, PyObject *const *args,   \
                                  Py_ssize_t nargs, PyObject *kwnames)       \
    {                                                                        \
        static const char *const names[] = {ARG};                            \
        PyObject *arg;                                                       \
        if (kwnames == NULL && nargs == 1) {                                 \
            return codec_##NAME##_impl(module, args[0]);                     \
        }                                                                    \
        if (xc_parse_args(#NAME, args, nargs, kwnames, names, 1, 1, &arg) <  \
            0) {                                                             \
            return NULL;                                                     \
        }                                                                    \
        return codec_##NAME##_impl(module, arg);                             \
    }

XC_ONE_ARG_FUNCTION(dumps, "value")
XC_ONE_ARG_FUNCTION(loads, "data")
XC_ONE_ARG_FUNCTION(encode_frame, "events")
XC_ONE_ARG_FUNCTION(decode_frame, "data")

/* ------------------------------------------------------------------ */
/* FrameWriter.                                                       */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    xc_enc enc; /* buf starts with XC_HEADER_SIZE reserved bytes */
    Py_ssize_t nevents;
    int busy; /* inside add()/take(): refuse re-entry */
} FrameWriterObject;

static PyObject *
FrameWriter_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if ((args != NULL && PyTuple_GET_SIZE(args) != 0) ||
        (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_SetString(PyExc_TypeError, "FrameWriter() takes no arguments");
        return NULL;
    }
    FrameWriterObject *self = (FrameWriterObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    strtab_init(&self->enc.tab);
    if (buf_reserve(&self->enc.buf, 256) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->enc.buf.len = XC_HEADER_SIZE;
    return (PyObject *)self;
}

static int
FrameWriter_traverse(FrameWriterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    /* the string table holds exact strs only: nothing to visit */
    return 0;
}

static int
FrameWriter_clear(FrameWriterObject *self)
{
    (void)self;
    return 0;
}

static void
FrameWriter_dealloc(FrameWriterObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)FrameWriter_clear(self);
    enc_free(&self->enc);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int
FrameWriter_enter(FrameWriterObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "FrameWriter used re-entrantly");
        return -1;
    }
    if (self->enc.buf.data == NULL) {
        /* cleared by the GC, or a previous shrink failed */
        if (buf_reserve(&self->enc.buf, 256) < 0) {
            return -1;
        }
        self->enc.buf.len = XC_HEADER_SIZE;
        self->nevents = 0;
    }
    self->busy = 1;
    return 0;
}

static PyObject *
FrameWriter_add(FrameWriterObject *self, PyObject *const *args,
                Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"kind", "payload"};
    PyObject *argv[2];
    if (kwnames == NULL && nargs == 2) {
        argv[0] = args[0];
        argv[1] = args[1];
    }
    else if (xc_parse_args("add", args, nargs, kwnames, names, 2, 2, argv) <
             0) {
        return NULL;
    }
    if (FrameWriter_enter(self) < 0) {
        return NULL;
    }
    Py_ssize_t len0 = self->enc.buf.len, nstrs0 = self->enc.tab.n;
    if (enc_event(&self->enc, argv[0], argv[1]) < 0) {
        goto error;
    }
    if ((uint64_t)(self->enc.buf.len - XC_HEADER_SIZE) > XC_U32_MAX ||
        (uint64_t)self->nevents + 1 > XC_U32_MAX) {
        PyErr_SetString(PyExc_ValueError,
                        "frame too large (over 4 GiB or 2**32 events); "
                        "take() it first");
        goto error;
    }
    self->nevents++;
    self->busy = 0;
    Py_RETURN_NONE;
error:
    self->enc.buf.len = len0;
    strtab_truncate(&self->enc.tab, nstrs0);
    self->busy = 0;
    return NULL;
}

static PyObject *
FrameWriter_take(FrameWriterObject *self, PyObject *Py_UNUSED(ignored))
{
    if (FrameWriter_enter(self) < 0) {
        return NULL;
    }
    PyObject *res = NULL;
    xc_enc *e = &self->enc;
    if (enc_write_header(e, self->nevents) < 0) {
        goto done;
    }
    res = PyBytes_FromStringAndSize(e->buf.data, e->buf.len);
    if (res == NULL) {
        goto done;
    }
    e->buf.len = XC_HEADER_SIZE;
    self->nevents = 0;
    strtab_truncate(&e->tab, 0);
    if (e->buf.cap > XC_WRITER_KEEP) {
        /* do not pin the memory of one huge frame */
        char *p = PyMem_Realloc(e->buf.data, 256);
        if (p != NULL) {
            e->buf.data = p;
            e->buf.cap = 256;
        }
    }
done:
    self->busy = 0;
    return res;
}

static Py_ssize_t
FrameWriter_len(FrameWriterObject *self)
{
    return self->nevents;
}

static PyObject *
FrameWriter_get_nbytes(FrameWriterObject *self, void *Py_UNUSED(closure))
{
    Py_ssize_t n =
        self->enc.buf.data == NULL ? 0 : self->enc.buf.len - XC_HEADER_SIZE;
    return PyLong_FromSsize_t(n);
}

static PyMethodDef FrameWriter_methods[] = {
    {"add", (PyCFunction)(void (*)(void))FrameWriter_add,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("add($self, kind, payload)\n--\n\n"
               "Encode and append one event (on error nothing is "
               "appended).")},
    {"take", (PyCFunction)FrameWriter_take, METH_NOARGS,
     PyDoc_STR("take($self, /)\n--\n\n"
               "Return the frame of everything added since the last "
               "take() and start a new, empty one.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FrameWriter_getset[] = {
    {"nbytes", (getter)FrameWriter_get_nbytes, NULL,
     PyDoc_STR("Size of the buffered frame body in bytes."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot FrameWriter_slots[] = {
    {Py_tp_new, FrameWriter_new},
    {Py_tp_dealloc, FrameWriter_dealloc},
    {Py_tp_traverse, FrameWriter_traverse},
    {Py_tp_clear, FrameWriter_clear},
    {Py_tp_methods, FrameWriter_methods},
    {Py_tp_getset, FrameWriter_getset},
    {Py_sq_length, FrameWriter_len},
    {Py_tp_doc,
     (void *)PyDoc_STR("FrameWriter()\n--\n\n"
                       "Accumulates events into one frame (worker side "
                       "batching).")},
    {0, NULL},
};

static PyType_Spec FrameWriter_spec = {
    .name = "xdist_c._core.FrameWriter",
    .basicsize = sizeof(FrameWriterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
#ifdef Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_IMMUTABLETYPE
#endif
    ,
    .slots = FrameWriter_slots,
};

/* ------------------------------------------------------------------ */
/* Component hooks.                                                   */
/* ------------------------------------------------------------------ */

static PyMethodDef codec_functions[] = {
    {"dumps", (PyCFunction)(void (*)(void))codec_dumps,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("dumps($module, value)\n--\n\n"
               "Encode one value (TypeError for unsupported types, "
               "ValueError past MAX_DEPTH nesting).")},
    {"loads", (PyCFunction)(void (*)(void))codec_loads,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("loads($module, data)\n--\n\n"
               "Decode one value produced by dumps(); FrameError if "
               "malformed or if bytes are left over.")},
    {"encode_frame", (PyCFunction)(void (*)(void))codec_encode_frame,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("encode_frame($module, events)\n--\n\n"
               "One frame holding the given (kind, payload) events, in "
               "order.")},
    {"decode_frame", (PyCFunction)(void (*)(void))codec_decode_frame,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("decode_frame($module, data)\n--\n\n"
               "The events of one frame as (kind, payload) tuples; "
               "FrameError if malformed.")},
    {NULL, NULL, 0, NULL},
};

int
xc_codec_exec(PyObject *module, xc_state *st)
{
    static const struct {
        const char *name;
        long value;
    } constants[] = {
        {"FORMAT_VERSION", XC_FORMAT_VERSION},
        {"MAX_DEPTH", XC_MAX_DEPTH},
        {"EV_WORKERREADY", XC_EV_WORKERREADY},
        {"EV_COLLECTIONSTART", XC_EV_COLLECTIONSTART},
        {"EV_COLLECTREPORT", XC_EV_COLLECTREPORT},
        {"EV_COLLECTIONFINISH", XC_EV_COLLECTIONFINISH},
        {"EV_LOGSTART", XC_EV_LOGSTART},
        {"EV_TESTREPORT", XC_EV_TESTREPORT},
        {"EV_LOGFINISH", XC_EV_LOGFINISH},
        {"EV_COMPLETE", XC_EV_COMPLETE},
        {"EV_UNSCHEDULED", XC_EV_UNSCHEDULED},
        {"EV_WARNING", XC_EV_WARNING},
        {"EV_WORKERFINISHED", XC_EV_WORKERFINISHED},
        {"EV_INTERNALERROR", XC_EV_INTERNALERROR},
        {"CMD_RUNTESTS", XC_CMD_RUNTESTS},
        {"CMD_RUNTESTS_ALL", XC_CMD_RUNTESTS_ALL},
        {"CMD_STEAL", XC_CMD_STEAL},
        {"CMD_SHUTDOWN", XC_CMD_SHUTDOWN},
        {"CMD_COLLECTION", XC_CMD_COLLECTION},
        {"CMD_STOP", XC_CMD_STOP},
        {"EV_CLOSED", XC_EV_CLOSED},
        {"EV_BADFRAME", XC_EV_BADFRAME},
    };
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        if (PyModule_AddIntConstant(module, constants[i].name,
                                    constants[i].value) < 0) {
            return -1;
        }
    }
    if (PyModule_AddFunctions(module, codec_functions) < 0) {
        return -1;
    }
    st->codec.FrameError = PyErr_NewExceptionWithDoc(
        "xdist_c._core.FrameError",
        "Malformed bytes on the wire (bad header, length, tag, UTF-8, "
        "depth).",
        PyExc_ValueError, NULL);
    if (st->codec.FrameError == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "FrameError", st->codec.FrameError) <
        0) {
        return -1;
    }
    st->codec.key_cache = PyDict_New();
    if (st->codec.key_cache == NULL) {
        return -1;
    }
    st->codec.FrameWriter_Type = xc_add_type(module, &FrameWriter_spec, NULL);
    if (st->codec.FrameWriter_Type == NULL) {
        return -1;
    }
    return 0;
}

int
xc_codec_traverse(xc_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->codec.FrameError);
    Py_VISIT(st->codec.FrameWriter_Type);
    Py_VISIT(st->codec.key_cache);
    return 0;
}

void
xc_codec_clear(xc_state *st)
{
    Py_CLEAR(st->codec.FrameError);
    Py_CLEAR(st->codec.FrameWriter_Type);
    Py_CLEAR(st->codec.key_cache);
    Py_CLEAR(st->codec.last_int);
    for (size_t i = 0; i < XC_STR_CACHE_SLOTS; i++) {
        Py_CLEAR(st->codec.str_cache[i]);
    }
}
