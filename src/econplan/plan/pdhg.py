"""A first-order LP solver: restarted, adaptive PDHG in the manner of PDLP, on an array backend.

Solves ``min c·x  s.t.  K x ≥ q,  lb ≤ x ≤ ub`` (every row an inequality; duals ``y ≥ 0``)
with only products by K and Kᵀ, so it runs where the sparse matrix fits: NumPy/SciPy by
default, PyTorch (CPU or GPU) with ``engine="torch"``. It exists for the plans the structured
planner cannot finish by decomposition (alternatives *and* many binding capacities: DESIGN.md,
"Solvers"), where a simplex method would factorise Leontief bases whose LU fills in.

The method (Applegate et al., "Practical large-scale linear programming using primal-dual
hybrid gradient", 2021; Lu & Yang, cuPDLP, 2023), written from the papers:

* **Diagonal rescaling.** Ruiz equilibration (10 passes, ∞-norm) then Pock–Chambolle (α = 1)
  on K; the iteration runs on the scaled problem, residuals are reported unscaled.
* **Adaptive steps.** Step η is accepted when ``η ≤ ‖Δz‖²_ω / (2 |Δyᵀ K Δx|)``, else shrunk;
  primal step ``η/ω``, dual step ``η ω``.
* **Primal weight ω.** Initialised to ``‖c‖/‖q‖`` and smoothed at each restart towards
  ``‖Δy‖/‖Δx‖`` (the distance travelled by the dual and the primal since the last restart).
* **Adaptive restarts** to the current iterate or the step-weighted average, whichever has
  the smaller normalised KKT error, on sufficient (×0.2), necessary-and-stalled (×0.8) or
  artificial (36 % of all iterations) decay, checked every 64 iterations.

Termination is *checked* in the unscaled problem: relative primal residual
``‖(q − Kx)⁺‖ / (1 + ‖q‖)``, relative dual residual (the part of ``c − Kᵀy`` no bound can
absorb) ``/ (1 + ‖c‖)`` and relative gap, all ≤ ``tol`` (2-norms, as PDLP). The callers then
recompute the DESIGN.md certificate from the returned numbers; nothing here is trusted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import pdhg_step

__all__ = ["PdhgResult", "solve_lp", "scale_problem"]


@dataclass
class PdhgResult:
    """x (n_cols,), y (n_rows,) ≥ 0 in the original units; ``converged`` when all three relative
    measures met the tolerance; ``reduced`` = c − Kᵀy."""

    x: np.ndarray
    y: np.ndarray
    reduced: np.ndarray
    iterations: int
    restarts: int
    converged: bool
    primal_rel: float
    dual_rel: float
    gap_rel: float
    primal_obj: float
    dual_obj: float
    seconds: float
    engine: str
    state: tuple[float, float] = (0.0, 0.0)  # (step, primal weight): resume with ``state=``
    scaling: tuple[np.ndarray, np.ndarray] | None = None  # (dr, dc): resume with ``scaling=``


def scale_problem(K: sp.csr_array, passes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Row and column scalings (dr, dc) with ``dr K dc`` equilibrated: Ruiz ∞-norm passes then
    one Pock–Chambolle (α = 1) pass. Returns the diagonal vectors (dimensionless).

    The sparsity pattern is fixed, so it is read once: each pass rescales the entries in place
    (row scale, then column scale, as ``diag(sr) K diag(sc)`` does) and takes the column
    maxima through a permutation to column order made once — no matrix is rebuilt (at
    1e5 × 2, 4.7M entries: 3.5 s → well under a second)."""
    K = _canonical(K)
    nr, nc = K.shape
    a = np.abs(K.data).astype(np.float64)
    rows = np.repeat(np.arange(nr), np.diff(K.indptr))
    cols = K.indices
    # positions of the entries in column order, and the column segments
    order = np.argsort(cols, kind="stable")
    cptr = np.zeros(nc + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols, minlength=nc), out=cptr[1:])
    dr = np.ones(nr)
    dc = np.ones(nc)
    for _ in range(passes):
        rmax = _segment_max(a, K.indptr)
        cmax = _segment_max(a[order], cptr)
        sr = 1.0 / np.sqrt(np.maximum(rmax, 1e-300))
        sc = 1.0 / np.sqrt(np.maximum(cmax, 1e-300))
        a *= sr[rows]
        a *= sc[cols]
        dr *= sr
        dc *= sc
    rs = np.zeros(nr)
    full = np.diff(K.indptr) > 0
    if full.any():  # reduceat over the non-empty rows only (as _segment_max)
        rs[full] = np.add.reduceat(a, K.indptr[:-1][full])
    cs = np.bincount(cols, weights=a, minlength=nc)
    sr = 1.0 / np.sqrt(np.where(rs > 0, rs, 1.0))
    sc = 1.0 / np.sqrt(np.where(cs > 0, cs, 1.0))
    return dr * sr, dc * sc


def _canonical(K: sp.sparray) -> sp.csr_array:
    """K as CSR with sorted, unique indices; the caller's arrays are never changed."""
    K = sp.csr_array(K)
    if not K.has_canonical_format:
        K = K.copy()
        K.sum_duplicates()
    return K


def _scaled(K: sp.csr_array, dr: np.ndarray, dc: np.ndarray) -> sp.csr_array:
    """``diag(dr) K diag(dc)`` (the same roundings as SciPy's products: row scale, then column
    scale), built with 32-bit indices where they fit, as ``kernels.CsrOperator`` holds them:
    the operator then shares these arrays instead of converting a copy."""
    K = _canonical(K)
    data = K.data * np.repeat(dr, np.diff(K.indptr))
    data *= dc[K.indices]
    idx = np.int32 if max(K.shape + (K.nnz,)) < 2**31 - 1 else np.int64
    return sp.csr_array((data, K.indices.astype(idx), K.indptr.astype(idx)), shape=K.shape)


def _segment_max(data: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Largest entry of each row (CSR) or column (CSC); 1.0 for an empty one (a resource no
    technique uses, a product nothing is made of), which the scaling then leaves alone."""
    out = np.ones(len(indptr) - 1)
    full = np.diff(indptr) > 0
    if full.any():  # reduceat over the non-empty segments only: their starts are distinct
        out[full] = np.maximum.reduceat(data, indptr[:-1][full])
    out[out <= 0] = 1.0  # stored zeros only: as empty (scaling by 1/√0 blew the problem up)
    return out


class _Ops:
    """Vector and matrix operations on NumPy/SciPy or PyTorch."""

    def __init__(self, K: sp.csr_array, engine: str | None) -> None:
        from ..kernels import CsrOperator

        self.engine = engine or "scipy"
        if self.engine not in ("scipy", "numba", "torch", "dask"):
            raise ValueError(f"unknown engine {engine!r} (scipy, numba, torch, dask)")
        device = "cpu"
        if self.engine == "torch":
            import torch

            self.torch = torch
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        # the matrix products are kernels.CsrOperator's (one place converts to each engine)
        self.Kop = CsrOperator(K, self.engine, device=device)
        self.KTop = CsrOperator(sp.csr_array(K.T), self.engine, device=device)

    def arr(self, v: np.ndarray) -> Any:
        if self.engine == "torch":
            return self.torch.as_tensor(np.ascontiguousarray(v), dtype=self.torch.float64,
                                        device=self.device)
        return np.array(v, dtype=np.float64)

    def np(self, v: Any) -> np.ndarray:
        return self.Kop.tonumpy(v)

    def mv(self, x: Any) -> Any:
        return self.Kop.matvec(x)

    def rmv(self, y: Any) -> Any:
        return self.KTop.matvec(y)

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        if self.engine == "torch":
            return self.torch.minimum(self.torch.maximum(x, lo), hi)
        return np.minimum(np.maximum(x, lo), hi)

    def pos(self, x: Any) -> Any:
        return self.torch.clamp(x, min=0.0) if self.engine == "torch" else np.maximum(x, 0.0)

    def neg(self, x: Any) -> Any:
        return self.torch.clamp(x, max=0.0) if self.engine == "torch" else np.minimum(x, 0.0)

    def dot(self, a: Any, b: Any) -> float:
        return float(self.torch.dot(a, b)) if self.engine == "torch" else float(a @ b)

    def norm(self, a: Any) -> float:
        return math.sqrt(self.dot(a, a))


def solve_lp(
    K: sp.sparray,
    c: np.ndarray,
    q: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    x0: np.ndarray | None = None,
    y0: np.ndarray | None = None,
    tol: float = 1e-8,
    time_limit: float = float("inf"),
    max_iterations: int = 1_000_000,
    engine: str | None = None,
    log: Any = None,
    check_every: int = 64,
    state: tuple[float, float] | None = None,
    callback: Any = None,
    callback_every: int = 0,
    scaling: tuple[np.ndarray, np.ndarray] | None = None,
) -> PdhgResult:
    """Solve ``min c·x s.t. K x ≥ q, lb ≤ x ≤ ub`` by restarted adaptive PDHG (module
    docstring). ``lb`` must be finite (0 for activities); ``ub`` may hold ``inf``.
    ``x0``/``y0`` warm-start (original units); ``state`` the (step, primal weight) a previous
    call on the same K, c, q returned, to continue without re-learning them.
    ``log(msg)`` receives progress lines. ``callback(x, y)`` (original units) is called every
    ``callback_every`` iterations (a multiple of ``check_every``) with the candidate iterate;
    it returning True ends the solve as converged (the caller's own, stricter test).
    ``scaling`` the (dr, dc) a previous call on the same K returned (its equilibration is
    then not recomputed: ~1.4 s at 1e5 × 2)."""
    start = time.perf_counter()
    K = sp.csr_array(K, dtype=np.float64)
    nr, nc = K.shape
    c = np.asarray(c, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    lb = np.asarray(lb, dtype=np.float64)
    ub = np.asarray(ub, dtype=np.float64)
    dr, dc = scale_problem(K) if scaling is None else scaling
    Ks = _scaled(K, dr, dc)
    # objective and right-hand side rescaled to norm ~1 (cuPDLP's "bound-objective
    # rescaling"): the primal weight then starts near 1 whatever the units of c and q
    c_scale = 1.0 + float(np.linalg.norm(c * dc))
    q_scale = 1.0 + float(np.linalg.norm(q * dr))
    cs, qs = c * dc / c_scale, q * dr / q_scale
    lbs, ubs = lb / dc / q_scale, ub / dc / q_scale
    fused_engine = engine in (None, "numba") and pdhg_step.usable(Ks.nnz)
    ops = _Ops(Ks, "scipy" if fused_engine else engine)
    # the fused passes read the same CSR arrays as the SciPy products (no second copy)
    fused = pdhg_step.FusedStep(ops.Kop.M, ops.KTop.M) if fused_engine else None
    A = ops.arr
    c_t, q_t, lb_t, ub_t = A(cs), A(qs), A(lbs), A(np.where(np.isfinite(ubs), ubs, np.inf))
    has_ub = np.isfinite(ubs)
    ub_fin = A(np.where(has_ub, ubs, 0.0))
    has_ub_t = A(has_ub.astype(np.float64))
    no_ub_t = A((~has_ub).astype(np.float64))
    x = A(np.zeros(nc) if x0 is None else np.clip(np.asarray(x0) / dc / q_scale, lbs, ubs))
    y = A(np.zeros(nr) if y0 is None else np.maximum(np.asarray(y0) / dr / c_scale, 0.0))
    dr_u, dc_u = dr * c_scale, dc * q_scale  # scaled → original: y = dr_u ỹ, x = dc_u x̃
    Kx = ops.mv(x)
    KTy = ops.rmv(y)
    # original-space norms for termination
    q_norm = float(np.linalg.norm(q))
    c_norm = float(np.linalg.norm(c))
    dr_t, dc_t = A(dr_u), A(dc_u)
    # scaled products back to original units: Kx = (K̃x̃)·q_scale/dr, Kᵀy = (K̃ᵀỹ)·c_scale/dc
    inv_dr_t, inv_dc_t = A(q_scale / dr), A(c_scale / dc)
    c_orig, q_orig = A(c), A(q)
    lb_orig = A(lb)
    ub_orig_fin = A(np.where(has_ub, ub, 0.0))

    cn, qn = float(np.linalg.norm(cs)), float(np.linalg.norm(qs))
    omega = cn / qn if cn > 1e-10 and qn > 1e-10 else 1.0
    Kn = float(sp.linalg.norm(Ks, ord="fro")) if Ks.nnz else 1.0
    eta = 1.0 / max(float(np.max(np.abs(Ks.data))) if Ks.nnz else 1.0, 1e-12)
    eta = min(eta, 1.0 / max(Kn, 1e-12) * math.sqrt(nr + nc))
    if state is not None and state[0] > 0 and state[1] > 0:
        eta, omega = state

    def kkt(xv: Any, yv: Any, Kxv: Any, KTyv: Any, w: float) -> float:
        """Normalised KKT error in the scaled problem (primal weight w)."""
        rp = ops.pos(q_t - Kxv)
        red = c_t - KTyv
        # bound multipliers absorb what they can: lower bounds take red⁺, finite uppers red⁻
        rd = ops.neg(red) * no_ub_t
        dual_obj = ops.dot(q_t, yv) + ops.dot(lb_t, ops.pos(red)) + ops.dot(
            ub_fin, ops.neg(red) * has_ub_t)
        gap = ops.dot(c_t, xv) - dual_obj
        return math.sqrt(w * ops.dot(rp, rp) + ops.dot(rd, rd) / w + gap * gap)

    def measures(xv: Any, yv: Any, Kxv: Any, KTyv: Any) -> tuple[float, float, float, float,
                                                                 float]:
        """Relative residuals and gap in the original units."""
        xo = xv * dc_t
        yo = yv * dr_t
        Kxo = Kxv * inv_dr_t
        red = c_orig - KTyv * inv_dc_t
        rp = ops.norm(ops.pos(q_orig - Kxo))
        rd = ops.norm(ops.neg(red) * no_ub_t)
        pobj = ops.dot(c_orig, xo)
        dobj = ops.dot(q_orig, yo) + ops.dot(lb_orig, ops.pos(red)) + ops.dot(
            ub_orig_fin, ops.neg(red) * has_ub_t)
        gap = abs(pobj - dobj) / (1.0 + abs(pobj) + abs(dobj))
        return rp / (1.0 + q_norm), rd / (1.0 + c_norm), gap, pobj, dobj

    it = 0
    restarts = 0
    # averages (step-weighted) and restart bookkeeping
    x_avg, y_avg = x * 0.0, y * 0.0
    Kx_avg, KTy_avg = Kx * 0.0, KTy * 0.0
    wsum = 0.0
    x_last, y_last = x, y
    kkt_last_restart = kkt(x, y, Kx, KTy, omega)
    kkt_prev_check = kkt_last_restart
    since_restart = 0
    converged = False
    pending = None  # the fused passes' next x (x, dx², τ), valid until x or τ changes
    meas = measures(x, y, Kx, KTy)
    while True:
        # --- one PDHG step with adaptive step size -------------------------------------------
        while True:
            tau, sigma = eta / omega, eta * omega
            if fused is not None:
                if pending is not None and pending[2] == tau:
                    xn, dxdx = pending[0], pending[1]
                else:
                    xn, dxdx = fused.primal(x, KTy, c_t, lb_t, ub_t, tau)
                pending = None
                Kxn, yn, dydy, dykd = fused.dual(xn, y, Kx, q_t, sigma)
                denom = 2.0 * abs(dykd)
                num = omega * dxdx + dydy / omega
            else:
                xn = ops.clip(x - tau * (c_t - KTy), lb_t, ub_t)
                Kxn = ops.mv(xn)
                yn = ops.pos(y + sigma * (q_t - 2.0 * Kxn + Kx))
                KTyn = ops.rmv(yn)
                dx = xn - x
                dy = yn - y
                denom = 2.0 * abs(ops.dot(dy, Kxn - Kx))
                num = omega * ops.dot(dx, dx) + ops.dot(dy, dy) / omega
            lim = num / denom if denom > 0 else float("inf")
            k1 = it + 2  # (k + 1) with k ≥ 1 counted from the first step
            eta_new = min((1 - k1 ** -0.3) * lim, (1 + k1 ** -0.6) * eta)
            if eta <= lim:
                accepted = eta
                eta = eta_new
                break
            eta = eta_new
        it += 1
        since_restart += 1
        wsum += accepted
        a = accepted / wsum
        if fused is not None:  # Kᵀy' with the next x and the averages (in place: own arrays)
            KTyn, x2, dx2 = fused.transposed(yn, xn, Kxn, c_t, lb_t, ub_t, eta / omega,
                                             (x_avg, y_avg, Kx_avg, KTy_avg), a)
            pending = (x2, dx2, eta / omega)
        x, y, Kx, KTy = xn, yn, Kxn, KTyn
        if fused is None:
            x_avg = x_avg + a * (x - x_avg)
            y_avg = y_avg + a * (y - y_avg)
            Kx_avg = Kx_avg + a * (Kx - Kx_avg)
            KTy_avg = KTy_avg + a * (KTy - KTy_avg)
        if it % check_every and it < max_iterations:
            continue
        # --- termination (original units) and restarts ----------------------------------------
        k_cur = kkt(x, y, Kx, KTy, omega)
        k_avg = kkt(x_avg, y_avg, Kx_avg, KTy_avg, omega)
        use_avg = k_avg < k_cur
        cand = (x_avg, y_avg, Kx_avg, KTy_avg) if use_avg else (x, y, Kx, KTy)
        k_cand = min(k_avg, k_cur)
        meas = measures(*cand)
        elapsed = time.perf_counter() - start
        if log is not None and it % (check_every * 16) == 0:
            log(f"pdhg it {it}: primal {meas[0]:.2e} dual {meas[1]:.2e} gap {meas[2]:.2e} "
                f"obj {meas[3]:.10g} ω {omega:.3g} restarts {restarts} {elapsed:.1f}s")
        if max(meas[0], meas[1], meas[2]) <= tol:
            converged = True
            x, y, Kx, KTy = cand
            break
        if callback is not None and callback_every and it % callback_every == 0:
            if callback(ops.np(cand[0] * dc_t), ops.np(cand[1] * dr_t)):
                converged = True
                x, y, Kx, KTy = cand
                break
        if it >= max_iterations or elapsed > time_limit:
            x, y, Kx, KTy = cand
            break
        restart = (
            k_cand <= 0.2 * kkt_last_restart
            or (k_cand <= 0.8 * kkt_last_restart and k_cand > kkt_prev_check)
            or since_restart >= 0.36 * it
        )
        kkt_prev_check = k_cand
        if restart:
            x, y, Kx, KTy = cand
            pending = None
            ddx = ops.norm(x - x_last)
            ddy = ops.norm(y - y_last)
            if ddx > 1e-10 and ddy > 1e-10:
                omega = math.exp(0.5 * math.log(ddy / ddx) + 0.5 * math.log(omega))
            x_last, y_last = x, y
            x_avg, y_avg, Kx_avg, KTy_avg = x * 1.0, y * 1.0, Kx * 1.0, KTy * 1.0
            wsum = 0.0
            kkt_last_restart = kkt(x, y, Kx, KTy, omega)
            kkt_prev_check = kkt_last_restart
            since_restart = 0
            restarts += 1
    xo = ops.np(x * dc_t)
    yo = ops.np(y * dr_t)
    red = c - ops.np(KTy * inv_dc_t)
    return PdhgResult(
        x=np.clip(xo, lb, ub), y=np.maximum(yo, 0.0), reduced=red, iterations=it,
        restarts=restarts, converged=converged, primal_rel=meas[0], dual_rel=meas[1],
        gap_rel=meas[2], primal_obj=meas[3], dual_obj=meas[4],
        seconds=time.perf_counter() - start,
        engine="numba (fused step)" if fused is not None else ops.engine, state=(eta, omega),
        scaling=(dr, dc),
    )
