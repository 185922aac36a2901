/* decode.c -- the decoder: bytes of wire.h back to Python values, and
 * the caches it shares across frames (module state: key_cache, str_cache,
 * last_int).
 *
 * Python equivalent (semantics, not speed):
 *
 *     def decode_frame(data) -> list[tuple[int, object]]:
 *         magic, version, count, body = struct.unpack("<2sBII", data[:11])
 *         check(magic == b"XC" and version == 1 and len(data) == 11 + body)
 *         return [(read_kind(), read_value()) for _ in range(count)]
 *
 * where read_value() follows the tags of wire.h.  Decoding trusts nothing:
 * every length and count is checked against the bytes left before
 * anything is allocated, and every problem raises FrameError.  Equal short
 * strs, dict keys and repeated ints decode to the same object (the caches
 * are an optimisation only: values are equal either way). */
#include "xdist_core.h"

void
xc_dec_init(xc_dec *d, struct xc_state *st, const char *buf, Py_ssize_t len)
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

void
xc_dec_free(xc_dec *d)
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
    Py_ssize_t left = xc_dec_left(d);
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
    case XC_T_STRREF: {
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
    case XC_T_STR8:
        if (d->p >= d->end) {
            return dec_truncated(d, "str");
        }
        n = *d->p++;
        if (n > xc_dec_left(d)) {
            return dec_truncated(d, "str");
        }
        return dec_str(d, n, 1);
    case XC_T_INT: {
        uint64_t z;
        if (dec_uvarint(d, &z) < 0) {
            return NULL;
        }
        int64_t x = (z & 1) ? -(int64_t)(z >> 1) - 1 : (int64_t)(z >> 1);
        return dec_int(d, (long long)x);
    }
    case XC_T_NONE:
        return Py_NewRef(Py_None);
    case XC_T_TRUE:
        return Py_NewRef(Py_True);
    case XC_T_FALSE:
        return Py_NewRef(Py_False);
    case XC_T_DICT:
        return dec_dict(d, depth);
    case XC_T_LIST:
        return dec_seq(d, 1, depth);
    case XC_T_TUPLE:
        return dec_seq(d, 0, depth);
    case XC_T_FLOAT: {
        if (xc_dec_left(d) < 8) {
            return dec_truncated(d, "float");
        }
        double x = xc_float_unpack8(d->p);
        if (x == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        d->p += 8;
        return PyFloat_FromDouble(x);
    }
    case XC_T_STR:
        if (dec_length(d, 1, "str length", &n) < 0) {
            return NULL;
        }
        return dec_str(d, n, 0);
    case XC_T_BYTES: {
        if (dec_length(d, 1, "bytes length", &n) < 0) {
            return NULL;
        }
        PyObject *b = PyBytes_FromStringAndSize((const char *)d->p, n);
        if (b != NULL) {
            d->p += n;
        }
        return b;
    }
    case XC_T_BIGINT:
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

    xc_dec_init(&d, st, buf, len);
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
                     xc_dec_left(&d), dec_offset(&d));
        goto error;
    }
    xc_dec_free(&d);
    return 0;
error:
    Py_XDECREF(payload);
    Py_XDECREF(ev);
    xc_dec_free(&d);
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

PyObject *
xc_dec_value(xc_dec *d)
{
    return dec_value(d, 0);
}
