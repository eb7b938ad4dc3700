"""The ``harmony`` objective (Cockshott): priority-weighted concave fulfilment.

Each product i with ``d_i = y_i − ymin_i > 0`` gets its own fulfilment ``t_i ≥ 0`` with
``(M z)_i ≥ ymin_i + d_i t_i``; the plan maximises ``H = Σ_i w_i h(t_i)`` (``w`` the needs'
priorities) subject to ``R z ≤ b``, ``0 ≤ z ≤ cap``, where ``h`` is the concave
piecewise-linear function of :data:`HARMONY_TABLE` (h(0) = 0): a shortfall weighs more than a
surplus, and nothing is gained beyond twice the target. As an LP, ``t_i = Σ_k s_ik`` with
segment variables ``s_ik ∈ [0, len_k]`` and objective ``Σ_i w_i Σ_k slope_k s_ik``; the slopes
decrease, so an optimum fills the segments in order. Stage 2 keeps ``H ≥ H*(1 − 1e-9)`` and
minimises the resource cost, as the fulfilment objective does (DESIGN.md, "The model").

Units: t, h, H and the slopes are dimensionless; the stage-1 duals ``p`` (per product), ``u``
(per resource) and ``v`` (per capacity) are in units of H per unit of product, resource and
activity; the stage-2 prices are in cost units (labour hours by default), as for fulfilment.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import PlanProblem
from .formulation import LP

#: h as data: ``(breakpoints, slopes)``; h rises with ``slopes[k]`` between
#: ``breakpoints[k]`` and ``breakpoints[k + 1]`` and is flat (slope 0) above the last
#: breakpoint. Dimensionless (t is a fraction of the need above its floor; h is in units of
#: fulfilment). Slopes decrease, so h is concave: shortfalls weigh more than surpluses.
HARMONY_TABLE: tuple[tuple[float, ...], tuple[float, ...]] = (
    (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
    (4.0, 2.0, 4.0 / 3.0, 1.0, 0.5, 0.25),
)

#: Stage 2 keeps H ≥ H*(1 − H_SLACK), as fulfilment's stage 2 keeps t (DESIGN.md).
H_SLACK = 1e-9


def segments() -> tuple[np.ndarray, np.ndarray]:
    """``(lengths, slopes)`` of h's finite segments (dimensionless), from :data:`HARMONY_TABLE`
    (the flat segment above the last breakpoint is left out: it adds nothing to H)."""
    breaks, slopes = (np.asarray(a, dtype=float) for a in HARMONY_TABLE)
    return np.diff(breaks), slopes


def h(t: np.ndarray) -> np.ndarray:
    """h(t) elementwise (dimensionless). Below 0 (a floor missed: not a plan) h continues
    with its first slope, so such a t lowers H rather than counting as 0."""
    lengths, slopes = segments()
    t = np.asarray(t, dtype=float)
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    filled = np.clip(t[..., None] - starts, 0.0, lengths)
    return filled @ slopes + slopes[0] * np.minimum(t, 0.0)


def harmony(t: np.ndarray, w: np.ndarray) -> float:
    """H = Σ_i w_i h(t_i) over the products given (dimensionless)."""
    return float(np.asarray(w, dtype=float) @ h(t))


def priorities(pb: PlanProblem) -> np.ndarray:
    """The priority weights w (n,) of ``pb`` (1 where the problem carries none)."""
    return np.ones(pb.n) if pb.w is None else np.asarray(pb.w, dtype=float)


def needed(pb: PlanProblem) -> np.ndarray:
    """Indices of the products with a need above the floor (d > 0): those with a t_i."""
    return np.flatnonzero(pb.y - pb.ymin > 0)


def _segment_block(pb: PlanProblem) -> tuple[sp.csc_array, np.ndarray, np.ndarray]:
    """The segment columns: ``(D, gain, upper)`` with D (n × q·K) putting ``−d_i`` in product
    i's balance row for each of its K segments, gain ``w_i slope_k`` per column and upper
    ``len_k`` (columns ordered product by product, segments within)."""
    lengths, slopes = segments()
    idx = needed(pb)
    K, q = len(lengths), len(idx)
    d = (pb.y - pb.ymin)[idx]
    rows = np.repeat(idx, K)
    D = sp.csc_array((np.repeat(-d, K), (rows, np.arange(q * K))), shape=(pb.n, q * K))
    gain = np.outer(priorities(pb)[idx], slopes).ravel()
    return D, gain, np.tile(lengths, q)


def harmony_lp(pb: PlanProblem) -> tuple[LP, float, np.ndarray]:
    """Stage-1 LP, columns ``(z, s)``: minimise ``−S Σ gain·s`` subject to
    ``M z + D s ≥ ymin``, ``R z ≤ b``, ``0 ≤ z ≤ cap``, ``0 ≤ s ≤ len``. S (returned with the
    gains) scales the objective so that the product duals are O(1), ~ w_i/d_i · S, rather than
    below the solver's tolerances when needs are large; the duals are divided back."""
    D, gain, upper = _segment_block(pb)
    idx = needed(pb)
    w = priorities(pb)[idx]
    S = float((pb.y - pb.ymin)[idx].sum() / w.sum()) if len(idx) and w.sum() > 0 else 1.0
    k = pb.k
    A = sp.vstack([sp.hstack([pb.M, D], format="csc"),
                   sp.hstack([pb.R, sp.csc_array((k, D.shape[1]))], format="csc")],
                  format="csc")
    return LP(
        c=np.concatenate([np.zeros(pb.m), -S * gain]), A=A,
        row_lo=np.concatenate([pb.ymin, np.full(k, -np.inf)]),
        row_hi=np.concatenate([np.full(pb.n, np.inf), pb.b]),
        col_lo=np.zeros(pb.m + len(gain)),
        col_hi=np.concatenate([pb.cap, upper]),
    ), S, gain


def harmony_stage2(pb: PlanProblem, h_lo: float) -> LP:
    """Stage-2 LP, columns ``(z, s)``: minimise the resource cost ``c·z`` subject to stage 1's
    rows and ``Σ gain·s ≥ h_lo`` (one more row, last)."""
    lp, _, gain = harmony_lp(pb)
    row = sp.csr_array(np.concatenate([np.zeros(pb.m), gain]).reshape(1, -1))
    return LP(
        c=np.concatenate([pb.c, np.zeros(len(gain))]),
        A=sp.vstack([lp.A, row], format="csc"),
        row_lo=np.concatenate([lp.row_lo, [h_lo]]),
        row_hi=np.concatenate([lp.row_hi, [np.inf]]),
        col_lo=lp.col_lo, col_hi=lp.col_hi,
    )


def harmony_duals(pb: PlanProblem, lp: LP, x: np.ndarray, y: np.ndarray, S: float
                  ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """H* and the certificate duals ``(p, u, v)`` ≥ 0 (units of H per unit) from stage 1's
    primal x and row duals y (HiGHS's convention for minimisation), divided by the scale S;
    v only on capacitated techniques, from the reduced costs of the z columns."""
    n, m = pb.n, pb.m
    gain = -lp.c[m:] / S
    rc = lp.c - lp.A.T @ y
    p = np.maximum(y[:n], 0.0) / S
    u = np.maximum(-y[n:n + pb.k], 0.0) / S
    v = np.where(np.isfinite(pb.cap), np.maximum(-rc[:m], 0.0), 0.0) / S
    return float(gain @ x[m:]), p, u, v


def achieved_t(pb: PlanProblem, z: np.ndarray) -> np.ndarray:
    """Each needed product's fulfilment ``((Mz)_i − ymin_i)/d_i`` at plan z (for
    :func:`needed`'s products, in that order)."""
    idx = needed(pb)
    net = pb.M @ z
    return (net[idx] - pb.ymin[idx]) / (pb.y - pb.ymin)[idx]
