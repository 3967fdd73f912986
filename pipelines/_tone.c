/* The tone pass: one lookup table per channel, applied in place to a frame of RGBX pixels.

   Pillow's point() does the same lookups, but into a new image: 22 ms of loop for 12 MP, 30 ms with the strips
   darkroom crops and pastes back so as not to need a second frame. Here the frame is darkroom's own memory
   (pipelines.codec decodes into it), so the lookups are done where the pixels are. On a CPU with AVX-512 VBMI
   (Intel since Ice Lake, AMD since Zen 4) 16 pixels go through six byte permutes (vpermi2b: 128 table entries
   each); elsewhere a scalar loop does it. Both give exactly what point() gives: tests compare them byte for byte.
   The GIL is released for the loop, as Pillow does, so a process's other photos threads run meanwhile.
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define PIXEL 4     /* Pillow keeps RGB as RGBX, 4 bytes a pixel; the X byte is left as it is */
#define TABLE 256   /* entries per channel */

static void
portable_lookup(uint8_t *p, size_t pixels, const uint8_t *lut) {
    const uint8_t *r = lut, *g = lut + TABLE, *b = lut + 2 * TABLE;
    for (size_t i = 0; i < pixels; i++, p += PIXEL) {
        /* All three read before any write: the compiler cannot know that p does not alias lut. */
        uint8_t x = r[p[0]], y = g[p[1]], z = b[p[2]];
        p[0] = x;
        p[1] = y;
        p[2] = z;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_VBMI 1

/* 16 pixels (64 bytes) a step; returns how many pixels it did, the rest is the portable loop's. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static size_t
vbmi_lookup(uint8_t *p, size_t pixels, const uint8_t *lut) {
    __m512i quarter[3][4]; /* each channel's 256 entries as four 64-byte registers */
    for (int c = 0; c < 3; c++) {
        for (int q = 0; q < 4; q++) {
            quarter[c][q] = _mm512_loadu_si512((const void *)(lut + c * TABLE + q * 64));
        }
    }
    /* the bytes of each channel in 16 RGBX pixels: R at 0, 4, 8..., G at 1, 5..., B at 2, 6... */
    const __mmask64 channel[3] = {0x1111111111111111ULL, 0x2222222222222222ULL, 0x4444444444444444ULL};
    size_t steps = pixels / 16;
    for (size_t i = 0; i < steps; i++, p += 64) {
        __m512i v = _mm512_loadu_si512((const void *)p);
        /* vpermi2b indexes 128 entries by a byte's low 7 bits; the high bit picks the upper half's result */
        __mmask64 upper = _mm512_movepi8_mask(v);
        __m512i out = v;
        for (int c = 0; c < 3; c++) {
            __m512i low = _mm512_permutex2var_epi8(quarter[c][0], v, quarter[c][1]);
            __m512i high = _mm512_permutex2var_epi8(quarter[c][2], v, quarter[c][3]);
            out = _mm512_mask_mov_epi8(out, channel[c] & ~upper, low);
            out = _mm512_mask_mov_epi8(out, channel[c] & upper, high);
        }
        _mm512_storeu_si512((void *)p, out);
    }
    return steps * 16;
}

static int
has_vbmi(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vbmi");
}
#endif

static int use_simd = 0;

static PyObject *
lookup(PyObject *args, int simd) {
    Py_buffer frame, lut;
    if (!PyArg_ParseTuple(args, "w*y*", &frame, &lut)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (frame.len % PIXEL) {
        PyErr_Format(PyExc_ValueError, "a frame is whole RGBX pixels: %zd bytes is not", frame.len);
    } else if (lut.len != 3 * TABLE) {
        PyErr_Format(PyExc_ValueError, "the table is %d entries per channel, 3 channels: not %zd", TABLE, lut.len);
    } else {
        uint8_t *p = (uint8_t *)frame.buf;
        size_t pixels = (size_t)frame.len / PIXEL, done = 0;
        Py_BEGIN_ALLOW_THREADS
#ifdef HAVE_VBMI
        if (simd) {
            done = vbmi_lookup(p, pixels, (const uint8_t *)lut.buf);
        }
#endif
        portable_lookup(p + done * PIXEL, pixels - done, (const uint8_t *)lut.buf);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&frame);
    PyBuffer_Release(&lut);
    return result;
}

static PyObject *
apply(PyObject *self, PyObject *args) {
    return lookup(args, use_simd);
}

static PyObject *
apply_portable(PyObject *self, PyObject *args) {
    return lookup(args, 0);
}

static PyMethodDef methods[] = {
    {"apply", apply, METH_VARARGS,
     "apply(frame, lut): each RGBX pixel's R, G, B through lut[0:256], lut[256:512], lut[512:768], in place"},
    {"apply_portable", apply_portable, METH_VARARGS, "apply() without SIMD, as on a CPU without AVX-512 VBMI"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tone", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__tone(void) {
#ifdef HAVE_VBMI
    use_simd = has_vbmi();
#endif
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "SIMD", use_simd ? "avx512vbmi" : "") < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
