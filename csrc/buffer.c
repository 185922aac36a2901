/* buffer.c -- the codec's plain-C containers (see buffer.h).
 *
 * Python equivalent:
 *
 *     buf = bytearray()          # xc_buf: starts in inline storage,
 *     buf += b"..."              # doubles when full (xc_buf_grow)
 *
 *     tab = {}                   # xc_strtab: exact str -> index
 *     tab.setdefault(s, len(tab))
 *     for k in list(tab)[n:]:    # xc_strtab_truncate(tab, n): undo the
 *         del tab[k]             # newest entries (FrameWriter.add rollback)
 *
 * No Python objects are made here; the table holds strong references to
 * the strs it indexes. */
#include "buffer.h"

/* ------------------------------------------------------------------ */
/* Growable byte buffer.                                              */
/* ------------------------------------------------------------------ */

void
xc_buf_free(xc_buf *b)
{
    if (b->data != NULL && b->data != b->inline_data) {
        PyMem_Free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

int
xc_buf_grow(xc_buf *b, Py_ssize_t extra)
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

/* ------------------------------------------------------------------ */
/* The encoder's string table.                                        */
/* ------------------------------------------------------------------ */

void
xc_strtab_init(xc_strtab *t)
{
    t->slots = t->inline_slots;
    t->mask = XC_TAB_INLINE_SLOTS - 1;
    t->keys = t->inline_keys;
    t->hashes = t->inline_hashes;
    t->n = 0;
    t->cap = XC_TAB_INLINE_KEYS;
    memset(t->inline_slots, 0, sizeof(t->inline_slots));
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
int
xc_strtab_add(xc_strtab *t, PyObject *s, Py_hash_t h)
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
void
xc_strtab_truncate(xc_strtab *t, Py_ssize_t n)
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

void
xc_strtab_free(xc_strtab *t)
{
    xc_strtab_truncate(t, 0);
    if (t->slots != t->inline_slots) {
        PyMem_Free(t->slots);
    }
    if (t->keys != t->inline_keys) {
        PyMem_Free(t->keys);
        PyMem_Free(t->hashes);
    }
    xc_strtab_init(t);
}
