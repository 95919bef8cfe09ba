// Small dense matrix inversion by Gauss–Jordan elimination with partial pivoting, for the k × k
// systems of the online mixers (Aioli's de-mixing W⁻¹, k ≤ a few dozen). Flat row-major
// Float64Array in and out; returns null when a pivot falls below `tol` × the largest entry.

/**
 * Inverts an (n × n) row-major matrix.
 * @param a (n × n), row-major; not modified
 * @param n the order
 * @param tol relative pivot tolerance (default 1e-12)
 * @returns the inverse (n × n, row-major), or null when the matrix is singular to working precision
 */
export function invertMatrix(a: Float64Array, n: number, tol = 1e-12): Float64Array | null {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(m[i]!));
  if (!(scale > 0)) return null;
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[p * n + c]!)) p = r;
    const pivot = m[p * n + c]!;
    if (!(Math.abs(pivot) > tol * scale)) return null;
    if (p !== c) {
      for (let j = 0; j < n; j++) {
        const t = m[c * n + j]!;
        m[c * n + j] = m[p * n + j]!;
        m[p * n + j] = t;
        const u = inv[c * n + j]!;
        inv[c * n + j] = inv[p * n + j]!;
        inv[p * n + j] = u;
      }
    }
    for (let j = 0; j < n; j++) {
      m[c * n + j] = m[c * n + j]! / pivot;
      inv[c * n + j] = inv[c * n + j]! / pivot;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        m[r * n + j] = m[r * n + j]! - f * m[c * n + j]!;
        inv[r * n + j] = inv[r * n + j]! - f * inv[c * n + j]!;
      }
    }
  }
  return inv;
}

/** The ∞-norm (largest absolute row sum) of an (n × n) row-major matrix. */
export function infinityNorm(a: Float64Array, n: number): number {
  let best = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.abs(a[i * n + j]!);
    if (s > best) best = s;
  }
  return best;
}
