/* sched.h -- scheduler types state (see sched_*.c). */
#ifndef XDIST_C_SCHED_H
#define XDIST_C_SCHED_H

#include <Python.h>

typedef struct {
    PyTypeObject *LoadScheduler_Type;
    PyTypeObject *EachScheduler_Type;
} xc_sched_state;

#endif
