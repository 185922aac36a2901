/* pump.h -- channel pump state (see pump.c). */
#ifndef XDIST_C_PUMP_H
#define XDIST_C_PUMP_H

#include <Python.h>

typedef struct {
    PyTypeObject *Pump_Type;
    PyTypeObject *Feeder_Type;
} xc_pump_state;

#endif
