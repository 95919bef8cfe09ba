/*
 * mixlab's optional native matrix product: a Node-API addon that finds a system BLAS at run time
 * (dlopen: OpenBLAS first, then any libblas.so.3) and exposes one row-major single-precision GEMM
 * on Float32Arrays with element offsets and leading dimensions, so the proxy trainer's CPU path
 * multiplies with the same kernels PyTorch uses on these machines. Nothing is linked at build
 * time: the addon builds with a C compiler and Node's headers alone, and reports null when no
 * BLAS can be loaded. BLAS threads are set to one (parallelism comes from mixlab's own threads
 * and worker processes, and one thread keeps results independent of the machine's core count).
 */
#include <node_api.h>
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include "kernels.c"

typedef void (*sgemm_fn)(const char *, const char *, const int *, const int *, const int *, const float *, const float *, const int *, const float *, const int *, const float *, float *, const int *);
typedef void (*set_threads_fn)(int);

static sgemm_fn sgemm = NULL;
static char loaded[512];

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NULL, "mixlab native blas: " #call " failed"); \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

/* load(candidates: string[]): string | null — the library that provided sgemm_, or null. */
static napi_value Load(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 0;
  CHECK(napi_get_array_length(env, argv[0], &n));
  for (uint32_t i = 0; i < n && sgemm == NULL; i++) {
    napi_value item;
    char name[512];
    size_t len = 0;
    CHECK(napi_get_element(env, argv[0], i, &item));
    CHECK(napi_get_value_string_utf8(env, item, name, sizeof name, &len));
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) continue;
    sgemm_fn f = (sgemm_fn)dlsym(h, "sgemm_");
    if (f == NULL) {
      dlclose(h);
      continue;
    }
    set_threads_fn t = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
    if (t != NULL) t(1);
    sgemm = f;
    memcpy(loaded, name, len < sizeof loaded ? len + 1 : sizeof loaded); /* len excludes the NUL */
    loaded[sizeof loaded - 1] = 0;
  }
  if (sgemm == NULL) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  CHECK(napi_create_string_utf8(env, loaded, NAPI_AUTO_LENGTH, &result));
  return result;
}

static int f32(napi_env env, napi_value v, float **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, length, &p, &buffer, &offset) != napi_ok || type != napi_float32_array) return 0;
  *data = (float *)p;
  return 1;
}

/*
 * gemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc):
 * row-major C[M×N] = alpha·op(A)·op(B) + beta·C, op(A) M×K, op(B) K×N. Row-major C is column-major
 * Cᵀ = op(B)ᵀ·op(A)ᵀ, so the column-major routine is called with the operands swapped.
 */
static napi_value Gemm(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value argv[16];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 16 || sgemm == NULL) {
    napi_throw_error(env, NULL, "mixlab native blas: gemm needs 16 arguments and a loaded BLAS");
    return NULL;
  }
  bool ta, tb;
  int32_t M, N, K, aOff, lda, bOff, ldb, cOff, ldc;
  double alpha, beta;
  float *A, *B, *C;
  size_t na, nb, nc;
  CHECK(napi_get_value_bool(env, argv[0], &ta));
  CHECK(napi_get_value_bool(env, argv[1], &tb));
  CHECK(napi_get_value_int32(env, argv[2], &M));
  CHECK(napi_get_value_int32(env, argv[3], &N));
  CHECK(napi_get_value_int32(env, argv[4], &K));
  CHECK(napi_get_value_double(env, argv[5], &alpha));
  CHECK(napi_get_value_int32(env, argv[7], &aOff));
  CHECK(napi_get_value_int32(env, argv[8], &lda));
  CHECK(napi_get_value_int32(env, argv[10], &bOff));
  CHECK(napi_get_value_int32(env, argv[11], &ldb));
  CHECK(napi_get_value_double(env, argv[12], &beta));
  CHECK(napi_get_value_int32(env, argv[14], &cOff));
  CHECK(napi_get_value_int32(env, argv[15], &ldc));
  if (!f32(env, argv[6], &A, &na) || !f32(env, argv[9], &B, &nb) || !f32(env, argv[13], &C, &nc)) {
    napi_throw_type_error(env, NULL, "mixlab native blas: A, B and C must be Float32Arrays");
    return NULL;
  }
  /* Bounds: the last element each operand touches must lie inside its array. */
  size_t aRows = ta ? K : M, aCols = ta ? M : K, bRows = tb ? N : K, bCols = tb ? K : N;
  if (M <= 0 || N <= 0 || K <= 0 || aOff < 0 || bOff < 0 || cOff < 0 || (size_t)lda < aCols || (size_t)ldb < bCols || ldc < N ||
      (size_t)aOff + (aRows - 1) * (size_t)lda + aCols > na || (size_t)bOff + (bRows - 1) * (size_t)ldb + bCols > nb ||
      (size_t)cOff + (size_t)(M - 1) * (size_t)ldc + (size_t)N > nc) {
    napi_throw_range_error(env, NULL, "mixlab native blas: gemm operand out of bounds");
    return NULL;
  }
  const char *opB = tb ? "T" : "N", *opA = ta ? "T" : "N";
  float a = (float)alpha, b = (float)beta;
  sgemm(opB, opA, &N, &M, &K, &a, B + bOff, &ldb, A + aOff, &lda, &b, C + cOff, &ldc);
  return NULL;
}

/* Argument readers for the kernel wrappers: a Float32Array (or Int32Array) of at least `need` elements, an int, a double. */
static float *argF32(napi_env env, napi_value v, size_t need, int *ok) {
  napi_typedarray_type type;
  size_t len, off;
  void *p;
  napi_value buf;
  if (!*ok) return NULL;
  if (napi_get_typedarray_info(env, v, &type, &len, &p, &buf, &off) != napi_ok || type != napi_float32_array || len < need) {
    *ok = 0;
    return NULL;
  }
  return (float *)p;
}
static int32_t *argI32s(napi_env env, napi_value v, size_t need, int *ok) {
  napi_typedarray_type type;
  size_t len, off;
  void *p;
  napi_value buf;
  if (!*ok) return NULL;
  if (napi_get_typedarray_info(env, v, &type, &len, &p, &buf, &off) != napi_ok || type != napi_int32_array || len < need) {
    *ok = 0;
    return NULL;
  }
  return (int32_t *)p;
}
static int argInt(napi_env env, napi_value v, int *ok) {
  int32_t x = 0;
  if (*ok && (napi_get_value_int32(env, v, &x) != napi_ok || x < 0)) *ok = 0;
  return x;
}
static double argNum(napi_env env, napi_value v, int *ok) {
  double x = 0;
  if (*ok && napi_get_value_double(env, v, &x) != napi_ok) *ok = 0;
  return x;
}
#define ARGS(n)                                                      \
  size_t argc = n;                                                   \
  napi_value a[n];                                                   \
  int ok = napi_get_cb_info(env, info, &argc, a, NULL, NULL) == napi_ok && argc == n;
#define DONE(name)                                                   \
  if (!ok) napi_throw_type_error(env, NULL, "mixlab native kernels: bad arguments to " name); \
  return NULL;

/* The same argument lists as src/proxy/kernels.ts. */
static napi_value LayerNormForward(napi_env env, napi_callback_info info) {
  ARGS(9);
  int K = argInt(env, a[3], &ok), R = argInt(env, a[4], &ok), d = argInt(env, a[5], &ok);
  size_t n = (size_t)K * R * d;
  float *x = argF32(env, a[0], n, &ok), *g = argF32(env, a[1], (size_t)K * d, &ok), *b = argF32(env, a[2], (size_t)K * d, &ok);
  float *y = argF32(env, a[6], n, &ok), *mean = argF32(env, a[7], (size_t)K * R, &ok), *rstd = argF32(env, a[8], (size_t)K * R, &ok);
  if (ok) layer_norm_forward(x, g, b, K, R, d, y, mean, rstd);
  DONE("layerNormForward");
}
static napi_value LayerNormBackward(napi_env env, napi_callback_info info) {
  ARGS(11);
  int K = argInt(env, a[5], &ok), R = argInt(env, a[6], &ok), d = argInt(env, a[7], &ok);
  size_t n = (size_t)K * R * d;
  float *x = argF32(env, a[0], n, &ok), *g = argF32(env, a[1], (size_t)K * d, &ok), *mean = argF32(env, a[2], (size_t)K * R, &ok), *rstd = argF32(env, a[3], (size_t)K * R, &ok);
  float *dy = argF32(env, a[4], n, &ok), *dx = argF32(env, a[8], n, &ok), *dg = argF32(env, a[9], (size_t)K * d, &ok), *db = argF32(env, a[10], (size_t)K * d, &ok);
  if (ok) layer_norm_backward(x, g, mean, rstd, dy, K, R, d, dx, dg, db);
  DONE("layerNormBackward");
}
static napi_value BiasGeluForward(napi_env env, napi_callback_info info) {
  ARGS(8);
  int K = argInt(env, a[2], &ok), R = argInt(env, a[3], &ok), f = argInt(env, a[4], &ok);
  size_t n = (size_t)K * R * f;
  float *x = argF32(env, a[0], n, &ok), *bias = argF32(env, a[1], (size_t)K * f, &ok), *pre = argF32(env, a[5], n, &ok), *th = argF32(env, a[6], n, &ok), *y = argF32(env, a[7], n, &ok);
  if (ok) bias_gelu_forward(x, bias, K, R, f, pre, th, y);
  DONE("biasGeluForward");
}
static napi_value BiasGeluBackward(napi_env env, napi_callback_info info) {
  ARGS(8);
  int K = argInt(env, a[3], &ok), R = argInt(env, a[4], &ok), f = argInt(env, a[5], &ok);
  size_t n = (size_t)K * R * f;
  float *pre = argF32(env, a[0], n, &ok), *th = argF32(env, a[1], n, &ok), *dy = argF32(env, a[2], n, &ok), *dx = argF32(env, a[6], n, &ok), *db = argF32(env, a[7], (size_t)K * f, &ok);
  if (ok) bias_gelu_backward(pre, th, dy, K, R, f, dx, db);
  DONE("biasGeluBackward");
}
static napi_value CausalSoftmax(napi_env env, napi_callback_info info) {
  ARGS(3);
  int T = argInt(env, a[1], &ok);
  double scale = argNum(env, a[2], &ok);
  float *s = argF32(env, a[0], (size_t)T * T, &ok);
  if (ok) causal_softmax(s, T, scale);
  DONE("causalSoftmax");
}
static napi_value CausalSoftmaxBackward(napi_env env, napi_callback_info info) {
  ARGS(5);
  int T = argInt(env, a[2], &ok);
  double scale = argNum(env, a[3], &ok);
  size_t n = (size_t)T * T;
  float *p = argF32(env, a[0], n, &ok), *dp = argF32(env, a[1], n, &ok), *ds = argF32(env, a[4], n, &ok);
  if (ok) causal_softmax_backward(p, dp, T, scale, ds);
  DONE("causalSoftmaxBackward");
}
static napi_value CrossEntropyForward(napi_env env, napi_callback_info info) {
  ARGS(6);
  int R = argInt(env, a[2], &ok), V = argInt(env, a[3], &ok);
  float *l = argF32(env, a[0], (size_t)R * V, &ok), *losses = argF32(env, a[4], R, &ok), *lse = argF32(env, a[5], R, &ok);
  int32_t *t = argI32s(env, a[1], R, &ok);
  for (int r = 0; ok && r < R; r++)
    if (t[r] < 0 || t[r] >= V) ok = 0;
  if (ok) cross_entropy_forward(l, t, R, V, losses, lse);
  DONE("crossEntropyForward");
}
static napi_value CrossEntropyBackward(napi_env env, napi_callback_info info) {
  ARGS(7);
  int R = argInt(env, a[4], &ok), V = argInt(env, a[5], &ok);
  float *l = argF32(env, a[0], (size_t)R * V, &ok), *lse = argF32(env, a[2], R, &ok), *dl = argF32(env, a[3], R, &ok), *d = argF32(env, a[6], (size_t)R * V, &ok);
  int32_t *t = argI32s(env, a[1], R, &ok);
  for (int r = 0; ok && r < R; r++)
    if (t[r] < 0 || t[r] >= V) ok = 0;
  if (ok) cross_entropy_backward(l, t, lse, dl, R, V, d);
  DONE("crossEntropyBackward");
}

static napi_value SumRows(napi_env env, napi_callback_info info) {
  ARGS(5);
  int K = argInt(env, a[1], &ok), R = argInt(env, a[2], &ok), n = argInt(env, a[3], &ok);
  float *dy = argF32(env, a[0], (size_t)K * R * n, &ok), *out = argF32(env, a[4], (size_t)K * n, &ok);
  if (ok) sum_rows(dy, K, R, n, out);
  DONE("sumRows");
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  struct { const char *name; napi_callback cb; } fns[] = {
    {"load", Load}, {"gemm", Gemm}, {"layerNormForward", LayerNormForward}, {"layerNormBackward", LayerNormBackward},
    {"biasGeluForward", BiasGeluForward}, {"biasGeluBackward", BiasGeluBackward}, {"causalSoftmax", CausalSoftmax},
    {"causalSoftmaxBackward", CausalSoftmaxBackward}, {"crossEntropyForward", CrossEntropyForward}, {"crossEntropyBackward", CrossEntropyBackward},
    {"sumRows", SumRows},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn));
    CHECK(napi_set_named_property(env, exports, fns[i].name, fn));
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
