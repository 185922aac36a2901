/* codec.c -- placeholder, being written. */
#include "xdist_core.h"

int
xc_codec_exec(PyObject *module, xc_state *st)
{
    (void)module;
    (void)st;
    return 0;
}

int
xc_codec_traverse(xc_state *st, visitproc visit, void *arg)
{
    (void)st;
    (void)visit;
    (void)arg;
    return 0;
}

void
xc_codec_clear(xc_state *st)
{
    (void)st;
}

PyObject *
xc_decode_frame(struct xc_state *st, const char *buf, Py_ssize_t len)
{
    (void)st;
    (void)buf;
    (void)len;
    PyErr_SetString(PyExc_NotImplementedError, "codec not written yet");
    return NULL;
}
