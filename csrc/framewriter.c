/* framewriter.c -- the FrameWriter type: a worker's batch of events,
 * encoded as they are added.
 *
 * Python equivalent:
 *
 *     class FrameWriter:
 *         def __init__(self):
 *             self.events = []
 *         def add(self, kind, payload):      # all or nothing
 *             encode(kind, payload)          # raises before appending
 *             self.events.append((kind, payload))
 *         def take(self) -> bytes:           # the frame so far, then reset
 *             frame = encode_frame(self.events)
 *             self.events = []
 *             return frame
 *         def __len__(self): return len(self.events)
 *         nbytes: int                        # size of the body so far
 *
 * One encoder (encode.c) lives in the object; add() rolls back the buffer
 * and string table when the event cannot be encoded. */
#include "xdist_core.h"
#include "args.h"

typedef struct {
    PyObject_HEAD
    xc_enc enc; /* buf starts with XC_HEADER_SIZE reserved bytes */
    Py_ssize_t nevents;
    int busy; /* inside add()/take(): refuse re-entry */
} FrameWriterObject;

static PyObject *
FrameWriter_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (xc_no_args("FrameWriter", args, kwds) < 0) {
        return NULL;
    }
    FrameWriterObject *self = (FrameWriterObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    xc_strtab_init(&self->enc.tab);
    if (xc_buf_reserve(&self->enc.buf, 256) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->enc.buf.len = XC_HEADER_SIZE;
    return (PyObject *)self;
}

static int
FrameWriter_traverse(FrameWriterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    /* the string table holds exact strs only: nothing to visit */
    return 0;
}

static int
FrameWriter_clear(FrameWriterObject *self)
{
    (void)self;
    return 0;
}

static void
FrameWriter_dealloc(FrameWriterObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    (void)FrameWriter_clear(self);
    xc_enc_free(&self->enc);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int
FrameWriter_enter(FrameWriterObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "FrameWriter used re-entrantly");
        return -1;
    }
    if (self->enc.buf.data == NULL) {
        /* cleared by the GC, or a previous shrink failed */
        if (xc_buf_reserve(&self->enc.buf, 256) < 0) {
            return -1;
        }
        self->enc.buf.len = XC_HEADER_SIZE;
        self->nevents = 0;
    }
    self->busy = 1;
    return 0;
}

static PyObject *
FrameWriter_add(FrameWriterObject *self, PyObject *const *args,
                Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"kind", "payload"};
    PyObject *argv[2];
    if (kwnames == NULL && nargs == 2) {
        argv[0] = args[0];
        argv[1] = args[1];
    }
    else if (xc_parse_args("add", args, nargs, kwnames, names, 2, 2, argv) <
             0) {
        return NULL;
    }
    if (FrameWriter_enter(self) < 0) {
        return NULL;
    }
    Py_ssize_t len0 = self->enc.buf.len, nstrs0 = self->enc.tab.n;
    if (xc_enc_event(&self->enc, argv[0], argv[1]) < 0) {
        goto error;
    }
    if ((uint64_t)(self->enc.buf.len - XC_HEADER_SIZE) > XC_U32_MAX ||
        (uint64_t)self->nevents + 1 > XC_U32_MAX) {
        PyErr_SetString(PyExc_ValueError,
                        "frame too large (over 4 GiB or 2**32 events); "
                        "take() it first");
        goto error;
    }
    self->nevents++;
    self->busy = 0;
    Py_RETURN_NONE;
error:
    self->enc.buf.len = len0;
    xc_strtab_truncate(&self->enc.tab, nstrs0);
    self->busy = 0;
    return NULL;
}

static PyObject *
FrameWriter_take(FrameWriterObject *self, PyObject *Py_UNUSED(ignored))
{
    if (FrameWriter_enter(self) < 0) {
        return NULL;
    }
    PyObject *res = NULL;
    xc_enc *e = &self->enc;
    if (xc_enc_write_header(e, self->nevents) < 0) {
        goto done;
    }
    res = PyBytes_FromStringAndSize(e->buf.data, e->buf.len);
    if (res == NULL) {
        goto done;
    }
    e->buf.len = XC_HEADER_SIZE;
    self->nevents = 0;
    xc_strtab_truncate(&e->tab, 0);
    if (e->buf.cap > XC_WRITER_KEEP) {
        /* do not pin the memory of one huge frame */
        char *p = PyMem_Realloc(e->buf.data, 256);
        if (p != NULL) {
            e->buf.data = p;
            e->buf.cap = 256;
        }
    }
done:
    self->busy = 0;
    return res;
}

static Py_ssize_t
FrameWriter_len(FrameWriterObject *self)
{
    return self->nevents;
}

static PyObject *
FrameWriter_get_nbytes(FrameWriterObject *self, void *Py_UNUSED(closure))
{
    Py_ssize_t n =
        self->enc.buf.data == NULL ? 0 : self->enc.buf.len - XC_HEADER_SIZE;
    return PyLong_FromSsize_t(n);
}

static PyMethodDef FrameWriter_methods[] = {
    {"add", (PyCFunction)(void (*)(void))FrameWriter_add,
     METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("add($self, kind, payload)\n--\n\n"
               "Encode and append one event (on error nothing is "
               "appended).")},
    {"take", (PyCFunction)FrameWriter_take, METH_NOARGS,
     PyDoc_STR("take($self, /)\n--\n\n"
               "Return the frame of everything added since the last "
               "take() and start a new, empty one.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FrameWriter_getset[] = {
    {"nbytes", (getter)FrameWriter_get_nbytes, NULL,
     PyDoc_STR("Size of the buffered frame body in bytes."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot FrameWriter_slots[] = {
    {Py_tp_new, FrameWriter_new},
    {Py_tp_dealloc, FrameWriter_dealloc},
    {Py_tp_traverse, FrameWriter_traverse},
    {Py_tp_clear, FrameWriter_clear},
    {Py_tp_methods, FrameWriter_methods},
    {Py_tp_getset, FrameWriter_getset},
    {Py_sq_length, FrameWriter_len},
    {Py_tp_doc,
     (void *)PyDoc_STR("FrameWriter()\n--\n\n"
                       "Accumulates events into one frame (worker side "
                       "batching).")},
    {0, NULL},
};

PyType_Spec xc_FrameWriter_spec = {
    .name = "xdist_c._core.FrameWriter",
    .basicsize = sizeof(FrameWriterObject),
    .flags = XC_GC_TYPE_FLAGS,
    .slots = FrameWriter_slots,
};
