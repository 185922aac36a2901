/* units.h -- plain-C work units: groups of test indices that go to one
 * node together (the loadscope / loadfile / loadgroup schedulers).
 *
 * No Python objects live here.  A unit is a run of `len` test indices
 * stored at tests[start:start + len]; units are numbered in creation order
 * and never change once closed.  The first `nkeys` units come from
 * grouping the collection (xc_units_group); later ones hold what a crashed
 * node left unstarted, or one test put back by mark_test_pending.
 *
 * Conventions: functions returning int give 0 on success and -1 with
 * MemoryError set on failure; nothing here calls back into Python.
 */
#ifndef XDIST_C_UNITS_H
#define XDIST_C_UNITS_H

#include <Python.h>

typedef struct {
    Py_ssize_t start; /* first test in xc_units.tests */
    Py_ssize_t len;   /* number of tests */
} xc_unit;

typedef struct {
    xc_unit *units;     /* unit id -> where its tests are */
    Py_ssize_t nunits;
    Py_ssize_t ucap;
    Py_ssize_t *tests;  /* the tests of every unit, unit after unit */
    Py_ssize_t ntests;
    Py_ssize_t tcap;
    Py_ssize_t *unit_of; /* test index -> unit that holds it last */
    Py_ssize_t n;        /* size of the collection (entries in unit_of) */
} xc_units;

void xc_units_init(xc_units *us);
/* Releases every array; the table is empty and reusable afterwards. */
void xc_units_free(xc_units *us);

/* Replace the table by the grouping of tests 0..n-1: key[i] in [0, nkeys)
 * is test i's group, groups numbered by first appearance.  Unit k holds
 * the tests of group k in index order.  O(n + nkeys).  On error the table
 * is left empty. */
int xc_units_group(xc_units *us, const Py_ssize_t *key, Py_ssize_t n,
                   Py_ssize_t nkeys);

/* Make room for `units` more units holding `tests` more tests, so that
 * the xc_units_open / xc_units_push calls that follow cannot fail. */
int xc_units_reserve(xc_units *us, Py_ssize_t units, Py_ssize_t tests);

/* Open a new, empty unit after the last one and return its id (room must
 * have been reserved).  Tests are then added with xc_units_push. */
Py_ssize_t xc_units_open(xc_units *us);
/* Append test index `test` (0 <= test < n) to the last opened unit, and
 * record that this unit holds it now (room must have been reserved). */
void xc_units_push(xc_units *us, Py_ssize_t test);

/* Borrowed: the tests of unit u, in order; *len receives their number. */
static inline const Py_ssize_t *
xc_units_tests(const xc_units *us, Py_ssize_t u, Py_ssize_t *len)
{
    assert(u >= 0 && u < us->nunits);
    *len = us->units[u].len;
    return us->tests + us->units[u].start;
}

/* Write the ids of units 0..count-1 to order[0..count-1], largest unit
 * first, equal sizes in id order (what a stable sort by descending size
 * gives).  0 / -1. */
int xc_units_order_by_size(const xc_units *us, Py_ssize_t count,
                           Py_ssize_t *order);

#endif /* XDIST_C_UNITS_H */
