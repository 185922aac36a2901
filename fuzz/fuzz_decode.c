/* fuzz_decode.c -- libFuzzer target for the wire decoder (csrc/codec.c).
 *
 * Python equivalent of one input (`data`, arbitrary bytes):
 *
 *     view = memoryview(data)          # points into libFuzzer's buffer
 *     for decode, encode in ((decode_frame, encode_frame), (loads, dumps)):
 *         try:
 *             value = decode(view)
 *         except FrameError:
 *             continue                 # malformed: the expected outcome
 *         once = encode(value)         # what decodes must re-encode ...
 *         assert encode(decode(once)) == once     # ... and be stable
 *     w = FrameWriter(); [w.add(k, p) for k, p in events]
 *     assert w.take() == encode_frame(events)     # (valid frames only)
 *     if data[:3] == b"XC\x01":                   # the same, with the
 *         decode_frame(data with the body length   # header's body length
 *                      field set to len(data) - 11)   # made to fit
 *     feeder(bytes(data)); events = pump.get(0)   # the controller's path:
 *     assert every event is a wire kind or a single EV_BADFRAME
 *     r, w = os.pipe(); pump.attach_stream(5, r)  # the event-pipe path:
 *     write data in two parts (split where data[0] says), get(0) after
 *     each, close w, get(0): the events must be exactly those of the
 *     whole frames the stream holds (split by their headers' body
 *     lengths), then one EV_BADFRAME if a frame is bad; the pump must
 *     have closed the stream
 *
 * Anything else -- another exception, an ASan/UBSan report, an abort --
 * is a finding.  The extension's sources are compiled into this binary
 * with the same sanitizer flags and registered as the built-in module
 * `_xc_core` (multi-phase init, as `import xdist_c._core` would run it),
 * so libFuzzer's coverage feedback reaches every line of the codec.
 * CPython runs with PYTHONMALLOC=malloc so that ASan sees every
 * allocation, and the decoder reads straight from libFuzzer's buffer, so
 * a read one byte past the input is reported.
 *
 * Build and run: `bash fuzz/run.sh` (see there).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

PyMODINIT_FUNC PyInit__core(void);

/* Everything below is created once in LLVMFuzzerInitialize; strong. */
static PyObject *mod, *FrameError, *decode_frame, *encode_frame, *loads,
    *dumps, *FrameWriter, *pump, *feeder, *gc_collect, *gc_get_objects;
static long ev_badframe;
static int have_streams;

#define STREAM_SLOT 5
#define STREAM_MAX_FRAME ((uint32_t)1 << 30) /* XC_STREAM_MAX_FRAME */
static uint64_t n_inputs;
static Py_ssize_t gc_baseline = -1;

#define LEAK_CHECK_FIRST 20000     /* baseline after this many inputs */
#define LEAK_CHECK_EVERY 100000    /* then compare this often */
#define LEAK_SLACK 5000            /* tolerated growth in gc objects */

/* Report a finding (with the Python traceback, if any) and abort, so
 * libFuzzer saves the input as a crash artifact. */
static void
finding(const char *what)
{
    fprintf(stderr, "\n[xc-fuzz] FINDING: %s\n", what);
    if (PyErr_Occurred()) {
        PyErr_Print();
    }
    fflush(stderr);
    abort();
}

/* Borrowed-ish: a new reference to attribute `name` of `obj`, or abort. */
static PyObject *
must_attr(PyObject *obj, const char *name)
{
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (v == NULL) {
        finding(name);
    }
    return v;
}

static PyObject *
call1(PyObject *fn, PyObject *arg)
{
    return PyObject_CallOneArg(fn, arg);
}

/* The result of a decode call: the value, or NULL after a FrameError
 * (cleared).  Any other exception is a finding. */
static PyObject *
decoded(PyObject *res, const char *what)
{
    if (res != NULL) {
        return res;
    }
    if (!PyErr_ExceptionMatches(FrameError)) {
        finding(what);
    }
    PyErr_Clear();
    return NULL;
}

/* encode(value) must work, and encode(decode(encode(value))) must give
 * the same bytes. */
static void
check_roundtrip(PyObject *encode, PyObject *decode, PyObject *value,
                const char *what)
{
    PyObject *once = call1(encode, value);
    if (once == NULL) {
        finding(what);
    }
    PyObject *back = call1(decode, once);
    if (back == NULL) {
        finding(what);
    }
    PyObject *twice = call1(encode, back);
    if (twice == NULL) {
        finding(what);
    }
    int eq = PyObject_RichCompareBool(once, twice, Py_EQ);
    if (eq != 1) {
        finding(what);
    }
    Py_DECREF(once);
    Py_DECREF(back);
    Py_DECREF(twice);
}

/* FrameWriter.add() of every event, then take(), equals encode_frame(). */
static void
check_writer(PyObject *events)
{
    PyObject *w = PyObject_CallNoArgs(FrameWriter);
    if (w == NULL) {
        finding("FrameWriter()");
    }
    Py_ssize_t n = PyList_GET_SIZE(events);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ev = PyList_GET_ITEM(events, i);
        PyObject *r = PyObject_CallMethod(
            w, "add", "OO", PyTuple_GET_ITEM(ev, 0), PyTuple_GET_ITEM(ev, 1));
        if (r == NULL) {
            finding("FrameWriter.add() of decoded events");
        }
        Py_DECREF(r);
    }
    PyObject *frame = PyObject_CallMethod(w, "take", NULL);
    PyObject *expected = call1(encode_frame, events);
    if (frame == NULL || expected == NULL ||
        PyObject_RichCompareBool(frame, expected, Py_EQ) != 1) {
        finding("FrameWriter.take() != encode_frame()");
    }
    Py_DECREF(frame);
    Py_DECREF(expected);
    Py_DECREF(w);
}

/* Decode `data` as a frame (through a zero-copy memoryview) and check
 * the result as above.  Returns the events (new reference) or NULL after
 * a FrameError. */
static PyObject *
check_frame(const uint8_t *data, size_t size)
{
    PyObject *view =
        PyMemoryView_FromMemory((char *)data, (Py_ssize_t)size, PyBUF_READ);
    if (view == NULL) {
        finding("memoryview");
    }
    PyObject *events = decoded(call1(decode_frame, view), "decode_frame()");
    if (events != NULL) {
        if (!PyList_Check(events)) {
            finding("decode_frame() result type");
        }
        check_roundtrip(encode_frame, decode_frame, events,
                        "frame roundtrip");
        check_writer(events);
    }
    if (Py_REFCNT(view) != 1) {
        finding("decode_frame() kept a reference to its input");
    }
    Py_DECREF(view);
    return events;
}

/* Mutations almost never keep the header's body length equal to the
 * real one, so most mutated frames stop at the header.  Decode a copy
 * whose body length is made to fit, to reach the events. */
static void
check_repaired_frame(const uint8_t *data, size_t size)
{
    if (size < 11 || size - 11 > 0xFFFFFFFFu ||
        memcmp(data, "XC\x01", 3) != 0) {
        return;
    }
    uint32_t body = (uint32_t)(size - 11);
    if (data[7] == (uint8_t)body && data[8] == (uint8_t)(body >> 8) &&
        data[9] == (uint8_t)(body >> 16) &&
        data[10] == (uint8_t)(body >> 24)) {
        return; /* already decoded as it is */
    }
    uint8_t *copy = malloc(size); /* exactly sized, for ASan */
    if (copy == NULL) {
        abort();
    }
    memcpy(copy, data, size);
    copy[7] = (uint8_t)body;
    copy[8] = (uint8_t)(body >> 8);
    copy[9] = (uint8_t)(body >> 16);
    copy[10] = (uint8_t)(body >> 24);
    PyObject *events = check_frame(copy, size);
    Py_XDECREF(events);
    free(copy);
}

/* The controller's path: feeder -> Pump.get(0).  A frame gives its
 * events, or exactly one EV_BADFRAME with a str message. */
static void
check_pump(const uint8_t *data, size_t size, int frame_ok)
{
    PyObject *b =
        PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    if (b == NULL) {
        finding("bytes()");
    }
    PyObject *r = call1(feeder, b);
    if (r == NULL) {
        finding("feeder()");
    }
    Py_DECREF(r);
    PyObject *zero = PyFloat_FromDouble(0.0);
    PyObject *out = PyObject_CallMethod(pump, "get", "O", zero);
    Py_DECREF(zero);
    if (out == NULL || !PyList_Check(out)) {
        finding("Pump.get()");
    }
    Py_ssize_t n = PyList_GET_SIZE(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ev = PyList_GET_ITEM(out, i);
        if (!PyTuple_Check(ev) || PyTuple_GET_SIZE(ev) != 3) {
            finding("Pump.get() event shape");
        }
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(ev, 1));
        if (kind == ev_badframe) {
            if (frame_ok || n != 1 ||
                !PyUnicode_Check(PyTuple_GET_ITEM(ev, 2))) {
                finding("EV_BADFRAME for a good frame, or not alone");
            }
        }
        else if (!frame_ok || kind < 0 || kind > 63) {
            finding("Pump.get() event kind");
        }
    }
    if (PyObject_Size(pump) != 0) {
        finding("Pump not drained by get()");
    }
    Py_DECREF(out);
    if (size > 1 && Py_REFCNT(b) != 1) { /* b"" and b"x" are shared */
        finding("the Pump kept a reference to the frame");
    }
    Py_DECREF(b);
}

/* new reference: pump.get(0), which must succeed and be a list */
static PyObject *
pump_get0(void)
{
    PyObject *zero = PyFloat_FromDouble(0.0);
    PyObject *out = PyObject_CallMethod(pump, "get", "O", zero);
    Py_DECREF(zero);
    if (out == NULL || !PyList_Check(out)) {
        finding("Pump.get()");
    }
    return out;
}

static void
write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            return; /* EPIPE: the pump closed a malformed stream */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* What the pump must make of `data` as a stream: the events of each whole
 * frame in turn, each frame's extent given by its header; a frame with
 * bad magic, over the size limit or failing to decode ends it with one
 * EV_BADFRAME (None stands for it here); a trailing partial frame is
 * dropped.  New reference: a list of (kind, payload) or None. */
static PyObject *
expected_stream_events(const uint8_t *data, size_t size)
{
    PyObject *out = PyList_New(0);
    size_t pos = 0;
    while (size - pos >= 11) {
        const uint8_t *h = data + pos;
        uint32_t body = (uint32_t)h[7] | (uint32_t)h[8] << 8 |
                        (uint32_t)h[9] << 16 | (uint32_t)h[10] << 24;
        if (h[0] != 'X' || h[1] != 'C' || body > STREAM_MAX_FRAME) {
            PyList_Append(out, Py_None);
            break;
        }
        if (size - pos - 11 < body) {
            break;
        }
        PyObject *piece = PyBytes_FromStringAndSize((const char *)h,
                                                    (Py_ssize_t)(11 + body));
        PyObject *evs = decoded(call1(decode_frame, piece), "decode_frame()");
        Py_DECREF(piece);
        if (evs == NULL) {
            PyList_Append(out, Py_None);
            break;
        }
        Py_ssize_t n = PyList_GET_SIZE(evs);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyList_Append(out, PyList_GET_ITEM(evs, i));
        }
        Py_DECREF(evs);
        pos += 11 + body;
    }
    return out;
}

/* The event-pipe path: Pump.attach_stream() on a pipe holding `data`. */
static void
check_stream(const uint8_t *data, size_t size)
{
    if (!have_streams) {
        return;
    }
    int p[2];
    if (pipe(p) < 0) {
        finding("pipe()");
    }
    PyObject *r =
        PyObject_CallMethod(pump, "attach_stream", "ii", STREAM_SLOT, p[0]);
    if (r == NULL) {
        finding("Pump.attach_stream()");
    }
    Py_DECREF(r);
    size_t split = size > 0 ? (size_t)data[0] * size / 256 : 0;
    PyObject *got = PyList_New(0);
    write_all(p[1], data, split);
    PyObject *part = pump_get0();
    PyList_SetSlice(got, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, part);
    Py_DECREF(part);
    write_all(p[1], data + split, size - split);
    close(p[1]);
    for (int tries = 0;; tries++) {
        PyObject *nstreams = PyObject_GetAttrString(pump, "nstreams");
        long left = nstreams == NULL ? -1 : PyLong_AsLong(nstreams);
        Py_XDECREF(nstreams);
        if (left == 0) {
            break;
        }
        if (left < 0 || tries == 100) {
            finding("the pump did not close a stream at its end");
        }
        part = pump_get0();
        PyList_SetSlice(got, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, part);
        Py_DECREF(part);
    }
    PyObject *want = expected_stream_events(data, size);
    Py_ssize_t n = PyList_GET_SIZE(want);
    if (PyList_GET_SIZE(got) != n) {
        finding("stream events differ from the frames' (count)");
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *g = PyList_GET_ITEM(got, i), *w = PyList_GET_ITEM(want, i);
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(g, 1));
        if (PyLong_AsLong(PyTuple_GET_ITEM(g, 0)) != STREAM_SLOT) {
            finding("stream event for the wrong slot");
        }
        if (w == Py_None) {
            if (kind != ev_badframe ||
                !PyUnicode_Check(PyTuple_GET_ITEM(g, 2))) {
                finding("stream: EV_BADFRAME expected");
            }
            continue;
        }
        if (kind != PyLong_AsLong(PyTuple_GET_ITEM(w, 0))) {
            finding("stream event kind differs from the frame's");
        }
        PyObject *a = call1(dumps, PyTuple_GET_ITEM(g, 2));
        PyObject *b = call1(dumps, PyTuple_GET_ITEM(w, 1));
        if (a == NULL || b == NULL ||
            PyObject_RichCompareBool(a, b, Py_EQ) != 1) {
            finding("stream event payload differs from the frame's");
        }
        Py_DECREF(a);
        Py_DECREF(b);
    }
    Py_DECREF(want);
    Py_DECREF(got);
}

/* Container leaks show up as a growing number of gc-tracked objects. */
static void
check_gc_growth(void)
{
    PyObject *r = PyObject_CallNoArgs(gc_collect);
    if (r == NULL) {
        finding("gc.collect()");
    }
    Py_DECREF(r);
    PyObject *objs = PyObject_CallNoArgs(gc_get_objects);
    if (objs == NULL) {
        finding("gc.get_objects()");
    }
    Py_ssize_t n = PyList_GET_SIZE(objs);
    Py_DECREF(objs);
    if (gc_baseline < 0) {
        gc_baseline = n;
    }
    fprintf(stderr, "[xc-fuzz] %llu inputs, %zd gc objects (baseline %zd)\n",
            (unsigned long long)n_inputs, n, gc_baseline);
    if (n - gc_baseline > LEAK_SLACK) {
        finding("gc-tracked objects keep growing (a leak)");
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    PyStatus status;
    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.allocator = PYMEM_ALLOCATOR_MALLOC; /* ASan sees it all */
    status = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }
    if (PyImport_AppendInittab("_xc_core", PyInit__core) < 0) {
        fprintf(stderr, "PyImport_AppendInittab failed\n");
        abort();
    }
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.install_signal_handlers = 0; /* libFuzzer owns the signals */
    config.write_bytecode = 0;
    const char *home = getenv("XC_FUZZ_PYTHONHOME");
    if (home != NULL && *home) {
        status = PyConfig_SetBytesString(&config, &config.home, home);
        if (PyStatus_Exception(status)) {
            Py_ExitStatusException(status);
        }
    }
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }

    mod = PyImport_ImportModule("_xc_core");
    if (mod == NULL) {
        finding("import _xc_core");
    }
    FrameError = must_attr(mod, "FrameError");
    decode_frame = must_attr(mod, "decode_frame");
    encode_frame = must_attr(mod, "encode_frame");
    loads = must_attr(mod, "loads");
    dumps = must_attr(mod, "dumps");
    FrameWriter = must_attr(mod, "FrameWriter");
    PyObject *v = must_attr(mod, "EV_BADFRAME");
    ev_badframe = PyLong_AsLong(v);
    Py_DECREF(v);
    PyObject *Pump = must_attr(mod, "Pump");
    pump = PyObject_CallNoArgs(Pump);
    Py_DECREF(Pump);
    if (pump == NULL) {
        finding("Pump()");
    }
    feeder = PyObject_CallMethod(pump, "feeder", "i", 7);
    if (feeder == NULL) {
        finding("Pump.feeder()");
    }
    have_streams = PyObject_HasAttrString(pump, "attach_stream");
    signal(SIGPIPE, SIG_IGN); /* writes to a stream the pump closed */
    PyObject *gc = PyImport_ImportModule("gc");
    if (gc == NULL) {
        finding("import gc");
    }
    gc_collect = must_attr(gc, "collect");
    gc_get_objects = must_attr(gc, "get_objects");
    Py_DECREF(gc);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Zero-copy views of libFuzzer's exactly-sized buffer: a read past
     * the input is a heap-buffer-overflow. */
    PyObject *events = check_frame(data, size);
    check_repaired_frame(data, size);

    PyObject *view =
        PyMemoryView_FromMemory((char *)data, (Py_ssize_t)size, PyBUF_READ);
    if (view == NULL) {
        finding("memoryview");
    }
    PyObject *value = decoded(call1(loads, view), "loads()");
    if (value != NULL) {
        check_roundtrip(dumps, loads, value, "value roundtrip");
        Py_DECREF(value);
    }
    if (Py_REFCNT(view) != 1) {
        finding("loads() kept a reference to its input");
    }
    Py_DECREF(view);

    check_pump(data, size, events != NULL);
    check_stream(data, size);
    Py_XDECREF(events);
    if (PyErr_Occurred()) {
        finding("exception left set");
    }

    n_inputs++;
    if (n_inputs == LEAK_CHECK_FIRST ||
        (n_inputs > LEAK_CHECK_FIRST && n_inputs % LEAK_CHECK_EVERY == 0)) {
        check_gc_growth();
    }
    return 0;
}
