"""The LPs of DESIGN.md as matrices, shared by the exact backends.

Stage 1 (fulfilment): variables ``(z, t)``; maximise ``t`` subject to
``M z − d t ≥ ymin`` (balance, n rows), ``R z ≤ b`` (k rows), ``0 ≤ z ≤ cap``, ``t ≥ 0``,
where ``d = y − ymin``. The objective is scaled by ``S = Σ d`` so that its duals are O(1)
rather than O(1/S) (below solver tolerances on large economies); duals are divided back.

Stage 2 (resource-minimising): minimise ``c·z`` subject to ``M z ≥ ymin + t_lo d``,
``R z ≤ b``, ``0 ≤ z ≤ cap`` with ``t_lo = t*(1 − 1e-9)``.

min-labour: minimise ``c·z`` subject to ``M z ≥ y``, ``R z ≤ b``, ``0 ≤ z ≤ cap``.

Elastic (infeasible floors): minimise ``Σ σ_k / max(b_k, 1) + Σ s_j / max(cap_j, 1)`` subject
to ``M z ≥ ymin``, ``R z − σ ≤ b``, ``z − s ≤ cap``: which relaxations, and how much, reach the
floors at least relative cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .base import PlanProblem

#: Stage 2 keeps t ≥ t*(1 − T_SLACK) (DESIGN.md).
T_SLACK = 1e-9
#: the slacks tried in turn where that stage 2 (or min-labour's targets) is numerically on the
#: edge of infeasible: T_SLACK, then tenfold twice
BACKOFF_SLACKS = (T_SLACK, 1e-8, 1e-7)


def stage2_floors(best: float, slacks: tuple[float, ...] = BACKOFF_SLACKS) -> list[float]:
    """The fulfilment (or harmony) floors stage 2 tries in turn after stage 1 found ``best``:
    ``best·(1 − s)`` for each slack s (DESIGN.md: the first is the rule, the wider ones are
    for a stage 2 on the edge of infeasible), then, when ``best`` < 1, ``best − s`` (not
    below 0; each only when below every floor before it): the slack on the
    certificate's own scale, whose gap is ``(bound − t)/max(1, |t|)``, so it costs at most
    s of that gap. Relative slacks vanish when t* is tiny: floors only just within reach
    gave t* = 1.3e-7, every relative retry asked HiGHS to hold t within 1e-14 of it, and
    HiGHS ended "unknown" each time (tests/test_random_economies.py). ``[0.0]`` when
    ``best`` ≤ 0."""
    if best <= 0:
        return [0.0]
    floors = [best * (1 - s) for s in slacks]
    for s in slacks if best < 1 else ():
        f = max(best - s, 0.0)
        if f < floors[-1]:
            floors.append(f)
    return floors


@dataclass
class LP:
    """min c·x s.t. row_lo ≤ A x ≤ row_hi, col_lo ≤ x ≤ col_hi (A CSC)."""

    c: np.ndarray
    A: sp.csc_array
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray


def stage1(pb: PlanProblem) -> tuple[LP, float]:
    """Stage-1 LP (columns z then t) and the objective scale S."""
    d = pb.y - pb.ymin
    S = float(d.sum())
    n, m, k = pb.n, pb.m, pb.k
    top = sp.hstack([pb.M, sp.csc_array(-d.reshape(-1, 1))], format="csc")
    bottom = sp.hstack([pb.R, sp.csc_array((k, 1))], format="csc")
    A = sp.vstack([top, bottom], format="csc")
    c = np.zeros(m + 1)
    c[m] = -S
    return LP(
        c=c, A=A,
        row_lo=np.concatenate([pb.ymin, np.full(k, -np.inf)]),
        row_hi=np.concatenate([np.full(n, np.inf), pb.b]),
        col_lo=np.zeros(m + 1),
        col_hi=np.concatenate([pb.cap, [np.inf]]),
    ), S


def stage2(pb: PlanProblem, t_lo: float, exact_targets: bool = False) -> LP:
    """Resource-minimising LP at fulfilment ≥ ``t_lo`` (or meeting targets exactly)."""
    d = pb.y - pb.ymin
    lo = pb.y.copy() if exact_targets else pb.ymin + t_lo * d
    A = sp.vstack([pb.M, pb.R], format="csc")
    return LP(
        c=pb.c.copy(), A=A,
        row_lo=np.concatenate([lo, np.full(pb.k, -np.inf)]),
        row_hi=np.concatenate([np.full(pb.n, np.inf), pb.b]),
        col_lo=np.zeros(pb.m), col_hi=pb.cap.copy(),
    )


def elastic(pb: PlanProblem, floors: np.ndarray) -> LP:
    """Elastic LP: columns z (m), σ (k), s (capacitated techniques only)."""
    n, m, k = pb.n, pb.m, pb.k
    capped = np.flatnonzero(np.isfinite(pb.cap))
    q = len(capped)
    S_cap = sp.csc_array((-np.ones(q), (capped, np.arange(q))), shape=(m, q))
    top = sp.hstack([pb.M, sp.csc_array((n, k)), sp.csc_array((n, q))], format="csc")
    mid = sp.hstack([pb.R, -sp.eye_array(k, format="csc"), sp.csc_array((k, q))], format="csc")
    cap_rows = sp.hstack([sp.eye_array(m, format="csc")[capped, :], sp.csc_array((q, k)),
                          S_cap[capped, :]], format="csc")
    A = sp.vstack([top, mid, cap_rows], format="csc")
    c = np.concatenate([np.zeros(m), 1 / np.maximum(pb.b, 1.0),
                        1 / np.maximum(pb.cap[capped], 1.0)])
    return LP(
        c=c, A=A,
        row_lo=np.concatenate([floors, np.full(k + q, -np.inf)]),
        row_hi=np.concatenate([np.full(n, np.inf), pb.b, pb.cap[capped]]),
        col_lo=np.zeros(m + k + q),
        col_hi=np.full(m + k + q, np.inf),
    )


def elastic_blocking(pb: PlanProblem, sigma: np.ndarray, s: np.ndarray,
                     rel: float = 1e-9) -> list[dict]:
    """The elastic LP's answer as ``blocking`` entries: resources whose relaxation ``sigma``
    (k,) and capacities whose relaxation ``s`` (one per capacitated technique, in order) is
    above rounding (``rel`` of the amount available, at least ``rel``; 1e-9 for a simplex
    solution, the first-order route passes its own tolerance, 1e-6: a fuzzer found it listing
    capacities of 0 "lacking" 7e-8)."""
    capped = np.flatnonzero(np.isfinite(pb.cap))
    out = [{"kind": "resource", "index": int(i), "lacking": float(sigma[i])}
           for i in np.flatnonzero(sigma > rel * np.maximum(pb.b, 1.0))]
    out += [{"kind": "capacity", "index": int(capped[q]), "lacking": float(s[q])}
            for q in np.flatnonzero(s > rel * np.maximum(pb.cap[capped], 1.0))]
    return out


def as_inequalities(lp: LP) -> tuple[sp.csr_array, np.ndarray]:
    """``(K, q)`` with ``K x ≥ q`` the rows of ``row_lo ≤ A x ≤ row_hi`` (a finite upper bound
    becomes a negated row; a row with both bounds gives two), the form of
    :func:`econplan.plan.pdhg.solve_lp`."""
    A = sp.csr_array(lp.A)
    lo, hi = np.isfinite(lp.row_lo), np.isfinite(lp.row_hi)
    K = sp.vstack([A[lo], -A[hi]], format="csr")
    return K, np.concatenate([lp.row_lo[lo], -lp.row_hi[hi]])


def achieved_t(pb: PlanProblem, z: np.ndarray) -> float:
    """Fulfilment ratio a plan z reaches: min over products with y > ymin of
    ``((Mz)_i − ymin_i) / d_i`` (1.0 when no product has y > ymin)."""
    d = pb.y - pb.ymin
    net = pb.M @ z
    mask = d > 0
    if not mask.any():
        return 1.0
    return float(np.min((net[mask] - pb.ymin[mask]) / d[mask]))
