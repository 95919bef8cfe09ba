// Linear-algebra helpers over ml-matrix for flat row-major Float64Array matrices.

import { Matrix, SingularValueDecomposition } from "ml-matrix";
import { FitError } from "../errors.js";

/** A flat row-major matrix: element (i, j) is data[i * cols + j]. */
export interface DenseMatrix {
  readonly data: Float64Array;
  readonly rows: number;
  readonly cols: number;
}

/** Wraps a flat matrix as an ml-matrix Matrix (copies). */
export function toMlMatrix(m: DenseMatrix): Matrix {
  const out = new Matrix(m.rows, m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out.set(i, j, m.data[i * m.cols + j]!);
  return out;
}

/**
 * Minimum-norm least squares: argmin ‖X b − y‖² with the smallest ‖b‖ among minimisers (SVD
 * pseudo-inverse, singular values below rcond·σ_max treated as zero, like numpy.linalg.lstsq).
 * Mixture designs are rank-deficient once an intercept is added (rows sum to one), which is
 * why the pseudo-inverse is used rather than normal equations.
 * @param x (rows × cols) design; @param y (rows)
 * @param ridge optional L2 penalty λ (adds λ‖b‖², solved via the augmented SVD)
 */
export function leastSquares(x: DenseMatrix, y: Float64Array, ridge = 0, rcond = 1e-12): Float64Array {
  const a = toMlMatrix(x);
  const svd = new SingularValueDecomposition(a, { autoTranspose: true });
  const s = svd.diagonal;
  const u = svd.leftSingularVectors;
  const v = svd.rightSingularVectors;
  const smax = Math.max(...s);
  if (!(smax > 0) || !Number.isFinite(smax)) throw new FitError(
    "least squares: the design matrix is zero or non-finite",
  );
  const b = new Float64Array(x.cols);
  for (let k = 0; k < s.length; k++) {
    const sk = s[k]!;
    if (sk <= rcond * smax) continue;
    let uty = 0;
    for (let i = 0; i < x.rows; i++) uty += u.get(i, k) * y[i]!;
    const f = sk / (sk * sk + ridge);
    for (let j = 0; j < x.cols; j++) b[j] = b[j]! + v.get(j, k) * f * uty;
  }
  for (let j = 0; j < b.length; j++) if (!Number.isFinite(b[j]!)) throw new FitError(
    "least squares produced a non-finite coefficient",
  );
  return b;
}
