"""The Numba kernels of the PDHG step's two passes (:mod:`econplan.plan.pdhg_step`).

In their own module, imported only when the fused step runs (Numba stays optional), so that
the passes call their inlined helpers (the clip, the CSR row product) as module globals and
Numba's disk cache holds them: as closure variables of a factory function they made every
process compile the passes again (measured: ~2 s on the first step of each process).
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(nogil=True, cache=True, inline="always")
def proximal(xj, tau, cj, ktyj, lbj, ubj):  # pragma: no cover - jitted
    # the primal update clip(x − τ (c − Kᵀy), lb, ub), in NumPy's order of operations
    v = xj - tau * (cj - ktyj)
    v = max(v, lbj)
    return min(v, ubj)


@nb.njit(nogil=True, cache=True, inline="always")
def row_dot(indptr, indices, data, v, i):  # pragma: no cover - jitted
    # (M v)_i of a CSR matrix, summed in SciPy's order
    s = 0.0
    for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
        s += data[p] * v[np.uint64(indices[p])]
    return s


@nb.njit(nogil=True, cache=True)
def primal(lo, hi, x, kty, c, lb, ub, tau, xn, out):  # pragma: no cover - jitted
    dd = 0.0
    for j in range(lo, hi):
        v = proximal(x[j], tau, c[j], kty[j], lb[j], ub[j])
        xn[j] = v
        e = v - x[j]
        dd += e * e
    out[0] = dd


@nb.njit(nogil=True, cache=True)
def dual(lo, hi, indptr, indices, data, xn, y, kx, q, sigma, kxn, yn,
         out):  # pragma: no cover - jitted
    dydy = 0.0
    dykd = 0.0
    for i in range(lo, hi):
        s = row_dot(indptr, indices, data, xn, i)
        kxn[i] = s
        v = y[i] + sigma * (q[i] - 2.0 * s + kx[i])
        v = max(v, 0.0)
        yn[i] = v
        e = v - y[i]
        dydy += e * e
        dykd += e * (s - kx[i])
    out[0] = dydy
    out[1] = dykd


@nb.njit(nogil=True, cache=True)
def transposed(lo, hi, indptr, indices, data, yn, xn, c, lb, ub, tau, ktyn, x2,
               x_avg, kty_avg, a, out):  # pragma: no cover - jitted
    dd = 0.0
    for j in range(lo, hi):
        s = row_dot(indptr, indices, data, yn, j)
        ktyn[j] = s
        xj = xn[j]
        v = proximal(xj, tau, c[j], s, lb[j], ub[j])
        x2[j] = v
        e = v - xj
        dd += e * e
        x_avg[j] += a * (xj - x_avg[j])
        kty_avg[j] += a * (s - kty_avg[j])
    out[0] = dd


@nb.njit(nogil=True, cache=True)
def average(lo, hi, avg, v, a):  # pragma: no cover - jitted
    for j in range(lo, hi):
        avg[j] += a * (v[j] - avg[j])
