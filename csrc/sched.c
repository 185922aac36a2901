/* sched.c -- placeholder, being written. */
#include "xdist_core.h"

int
xc_sched_exec(PyObject *module, xc_state *st)
{
    (void)module;
    (void)st;
    return 0;
}

int
xc_sched_traverse(xc_state *st, visitproc visit, void *arg)
{
    (void)st;
    (void)visit;
    (void)arg;
    return 0;
}

void
xc_sched_clear(xc_state *st)
{
    (void)st;
}
