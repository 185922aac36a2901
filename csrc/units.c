/* units.c -- plain-C work units (see units.h).
 *
 * Python equivalent:
 *
 *     class Units:
 *         def __init__(self):
 *             self.units = []               # unit id -> list of tests
 *             self.unit_of = {}             # test -> unit holding it last
 *
 *         def group(self, key, nkeys):      # key[i]: group of test i
 *             self.units = [[] for _ in range(nkeys)]
 *             for test, k in enumerate(key):
 *                 self.units[k].append(test)
 *                 self.unit_of[test] = k
 *
 *         def open(self):
 *             self.units.append([])
 *             return len(self.units) - 1
 *
 *         def push(self, test):
 *             self.units[-1].append(test)
 *             self.unit_of[test] = len(self.units) - 1
 *
 *         def order_by_size(self, count):
 *             return sorted(range(count), key=lambda u: -len(self.units[u]))
 *
 * The tests of all units share one array (a counting sort places the
 * grouped collection in O(n)), so a 100,000-test collection costs three
 * index arrays and one record per unit.
 */
#include "units.h"

#include <stdlib.h>
#include <string.h>

void
xc_units_init(xc_units *us)
{
    us->units = NULL;
    us->nunits = 0;
    us->ucap = 0;
    us->tests = NULL;
    us->ntests = 0;
    us->tcap = 0;
    us->unit_of = NULL;
    us->n = 0;
}

void
xc_units_free(xc_units *us)
{
    PyMem_Free(us->units);
    PyMem_Free(us->tests);
    PyMem_Free(us->unit_of);
    xc_units_init(us);
}

/* Grow *buf (of *cap elements of `size` bytes) to hold at least `need`.
 * 0 / -1 with MemoryError. */
static int
grow(void **buf, Py_ssize_t *cap, Py_ssize_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    Py_ssize_t newcap = *cap ? *cap : 16;
    while (newcap < need) {
        if (newcap > PY_SSIZE_T_MAX / 2) {
            newcap = need;
            break;
        }
        newcap *= 2;
    }
    if ((size_t)newcap > (size_t)PY_SSIZE_T_MAX / size) {
        PyErr_NoMemory();
        return -1;
    }
    void *nbuf = PyMem_Realloc(*buf, (size_t)newcap * size);
    if (nbuf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *buf = nbuf;
    *cap = newcap;
    return 0;
}

int
xc_units_reserve(xc_units *us, Py_ssize_t units, Py_ssize_t tests)
{
    assert(units >= 0 && tests >= 0);
    if (units > PY_SSIZE_T_MAX - us->nunits ||
        tests > PY_SSIZE_T_MAX - us->ntests) {
        PyErr_NoMemory();
        return -1;
    }
    if (grow((void **)&us->units, &us->ucap, us->nunits + units,
             sizeof(xc_unit)) < 0) {
        return -1;
    }
    return grow((void **)&us->tests, &us->tcap, us->ntests + tests,
                sizeof(Py_ssize_t));
}

int
xc_units_group(xc_units *us, const Py_ssize_t *key, Py_ssize_t n,
               Py_ssize_t nkeys)
{
    xc_units_free(us);
    assert(n >= 0 && nkeys >= 0 && nkeys <= n);
    us->unit_of = PyMem_New(Py_ssize_t, (size_t)n + 1);
    if (us->unit_of == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    us->n = n;
    if (xc_units_reserve(us, nkeys, n) < 0) {
        goto error;
    }
    /* Counting sort: sizes, then starts, then place each test. */
    xc_unit *units = us->units;
    for (Py_ssize_t k = 0; k < nkeys; k++) {
        units[k].len = 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        assert(key[i] >= 0 && key[i] < nkeys);
        units[key[i]].len++;
    }
    Py_ssize_t start = 0;
    for (Py_ssize_t k = 0; k < nkeys; k++) {
        units[k].start = start;
        start += units[k].len;
        units[k].len = 0; /* refilled below */
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        xc_unit *u = &units[key[i]];
        us->tests[u->start + u->len++] = i;
        us->unit_of[i] = key[i];
    }
    us->nunits = nkeys;
    us->ntests = n;
    return 0;
error:
    xc_units_free(us);
    return -1;
}

Py_ssize_t
xc_units_open(xc_units *us)
{
    assert(us->nunits < us->ucap);
    xc_unit *u = &us->units[us->nunits];
    u->start = us->ntests;
    u->len = 0;
    return us->nunits++;
}

void
xc_units_push(xc_units *us, Py_ssize_t test)
{
    assert(us->nunits > 0 && us->ntests < us->tcap);
    assert(test >= 0 && test < us->n);
    xc_unit *u = &us->units[us->nunits - 1];
    assert(u->start + u->len == us->ntests);
    us->tests[us->ntests++] = test;
    u->len++;
    us->unit_of[test] = us->nunits - 1;
}

typedef struct {
    Py_ssize_t len;
    Py_ssize_t id;
} size_key;

/* Larger first; ties by id, so the order equals a stable sort's. */
static int
cmp_size_desc(const void *pa, const void *pb)
{
    const size_key *a = (const size_key *)pa;
    const size_key *b = (const size_key *)pb;
    if (a->len != b->len) {
        return a->len > b->len ? -1 : 1;
    }
    return (a->id > b->id) - (a->id < b->id);
}

int
xc_units_order_by_size(const xc_units *us, Py_ssize_t count,
                       Py_ssize_t *order)
{
    assert(count >= 0 && count <= us->nunits);
    size_key *keys = PyMem_New(size_key, (size_t)count + 1);
    if (keys == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t u = 0; u < count; u++) {
        keys[u].len = us->units[u].len;
        keys[u].id = u;
    }
    qsort(keys, (size_t)count, sizeof(size_key), cmp_size_desc);
    for (Py_ssize_t u = 0; u < count; u++) {
        order[u] = keys[u].id;
    }
    PyMem_Free(keys);
    return 0;
}
