"""The certificate of a plan, recomputed from the plan's numbers alone (no solver).

DESIGN.md, "The certificate": with d = y − ymin, any p, u, v ≥ 0 with p·d = 1 and
``p·M_j − u·R_j − v_j ≤ 0`` for every technique j prove ``t* ≤ u·b + v·cap − p·ymin``.

- ``primal_residual``: largest relative violation by the activity levels z of the floors
  (and of fulfilment t on products with d = 0), of ``R z ≤ b`` and of ``0 ≤ z ≤ cap``;
  each relative to the size of the row (``max(1, |rhs|, Σ|terms|)``).
- ``dual_residual``: largest of (a) each technique's violation ``[p·M_j − u·R_j − v_j]⁺``
  relative to ``‖p‖∞ Σ_i|M_ij| + ‖u‖∞ Σ_k R_kj + |v_j|``, (b) negative entries of p, u, v relative
  to their largest entry, (c) ``|p·d − 1|``.
- ``duality_gap``: ``(bound − t) / max(1, |t|)`` with t the fulfilment the plan achieves;
  signed (a negative gap means the "bound" is below the plan: a wrong certificate).

For the ``min-labour`` objective the same three numbers are those of
``min c·z, M z ≥ y, R z ≤ b, 0 ≤ z ≤ cap`` and its dual
``max q·y − u·b − v·cap, q·M_j − u·R_j − v_j ≤ c_j``.

For the ``harmony`` objective (:mod:`econplan.plan.harmony`; H = Σ w_i h(t_i) over the
products with d_i > 0) any p, u, v ≥ 0 with ``p·M_j − u·R_j − v_j ≤ 0`` for every technique
prove ``H ≤ u·b + v·cap − p·ymin + Σ_i Σ_k len_k·max(0, w_i slope_k − p_i d_i)`` (no
normalisation of p); achieved t_i = ((Mz)_i − ymin_i)/d_i, the primal residual is that of the
floors, resources and capacities, the gap ``(bound − H)/max(1, |H|)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Certificate:
    primal_residual: float
    dual_residual: float
    duality_gap: float
    bound: float
    achieved: float

    def as_dict(self) -> dict[str, float]:
        return {
            "primal_residual": self.primal_residual,
            "dual_residual": self.dual_residual,
            "duality_gap": self.duality_gap,
            "bound": self.bound,
            "achieved": self.achieved,
        }

    def holds(self, tol: float = 1e-6) -> bool:
        return (self.primal_residual <= tol and self.dual_residual <= tol
                and abs(self.duality_gap) <= tol)


def _primal(M, R, b, cap, z, lo) -> float:
    net = M @ z
    scale = np.maximum.reduce([np.ones_like(lo), np.abs(lo), abs(M) @ np.abs(z)])
    r1 = np.max(np.maximum(lo - net, 0) / scale, initial=0.0)
    used = R @ z
    rscale = np.maximum.reduce([np.ones_like(b), np.abs(b), abs(R) @ np.abs(z)])
    r2 = np.max(np.maximum(used - b, 0) / rscale, initial=0.0)
    capf = np.where(np.isfinite(cap), cap, np.inf)
    r3 = np.max(np.maximum(z - capf, 0) / np.maximum(1, np.where(np.isfinite(cap), cap, 1)),
                initial=0.0)
    r4 = np.max(np.maximum(-z, 0) / np.maximum(1, np.abs(z).max(initial=0)), initial=0.0)
    return float(max(r1, r2, r3, r4))


def _column_scale(M, R, p, u, v) -> np.ndarray:
    """Size of technique j's dual inequality: ``‖p‖∞ Σ_i |M_ij| + ‖u‖∞ Σ_k R_kj + |v_j|``.

    Norms of p and u rather than their entries, so rounding noise on a technique whose own
    terms are all ~0 is not mistaken for a violation of relative size 1."""
    pmax = float(np.abs(p).max(initial=0.0))
    umax = float(np.abs(u).max(initial=0.0))
    colM = np.asarray(abs(M).sum(axis=0)).ravel()
    colR = np.asarray(abs(R).sum(axis=0)).ravel()
    return pmax * colM + umax * colR + np.abs(v)


def _neg(*arrays: np.ndarray) -> float:
    worst = 0.0
    for a in arrays:
        if a.size:
            top = max(1.0, float(np.abs(a).max()))
            worst = max(worst, float(np.maximum(-a, 0).max()) / top)
    return worst


def fulfilment_certificate(
    M: sp.sparray, R: sp.sparray, b: np.ndarray, cap: np.ndarray, y: np.ndarray,
    ymin: np.ndarray, z: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray,
) -> Certificate:
    """Residuals and gap of a fulfilment plan ``z`` with duals ``(p, u, v)``."""
    d = y - ymin
    mask = d > 0
    net = M @ z
    t = float(np.min((net[mask] - ymin[mask]) / d[mask])) if mask.any() else 1.0
    lo = np.where(mask, ymin + t * d, ymin)
    primal = _primal(M, R, b, cap, z, lo)
    lhs = M.T @ p - R.T @ u - v
    mag = _column_scale(M, R, p, u, v)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(lhs > 0, lhs / np.where(mag > 0, mag, 1.0), 0.0)
    capped = np.isfinite(cap)
    dual = max(float(rel.max(initial=0.0)), _neg(p, u, v), abs(float(p @ d) - 1.0))
    # v on an uncapacitated technique cannot enter the bound: count it as violation
    vmax = max(1.0, float(np.abs(v).max(initial=0.0)))
    if (~capped).any():
        dual = max(dual, float(np.abs(v[~capped]).max(initial=0.0)) / vmax)
    if not mask.any():
        # no need above its floor: t = 1 by convention, nothing to bound (DESIGN.md)
        return Certificate(primal, _neg(p, u, v), 0.0, 1.0, t)
    bound = float(u @ b + v[capped] @ cap[capped] - p @ ymin)
    gap = (bound - t) / max(1.0, abs(t))
    return Certificate(primal, dual, gap, bound, t)


def _dual_residual(M, R, cap, p, u, v) -> float:
    """Largest relative violation of ``p·M_j − u·R_j − v_j ≤ 0`` and of p, u, v ≥ 0, and any v
    on an uncapacitated technique (it cannot enter the bound)."""
    lhs = M.T @ p - R.T @ u - v
    mag = _column_scale(M, R, p, u, v)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(lhs > 0, lhs / np.where(mag > 0, mag, 1.0), 0.0)
    dual = max(float(rel.max(initial=0.0)), _neg(p, u, v))
    capped = np.isfinite(cap)
    if (~capped).any():
        vmax = max(1.0, float(np.abs(v).max(initial=0.0)))
        dual = max(dual, float(np.abs(v[~capped]).max(initial=0.0)) / vmax)
    return dual


def harmony_bound(b: np.ndarray, cap: np.ndarray, y: np.ndarray, ymin: np.ndarray,
                  w: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray) -> float:
    """The weak-duality bound on H of duals (p, u, v) (module docstring; units of H): the
    segment terms are summed over the products with d > 0 only (the others have no t_i)."""
    from .harmony import segments

    lengths, slopes = segments()
    d = y - ymin
    mask = d > 0
    capped = np.isfinite(cap)
    excess = np.maximum(0.0, np.outer(w[mask], slopes) - (p[mask] * d[mask])[:, None])
    return float(u @ b + v[capped] @ cap[capped] - p @ ymin + (excess @ lengths).sum())


def harmony_certificate(
    M: sp.sparray, R: sp.sparray, b: np.ndarray, cap: np.ndarray, y: np.ndarray,
    ymin: np.ndarray, w: np.ndarray, z: np.ndarray, p: np.ndarray, u: np.ndarray,
    v: np.ndarray,
) -> Certificate:
    """Residuals and gap of a harmony plan ``z`` with duals ``(p, u, v)``; ``w`` the priority
    weights. ``achieved`` is the H the levels z reach."""
    from .harmony import harmony

    d = y - ymin
    mask = d > 0
    t = ((M @ z)[mask] - ymin[mask]) / d[mask]
    H = harmony(t, w[mask])
    primal = _primal(M, R, b, cap, z, ymin)
    dual = _dual_residual(M, R, cap, p, u, v)
    bound = harmony_bound(b, cap, y, ymin, w, p, u, v)
    return Certificate(primal, dual, (bound - H) / max(1.0, abs(H)), bound, H)


def min_cost_certificate(
    M: sp.sparray, R: sp.sparray, b: np.ndarray, cap: np.ndarray, y: np.ndarray,
    c: np.ndarray, z: np.ndarray, q: np.ndarray, u: np.ndarray, v: np.ndarray,
) -> Certificate:
    """Residuals and gap of a min-cost plan ``z`` (targets met) with duals ``(q, u, v)``."""
    primal = _primal(M, R, b, cap, z, y)
    lhs = M.T @ q - R.T @ u - v - c
    mag = _column_scale(M, R, q, u, v) + np.abs(c)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(lhs > 0, lhs / np.where(mag > 0, mag, 1.0), 0.0)
    capped = np.isfinite(cap)
    dual = max(float(rel.max(initial=0.0)), _neg(q, u, v))
    if (~capped).any():
        vmax = max(1.0, float(np.abs(v).max(initial=0.0)))
        dual = max(dual, float(np.abs(v[~capped]).max(initial=0.0)) / vmax)
    cost = float(c @ z)
    bound = float(q @ y - u @ b - v[capped] @ cap[capped])
    gap = (cost - bound) / max(1.0, abs(cost))
    return Certificate(primal, dual, gap, bound, cost)
