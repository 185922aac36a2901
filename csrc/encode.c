/* encode.c -- the encoder: Python values to the bytes of wire.h.
 *
 * Python equivalent (semantics, not speed):
 *
 *     def encode(buf, value, strtab, depth=0):
 *         if value is None / True / False: buf += tag
 *         elif int: buf += b"i" + varint(zigzag(value))  # or b"I" + hex
 *         elif float: buf += b"d" + struct.pack("<d", value)
 *         elif str: buf += (b"r" + varint(strtab[value]) if value in
 *                           strtab else b"s"/b"S" + len + utf8)
 *         elif bytes / list / tuple / dict: tag + count + items
 *         else: raise TypeError  # subclasses encode as their base type
 *
 * The string table and byte buffer are buffer.h's; every helper returns
 * 0, or -1 with an exception set (the buffer may then end in a partial
 * value: callers discard it, FrameWriter.add() rolls back). */
#include "xdist_core.h"

static int enc_value(xc_enc *e, PyObject *v, int depth);

void
xc_enc_init(xc_enc *e, char *storage, Py_ssize_t size)
{
    xc_buf_init_inline(&e->buf, storage, size);
    xc_strtab_init(&e->tab);
}

void
xc_enc_free(xc_enc *e)
{
    xc_buf_free(&e->buf);
    xc_strtab_free(&e->tab);
}

static inline int
enc_byte(xc_enc *e, unsigned char c)
{
    if (xc_buf_reserve(&e->buf, 1) < 0) {
        return -1;
    }
    e->buf.data[e->buf.len++] = (char)c;
    return 0;
}

/* tag + varint */
static inline int
enc_tag_uvarint(xc_enc *e, unsigned char tag, uint64_t v)
{
    if (xc_buf_reserve(&e->buf, 11) < 0) {
        return -1;
    }
    unsigned char *p = (unsigned char *)e->buf.data + e->buf.len;
    *p++ = tag;
    p = xc_buf_put_uvarint(p, v);
    e->buf.len = (char *)p - e->buf.data;
    return 0;
}

/* tag + varint length + raw bytes */
static int
enc_tag_blob(xc_enc *e, unsigned char tag, const char *s, Py_ssize_t n)
{
    if (n > PY_SSIZE_T_MAX - 11 || xc_buf_reserve(&e->buf, n + 11) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    unsigned char *p = (unsigned char *)e->buf.data + e->buf.len;
    *p++ = tag;
    p = xc_buf_put_uvarint(p, (uint64_t)n);
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
        return enc_tag_uvarint(e, XC_T_INT, z);
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
        r = xc_buf_reserve(&e->buf, ndig + 12);
        if (r == 0) {
            unsigned char *p = (unsigned char *)e->buf.data + e->buf.len;
            *p++ = XC_T_BIGINT;
            p = xc_buf_put_uvarint(p, (uint64_t)ndig + 1);
            *p++ = '-';
            memcpy(p, s + 3, (size_t)ndig);
            e->buf.len = (char *)p - e->buf.data + ndig;
        }
    }
    else {
        r = enc_tag_blob(e, XC_T_BIGINT, s + 2, n - 2);
    }
    Py_DECREF(hex);
    return r;
}

static int
enc_float(xc_enc *e, PyObject *v)
{
    if (xc_buf_reserve(&e->buf, 9) < 0) {
        return -1;
    }
    char *p = e->buf.data + e->buf.len;
    p[0] = XC_T_FLOAT;
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
            Py_ssize_t k = xc_strtab_find(&e->tab, s, h);
            if (k >= 0) {
                return enc_tag_uvarint(e, XC_T_STRREF, (uint64_t)k);
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
        if (e->tab.n < XC_STRTAB_MAX && xc_strtab_add(&e->tab, s, h) < 0) {
            goto error;
        }
        if (xc_buf_reserve(&e->buf, n + 2) < 0) {
            goto error;
        }
        unsigned char *p = (unsigned char *)e->buf.data + e->buf.len;
        p[0] = XC_T_STR8;
        p[1] = (unsigned char)n;
        memcpy(p + 2, u, (size_t)n);
        e->buf.len += n + 2;
        r = 0;
    }
    else {
        r = enc_tag_blob(e, XC_T_STR, u, n);
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
    if (enc_tag_uvarint(e, is_list ? XC_T_LIST : XC_T_TUPLE, (uint64_t)n) <
        0) {
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
    if (enc_tag_uvarint(e, XC_T_DICT, (uint64_t)n) < 0) {
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
    return enc_tag_blob(e, XC_T_BYTES, PyBytes_AS_STRING(v),
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
        return enc_byte(e, XC_T_NONE);
    }
    if (v == Py_True) {
        return enc_byte(e, XC_T_TRUE);
    }
    if (v == Py_False) {
        return enc_byte(e, XC_T_FALSE);
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

int
xc_enc_event(xc_enc *e, PyObject *kind, PyObject *payload)
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

int
xc_enc_write_header(xc_enc *e, Py_ssize_t count)
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
    xc_put_u32le(p + 3, (uint32_t)count);
    xc_put_u32le(p + 7, (uint32_t)body);
    return 0;
}

int
xc_enc_value(xc_enc *e, PyObject *v)
{
    return enc_value(e, v, 0);
}
