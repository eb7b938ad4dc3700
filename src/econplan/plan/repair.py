"""Turn an approximate (first-order) plan into one whose certificate holds exactly.

A first-order solver returns activities that violate a few balance rows by tiny amounts and
duals that violate a few technique inequalities by tiny amounts. DESIGN.md's certificate
measures both, and the fulfilment a plan *achieves* is the minimum over products of
``((M z)_i − ymin_i) / d_i`` — so a deficit of 1e-9 on a product with a small final demand
can cost a lot of t. The two repairs below use the Leontief structure (one technique makes
one product; every choice of techniques is productive), each a couple of matrix-free solves:

* :func:`repair_primal` covers every deficit by producing more with techniques that have
  capacity left (one Leontief solve for the gross requirements of the deficits); for
  products whose techniques all run at capacity ("exhausted"), consumers move output to an
  alternative technique with room that needs less of them; what remains (exhausted
  products still short, resources used beyond availability) is relieved by lowering t along
  the direction that meets ``d`` with the exhausted products' production held fixed. The
  result is feasible up to rounding, at a t slightly below the input's.
* :func:`repair_dual` makes (p, u, v) dual-feasible: either p is lowered to
  ``min(p, min_j (p·A_j + u·R_j)/o_j)`` over the techniques that may earn no rent until none
  is profitable (a monotone iteration that converges at the economy's spectral radius), or
  every resource price is raised by one common factor; p·d = 1 is restored by scaling
  (p, u, v) — the inequalities are homogeneous — and capacity rents are recomputed exactly.
  The lower of the resulting bounds ``u·b + v·cap − p·ymin`` is kept; it is a valid upper
  bound on t*, whatever the input's accuracy.

Units: as in :class:`econplan.plan.base.PlanProblem` (activities, product units, t
dimensionless; p in t per product unit, u in t per resource unit, v in t per activity unit).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.sparse as sp

from ..errors import EconplanError
from ..kernels import _group_index, gross_activities, grouped_argmin
from .unmade import levels

__all__ = [
    "repair_primal",
    "repair_dual",
    "repair_cost_dual",
    "produce_deficits",
    "cover_deficits",
    "leontief_solve",
    "Structure",
]


#: a block solve works on column chunks of about this many bytes (n × columns × 8)
CHUNK_BYTES = 2.5e6


def leontief_solve(Q: sp.sparray, rhs: np.ndarray, maxiter: int = 3000) -> np.ndarray:
    """x = rhs + Q x for every column of rhs (Q a productive Leontief matrix, ρ(Q) < 1) to
    1e-14 relative, matrix-free (Anderson-accelerated sweeps): the solve shared by the fill,
    the crossover and the restricted LP.

    Many columns (the restricted LP's rows: ~1,000 at 1e4 products) are solved in chunks of
    ~``CHUNK_BYTES`` per block, each to the same tolerance on its own: the Anderson passes over
    a chunk and its history stay in cache, where over the whole block every pass goes to
    memory. Measured at 1e4 × 991 columns: 10.6 s in one block, 5.2 s in chunks of 32 (8 to
    256 columns: 5.2-6.6 s). With Numba and two or more threads the chunks are solved side by
    side, one per thread, each by the fused sweep of :func:`econplan.threaded.anderson_solve`
    (NumPy's loop holds the GIL between its SciPy calls, so threads over it gained nothing):
    the same iteration per chunk, so the result does not depend on the thread count."""
    from .. import threaded
    from ..kernels import CsrOperator, fixed_point_solve

    op = CsrOperator(sp.csr_array(Q), None)
    rhs = np.ascontiguousarray(rhs, dtype=np.float64)

    def solve(block: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        return np.asarray(fixed_point_solve(op, np.ascontiguousarray(block), tol=1e-14,
                                            maxiter=maxiter, n_threads=n_threads)[0])

    width = max(4, int(CHUNK_BYTES // (8 * max(rhs.shape[0], 1))))
    if rhs.ndim == 1 or rhs.shape[1] <= 2 * width:
        return solve(rhs)
    starts = range(0, rhs.shape[1], width)
    n_threads = threaded.threads()
    if n_threads >= 2 and threaded.numba_importable():  # one chunk per thread
        return np.column_stack(list(threaded._pool(n_threads).map(
            lambda s: solve(rhs[:, s:s + width], n_threads=1), starts)))
    return np.column_stack([solve(rhs[:, s:s + width]) for s in starts])


class Structure:
    """Inputs A = B − M (n × m, ≥ 0), outputs, grouping of techniques by product: built once."""

    def __init__(self, M: sp.sparray, tech_product: np.ndarray, output: np.ndarray) -> None:
        M = sp.csc_array(M)
        self.n, self.m = M.shape
        self.tp = np.asarray(tech_product, dtype=np.int64)
        self.o = np.asarray(output, dtype=np.float64)
        B = sp.csc_array((self.o, (self.tp, np.arange(self.m))), shape=(self.n, self.m))
        A = sp.csc_array(B - M)
        A.eliminate_zeros()
        A.data = np.maximum(A.data, 0.0)
        self.A = A
        self.AT = sp.csr_array(A.T)
        self.M = M
        self.order, self.starts = _group_index(self.tp, self.n)

    @cached_property
    def consumers(self) -> sp.csr_array:
        """A by rows (CSR, n × m): row i holds the techniques that use product i and how much
        per unit of activity. Converted once, on first use (the adjusted fill's rents)."""
        return sp.csr_array(self.A)

    def pick(self, score: np.ndarray) -> np.ndarray:
        """Per product, the technique with the largest finite ``score``."""
        return grouped_argmin(-np.minimum(score, 1e300), self.order, self.starts)


def repair_primal(
    st: Structure,
    R: sp.sparray,
    b: np.ndarray,
    cap: np.ndarray,
    ymin: np.ndarray,
    d: np.ndarray,
    z: np.ndarray,
    t: float,
    rounds: int = 3,
    switch: bool = True,
) -> tuple[np.ndarray, float]:
    """Activities meeting ``M z ≥ ymin + t' d``, ``R z ≤ b``, ``0 ≤ z ≤ cap`` for a t' ≤ t
    close to t (module docstring). Returns ``(z', t')``."""
    z = np.clip(np.asarray(z, dtype=np.float64), 0.0, cap)
    R = sp.csr_array(R)
    for _ in range(rounds):
        # 1. produce the deficits with techniques that have room
        produce_deficits(st, cap, ymin, d, z, t, rounds)
        # 2. exhausted products (every technique at capacity): consumers switch to their
        # alternative that uses less of it, where that alternative has room
        if switch:
            _switch_until_covered(st, cap, ymin, d, z, t, rounds)
        # 3. what is left (exhausted products' deficits, resource overuse): lower t
        # (deficits below rounding of the row's own terms are not deficits)
        deficit = _deficits(st, ymin, d, z, t)
        excess = R @ z - b
        excess = np.where(excess > 1e-14 * (abs(R) @ z), excess, 0.0)
        if not deficit.any() and not (excess > 0).any():
            break
        _, full = _room(st, cap, z)
        choice = st.pick(z)  # the technique running most can be turned down most
        # w: activities (exhausted products' production held) that make d; x: gross needs.
        # Lowering (z, t) by ε (w, 1) leaves every other row's slack as it is and relieves
        # an exhausted product's row by ε x_i (its requirement falls, its production stays)
        x = _gross(st, choice, d, np.where(full, 0.0, 1.0))
        w = np.zeros(st.m)
        w[choice] = np.where(full, 0.0, x / st.o[choice])
        relief = d - st.M @ w
        fixable = (deficit > 0) & (relief > 1e-300)
        need = np.where(fixable, deficit / np.where(fixable, relief, 1.0), 0.0)
        Rw = R @ w
        need_r = np.where(excess > 0, excess / np.maximum(Rw, 1e-300), 0.0)
        eps = float(max(need.max(initial=0.0), need_r.max(initial=0.0)))
        if not np.isfinite(eps) or eps > 0.5 * max(t, 1e-12):
            break  # no useful direction: leave it to the certificate to say so
        z = np.maximum(z - eps * w, 0.0)
        t = t - eps
    return z, float(t)


def _deficits(st: Structure, ymin: np.ndarray, d: np.ndarray, z: np.ndarray,
              t: float) -> np.ndarray:
    """Per product, by how much ``M z`` falls short of ``ymin + t d`` (product units), 0 where
    it does not or only by rounding of the row's own terms."""
    rowscale = abs(st.M) @ z + ymin + t * d
    deficit = ymin + t * d - st.M @ z
    return np.where(deficit > 1e-14 * rowscale, deficit, 0.0)


def _room(st: Structure, cap: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Capacity left per technique (inf without capacity), and the products whose techniques
    are all at capacity (beyond rounding)."""
    capped = np.isfinite(cap)
    room = np.where(capped, cap - z, np.inf)
    has_room = ~capped | (room > 1e-12 * np.maximum(np.where(capped, cap, 1.0), 1.0))
    return room, np.bincount(st.tp, weights=has_room, minlength=st.n) == 0


def produce_deficits(st: Structure, cap: np.ndarray, ymin: np.ndarray, d: np.ndarray,
                     z: np.ndarray, t: float, rounds: int) -> None:
    """In place: cover every row's deficit at t by producing more with, per product, the
    technique with the most capacity left (one Leontief solve per round)."""
    capped = np.isfinite(cap)
    for _ in range(rounds):
        deficit = np.maximum(ymin + t * d - st.M @ z, 0.0)
        if not deficit.any():
            break
        choice = st.pick(np.where(capped, cap - z, np.inf))
        try:
            dz = gross_activities(st.A, st.o, choice, deficit)
        except (ArithmeticError, EconplanError):
            # that choice cannot run on its own (a labour-free technique making a product
            # from as much of itself, uncapped like its alternative): the deficits stay, and
            # the steps after lower t for them
            break
        z[choice] = np.minimum(z[choice] + dz, cap[choice])


def cover_deficits(M: sp.sparray, tech_product: np.ndarray, output: np.ndarray,
                   cap: np.ndarray, rhs: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``z`` with every row of ``M z ≥ rhs`` that a vertex solver left short by its
    feasibility tolerance (HiGHS: up to ~1e-7 absolute, which on a product with a small need
    costs the achieved t ~1e-6/d_i: a fuzzer saw 4.6e-6 below t* and a certificate gap of
    4.2e-6 on a plan called optimal) covered by producing more (:func:`produce_deficits`, one
    Leontief solve a round). Returns ``z`` itself when no row is short beyond rounding.
    Resource use grows by as little (the certificate's primal residual shows it)."""
    z = np.asarray(z, dtype=np.float64)
    short = rhs - M @ z
    if not (short > 1e-13 * np.maximum(abs(M) @ np.abs(z) + np.abs(rhs), 1.0)).any():
        return z
    removed, level, _ = levels(M, tech_product)  # products nothing can make, and their users
    rows, cols = np.flatnonzero(~removed), np.flatnonzero(level == 0)
    Mr = sp.csc_array(M)
    if len(rows) < M.shape[0]:  # products nothing can make: cover the rest without them
        remap = np.full(M.shape[0], -1, dtype=np.int64)
        remap[rows] = np.arange(len(rows))
        Mr = sp.csc_array(Mr[rows][:, cols])
        tech_product = remap[np.asarray(tech_product)[cols]]
    st = Structure(Mr, tech_product, np.asarray(output)[cols])
    part = z[cols].copy()
    try:  # an aid: the techniques with room may not run on their own (then keep z)
        produce_deficits(st, np.asarray(cap, dtype=np.float64)[cols],
                         np.asarray(rhs, dtype=np.float64)[rows], np.zeros(len(rows)), part,
                         0.0, rounds=3)
    except (ArithmeticError, ValueError, RuntimeError):
        return z
    out = z.copy()
    out[cols] = part
    if not np.isfinite(out).all():
        return z
    short_after = float(np.maximum(rhs - M @ out, 0.0).max(initial=0.0))
    return out if short_after < float(short.max()) else z


def _switch_consumers(st: Structure, cap: np.ndarray, ymin: np.ndarray, d: np.ndarray,
                      z: np.ndarray, t: float) -> None:
    """In place: for every product whose techniques all run at capacity and whose row is
    short, move output of its consumers from the technique they run to an alternative of
    theirs with room that needs less of the product per unit of output, largest saving
    first, until the shortfall is covered. The consumers' own output is unchanged; their
    other inputs and resource use change a little (the caller covers the first by production
    and the second, if over, by lowering t)."""
    room, full = _room(st, cap, z)
    deficit = ymin + t * d - st.M @ z
    short = np.flatnonzero(full & (deficit > 0))
    if not len(short):
        return
    Ar = sp.csr_array(st.A)
    per = st.AT.multiply(1.0 / st.o[:, None]).tocsr()  # technique × product, per unit output
    for i in short:
        need = float(deficit[i])
        row = slice(Ar.indptr[i], Ar.indptr[i + 1])
        techs = Ar.indices[row]
        use = Ar.data[row] / st.o[techs]  # units of i per unit of output of each consumer
        best = []
        for j, a in zip(techs, use, strict=True):
            if z[j] <= 0 or st.tp[j] == i:
                continue
            for k in _alternatives(st, j):
                if k == j or room[k] <= 0:
                    continue
                a_k = float(per[k, i])
                if a_k < a:
                    best.append((a - a_k, j, k))
        for gain, j, k in sorted(best, reverse=True):
            if need <= 0:
                break
            # output moved (units of the consumer's product): limited by j's activity and
            # k's room
            q = min(need / gain, z[j] * st.o[j], room[k] * st.o[k])
            if q <= 0:
                continue
            z[j] -= q / st.o[j]
            z[k] += q / st.o[k]
            room[k] -= q / st.o[k]
            need -= q * gain


#: at most this many rounds of consumers' switches and the production they call for
SWITCH_ROUNDS = 10


def _exhausted_shortfall(st: Structure, cap: np.ndarray, ymin: np.ndarray, d: np.ndarray,
                         z: np.ndarray, t: float) -> float:
    """Sum of the deficits at t of the products whose techniques all run at capacity."""
    _, full = _room(st, cap, z)
    if not full.any():
        return 0.0
    return float(_deficits(st, ymin, d, z, t)[full].sum())


def _switch_until_covered(st: Structure, cap: np.ndarray, ymin: np.ndarray, d: np.ndarray,
                          z: np.ndarray, t: float, rounds: int) -> None:
    """In place: consumers' switches (:func:`_switch_consumers`), then the production of
    their other inputs (:func:`produce_deficits`), again and again while the exhausted
    products' shortfall keeps falling (at least twofold per round, ``SWITCH_ROUNDS`` at
    most). One round is not enough: the products made for the switches use the exhausted
    products too, so a shortfall is left, and whatever is left costs t (step 3 of
    :func:`repair_primal`). Measured on a PDHG iterate of 1e5 × 2 with capacities (PDHG's
    own gap 3.6e-7): the shortfall falls 10-30× per round (1.0e-3 → 6.5e-13 in 8 rounds,
    ~0.3 s each) and the repaired plan loses 4.0e-6 of t instead of 4.1e-4."""
    before = _exhausted_shortfall(st, cap, ymin, d, z, t)
    for _ in range(SWITCH_ROUNDS):
        if before <= 0.0:
            return
        _switch_consumers(st, cap, ymin, d, z, t)
        produce_deficits(st, cap, ymin, d, z, t, rounds)  # the switches' other inputs
        after = _exhausted_shortfall(st, cap, ymin, d, z, t)
        if after > 0.5 * before:
            return
        before = after


def _alternatives(st: Structure, j: int) -> np.ndarray:
    """The techniques that make the same product as technique j (j included)."""
    i = st.tp[j]
    pos = st.starts[i]
    end = st.starts[i + 1] if i + 1 < st.n else st.m
    return st.order[pos:end]


def _gross(st: Structure, choice: np.ndarray, Y: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Gross requirements x = Y + Q diag(keep) x for the chosen techniques (keep 0: that
    product's production is held fixed, so its inputs are not required)."""
    from ..kernels import CsrOperator, chosen_input_matrix, fixed_point_solve

    Q = chosen_input_matrix(st.A, st.o, choice)
    Q = sp.csr_array(Q @ sp.diags_array(keep))
    op = CsrOperator(Q, None)
    x, _, _ = fixed_point_solve(op, np.asarray(Y, dtype=np.float64), tol=1e-13)
    return np.asarray(x)


def repair_dual(
    st: Structure,
    R: sp.sparray,
    b: np.ndarray,
    cap: np.ndarray,
    ymin: np.ndarray,
    d: np.ndarray,
    p: np.ndarray,
    u: np.ndarray,
    max_sweeps: int = 100,
    z: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dual-feasible (p, u, v) with p·d = 1 from approximate (p, u) (module docstring).

    Two ways to remove the profit an approximate p leaves on techniques that may earn none
    (uncapacitated ones, and — with the plan's activities ``z`` — capacitated ones that do
    not run at capacity, which complementary slackness gives no rent): raise every resource
    price by the same factor 1 + γ (all techniques use resources, so a small γ clears small
    profits and the bound grows by γ·u·b), or lower p to ``min(p, min_j (p·A_j + u·R_j)/o_j)``
    until no such technique is profitable (a monotone iteration; lowering an input's price
    lowers its users' prices too, which can cost more). Both give valid duals; the one with
    the lower bound ``u·b + v·cap − p·ymin`` is returned."""
    p = np.maximum(np.asarray(p, dtype=np.float64), 0.0)
    u = np.maximum(np.asarray(u, dtype=np.float64), 0.0)
    R = sp.csr_array(R)
    capped = np.isfinite(cap)
    pd = float(p @ d)
    if pd > 0:
        p, u = p / pd, u / pd
    holds = _rent_free(cap, z)
    candidates = []
    uR = R.T @ u
    profit = st.M.T @ p - uR
    for hold in holds:
        # (a) raise the resource prices
        viol = hold & (profit > 0)
        if not (viol & (uR <= 0)).any():
            gamma = float(np.max(profit[viol] / uR[viol], initial=0.0))
            candidates.append((p, u * (1 + gamma)))
        # (b) lower the product prices
        pl = lower_prices(st, R, p, u, hold, max_sweeps)
        pd = float(pl @ d)
        candidates.append((pl / pd, u / pd) if pd > 0 else (pl, u))
    best = None
    capf = np.where(capped, cap, 0.0)
    for pc, uc in candidates:
        prof = st.M.T @ pc - R.T @ uc
        v = np.where(capped, np.maximum(prof, 0.0), 0.0)
        bound = float(uc @ b + v @ capf - pc @ ymin)
        if best is None or bound < best[0]:
            best = (bound, (pc, uc, v))
    return best[1]


def _rent_free(cap: np.ndarray, z: np.ndarray | None) -> list[np.ndarray]:
    """The sets of techniques that may earn no capacity rent, for the dual repairs:
    uncapacitated ones; with the plan's ``z``, also capacitated ones running below capacity
    (complementary slackness)."""
    capped = np.isfinite(cap)
    holds = [~capped]
    if z is not None:
        holds.append(~capped | (np.asarray(z) < cap * (1 - 1e-7)))
    return holds


def lower_prices(st: Structure, R: sp.csr_array, p: np.ndarray, w: np.ndarray,
                 hold: np.ndarray, max_sweeps: int = 100) -> np.ndarray:
    """p lowered to ``min(p, min_j (p·A_j + w·R_j)/o_j)`` over the techniques ``hold`` until
    none of them earns ``p·M_j − w·R_j > 0`` (or ``max_sweeps``): a monotone iteration that
    converges at the economy's spectral radius. ``w`` prices resources (per resource unit)."""
    Rw = R.T @ w
    idx = st.tp[hold]
    for _ in range(max_sweeps):
        unit = ((st.AT @ p + Rw) / st.o)[hold]
        T = np.full(st.n, np.inf)
        np.minimum.at(T, idx, unit)
        if not (p > T).any():
            break
        p = np.minimum(p, T)
    return p


def repair_cost_dual(
    st: Structure,
    R: sp.sparray,
    b: np.ndarray,
    cap: np.ndarray,
    y: np.ndarray,
    cost: np.ndarray,
    q: np.ndarray,
    u: np.ndarray,
    z: np.ndarray | None = None,
    max_sweeps: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dual-feasible (q, u, v) for ``min c·z, M z ≥ y, R z ≤ b, 0 ≤ z ≤ cap`` with
    ``c = Rᵀ cost`` from approximate (q, u): q lowered (:func:`lower_prices` with resource
    prices ``u + cost``) so that no technique that may earn no rent makes a profit, capacity
    rents v the rest, exactly. "May earn no rent": uncapacitated techniques, or also (with the
    plan's ``z``) capacitated ones below capacity; of the two the one with the higher bound
    ``q·y − u·b − v·cap`` on the least cost is returned (any repaired duals bound it from
    below). Units: q in cost units per product unit, u per resource unit, v per activity."""
    R = sp.csr_array(R)
    q = np.maximum(np.asarray(q, dtype=np.float64), 0.0)
    u = np.maximum(np.asarray(u, dtype=np.float64), 0.0)
    w = u + np.asarray(cost, dtype=np.float64)
    capped = np.isfinite(cap)
    capf = np.where(capped, cap, 0.0)
    best = None
    for hold in _rent_free(cap, z):
        ql = lower_prices(st, R, q, w, hold, max_sweeps)
        v = np.where(capped, np.maximum(st.M.T @ ql - R.T @ w, 0.0), 0.0)
        bound = float(ql @ y - u @ b - v @ capf)
        if best is None or bound > best[0]:
            best = (bound, (ql, u, v))
    return best[1]
