/*
 * The fused CPU kernels of src/proxy/kernels.ts in C, for the `blas` backend (same arguments,
 * same maths; float64 arithmetic on float32 storage, except the GELU, which runs in float32 so
 * that it vectorises; tested equal to the TypeScript versions). Built with -O3.
 * Included by blas.c: one addon. The TypeScript versions remain the wasm backend's.
 */
#include <math.h>
#include <stdint.h>

static const double GELU_C = 0.7978845608028654; /* sqrt(2 / pi) */

/*
 * tanh in float32 to within 3e-7 (absolute) in a few operations that vectorise: e^(−2|u|) = 2^k·2^f
 * with k = round(x), f = x − k in [−½, ½], 2^f by its Taylor series to degree 6 (error < 2e-8),
 * 2^k by writing the float's exponent bits. libm's tanh was most of a GELU (about 20 ns each).
 */
static inline float fast_tanhf(float u) {
  /* a = min(|u|, 9) compared on the bits (exact for non-negative floats, and it vectorises);
     1 − tanh(9) < 3e-8. A NaN becomes 9 here, but the GELU's other factor keeps it NaN. */
  union { float f; int32_t i; } ua = {.f = fabsf(u)};
  ua.i = ua.i < 0x41100000 ? ua.i : 0x41100000;
  float a = ua.f;
  float x = -2.0f * 1.44269504f * a; /* −2|u|·log2(e), in [−26, 0] */
  int32_t k = (int32_t)(x - 0.5f); /* x ≤ 0: truncating x − ½ rounds to nearest */
  float f = x - (float)k;
  const float l = 0.693147181f;
  float p = 1.0f + f * (l + f * (0.240226507f + f * (0.0555041087f + f * (0.00961812911f + f * (0.00133335581f + f * 0.000154035304f)))));
  union { int32_t i; float f; } two = {.i = (k + 127) << 23};
  float t = p * two.f;
  float r = (1.0f - t) / (1.0f + t);
  return copysignf(r, u);
}

static void layer_norm_forward(const float *x, const float *g, const float *b, int K, int rows, int d, float *y, float *mean, float *rstd) {
  for (int k = 0; k < K; k++) {
    const float *gk = g + (size_t)k * d, *bk = b + (size_t)k * d;
    for (int r = 0; r < rows; r++) {
      size_t n = (size_t)k * rows + r;
      const float *xr = x + n * d;
      float *yr = y + n * d;
      double s = 0, v = 0;
      for (int c = 0; c < d; c++) s += xr[c];
      double mu = s / d;
      for (int c = 0; c < d; c++) {
        double z = xr[c] - mu;
        v += z * z;
      }
      double rs = 1 / sqrt(v / d + 1e-5);
      mean[n] = (float)mu;
      rstd[n] = (float)rs;
      for (int c = 0; c < d; c++) yr[c] = (float)((xr[c] - mu) * rs * gk[c] + bk[c]);
    }
  }
}

static void layer_norm_backward(const float *x, const float *g, const float *mean, const float *rstd, const float *dy, int K, int rows, int d, float *dx, float *dg, float *db) {
  for (size_t i = 0; i < (size_t)K * d; i++) dg[i] = db[i] = 0;
  for (int k = 0; k < K; k++) {
    const float *gk = g + (size_t)k * d;
    float *dgk = dg + (size_t)k * d, *dbk = db + (size_t)k * d;
    for (int r = 0; r < rows; r++) {
      size_t n = (size_t)k * rows + r;
      const float *xr = x + n * d, *dyr = dy + n * d;
      float *dxr = dx + n * d;
      double mu = mean[n], rs = rstd[n], s1 = 0, s2 = 0;
      for (int c = 0; c < d; c++) {
        double xh = (xr[c] - mu) * rs, gy = dyr[c];
        dgk[c] = (float)(dgk[c] + gy * xh);
        dbk[c] = (float)(dbk[c] + gy);
        double dxh = gy * gk[c];
        s1 += dxh;
        s2 += dxh * xh;
      }
      s1 /= d;
      s2 /= d;
      for (int c = 0; c < d; c++) {
        double xh = (xr[c] - mu) * rs;
        dxr[c] = (float)(rs * ((double)dyr[c] * gk[c] - s1 - xh * s2));
      }
    }
  }
}

static void bias_gelu_forward(const float *x, const float *bias, int K, int rows, int f, float *pre, float *th, float *y) {
  for (int k = 0; k < K; k++) {
    const float *bk = bias + (size_t)k * f;
    for (int r = 0; r < rows; r++) {
      size_t o = ((size_t)k * rows + r) * f;
      for (int c = 0; c < f; c++) {
        float v = x[o + c] + bk[c];
        pre[o + c] = v;
        float t = fast_tanhf((float)GELU_C * (v + 0.044715f * v * v * v));
        th[o + c] = t;
        y[o + c] = 0.5f * v * (1.0f + t);
      }
    }
  }
}

static void bias_gelu_backward(const float *pre, const float *th, const float *dy, int K, int rows, int f, float *dx, float *dbias) {
  for (size_t i = 0; i < (size_t)K * f; i++) dbias[i] = 0;
  for (int k = 0; k < K; k++) {
    float *bk = dbias + (size_t)k * f;
    for (int r = 0; r < rows; r++) {
      size_t o = ((size_t)k * rows + r) * f;
      for (int c = 0; c < f; c++) {
        float v = pre[o + c], t = th[o + c];
        float grad = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * (float)GELU_C * (1.0f + 3.0f * 0.044715f * v * v);
        float gx = dy[o + c] * grad;
        dx[o + c] = gx;
        bk[c] += gx;
      }
    }
  }
}

static void causal_softmax(float *s, int T, double scale) {
  for (int i = 0; i < T; i++) {
    float *row = s + (size_t)i * T;
    double max = -INFINITY, sum = 0;
    for (int j = 0; j <= i; j++) {
      double x = row[j] * scale;
      row[j] = (float)x;
      if (x > max) max = x;
    }
    for (int j = 0; j <= i; j++) {
      float e = (float)exp(row[j] - max);
      row[j] = e;
      sum += e;
    }
    double inv = 1 / sum;
    for (int j = 0; j <= i; j++) row[j] = (float)(row[j] * inv);
    for (int j = i + 1; j < T; j++) row[j] = 0;
  }
}

static void causal_softmax_backward(const float *p, const float *dp, int T, double scale, float *ds) {
  for (int i = 0; i < T; i++) {
    const float *pr = p + (size_t)i * T, *dpr = dp + (size_t)i * T;
    double dot = 0;
    for (int j = 0; j <= i; j++) dot += (double)pr[j] * dpr[j];
    for (int j = 0; j < T; j++) {
      ds[(size_t)i * T + j] = j <= i ? (float)(pr[j] * (dpr[j] - dot) * scale) : 0;
    }
  }
}

static void cross_entropy_forward(const float *logits, const int32_t *targets, int rows, int V, float *losses, float *lse) {
  for (int r = 0; r < rows; r++) {
    const float *l = logits + (size_t)r * V;
    double max = -INFINITY, sum = 0;
    for (int c = 0; c < V; c++)
      if (l[c] > max) max = l[c];
    for (int c = 0; c < V; c++) sum += exp(l[c] - max);
    double s = max + log(sum);
    lse[r] = (float)s;
    losses[r] = (float)(s - l[targets[r]]);
  }
}

static void cross_entropy_backward(const float *logits, const int32_t *targets, const float *lse, const float *dloss, int rows, int V, float *dlogits) {
  for (int r = 0; r < rows; r++) {
    const float *l = logits + (size_t)r * V;
    float *d = dlogits + (size_t)r * V;
    double g = dloss[r], s = lse[r];
    for (int c = 0; c < V; c++) d[c] = (float)(g * exp(l[c] - s));
    d[targets[r]] = (float)(d[targets[r]] - g);
  }
}

static void sum_rows(const float *dy, int K, int rows, int n, float *out) {
  for (size_t i = 0; i < (size_t)K * n; i++) out[i] = 0;
  for (int k = 0; k < K; k++) {
    float *ok = out + (size_t)k * n;
    for (int r = 0; r < rows; r++) {
      const float *row = dy + ((size_t)k * rows + r) * n;
      for (int c = 0; c < n; c++) ok[c] += row[c];
    }
  }
}
