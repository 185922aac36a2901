/* pump.c -- placeholder, being written. */
#include "xdist_core.h"

int
xc_pump_exec(PyObject *module, xc_state *st)
{
    (void)module;
    (void)st;
    return 0;
}

int
xc_pump_traverse(xc_state *st, visitproc visit, void *arg)
{
    (void)st;
    (void)visit;
    (void)arg;
    return 0;
}

void
xc_pump_clear(xc_state *st)
{
    (void)st;
}
