"""Exact finish of a first-order plan: the LP restricted to the techniques PDHG is unsure of.

A first-order iterate, even a loose one (relative tolerance 1e-4), says for most techniques
where they sit at the optimum: per product one technique J carries the product's balance row
("basic"), techniques with clearly negative reduced profit stand still, those with clearly
positive profit run at capacity. Only a few hundred per 10,000 products are uncertain (U): the
ones running strictly between their bounds besides J, those with reduced profit near zero,
and the other techniques of products whose J runs near a bound.

Holding every certain technique at its bound, J's activities are an affine function of
``θ = (t, z_U)``: with ``L = (I − Q_J)⁻¹`` (Q_J the inputs per unit of output of the J
techniques, a productive Leontief matrix), the J outputs are
``w(θ) = L (ymin − M_F z_F + t d − M_U z_U)`` and ``z_J = w / o_J``. The *restricted LP* —
``max t`` over θ subject to ``0 ≤ z_J(θ) ≤ cap_J``, ``R z(θ) ≤ b``, ``0 ≤ z_U ≤ cap_U`` — has
``1 + |U|`` columns and one row per resource and per product whose J can reach a bound. Each row
is a row of ``diag(1/o_J) L`` (or ``R_J diag(1/o_J) L``): one *transposed* Leontief solve,
matrix-free; rows are added lazily, when the forward solve of ``z_J(θ*)`` shows a J outside its
bounds. HiGHS (interior point with crossover: the rows are dense) solves it.

Its duals lift to the whole economy: with μ the duals of the J rows and u those of the
resources, ``p = L⁻ᵀ … `` — one transposed solve of ``p (I − Q_J) = (u R_J − μ) / o_J`` — and
every certain technique is priced. Those whose reduced profit has the wrong sign for the bound
they were held at join U (column generation) and the LP is solved again. When none has, the
restricted optimum is the optimum of the whole plan (LP duality: the lifted duals are feasible
for every technique), and its certificate is exact up to the solves' 1e-14 and HiGHS's 1e-10.

Measured (2,000 × 2 and 1e4 × 2 with capacities and floors): from a PDHG iterate at relative
tolerance 1e-4 (768 and 2,688 iterations) the loop ends in 2 to 4 rounds at the exact t*
(HiGHS's simplex to 1e-10), certified gap 1e-9 and below. It needs the LP to stay small:
at 1e5 products the uncertain set is ~8 % of the techniques and the dense rows would not
fit, so the caller tries it only below a size limit. As everything here, the result is checked
by the caller's certificate, never trusted.

The same LP serves ``min-labour`` (``cost=``): the targets are the balance rows, there is no
t, and the objective is the cost-weighted sum of the resource rows, so the U columns' costs
come from the same transposed solves and the lifted prices carry the cost as an extra
resource price (measured at 1e4 × 2, targets at 0.87 of reach: exact, gap 4e-10, 34 s in all
against 78 s to gap 6e-7 by PDHG and repairs). The first LP solve is IPM with crossover;
later ones differ by a few rows or columns and use the simplex method from the last basis.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..kernels import chosen_input_matrix
from .repair import Structure
from .repair import leontief_solve as _solve

__all__ = ["restricted_finish"]

#: the reason given when the uncertain techniques are more than ``max_share`` of all
NOT_SMALLER = "restricted LP not smaller than the economy"
#: a positive profit below this share of a technique's price scale, on a technique below its
#: cap, is rounding: no rent (the dual residual it leaves is at most this)
RENT_NOISE = 1e-9
#: why the last call returned None (diagnostics)
last_reason = ""
#: (columns, rows) of the last call's restricted LP when it ended (diagnostics)
last_size = (0, 0)


def _unit_columns(rows: np.ndarray, scale: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, len(rows)))
    out[rows, np.arange(len(rows))] = scale
    return out


class _SmallLp:
    """The restricted LP in HiGHS, rows and columns added as they are found."""

    def __init__(self) -> None:
        import highspy

        from .highs import new_highs

        self.hs = highspy
        self.h = new_highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("solver", "ipm")  # dense rows: IPM + crossover (7x simplex)
        self.h.setOptionValue("primal_feasibility_tolerance", 1e-10)
        self.h.setOptionValue("dual_feasibility_tolerance", 1e-10)
        self.ncol = 0
        self.nrow = 0

    def add_cols(self, cost, lo, hi, block: np.ndarray) -> None:
        """Columns with their entries in every row added so far (block: nrow × new)."""
        A = sp.csc_array(block) if block.size else sp.csc_array((self.nrow, len(cost)))
        self.h.addCols(len(cost), np.asarray(cost, float), np.asarray(lo, float),
                       np.asarray(hi, float), A.nnz, A.indptr[:-1].astype(np.int32),
                       A.indices.astype(np.int32), A.data)
        self.ncol += len(cost)

    def add_rows(self, lo, hi, block: np.ndarray) -> None:
        """Rows with their entries in every column added so far (block: new × ncol)."""
        A = sp.csr_array(block)
        self.h.addRows(len(lo), np.asarray(lo, float), np.asarray(hi, float), A.nnz,
                       A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32), A.data)
        self.nrow += len(lo)

    def unbounded(self) -> bool:
        """Did the last solve end unbounded (or "infeasible or unbounded")?"""
        return self.h.getModelStatus() in (self.hs.HighsModelStatus.kUnbounded,
                                           self.hs.HighsModelStatus.kUnboundedOrInfeasible)

    def solve(self, seconds: float = float("inf")):
        """Solve within ``seconds``; returns ``((θ, row duals), "")`` or ``(None, why)``.

        Methods in turn, each from where the last one stopped (HiGHS keeps its basis): the
        usual one (IPM with crossover the first time, the dual simplex method from the last
        basis after: later LPs differ by a few rows or columns) for half the time, then the
        primal simplex method for half of what is left, then IPM with crossover afresh (not
        when IPM was the usual method: afresh it would repeat the same steps with less time).
        These dense LPs defeat one method or another depending on the economy (measured,
        HiGHS 1.16): on the generator's 1e4 × 2 (792 × 957) IPM with crossover takes 4.5 s,
        the dual simplex 37 s, the primal > 40 s; on a fuzzed economy of 853 products with
        a third of its techniques capped (1,231 × 647) the crossover and the dual simplex
        are unfinished after 40 s, the primal simplex done in 2.5 s."""
        from .highs import set_time_left

        deadline = time.perf_counter() + seconds
        usual = self.h.getOptionValue("solver")[1]
        tries = [(usual, 1)] + [m for m in (("simplex", 4), ("ipm", 1)) if m != (usual, 1)]
        for i, (solver, strategy) in enumerate(tries):
            left = deadline - time.perf_counter()
            if left <= 0.0:
                break
            if i and solver == "ipm":
                self.h.clearSolver()  # IPM starts over (a stalled basis helps it not)
            self.h.setOptionValue("solver", solver)
            self.h.setOptionValue("simplex_strategy", strategy)
            last = i == len(tries) - 1
            set_time_left(self.h, max(left if last else left / 2, 1.0))
            self.h.run()
            status = self.h.getModelStatus()
            if status == self.hs.HighsModelStatus.kOptimal:
                break
            if status in (self.hs.HighsModelStatus.kInfeasible,
                          self.hs.HighsModelStatus.kUnbounded):
                break  # a verdict, not a stall: another method would say the same
        self.h.setOptionValue("simplex_strategy", 1)
        if self.h.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
            return None, self.h.modelStatusToString(self.h.getModelStatus())
        # later solves differ by a few rows (lazy J rows) or columns (priced-out techniques):
        # the simplex method from this basis needs a few pivots, where IPM starts over
        # (measured, min-labour at 1e4 × 2: 3.4 s per IPM solve over 12 solves)
        self.h.setOptionValue("solver", "simplex")
        sol = self.h.getSolution()
        return (np.array(sol.col_value), np.array(sol.row_dual)), ""


def restricted_finish(
    st: Structure,
    R: sp.csr_array,
    b: np.ndarray,
    cap: np.ndarray,
    ymin: np.ndarray,
    d: np.ndarray,
    z: np.ndarray,
    p: np.ndarray,
    u: np.ndarray,
    max_cells: float = 2e6,
    rounds: int = 20,
    time_limit: float = float("inf"),
    cost: np.ndarray | None = None,
    max_share: float = 1.0,
    elastic: float | None = None,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray] | None:
    """Exact ``(z, t, p, u, v)`` of stage 1 from an approximate solution (module docstring),
    or None (reason in ``last_reason``). ``z`` activities, ``p``, ``u`` duals (any scale of
    p·d > 0). ``max_cells`` bounds the restricted LP's dense size (rows × columns); with more
    than ``max_share`` of the techniques uncertain it is not tried (reason :data:`NOT_SMALLER`).

    With ``cost`` (k,: resource weights, the min-labour objective) the LP is instead
    ``min cost·R z`` subject to ``M z ≥ ymin`` (pass the targets as ``ymin`` and ``d = 0``),
    ``R z ≤ b``, ``0 ≤ z ≤ cap``: t is held at 0, the objective is the cost-weighted sum of
    the resource rows (so the U columns' costs come from the same transposed solves), and the
    duals ``(p, u)`` are those of that LP (``p M_j − u R_j − v_j ≤ cost·R_j``; no scaling);
    the lifted prices solve ``p (I − Q_J) diag(o_J) = (u + cost) R_J − μ``. Returns
    ``(z, 0.0, p, u, v)`` then.

    ``elastic`` (min-cost only; pass the targets' direction as ``d``, e.g. the targets
    themselves): the targets may fall short, ``M z ≥ ymin + s·d`` with ``−1 ≤ s ≤ 0``, at a
    penalty of ``elastic`` cost units per unit of ``−s``. From an iterate whose certain
    techniques, held at their bounds, leave the targets out of reach (stage 2's thin set:
    measured on a fuzzed economy of 7,222 products, a 201 × 669 LP *infeasible* from every
    iterate) that LP is still feasible, its duals still price the rest of the economy, and
    the techniques they call for join until the shortfall is gone (column generation's
    "big M" first phase). The penalty grows a hundredfold (at most :data:`ELASTIC_GROWTHS`
    times) while the optimum, with no technique left to enter, still falls short; a
    shortfall left then is a failure. With ``s = 0`` the LP is the min-cost LP over its
    columns, its duals those of the min-cost LP (the elastic column only adds a dual
    constraint), so the finish and its certificate are exactly the unpenalised ones."""
    global last_reason, last_size
    start = time.perf_counter()
    last_size = (0, 0)
    n, m, tp, o = st.n, st.m, st.tp, st.o
    R = sp.csr_array(R)
    k = R.shape[0]
    inf = np.inf
    capped = np.isfinite(cap)
    z = np.clip(np.asarray(z, dtype=np.float64), 0.0, cap)
    if cost is None:
        pd = float(p @ d)
        if not pd > 0:
            return _fail("p·d ≤ 0")
        p, u = np.maximum(p, 0.0) / pd, np.maximum(u, 0.0) / pd
        ceff = np.zeros(k)
    else:
        p, u = np.maximum(p, 0.0), np.maximum(u, 0.0)
        ceff = np.asarray(cost, dtype=np.float64)
    profit = st.M.T @ p - R.T @ (u + ceff)
    colM = np.asarray(abs(st.M).sum(axis=0)).ravel()
    colR = np.asarray(abs(R).sum(axis=0)).ravel()
    rel = profit / np.maximum(p.max(initial=0.0) * colM + (u + ceff).max(initial=0.0) * colR,
                              1e-300)
    made = np.bincount(tp, weights=z * o, minlength=n)
    share = z * o / np.maximum(made[tp], 1e-300)
    room = np.minimum(share, np.where(capped, (cap - z) / np.where(capped, np.maximum(
        cap, 1e-300), 1.0), 1.0))
    # J: per product the technique farthest from its bounds (then the one making most)
    order = np.lexsort((-share, -room, tp))
    J = order[np.r_[True, tp[order][1:] != tp[order][:-1]]]
    if len(J) != n:
        return _fail("a product without technique")
    isJ = np.zeros(m, dtype=bool)
    isJ[J] = True
    U = ~isJ & ((room > 1e-7) | (np.abs(rel) < 1e-4) | (~capped & (profit > 0)))
    near = np.zeros(n, dtype=bool)
    near[tp[J]] = room[J] < 1e-3  # J near a bound: the product's others may have to move
    U |= ~isJ & near[tp]
    at_cap = ~isJ & ~U & capped & (profit > 0)
    S = np.flatnonzero(room[J] < 1e-2)  # J rows in the LP from the start
    if U.sum() > max_share * m:
        return _fail(f"{NOT_SMALLER}: {U.sum()} of {m} techniques uncertain")
    if (1 + U.sum()) * (k + len(S)) > max_cells:
        return _fail(f"restricted LP too large: {U.sum()} uncertain techniques, {len(S)} rows")
    oJ, capJ = o[J], cap[J]
    Q = sp.csr_array(chosen_input_matrix(st.A, o, J))
    QT = sp.csr_array(Q.T)
    RJ = sp.csr_array(R[:, J])
    zF = np.where(at_cap, cap, 0.0)
    b0 = ymin - st.M @ zF
    rho = _solve(QT, RJ.T.toarray() / oJ[:, None])  # rows of R_J diag(1/o_J) L, as columns
    Lrows = _solve(QT, _unit_columns(S, 1.0 / oJ[S], n))
    Uix = np.flatnonzero(U)

    def row_block(W: np.ndarray, cols: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
        """Coefficients of rows W (n × r, transposed-solve columns) on (t?, z_cols)."""
        B = -(sp.csc_array(st.M[:, cols]).T @ W).T
        if extra is not None:
            B = B + extra
        return B

    lp = _SmallLp()
    if cost is None:
        lp.add_cols([-1.0], [-inf], [inf], np.zeros((0, 1)))
    elif elastic is None:  # min-cost: t held at 0
        lp.add_cols([0.0], [0.0], [0.0], np.zeros((0, 1)))
    else:  # min-cost, the targets elastic: t = s in [−1, 0], its cost the J's plus the penalty
        s_cost = float(ceff @ (rho.T @ d))  # what the J techniques' resources cost per unit s
        lp.add_cols([s_cost - elastic], [-1.0], [0.0], np.zeros((0, 1)))
    res_rows = row_block(rho, Uix, R[:, Uix].toarray())
    # min-cost: a U column's cost is the cost-weighted sum of its resource-row entries
    lp.add_cols(ceff @ res_rows, np.zeros(len(Uix)),
                np.where(capped[Uix], cap[Uix], inf), np.zeros((0, len(Uix))))
    res_c = rho.T @ b0 + R @ zF
    lp.add_rows(np.full(k, -inf), b - res_c, np.column_stack([rho.T @ d, res_rows]))
    lp.add_rows(-(Lrows.T @ b0), np.where(capped[J[S]], capJ[S], inf) - Lrows.T @ b0,
                np.column_stack([Lrows.T @ d, row_block(Lrows, Uix, None)]))
    box = _Box(made, o, tp, z, box_t=cost is None)
    growths = 0  # of the elastic penalty
    for _ in range(rounds):
        for _ in range(30 + BOX_GROWTHS):  # lazy rows (and growing the box, if any)
            if time.perf_counter() - start > time_limit:
                return _fail("time limit")
            last_size = (lp.ncol, lp.nrow)
            out, why = lp.solve(time_limit - (time.perf_counter() - start))
            if out is None and lp.unbounded() and box.grow(lp, Uix, capped):
                continue  # the lazy rows not there yet let the LP run off: box it in
            if out is None:
                return _fail(f"restricted LP {why}")
            theta, row_dual = out
            t = float(theta[0])
            w = _solve(Q, (b0 + t * d - st.M[:, Uix] @ theta[1:])[:, None])[:, 0]
            zJ = w / oJ
            tol = 1e-9 * np.maximum(np.where(capped[J], capJ, np.abs(zJ)), 1.0)
            viol = (zJ < -tol) | (capped[J] & (zJ > capJ + tol))
            viol[S] = False
            if not viol.any():
                if not box.binds(theta):
                    break
                if not box.grow(lp, Uix, capped):
                    return _fail("restricted LP unbounded within its rows")
                continue
            new = np.flatnonzero(viol)
            if (1 + len(Uix)) * (k + len(S) + len(new)) > max_cells:
                return _fail("restricted LP too large (rows)")
            Ln = _solve(QT, _unit_columns(new, 1.0 / oJ[new], n))
            lp.add_rows(-(Ln.T @ b0), np.where(capped[J[new]], capJ[new], inf) - Ln.T @ b0,
                        np.column_stack([Ln.T @ d, row_block(Ln, Uix, None)]))
            S = np.r_[S, new]
            Lrows = np.column_stack([Lrows, Ln])
        else:
            return _fail("lazy rows did not settle")
        # lift the duals: p (I − Q_J) diag(o_J) = u R_J − μ (μ: duals of the J rows)
        ures = -row_dual[:k]
        mu = np.zeros(n)
        mu[S] = row_dual[k:]
        pp = _solve(QT, ((RJ.T @ (ures + ceff) - mu) / oJ)[:, None])[:, 0]
        if cost is None and not abs(pp @ d - 1.0) <= 1e-6:
            return _fail(f"lifted duals off: p·d = {pp @ d:.6g}")
        prof = st.M.T @ pp - R.T @ (ures + ceff)
        scale = np.maximum(np.abs(pp).max() * colM + np.abs(ures + ceff).max() * colR,
                           1e-300)
        relp = prof / scale
        fixed = ~isJ & ~U
        enter = fixed & np.where(at_cap, relp < -1e-11, relp > 1e-11)
        short = elastic is not None and t < -1e-12
        if short and not enter.any():  # the penalty is too small to call for more output
            if growths >= ELASTIC_GROWTHS:
                return _fail(f"targets out of reach of the restricted LP (short {-t:.2e})")
            growths += 1
            elastic *= 100.0
            lp.h.changeColCost(0, s_cost - elastic)
            continue
        if not enter.any():
            znew = zF.copy()
            znew[Uix] = theta[1:]
            znew[J] = np.clip(zJ, 0.0, capJ)
            # rents on techniques at their caps, and on any whose profit is more than
            # RENT_NOISE of its price scale. No fixed technique below its cap is profitable
            # beyond the entering threshold here, and the LP's own columns are optimal in it:
            # a smaller profit on one below its cap is rounding, of the lifted prices or of
            # the LP's rows (HiGHS drops their entries below 1e-9; ~1e-2 absolute at price
            # scales of 1e8), and as a rent it would cost the bound v·(cap − z) while,
            # left out, it costs a dual residual of at most RENT_NOISE (session 23, fuzzed
            # economies: a stage 2 of 8,584 products kept gap 1.2e-5 from 605 such rents, one
            # of 10,362 products 3.7e-5-4.7e-5 in twelve LPs alike; ~1e-9 without them, the
            # dual residuals the same). A J technique a hair below its cap keeps its rent.
            rent = capped & ((znew >= cap * (1.0 - 1e-9)) | (relp > RENT_NOISE))
            v = np.where(rent, np.maximum(prof, 0.0), 0.0)
            return znew, t, pp, ures, v
        new_cols = np.flatnonzero(enter)
        if (1 + len(Uix) + len(new_cols)) * (k + len(S)) > max_cells:
            return _fail("restricted LP too large (columns)")
        # entering techniques leave their bound: the base moves, the LP gets their columns
        zF[new_cols] = 0.0
        at_cap[new_cols] = False
        U[new_cols] = True
        b0 = ymin - st.M @ zF
        Uix = np.r_[Uix, new_cols]
        W = np.column_stack([rho, Lrows])
        block = row_block(W, new_cols, np.vstack([R[:, new_cols].toarray(),
                                                  np.zeros((len(S), len(new_cols)))]))
        lp.add_cols(ceff @ block[:k], np.zeros(len(new_cols)),
                    np.where(capped[new_cols], cap[new_cols], inf), block)
        box.apply(lp, Uix, capped)
        # the row bounds depend on the base b0 (an entering capped technique left its cap)
        res_c = rho.T @ b0 + R @ zF
        lo = np.r_[np.full(k, -inf), -(Lrows.T @ b0)]
        hi = np.r_[b - res_c, np.where(capped[J[S]], capJ[S], inf) - Lrows.T @ b0]
        lp.h.changeRowsBounds(len(lo), np.arange(len(lo), dtype=np.int32), lo, hi)
    return _fail(f"no optimum after {rounds} rounds")


#: how often the elastic targets' penalty may grow a hundredfold
ELASTIC_GROWTHS = 3
#: how often the artificial box (:class:`_Box`) may grow a hundredfold
BOX_GROWTHS = 4
#: the box's first size, in multiples of each column's natural scale
BOX_SIZE = 1e2


class _Box:
    """Artificial bounds for an LP that the lazy J rows have not closed yet.

    The restricted LP starts with the J rows near a bound only; the others join when the
    forward solve shows them violated. Before they are there, moving an uncertain technique
    can "unproduce" a J technique's product (z_J < 0) and free resources without end, and
    HiGHS answers Unbounded, with no point to check rows against (measured: a fuzzed economy
    of 799 products, 1,087 × 41, from every PDHG iterate). So such an LP is boxed in — t
    within ``±BOX_SIZE`` (max t only), an uncapped U technique within BOX_SIZE times the
    activity that would make its product's present output — the lazy rows are found at the
    boxed optimum, and the box grows a hundredfold while it still binds there (at most
    BOX_GROWTHS times). A box that binds at no column is not a constraint at the optimum (the
    LP is convex), so the restricted optimum, its duals and the certificate are the unboxed
    LP's."""

    def __init__(self, made: np.ndarray, o: np.ndarray, tp: np.ndarray, z: np.ndarray,
                 box_t: bool) -> None:
        self.scale = np.maximum(np.maximum(z, 0.0), made[tp] / o)  # per technique
        self.fallback = max(float(self.scale.max(initial=0.0)), 1.0)
        self.box_t = box_t
        self.cols = np.zeros(0, dtype=np.int32)  # LP columns boxed
        self.lo = self.hi = np.zeros(0)
        self.growths = 0  # 0: no box yet

    @property
    def size(self) -> float:
        return BOX_SIZE * 100.0 ** (self.growths - 1) if self.growths else 0.0

    def grow(self, lp: _SmallLp, Uix: np.ndarray, capped: np.ndarray) -> bool:
        """Box the LP in (first call) or grow the box; False when it may grow no more."""
        if self.growths >= BOX_GROWTHS:
            return False
        self.growths += 1
        self.apply(lp, Uix, capped)
        return True

    def apply(self, lp: _SmallLp, Uix: np.ndarray, capped: np.ndarray) -> None:
        """Set the box's bounds on the LP's columns now (columns may have joined)."""
        if not self.growths:
            return
        free = np.flatnonzero(~capped[Uix])
        scale = self.scale[Uix[free]]
        scale = np.where(scale > 0, scale, self.fallback)
        t_col = [0] if self.box_t else []
        self.cols = np.r_[t_col, 1 + free].astype(np.int32)
        self.lo = np.r_[[-self.size] * len(t_col), np.zeros(len(free))]
        self.hi = np.r_[[self.size] * len(t_col), self.size * scale]
        lp.h.changeColsBounds(len(self.cols), self.cols, self.lo, self.hi)

    def binds(self, theta: np.ndarray) -> bool:
        """Does the boxed optimum sit at a box bound (relative 1e-9)?"""
        if not self.growths:
            return False
        x = theta[self.cols]
        tol = 1e-9 * np.maximum(np.abs(self.hi), 1.0)
        at_hi = x >= self.hi - tol
        at_lo = (self.lo < 0) & (x <= self.lo + tol)  # (U's lower bound 0 is its own)
        return bool((at_hi | at_lo).any())


def _fail(reason: str) -> None:
    global last_reason
    last_reason = reason
    return None
