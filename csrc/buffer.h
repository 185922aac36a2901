/* buffer.h -- the codec's plain-C containers (see buffer.c): a growable
 * byte buffer that starts in caller-provided storage, and the encoder's
 * string table.  The hot, small helpers are inline here. */
#ifndef XDIST_C_BUFFER_H
#define XDIST_C_BUFFER_H

#include <Python.h>

#include "compat.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    char *inline_data; /* storage `data` starts in, not freed; or NULL */
} xc_buf;

static inline void
xc_buf_init_inline(xc_buf *b, char *storage, Py_ssize_t size)
{
    b->data = storage;
    b->len = 0;
    b->cap = size;
    b->inline_data = storage;
}

void xc_buf_free(xc_buf *b);

/* Make room for `extra` more bytes.  0 / -1 with MemoryError. */
int xc_buf_grow(xc_buf *b, Py_ssize_t extra);

static inline int
xc_buf_reserve(xc_buf *b, Py_ssize_t n)
{
    if (b->cap - b->len >= n) {
        return 0;
    }
    return xc_buf_grow(b, n);
}

static inline unsigned char *
xc_buf_put_uvarint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static inline void
xc_put_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

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

void xc_strtab_init(xc_strtab *t);
/* Append `s` (hash `h`, not in the table yet).  0 / -1. */
int xc_strtab_add(xc_strtab *t, PyObject *s, Py_hash_t h);
/* Drop the entries with index >= n.  Cannot fail (rehashes in place). */
void xc_strtab_truncate(xc_strtab *t, Py_ssize_t n);
void xc_strtab_free(xc_strtab *t);

/* Equality of two exact strs, as CPython's unicode_eq: strs are stored
 * in their narrowest kind, so equal strs have equal kind and bytes. */
static inline int
xc_str_eq(PyObject *a, PyObject *b)
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
xc_strtab_find(xc_strtab *t, PyObject *s, Py_hash_t h)
{
    size_t i = (size_t)h & t->mask;
    uint32_t slot;
    while ((slot = t->slots[i]) != 0) {
        Py_ssize_t k = (Py_ssize_t)slot - 1;
        if (t->keys[k] == s ||
            (t->hashes[k] == h && xc_str_eq(t->keys[k], s))) {
            return k;
        }
        i = (i + 1) & t->mask;
    }
    return -1;
}

#endif /* XDIST_C_BUFFER_H */
