"""A feasible plan from valuations alone: each product's output filled in order of profit.

Given (approximate) valuations — product prices p and resource prices u — every technique has a
reduced profit ``p·M_j − u·R_j``. At an optimal plan, techniques with positive profit run at
capacity, those with negative profit stand still, and one technique per product (plus a few
mixes) is "marginal". The *fill* follows that rule for every product at once: the product's
gross requirement ``g_i = ymin_i + t d_i + (A z)_i`` is met by its techniques in order of
profit, each up to its capacity; the last one in the order takes any remainder (beyond its
capacity only when the product's capacities are all used: then t is too high).

With the order fixed, the techniques before the marginal one run at capacity, the ones after
it stand still, and the marginal techniques J form one Leontief system, so
``g(t) = G₀ + t G₁`` is one two-column matrix-free solve and resource use ``R z(t)`` is affine
in t. t is raised until a resource is used up or a product's last technique reaches its
capacity; if a marginal technique leaves its range at that t the pattern is re-read from
``g(t)`` and solved again (a handful of rounds). The plan is feasible by construction (up to
the solve's 1e-14), whatever the valuations' accuracy — which is what the first-order route
needs when its iterate is far from converged (at 1e6 products the repaired iterate was not
feasible at all). It is not optimal when the optimum mixes techniques of a product (forced by
a second binding resource or by products whose capacities are exhausted); the caller keeps
whichever feasible plan certifies best.

Units: activities (technique units), products in their units, t dimensionless.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..kernels import chosen_input_matrix
from .repair import Structure
from .repair import leontief_solve as _solve

__all__ = ["fill_plan"]


def fill_plan(
    st: Structure,
    R: sp.csr_array,
    b: np.ndarray,
    cap: np.ndarray,
    ymin: np.ndarray,
    d: np.ndarray,
    p: np.ndarray,
    u: np.ndarray,
    t: float,
    rounds: int = 8,
) -> tuple[np.ndarray, float] | None:
    """Activities z (m,) and fulfilment t' of the fill at valuations (p, u) (module docstring),
    starting the search for t' at ``t``; None when the rounds end without a consistent
    pattern or no resource or capacity bounds t'."""
    m = st.m
    tp, o = st.tp, st.o
    profit = st.M.T @ p - R.T @ u
    order = np.lexsort((-profit, tp))  # per product, most profitable first
    tpo = tp[order]
    first = np.r_[True, tpo[1:] != tpo[:-1]]
    last = np.r_[tpo[1:] != tpo[:-1], True]
    capped = np.isfinite(cap)
    capo = np.where(capped, cap * o, np.inf)[order]  # capacity in units of output
    finite_caps = np.cumsum(np.where(np.isfinite(capo), capo, 0.0))
    uncapped = np.cumsum(~np.isfinite(capo))
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    # output capacity of the techniques before each one in its product's order
    prior = np.r_[0.0, finite_caps][:-1] - np.r_[0.0, finite_caps][starts][group]
    after_uncapped = (np.r_[0, uncapped][:-1] - np.r_[0, uncapped][starts][group]) > 0
    pos = np.empty(m, dtype=np.int64)
    pos[order] = np.arange(m)

    def marginal(g: np.ndarray) -> np.ndarray:
        """Per product, the technique that takes the last part of g (in order position)."""
        rel = g[tpo] - prior
        is_j = ~after_uncapped & (rel > 0) & ((rel <= capo) | last)
        J = order[starts].copy()  # g = 0: the first technique (runs at 0)
        J[tpo[is_j]] = order[is_j]
        return J

    def fill(g: np.ndarray) -> np.ndarray:
        rel = g[tpo] - prior
        x = np.where(after_uncapped, 0.0, np.clip(rel, 0.0, capo))
        x = np.where(last & ~after_uncapped, np.maximum(rel, 0.0), x)
        z = np.empty(m)
        z[order] = x / o[order]
        return z

    z = np.zeros(m)
    for _ in range(3):  # a first guess of the requirements (Leontief sweeps)
        g = ymin + t * d + st.A @ z
        z = fill(g)
    g = ymin + t * d + st.A @ z
    for _ in range(rounds):
        J = marginal(g)
        zfix = np.where(pos < pos[J][tp], cap, 0.0)  # before the marginal one: at capacity
        zfix = np.where(np.isfinite(zfix), zfix, 0.0)
        before = prior[pos[J]]
        Q = chosen_input_matrix(st.A, o, J)
        G = _solve(Q, np.column_stack([ymin + st.A @ zfix - Q @ before, d]))
        zJ0 = (G[:, 0] - before) / o[J]
        zJ1 = G[:, 1] / o[J]
        RJ = sp.csr_array(R[:, J])
        r0 = R @ zfix + RJ @ zJ0
        r1 = RJ @ zJ1
        capJ = cap[J]
        hard = last[pos[J]] & np.isfinite(capJ) & (zJ1 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_res = np.where(r1 > 0, (b - r0) / r1, np.inf)
            t_cap = np.where(hard, (capJ - zJ0) / zJ1, np.inf)
        t = float(min(t_res.min(initial=np.inf), t_cap.min(initial=np.inf)))
        if not np.isfinite(t):
            return None
        g = G[:, 0] + t * G[:, 1]
        zJ = zJ0 + t * zJ1
        scale = np.maximum(np.abs(zJ), 1.0)
        inside = (zJ >= -1e-12 * scale) & (~np.isfinite(capJ) | (zJ <= capJ + 1e-12 * scale))
        if inside.all():
            z = zfix
            z[J] = np.clip(zJ, 0.0, capJ)
            return z, t
    return None
