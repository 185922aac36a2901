/* pump.h -- channel pump state (see pump.c). */
#ifndef XDIST_C_PUMP_H
#define XDIST_C_PUMP_H

#include <Python.h>

typedef struct {
    PyTypeObject *Pump_Type;
    PyTypeObject *Feeder_Type;
} xc_pump_state;

/* get()'s events, shared with streams.c. */

/* Append (slot, kind, obj) to the list `out`.  0 / -1. */
int xc_append_event(PyObject *out, PyObject *slot, int kind, PyObject *obj);

/* The current exception (FrameError) as its message; clears it.  New
 * reference, or NULL with an exception set. */
PyObject *xc_take_error_message(void);

#endif
