/* codec.c -- the wire codec's module functions and component hooks.
 *
 * Python equivalent (semantics, not speed):
 *
 *     def dumps(value) -> bytes:          # one value, no header
 *     def loads(data) -> object:          # FrameError on anything malformed
 *     def encode_frame(events) -> bytes:  # header + (kind, value)...
 *         w = FrameWriter()
 *         for kind, payload in events:
 *             w.add(kind, payload)
 *         return w.take()
 *     def decode_frame(data) -> list[tuple[int, object]]
 *
 * The codec is split by concern: wire.h (the byte layout and its
 * constants), buffer.c (byte buffer, string table), encode.c, decode.c
 * (and its caches), framewriter.c (the FrameWriter type); codec.h is the
 * interface between them.  This file owns the codec's part of the module
 * state (FrameError, the FrameWriter type, the decoder's caches). */
#include "xdist_core.h"
#include "args.h"

PyObject *
xc_frame_error_type(struct xc_state *st)
{
    if (st == NULL || st->codec.FrameError == NULL) {
        return PyExc_ValueError;
    }
    return st->codec.FrameError;
}

/* --- the encoders: dumps, encode_frame --------------------------------- */

/* Encodes its argument into e (an empty encoder): 0 / -1. */
typedef int (*encoder)(xc_enc *e, PyObject *arg);

/* Python: bytes of what `encode` writes for arg -- encoded on the stack
 * (XC_INLINE_BUF) when it fits, copied once into the result. */
static PyObject *
encode_output(PyObject *arg, encoder encode)
{
    char storage[XC_INLINE_BUF];
    xc_enc e;
    PyObject *res = NULL;
    xc_enc_init(&e, storage, sizeof(storage));
    if (encode(&e, arg) == 0) {
        res = PyBytes_FromStringAndSize(e.buf.data, e.buf.len);
    }
    xc_enc_free(&e);
    return res;
}

/* encode_frame's part: the header (with the count, written last), then
 * each (kind, payload) pair of the iterable `events`.  0 / -1. */
static int
encode_events(xc_enc *e, PyObject *events)
{
    PyObject *it = NULL, *item = NULL;
    Py_ssize_t count = 0;
    int rc = -1;
    e->buf.len = XC_HEADER_SIZE; /* empty: within the inline storage */

    it = PyObject_GetIter(events);
    if (it == NULL) {
        goto error;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *kind, *payload;
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2) {
            kind = PyTuple_GET_ITEM(item, 0);
            payload = PyTuple_GET_ITEM(item, 1);
        }
        else if (PyList_Check(item) && PyList_GET_SIZE(item) == 2) {
            kind = PyList_GET_ITEM(item, 0);
            payload = PyList_GET_ITEM(item, 1);
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "encode_frame() wants (kind, payload) pairs, "
                         "got %.200s",
                         Py_TYPE(item)->tp_name);
            goto error;
        }
        Py_INCREF(kind);
        Py_INCREF(payload);
        int r = xc_enc_event(e, kind, payload);
        Py_DECREF(kind);
        Py_DECREF(payload);
        if (r < 0) {
            goto error;
        }
        Py_CLEAR(item);
        count++;
    }
    if (PyErr_Occurred()) {
        goto error;
    }
    rc = xc_enc_write_header(e, count);
error:
    Py_XDECREF(item);
    Py_XDECREF(it);
    return rc;
}

/* --- the decoders: loads, decode_frame ---------------------------------- */

/* A decoder of a whole input (loads_value, xc_decode_frame): new
 * reference, or NULL with an exception. */
typedef PyObject *(*whole_decoder)(xc_state *st, const char *buf,
                                   Py_ssize_t len);

/* Python: decode(bytes(data)) -- without the copy: the bytes of `data`
 * are borrowed for the call, directly from a bytes object, through the
 * buffer protocol from anything else. */
static PyObject *
decode_input(PyObject *module, PyObject *data, whole_decoder decode)
{
    xc_state *st = xc_state_from_module(module);
    if (PyBytes_Check(data)) {
        return decode(st, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data));
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *res = decode(st, view.buf, view.len);
    PyBuffer_Release(&view);
    return res;
}

/* loads' part: one value and nothing after it: new reference, or NULL
 * with FrameError. */
static PyObject *
loads_value(xc_state *st, const char *buf, Py_ssize_t len)
{
    xc_dec d;
    xc_dec_init(&d, st, buf, len);
    PyObject *res = xc_dec_value(&d);
    if (res != NULL && d.p != d.end) {
        PyErr_Format(d.FrameError, "%zd trailing bytes after the value",
                     xc_dec_left(&d));
        Py_CLEAR(res);
    }
    xc_dec_free(&d);
    return res;
}

/* --- the module functions ------------------------------------------------ */

/* A METH_FASTCALL | METH_KEYWORDS function NAME(ARG) returning CALL, an
 * expression of `module` and of `arg`, the argument. */
#define XC_ONE_ARG_FUNCTION(NAME, ARG, CALL)                                 \
    static PyObject *codec_##NAME(PyObject *module, PyObject *const *args,   \
                                  Py_ssize_t nargs, PyObject *kwnames)       \
    {                                                                        \
        static const char *const names[] = {ARG};                            \
        PyObject *arg = NULL;                                                \
        (void)module;                                                        \
        if (kwnames == NULL && nargs == 1) {                                 \
            arg = args[0];                                                   \
        }                                                                    \
        else if (xc_parse_args(#NAME, args, nargs, kwnames, names, 1, 1,     \
                               &arg) < 0) {                                  \
            return NULL;                                                     \
        }                                                                    \
        return CALL;                                                         \
    }

XC_ONE_ARG_FUNCTION(dumps, "value", encode_output(arg, xc_enc_value))
XC_ONE_ARG_FUNCTION(loads, "data", decode_input(module, arg, loads_value))
XC_ONE_ARG_FUNCTION(encode_frame, "events", encode_output(arg, encode_events))
XC_ONE_ARG_FUNCTION(decode_frame, "data",
                    decode_input(module, arg, xc_decode_frame))

static PyMethodDef codec_functions[] = {
    {"dumps", (PyCFunction)(void (*)(void))codec_dumps,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("dumps($module, value)\n--\n\n"
               "Encode one value (TypeError for unsupported types, "
               "ValueError past MAX_DEPTH nesting).")},
    {"loads", (PyCFunction)(void (*)(void))codec_loads,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("loads($module, data)\n--\n\n"
               "Decode one value produced by dumps(); FrameError if "
               "malformed or if bytes are left over.")},
    {"encode_frame", (PyCFunction)(void (*)(void))codec_encode_frame,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("encode_frame($module, events)\n--\n\n"
               "One frame holding the given (kind, payload) events, in "
               "order.")},
    {"decode_frame", (PyCFunction)(void (*)(void))codec_decode_frame,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("decode_frame($module, data)\n--\n\n"
               "The events of one frame as (kind, payload) tuples; "
               "FrameError if malformed.")},
    {NULL, NULL, 0, NULL},
};

int
xc_codec_exec(PyObject *module, xc_state *st)
{
    static const struct {
        const char *name;
        long value;
    } constants[] = {
        {"FORMAT_VERSION", XC_FORMAT_VERSION},
        {"MAX_DEPTH", XC_MAX_DEPTH},
        {"EV_WORKERREADY", XC_EV_WORKERREADY},
        {"EV_COLLECTIONSTART", XC_EV_COLLECTIONSTART},
        {"EV_COLLECTREPORT", XC_EV_COLLECTREPORT},
        {"EV_COLLECTIONFINISH", XC_EV_COLLECTIONFINISH},
        {"EV_LOGSTART", XC_EV_LOGSTART},
        {"EV_TESTREPORT", XC_EV_TESTREPORT},
        {"EV_LOGFINISH", XC_EV_LOGFINISH},
        {"EV_COMPLETE", XC_EV_COMPLETE},
        {"EV_UNSCHEDULED", XC_EV_UNSCHEDULED},
        {"EV_WARNING", XC_EV_WARNING},
        {"EV_WORKERFINISHED", XC_EV_WORKERFINISHED},
        {"EV_INTERNALERROR", XC_EV_INTERNALERROR},
        {"CMD_RUNTESTS", XC_CMD_RUNTESTS},
        {"CMD_RUNTESTS_ALL", XC_CMD_RUNTESTS_ALL},
        {"CMD_STEAL", XC_CMD_STEAL},
        {"CMD_SHUTDOWN", XC_CMD_SHUTDOWN},
        {"CMD_COLLECTION", XC_CMD_COLLECTION},
        {"CMD_STOP", XC_CMD_STOP},
        {"EV_CLOSED", XC_EV_CLOSED},
        {"EV_BADFRAME", XC_EV_BADFRAME},
    };
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        if (PyModule_AddIntConstant(module, constants[i].name,
                                    constants[i].value) < 0) {
            return -1;
        }
    }
    if (PyModule_AddFunctions(module, codec_functions) < 0) {
        return -1;
    }
    st->codec.FrameError = PyErr_NewExceptionWithDoc(
        "xdist_c._core.FrameError",
        "Malformed bytes on the wire (bad header, length, tag, UTF-8, "
        "depth).",
        PyExc_ValueError, NULL);
    if (st->codec.FrameError == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "FrameError", st->codec.FrameError) <
        0) {
        return -1;
    }
    st->codec.key_cache = PyDict_New();
    if (st->codec.key_cache == NULL) {
        return -1;
    }
    st->codec.FrameWriter_Type =
        xc_add_type(module, &xc_FrameWriter_spec, NULL);
    if (st->codec.FrameWriter_Type == NULL) {
        return -1;
    }
    return 0;
}

int
xc_codec_traverse(xc_state *st, visitproc visit, void *arg)
{
    Py_VISIT(st->codec.FrameError);
    Py_VISIT(st->codec.FrameWriter_Type);
    Py_VISIT(st->codec.key_cache);
    return 0;
}

void
xc_codec_clear(xc_state *st)
{
    Py_CLEAR(st->codec.FrameError);
    Py_CLEAR(st->codec.FrameWriter_Type);
    Py_CLEAR(st->codec.key_cache);
    Py_CLEAR(st->codec.last_int);
    for (size_t i = 0; i < XC_STR_CACHE_SLOTS; i++) {
        Py_CLEAR(st->codec.str_cache[i]);
    }
}
