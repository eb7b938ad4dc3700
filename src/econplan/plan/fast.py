"""The structured planner (``--solver fast``): decomposition that exploits "one technique makes
one product".

Stage 1 (max t) and stage 2 (min resource cost at t*) of DESIGN.md are solved by Dantzig–Wolfe
decomposition with a tiny dense master and a structured subproblem:

* **Subproblem ("Leontief with capacities").** For given technique costs c and a net output Y,
  ``min c·z  s.t.  (B − A) z ≥ Y, 0 ≤ z ≤ cap``. Its optimum has a simple form: every product
  i has a price π_i; its techniques are ranked by unit cost ``(c_j + π·A_j) / o_j``; those
  cheaper than π_i run at capacity, the marginal one (where the gross requirement x_i of
  product i is reached) runs partly and sets ``π_i``, the dearer ones stand still. This is a
  joint fixed point in (x, π): ``x = Y + A z(x, π)`` and ``π_i = unit cost of the marginal
  technique``, each a contraction of modulus ρ(A/o) < 1 for a fixed ranking. The solver
  iterates both halves together (two SpMVs per sweep, re-ranking only when the ranking
  changes) and checks the subproblem's optimality (residual and duality gap) at the end.
  Without capacities this is exactly the non-substitution theorem: the plan is one sparse
  solve. When no ranking reaches the requirement of a product (all its techniques at
  capacity: "exhausted") those capacities move into the master (below).
* **Master.** Resource rows ``R z ≤ b`` and the capacities of exhausted products couple the
  products; the master is the LP over convex combinations of subproblem solutions (and rays),
  a few rows and columns, solved by HiGHS. Its duals (resource prices u, capacity prices w,
  convexity σ) price the next subproblem: technique costs ``u·R_j + w_j``. For stage 1 the
  pricing problem ``max_t t − C(t)`` (C convex piecewise linear in t) is solved by a 1-D
  cutting-plane method on subproblem solutions; every subproblem solution met is a new column.
* **Termination and certificate.** The Lagrangian bound ``u·b + w·cap + max_t(t − C(t))``
  meets the master's t (gap ≤ tolerance); the certificate duals are then
  ``p = θ π_left + (1 − θ) π_right`` (the subproblem duals on both sides of the kink of C at
  the maximiser, combined so that p·d = 1), ``u``, and ``v`` = subproblem rents + w. They are
  exactly the DESIGN.md certificate; the residuals are recomputed by
  :mod:`econplan.plan.certificate` before returning.

Warm start: ``options.warm_start`` (a previous :class:`SolverResult`) seeds the prices and the
first columns. SpMV engine: ``options.extra["engine"]`` = "scipy" | "numba" | "torch" (see
:mod:`econplan.kernels`); SciPy by default.

Limits: the number of master iterations grows with the number of *independently binding*
coupling constraints (resources and exhausted products). Many exhausted products (hundreds and
more: e.g. one technique per product and many tight capacities) make the master slow; the
backend then reports ``ITERATION_LIMIT`` (or a certificate short of the tolerance) honestly
rather than a wrong plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from .. import chosen
from ..blas import single_threaded
from ..kernels import CsrOperator
from .base import (
    Capability,
    Objective,
    PlanProblem,
    SolverOptions,
    SolverResult,
    Status,
)

__all__ = ["FastSolver", "LeontiefCapacitySolver", "InnerResult"]


@dataclass
class InnerResult:
    """A subproblem solution: activities z (m,), gross requirements x (n,), prices π (n,),
    capacity rents v (m,), cost c·z, exhausted products (bool n,), sweeps, residuals."""

    z: np.ndarray
    x: np.ndarray
    pi: np.ndarray
    v: np.ndarray
    cost: float
    exhausted: np.ndarray
    sweeps: int
    primal_residual: float
    gap: float


class LeontiefCapacitySolver:
    """``min c·z  s.t.  (B − A) z ≥ Y,  0 ≤ z ≤ cap`` by the joint (x, π) fixed point.

    Built once per economy: A as CSR (n × m) and Aᵀ as CSR (m × n) on the chosen SpMV engine,
    the grouping of techniques by product. Units: z in activity units, x and Y in product
    units, π in cost units per product unit, v in cost units per activity unit.
    """

    def __init__(
        self, A: sp.sparray, output: np.ndarray, tech_product: np.ndarray, engine: str | None
    ) -> None:
        # A by columns (as given: the caller's is CSC) and by rows, converted once; Aᵀ by rows
        # is A's CSC seen transposed (at 1e6 × 2 each conversion of 40M entries is ~1.5 s)
        self.A = A if isinstance(A, sp.csc_array) else sp.csc_array(A)
        self.n, self.m = self.A.shape
        self.o = np.asarray(output, dtype=np.float64)
        self.tp = np.asarray(tech_product, dtype=np.int64)
        self.Aop = CsrOperator(sp.csr_array(self.A), engine)
        self.ATop = CsrOperator(sp.csr_array(self.A.T), engine)
        self.engine = self.Aop.engine
        counts = np.bincount(self.tp, minlength=self.n)
        self.starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.counts = counts
        self.tp_sorted = np.sort(self.tp)
        self.same_next = self.tp_sorted[1:] == self.tp_sorted[:-1]
        self.order = np.argsort(self.tp, kind="stable")
        self.order0 = self.order.copy()
        # the last costs, their cheapest techniques and prices; the last choice's Q operator
        self._policy: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._gross: tuple[np.ndarray, CsrOperator] | None = None

    @cached_property
    def _columns(self) -> chosen.ChosenColumns | None:
        """Q kept across the master's rounds (large A; built on the first uncapacitated
        solve), None where the NumPy gather is used."""
        if not chosen.usable(self.A.nnz, self.engine):
            return None
        return chosen.ChosenColumns(self.A, self.o, self.tp, self.n)

    def _Az(self, Y: np.ndarray, z: np.ndarray) -> np.ndarray:
        op = self.Aop
        return op.tonumpy(op.axpy(op.asarray(Y), op.asarray(z)))

    def _cAp(self, c: np.ndarray, pi: np.ndarray) -> np.ndarray:
        op = self.ATop
        return op.tonumpy(op.axpy(op.asarray(c), op.asarray(pi)))

    def _solve_uncapacitated(
        self, c: np.ndarray, Y: np.ndarray, pi0: np.ndarray | None
    ) -> InnerResult:
        """No capacities: the non-substitution theorem. Cheapest techniques by policy iteration
        (:func:`econplan.kernels.cheapest_policy`), then one Leontief solve for the gross
        outputs; each solve Anderson-accelerated (~13 sweeps instead of ~50 plain ones)."""
        from ..kernels import cheapest_policy, gross_activities, gross_operator

        if self._policy is not None and np.array_equal(self._policy[0], c):
            # same costs as the last call (pricing solves floors and floors + d in turn):
            # the cheapest techniques and their prices do not depend on Y
            choice, pi = self._policy[1], self._policy[2].copy()
            sweeps = 0
        else:
            choice, pi, sweeps, _ = cheapest_policy(
                self.A, self.o, c, self.order0, self.starts,
                choice=None if self._policy is None else self._policy[1], lam=pi0,
                engine=self.engine, AT=self.ATop.M, columns=self._columns,
            )
            self._policy = (c.copy(), choice, pi)
        if self._gross is None or not np.array_equal(self._gross[0], choice):
            self._gross = (choice, gross_operator(self.A, self.o, choice, self.engine))
        zc = gross_activities(self.A, self.o, choice, Y, op=self._gross[1])
        z = np.zeros(self.m)
        z[choice] = zc
        x = zc * self.o[choice]
        supply = np.bincount(self.tp, weights=self.o * z, minlength=self.n)
        need = self._Az(Y, z)
        scale = max(float(np.max(np.abs(need))), 1e-300)
        prim = float(np.max(np.maximum(need - supply, 0.0))) / scale
        cost = float(c @ z)
        dual_obj = float(pi @ Y)
        gap = abs(cost - dual_obj) / max(1e-300, abs(cost), abs(dual_obj))
        return InnerResult(z, x, pi, np.zeros(self.m), cost, np.zeros(self.n, dtype=bool),
                           sweeps, prim, gap)

    def solve(
        self,
        c: np.ndarray,
        Y: np.ndarray,
        cap: np.ndarray,
        pi0: np.ndarray | None = None,
        x0: np.ndarray | None = None,
        tol: float = 1e-13,
        max_sweeps: int = 600,
    ) -> InnerResult:
        """Solve one subproblem; ``cap`` (m,) with ``inf`` = none (in activity units)."""
        if not np.isfinite(cap).any() and (Y >= 0).all():
            return self._solve_uncapacitated(c, Y, pi0)
        o, tp, starts = self.o, self.tp, self.starts
        capout = cap * o
        self.has_cap = np.bincount(tp, weights=np.isfinite(cap), minlength=self.n) > 0
        x = np.maximum(Y, 0.0) if x0 is None or not np.any(Y > 0) else x0.copy()
        pi = np.zeros(self.n) if pi0 is None else pi0.copy()
        order = self.order
        m = self.m
        sweeps = 0
        big = np.iinfo(np.int64).max
        recent = np.zeros(self.n, dtype=bool)  # exhausted in one of the last sweeps
        rerank = True
        ranks = 0
        unstable = np.zeros(self.n, dtype=bool)  # marginal technique changed lately
        marg_prev = None
        while True:
            ucx = self._cAp(c, pi)  # c_j + π·A_j
            uc = ucx / o
            us = uc[order]
            if (rerank or sweeps == 0) and (self.same_next & (us[1:] < us[:-1])).any():
                order = np.lexsort((uc, tp))  # stable: ties by technique index
                us = uc[order]
                ranks += 1
                rerank = False
            co = capout[order]
            inf = ~np.isfinite(co)
            cof = np.where(inf, 0.0, co)
            cs = np.cumsum(cof)
            base = np.repeat(cs[starts] - cof[starts], self.counts)
            prev = cs - cof - base
            ninf = np.cumsum(inf)
            ninf_prev = ninf - inf - np.repeat(ninf[starts] - inf[starts], self.counts)
            prev = np.where(ninf_prev > 0, np.inf, prev)
            cum = prev + co
            xs = x[self.tp_sorted]
            fill = np.clip(xs - prev, 0.0, co)
            pos = np.where(cum >= xs * (1.0 - 1e-11), np.arange(m), big)
            first = np.minimum.reduceat(pos, starts)
            exhausted = first == big
            if sweeps % 50 == 0:
                recent[:] = False
                unstable[:] = False
            recent |= exhausted
            marg = np.where(exhausted, starts + self.counts - 1, first)
            if marg_prev is not None:
                unstable |= np.bincount(
                    self.tp_sorted[marg], weights=(order[marg] != marg_prev), minlength=self.n
                ) > 0
            marg_prev = order[marg]
            pi_new = np.where(x > 0, us[marg], np.where(x < 0, 0.0, us[starts]))
            z = np.empty(m)
            z[order] = fill / o[order]
            x_new = self._Az(Y, z)
            sweeps += 1
            dx = np.max(np.abs(x_new - x)) / max(np.max(np.abs(x_new)), 1e-300)
            dp = np.max(np.abs(pi_new - pi)) / max(np.max(np.abs(pi_new)), 1e-300)
            x, pi = x_new, pi_new
            if dx <= tol and dp <= tol:
                # converged for this ranking (policy evaluation): is the ranking still right?
                ucx = self._cAp(c, pi)
                us2 = (ucx / o)[order]
                if not (self.same_next & (us2[1:] < us2[:-1] - 1e-12 * np.abs(us2[1:]))).any():
                    break
                rerank = True
            elif max(dx, dp) <= 1e-8:
                rerank = True  # close enough: improve the policy now
            if sweeps >= max_sweeps:
                break
            if sweeps >= 200 and sweeps % 50 == 49 and (unstable.any() or recent.any()):
                break  # the ranking cycles: let the master price these capacities
        self.order = order
        ucx = self._cAp(c, pi)
        v = np.where(np.isfinite(cap), np.maximum(pi[tp] * o - ucx, 0.0), 0.0)
        # checks: residual of (B − A) z ≥ Y and the subproblem's duality gap
        supply = np.bincount(tp, weights=o * z, minlength=self.n)
        need = self._Az(Y, z)
        scale = max(float(np.max(np.abs(need))), 1e-300)
        prim = float(np.max(np.maximum(need - supply, 0.0))) / scale
        cost = float(c @ z)
        fin = np.isfinite(cap)
        dual_obj = float(pi @ Y - v[fin] @ cap[fin])
        gap = abs(cost - dual_obj) / max(1e-300, abs(cost), abs(dual_obj))
        if exhausted.any() or (max(dx, dp) > tol and (recent.any() or unstable.any())):
            exhausted = exhausted | recent | unstable
            exhausted &= self.has_cap
        elif max(dx, dp) > 1e-9:
            raise RuntimeError(
                f"subproblem did not converge in {sweeps} sweeps (change {max(dx, dp):.2e})"
            )
        return InnerResult(z, x, pi, v, cost, exhausted, sweeps, prim, gap)


@dataclass
class _Column:
    t: float
    z: np.ndarray
    ray: bool = False
    rz: np.ndarray | None = None  # R z, computed once (the master re-solves every round)
    cz: float | None = None  # cost · z for stage 2's master, computed once

    def resources(self, R: sp.csr_array) -> np.ndarray:
        if self.rz is None:
            self.rz = np.asarray(R @ self.z).ravel()
        return self.rz

    def cost(self, c: np.ndarray) -> float:
        if self.cz is None:
            self.cz = float(c @ self.z)
        return self.cz


def _combine(cols: list[_Column], alpha: np.ndarray) -> np.ndarray:
    """The master's plan: Σ alpha_s z_s over the columns it weighed (activity units)."""
    z = np.zeros(len(cols[0].z))
    for c, a in zip(cols, alpha, strict=False):
        if a != 0.0:
            z += a * c.z
    return z


def _row_scale(amount: np.ndarray) -> np.ndarray:
    """The master's row scale: the availability (or capacity), 1 where it is 0."""
    return np.where(amount > 0, amount, 1.0)


@dataclass
class _Master:
    """Dantzig–Wolfe master over subproblem columns (coupling rows: resources, promoted caps)."""

    R: sp.csr_array
    b: np.ndarray
    cap: np.ndarray
    cost: np.ndarray | None  # None: stage 1 (max t); else stage 2 (min cost·z)
    promoted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cols: list[_Column] = field(default_factory=list)
    penalty: float = 1e4

    def solve(self):
        S = len(self.cols)
        k = len(self.b)
        P = self.promoted
        # the columns' resource use and promoted capacities (no m × S matrix: S grows by a
        # few columns a round, and stacking 2e5-long columns each round cost ~50 ms at 1e5)
        RZ = np.column_stack([c.resources(self.R) for c in self.cols]).reshape(k, S)
        PZ = np.array([c.z[P] for c in self.cols]).reshape(S, len(P)).T
        # rows scaled by availability (by 1 where it is 0: a resource or capacity of nothing)
        sb, sc = _row_scale(self.b), _row_scale(self.cap[P])
        rows = np.vstack([RZ / sb[:, None], PZ / sc[:, None]])
        nr = rows.shape[0]
        if self.cost is None:
            obj = -np.array([c.t for c in self.cols])
        else:
            obj = np.array([c.cost(self.cost) for c in self.cols])
        scale = max(1.0, float(np.max(np.abs(obj))))
        A_ub = np.hstack([rows, -np.eye(nr)])
        b_ub = np.concatenate([self.b / sb, self.cap[P] / sc])
        conv = np.array([0.0 if c.ray else 1.0 for c in self.cols])
        A_eq = np.concatenate([conv, np.zeros(nr)])[None, :]
        cvec = np.concatenate([obj, np.full(nr, self.penalty * scale)])
        res = linprog(
            cvec, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=(0, None), method="highs"
        )
        if res.status != 0:
            raise RuntimeError(f"master LP failed: {res.message}")
        alpha = res.x[:S]
        slack = res.x[S:]
        y_ub = -res.ineqlin.marginals  # ≥ 0, per scaled row
        sigma = float(res.eqlin.marginals[0])
        u = y_ub[:k] / sb
        w = np.zeros(len(self.cap))
        if len(P):
            w[P] = y_ub[k:] / sc
        value = float(-obj @ alpha) if self.cost is None else float(obj @ alpha)
        return alpha, value, u, w, sigma, slack


def _argmax_envelope(lines: list[tuple[float, float, float]], lo: float, hi: float) -> float:
    """argmax over t in [lo, hi] of t − max_i (C_i + s_i (t − t_i)) (upper envelope of lines)."""
    cand = {lo, hi}
    for i, (ti, Ci, si) in enumerate(lines):
        cand.add(ti)
        for tj, Cj, sj in lines[i + 1 :]:
            if abs(si - sj) > 1e-15:
                t = (Cj - sj * tj - Ci + si * ti) / (si - sj)
                if lo <= t <= hi:
                    cand.add(t)

    def hhat(t: float) -> float:
        return t - max(C + s * (t - ti) for ti, C, s in lines)

    return max(sorted(cand), key=hhat)


class FastSolver:
    """Structured decomposition backend (see the module docstring). ``name = "fast"``."""

    name = "fast"
    capabilities = frozenset(
        {Capability.FULFILMENT, Capability.MIN_LABOUR, Capability.WARM_START}
    )

    @single_threaded
    def solve(self, problem: PlanProblem, options: SolverOptions) -> SolverResult:
        start = time.perf_counter()
        from .unmade import solve_made

        lifted = solve_made(problem, options, self)  # products nothing can make
        if lifted is not None:
            return lifted
        if (problem.m > problem.n and bool(np.isfinite(problem.cap).any())
                and options.extra.get("first_order", True)):
            # alternatives and capacities: the decomposition's subproblem ranking can cycle
            # and its master then needs a row per exhausted product (module docstring); the
            # first-order backend with its certificate repair handles these plans instead
            from .firstorder import PdhgSolver

            res = PdhgSolver().solve(problem, options)
            res.solver = self.name
            res.solver_version = f"econplan-fast: {res.solver_version}"
            res.seconds = time.perf_counter() - start
            return res
        reason = ""
        try:
            res = _Run(problem, options).run()
            reason = self._uncertified(problem, res, options)
        except Exception as exc:  # never raise from a backend
            res, reason = None, f"{type(exc).__name__}: {exc}"
        if reason and options.extra.get("fallback", True):
            # the decomposition did not certify its plan: solve exactly with HiGHS instead,
            # and say so (the result then is HiGHS's, named as such in solver_version).
            from .highs import HighsSolver

            res = HighsSolver().solve(problem, options)
            res.message = (f"fast: decomposition not certified ({reason}); solved by HiGHS. "
                           + (res.message or ""))
            res.solver_version = f"econplan-fast fallback: {res.solver_version}"
        elif reason:
            res = res or SolverResult(Status.ERROR)
            res.status = Status.ERROR if res.status == Status.OPTIMAL else res.status
            res.message = reason
        res.solver = self.name
        res.seconds = time.perf_counter() - start
        return res

    @staticmethod
    def _uncertified(pb: PlanProblem, res: SolverResult, options: SolverOptions) -> str:
        """Empty when the result carries a valid certificate (1e-6 relative), else why not."""
        from .certificate import fulfilment_certificate, min_cost_certificate

        if res.status != Status.OPTIMAL:
            return "" if res.status == Status.INFEASIBLE else f"status {res.status.value}"
        tol = float(options.extra.get("certificate_tolerance", 1e-6))
        if pb.objective == Objective.MIN_LABOUR:
            cert = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.c, res.z,
                                        res.price, res.resource_price, res.capacity_price)
        else:
            cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, res.z,
                                          res.p, res.u, res.v)
        if cert.holds(tol):
            return ""
        return (f"primal {cert.primal_residual:.1e}, dual {cert.dual_residual:.1e}, "
                f"gap {cert.duality_gap:.1e}")


class _Run:
    def __init__(self, pb: PlanProblem, options: SolverOptions) -> None:
        self.pb = pb
        self.opt = options
        self.t0 = time.perf_counter()
        n, m = pb.n, pb.m
        tp = np.asarray(pb.tech_product, dtype=np.int64)
        o = np.asarray(pb.output, dtype=np.float64)
        Bm = sp.csc_array((o, (tp, np.arange(m))), shape=(n, m))
        A = sp.csc_array(Bm - pb.M)
        A.eliminate_zeros()
        A.data = np.maximum(A.data, 0.0)
        self.A = A
        self.R = sp.csr_array(pb.R)
        self.tp, self.o = tp, o
        self.b = np.asarray(pb.b, dtype=np.float64)
        self.cap = np.asarray(pb.cap, dtype=np.float64)
        self.y = np.asarray(pb.y, dtype=np.float64)
        self.ymin = np.asarray(pb.ymin, dtype=np.float64)
        self.d = self.y - self.ymin
        self.c0 = np.asarray(pb.c, dtype=np.float64)
        self.inner = LeontiefCapacitySolver(A, o, tp, options.extra.get("engine"))
        self.promoted = np.zeros(0, dtype=np.int64)
        self.cap_in = self.cap.copy()
        # alternatives *and* capacities: the subproblem's ranking can cycle and the master
        # then needs many capacity rows; give the decomposition a short leash before HiGHS
        hard = bool(np.isfinite(self.cap).any()) and m > n
        self.max_master = int(options.extra.get("max_master_iterations", 15 if hard else 40))
        self.max_promoted = int(options.extra.get("max_promoted", 200 if hard else 5000))
        self.gap_tol = float(options.extra.get("gap", 1e-7))
        self.pi: np.ndarray | None = None
        self.x: np.ndarray | None = None
        self.iterations = 0
        self.log = bool(options.verbose)

    # -- helpers -----------------------------------------------------------------------------
    def _say(self, msg: str) -> None:
        if self.log:
            print(f"[fast {time.perf_counter() - self.t0:7.2f}s] {msg}", flush=True)

    def _inner(self, c: np.ndarray, Y: np.ndarray) -> InnerResult:
        r = self.inner.solve(c, Y, self.cap_in, pi0=self.pi, x0=self.x)
        self.iterations += r.sweeps
        self.pi, self.x = r.pi, r.x
        return r

    def _promote(self, exhausted: np.ndarray, master: _Master) -> None:
        prods = np.nonzero(exhausted)[0]
        techs = np.nonzero(np.isin(self.tp, prods) & np.isfinite(self.cap_in))[0]
        self.promoted = np.union1d(self.promoted, techs)
        if len(self.promoted) > self.max_promoted:
            raise RuntimeError(
                f"{len(self.promoted)} capacities need pricing in the master (limit "
                f"{self.max_promoted})"
            )
        self.cap_in[techs] = np.inf
        master.promoted = self.promoted
        self._say(f"promoted {len(techs)} capacities of {len(prods)} exhausted products")

    def _costs(self, u: np.ndarray, w: np.ndarray, base: np.ndarray | None) -> np.ndarray:
        c = np.asarray(self.R.T @ u).ravel() + w
        return c if base is None else c + base

    def _time_left(self) -> bool:
        return time.perf_counter() - self.t0 < self.opt.time_limit

    # -- stage 1 -----------------------------------------------------------------------------
    def stage1(self):
        master = _Master(self.R, self.b, self.cap, None)
        # first column: the floors (t = 0) at labour-like cost
        c = self.c0 if np.any(self.c0 > 0) else np.asarray(self.R.sum(axis=0)).ravel()
        costs = [c]
        if self.opt.extra.get("resource_columns", True):
            # one starting plan per resource that is cheapest in it (plus a little of the cost
            # weight to break ties): the master can trade resources off from the first round
            scale = float(np.abs(c).max()) or 1.0
            for r in range(self.R.shape[0]):
                row = np.asarray(self.R[[r]].toarray()).ravel()
                if row.any():
                    costs.append(row / float(np.abs(row).max()) + 1e-3 * c / scale)
        for cost in costs:
            for t in (0.0, 1.0):
                while True:
                    r = self._inner(cost, self.ymin + t * self.d)
                    if r.exhausted.any():
                        self._promote(r.exhausted, master)
                        continue
                    break
                master.cols.append(_Column(t, r.z))
        ws = self.opt.warm_start
        if ws is not None and ws.z is not None and len(ws.z) == self.pb.m:
            zw = np.asarray(ws.z, dtype=np.float64)
            if (zw >= 0).all() and (zw <= self.cap).all():  # a valid column for any needs
                master.cols.append(_Column(self._achieved(zw), zw.copy()))
        best = None  # the duals with the lowest Lagrangian bound so far (they certify)
        last = None
        smooth = float(self.opt.extra.get("smoothing", 0.5))
        alpha_s = smooth
        for it in range(self.max_master):
            alpha, tval, u, w, sigma, slack = master.solve()
            last = (alpha, tval, slack)
            if best is not None and alpha_s > 0:
                # Wentges smoothing: price between the best-bound duals and the master's
                u = alpha_s * best[1] + (1 - alpha_s) * u
                w = alpha_s * best[2] + (1 - alpha_s) * w
            cost = self._costs(u, w, None)
            pr = self._price1(cost, master, tval)
            if pr is None:  # promoted: re-solve the master
                continue
            that, h, cols, pL, pR, vL, vR, sL, sR = pr
            for col in cols:
                master.cols.append(col)
            ub = float(u @ self.b + w[master.promoted] @ self.cap[master.promoted] + h)
            self._say(
                f"stage 1 it {it}: t={tval:.12g} bound={ub:.12g} cols={len(master.cols)} "
                f"promoted={len(master.promoted)}"
            )
            if best is None or ub < best[0]:
                best = (ub, u, w, that, pL, pR, vL, vR, sL, sR)
                alpha_s = smooth
            else:
                alpha_s = 0.0  # mis-price: next time price at the master's own duals
            if best[0] - tval <= self.gap_tol * max(1.0, abs(tval)):
                alpha, tval, slack = master.solve()[0], master.solve()[1], master.solve()[5]
                last = (alpha, tval, slack)
                if best[0] - tval <= self.gap_tol * max(1.0, abs(tval)):
                    break
            if not self._time_left():
                break
        alpha, tval, slack = last
        ub, u, w, that, pL, pR, vL, vR, sL, sR = best
        best = (alpha, tval, u, w, that, pL, pR, vL, vR, sL, sR, slack)
        return master, best

    def _achieved(self, z: np.ndarray) -> float:
        net = self.pb.M @ z
        mask = self.d > 0
        return float(np.min((net[mask] - self.ymin[mask]) / self.d[mask])) if mask.any() else 0.0

    def _price1(self, cost: np.ndarray, master: _Master, t_start: float):
        """max_t t − C(t) by a 1-D cutting plane; returns None after a promotion."""
        if not np.isfinite(self.cap_in).any():
            return self._price1_linear(cost, t_start)
        lines: list[tuple[float, float, float]] = []
        evals: dict[float, InnerResult] = {}
        cols: list[_Column] = []
        t = max(t_start, 0.0) if np.isfinite(t_start) else 1.0
        lo, hi = 0.0, 1e4 * max(1.0, t)  # floors must be met: t ≥ 0
        for _ in range(60):
            r = self._inner(cost, self.ymin + t * self.d)
            if r.exhausted.any():
                self._promote(r.exhausted, master)
                for col in cols:
                    master.cols.append(col)
                return None
            s = float(r.pi @ self.d)
            lines.append((t, r.cost, s))
            evals[t] = r
            cols.append(_Column(t, r.z))
            if all(si < 1 - 1e-10 for _, _, si in lines):
                if t >= hi:
                    # unbounded in t: add a ray (t, z) direction from the last two points
                    t1 = sorted(evals)[-2]
                    dz = (r.z - evals[t1].z) / (t - t1)
                    cols.append(_Column(1.0, np.maximum(dz, 0.0), ray=True))
                    return t, np.inf, cols, r.pi, r.pi, r.v, r.v, s, s
                t = min(hi, 10 * max(ti for ti, _, _ in lines) + 10.0)
                continue
            tn = _argmax_envelope(lines, lo, hi)
            hhat = tn - max(C + si * (tn - ti) for ti, C, si in lines)
            if tn in evals:
                h = tn - evals[tn].cost
                if hhat - h <= 1e-11 * max(1.0, abs(h)) + 1e-13:
                    break
            t = tn
        # the kink at tn: active lines on both sides of slope 1
        h = tn - evals[tn].cost if tn in evals else t - r.cost
        tol = 1e-9 * max(1.0, abs(h))
        active = [
            (si, ti) for ti, C, si in lines if abs((C + si * (tn - ti)) - (tn - h)) <= tol
        ]
        left = [a for a in active if a[0] <= 1 + 1e-10]
        right = [a for a in active if a[0] >= 1 - 1e-10]
        if not left or not right:
            left = [min(active)] if not left else left
            right = [max(active)] if not right else right
        sL, tL = max(left)
        sR, tR = min(right)
        rl, rr = evals[tL], evals[tR]
        return tn, h, cols, rl.pi, rr.pi, rl.v, rr.v, sL, sR

    def _price1_linear(self, cost: np.ndarray, t_start: float):
        """Pricing without capacities in the subproblem: C(t) = C(0) + t·(π·d) is linear.

        The ranking of techniques does not depend on the needs then (non-substitution), so two
        subproblem solves (floors, and floors + d) give the whole line: a point at t = 0 and,
        when the slope is below 1, a ray in the direction of d.
        """
        r0 = self._inner(cost, self.ymin)
        r1 = self._inner(cost, self.ymin + self.d)
        s = float(r1.pi @ self.d)
        cols = [_Column(0.0, r0.z), _Column(1.0, r1.z)]
        # |s − 1| below the master's dual accuracy (~1e-9 relative from HiGHS) is "flat":
        # every t is a maximiser; the duals are rescaled to p·d = 1 at the end
        if s < 1 - 1e-7:
            cols.append(_Column(1.0, np.maximum(r1.z - r0.z, 0.0), ray=True))
            return 1.0, np.inf, cols, r1.pi, r1.pi, r1.v, r1.v, s, s
        t = 0.0 if s > 1 + 1e-7 else max(float(t_start), 0.0)
        h = t - (r0.cost + t * s)
        return t, h, cols, r1.pi, r1.pi, r1.v, r1.v, s, s

    # -- stage 2 -----------------------------------------------------------------------------
    def stage2(self, Y: np.ndarray, seed_cols: list[_Column], master: _Master | None):
        m2 = _Master(self.R, self.b, self.cap, self.c0, promoted=self.promoted.copy())
        m2.cols = [_Column(c.t, c.z) for c in seed_cols]
        last = None
        for it in range(self.max_master):
            alpha, val, u, w, sigma, slack = m2.solve()
            cost = self._costs(u, w, self.c0)
            r = self._inner(cost, Y)
            if r.exhausted.any():
                self._promote(r.exhausted, m2)
                continue
            lb = float(r.cost - u @ self.b - w[m2.promoted] @ self.cap[m2.promoted])
            m2.cols.append(_Column(0.0, r.z))
            last = (alpha, val, u, w, r, slack)
            self._say(f"stage 2 it {it}: cost={val:.12g} bound={lb:.12g} cols={len(m2.cols)}")
            if val - lb <= self.gap_tol * max(1.0, abs(val)):
                break
            if not self._time_left():
                break
        alpha, val, u, w, r, slack = last
        z = _combine(m2.cols, alpha)
        v = r.v + w
        return z, r.pi, u, v, slack, m2

    # -- driver ------------------------------------------------------------------------------
    def run(self) -> SolverResult:
        pb = self.pb
        if pb.objective == Objective.MIN_LABOUR:
            start_cols = []
            while True:
                r = self._inner(self.c0, self.y)
                if r.exhausted.any():
                    self._promote(r.exhausted, _Master(self.R, self.b, self.cap, self.c0))
                    continue
                break
            start_cols.append(_Column(1.0, r.z))
            z, q, u, v, slack, m2 = self.stage2(self.y, start_cols, None)
            if slack.max(initial=0) > 1e-9:  # what the master's plan uses beyond b and cap
                return self._infeasible(m2, slack, "targets cannot be met with the resources "
                                                   "and capacities available")
            return SolverResult(
                Status.OPTIMAL, t=1.0, z=z, price=q, resource_price=u, capacity_price=v,
                solver="fast", solver_version=f"econplan-fast ({self.inner.engine})",
                iterations=self.iterations,
            )
        master, best = self.stage1()
        alpha, tval, u, w, that, pL, pR, vL, vR, sL, sR, slack = best
        if slack.max(initial=0.0) > 1e-9:
            return self._infeasible(master, slack)
        theta = 1.0 if sR == sL else (sR - 1.0) / (sR - sL)
        theta = min(1.0, max(0.0, theta))
        p = theta * pL + (1 - theta) * pR
        v1 = theta * vL + (1 - theta) * vR + w
        pd = float(p @ self.d)
        if pd > 0 and abs(pd - 1.0) <= 1e-6:  # exact normalisation p·d = 1 (scales the bound)
            p, u, v1 = p / pd, u / pd, v1 / pd
        z1 = _combine(master.cols, alpha)
        t_star = tval
        t2 = t_star * (1 - 1e-9) if t_star > 0 else t_star - 1e-9
        Y2 = self.ymin + t2 * self.d
        z, q, u2, v2, slack2, _ = self.stage2(Y2, [_Column(t_star, z1)], master)
        return SolverResult(
            Status.OPTIMAL, t=t_star, z=z, p=p, u=u, v=v1, price=q, resource_price=u2,
            capacity_price=v2, solver="fast",
            solver_version=f"econplan-fast ({self.inner.engine})",
            iterations=self.iterations,
        )

    def _infeasible(self, master: _Master, slack: np.ndarray,
                    message: str = "floors cannot be met") -> SolverResult:
        """Infeasible: the master's slacks (its rows are scaled by availability, or by 1 where
        that is 0) are what its plan uses beyond each resource and capacity."""
        k = len(self.b)
        lacking = slack * _row_scale(np.concatenate([self.b, self.cap[master.promoted]]))
        blocking = []
        for i in np.nonzero(slack > 1e-9)[0]:
            if i < k:
                blocking.append({"kind": "resource", "index": int(i), "lacking": float(lacking[i])})
            else:
                j = int(master.promoted[i - k])
                blocking.append({"kind": "capacity", "index": j, "lacking": float(lacking[i])})
        blocking.sort(key=lambda r: -r["lacking"])
        return SolverResult(
            Status.INFEASIBLE, solver="fast", blocking=blocking, iterations=self.iterations,
            message=message,
        )
