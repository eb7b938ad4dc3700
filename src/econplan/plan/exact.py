"""The two-stage driver shared by exact LP backends (HiGHS, SciPy).

A backend supplies one primitive, :meth:`ExactSolver.solve_lp`, returning the primal x and
row duals y in HiGHS's sign convention for minimisation (``c − Aᵀy`` = reduced costs; a row at
its lower bound has y ≥ 0, at its upper bound y ≤ 0). The driver runs stage 1, stage 2 (or
min-labour, or harmony's two stages), the elastic LP when floors are out of reach, and turns
duals into valuations. Only backends listing :attr:`Capability.HARMONY` (HiGHS) are given
harmony problems by :func:`econplan.plan.make_plan`.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod

import numpy as np

from ..blas import single_threaded
from .base import (
    UNBOUNDED_MESSAGE,
    Capability,
    Objective,
    PlanProblem,
    SolverOptions,
    SolverResult,
    Status,
)
from .formulation import (
    BACKOFF_SLACKS,
    LP,
    elastic,
    elastic_blocking,
    stage1,
    stage2,
    stage2_floors,
)
from .harmony import H_SLACK, harmony_duals, harmony_lp, harmony_stage2
from .harmony import achieved_t as harmony_achieved_t
from .repair import cover_deficits


def _covered(pb: PlanProblem, z: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The vertex's levels ``z`` (clipped at 0) with the balance rows ``M z ≥ rhs`` its
    solver left short within tolerance covered (:func:`repair.cover_deficits`)."""
    return cover_deficits(pb.M, pb.tech_product, pb.output, pb.cap, rhs, np.maximum(z, 0.0))


def stage1_kept(pb: PlanProblem, x: np.ndarray, t: float, p: np.ndarray, u: np.ndarray,
                v: np.ndarray, status: Status, who: str) -> SolverResult:
    """Stage 2 (least resource cost) ran out of time after stage 1 proved t*: stage 1's
    plan, with its certificate, as a ``time_limit`` plan (written, exit 4; product
    valuations empty), as the first-order backend does (an outside check, session 26: HiGHS
    threw it away, exit 1 with nothing written, where 3 s more gave the optimum). Other
    stage-2 endings keep their status and no plan."""
    if status != Status.TIME_LIMIT:
        return SolverResult(status=status, t=t, message=_ended("stage 2", status, pb))
    d = pb.y - pb.ymin
    z = _covered(pb, x[:pb.m], pb.ymin + t * d)
    return SolverResult(
        status=Status.TIME_LIMIT, t=t, z=z, p=p, u=u, v=v,
        message=(f"{who}: stage 2 (least resource cost) not finished in the time limit; "
                 f"stage 1's plan is kept: t* = {t:.10g} is proven, its resource cost "
                 f"{float(pb.c @ z):.10g} is not proven least"))


def stage1_duals(pb: PlanProblem, lp: LP, x: np.ndarray, y: np.ndarray
                 ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """t* and the certificate duals (p, u, v) from stage 1's primal x and row duals y,
    normalised so that p·d = 1 (DESIGN.md, "The certificate"); v only on capacitated
    techniques, from the reduced costs ``c − Aᵀy``."""
    n, m = pb.n, pb.m
    rc = lp.c - lp.A.T @ y
    p = np.maximum(y[:n], 0.0)
    u = np.maximum(-y[n:], 0.0)
    v = np.where(np.isfinite(pb.cap), np.maximum(-rc[:m], 0.0), 0.0)
    pd_ = float(p @ (pb.y - pb.ymin))
    if pd_ > 0:
        p, u, v = p / pd_, u / pd_, v / pd_
    return float(x[m]), p, u, v


def cost_duals(pb: PlanProblem, lp: LP, y: np.ndarray) -> dict[str, np.ndarray]:
    """Valuations of a resource-minimising LP (stage 2 or min-labour) from its row duals y:
    product prices, resource prices and capacity prices, in cost units per unit."""
    n, m = pb.n, pb.m
    rc = lp.c - lp.A.T @ y
    return {
        "price": np.maximum(y[:n], 0.0),
        "resource_price": np.maximum(-y[n:n + pb.k], 0.0),  # (harmony's stage 2: 1 row more)
        "capacity_price": np.where(np.isfinite(pb.cap), np.maximum(-rc[:m], 0.0), 0.0),
    }


#: a matrix whose nonzero amounts span more than this ratio is named when HiGHS ends
#: undecided or in error: double precision then cannot tell its rows apart (an outside check,
#: session 26: an input of 1e15 among amounts near 1 ended "stage 1 ended: error" unexplained)
WIDE_RANGE = 1e12


def _ended(what: str, status: Status, pb: PlanProblem) -> str:
    """``"<what> ended: <status>"``, with the span of the amounts when it is the likely
    reason (more than :data:`WIDE_RANGE` between the smallest and largest)."""
    msg = f"{what} ended: {status.value}"
    if status in (Status.OPTIMAL, Status.INFEASIBLE, Status.UNBOUNDED, Status.TIME_LIMIT):
        return msg
    mags = np.abs(np.concatenate([pb.M.data, pb.R.data]))
    mags = mags[mags > 0]
    if len(mags) and mags.max() > WIDE_RANGE * mags.min():
        msg += (f" (the economy's amounts per unit of activity span {mags.min():.3g} to "
                f"{mags.max():.3g}, beyond what double precision can plan with: choose units "
                "that bring them within about 12 orders of magnitude)")
    return msg


class ExactSolver(ABC):
    """Base class of exact (vertex) LP backends."""

    name = "exact"
    capabilities = frozenset({Capability.FULFILMENT, Capability.MIN_LABOUR, Capability.EXACT})
    #: ``options.extra`` that make :meth:`solve_lp` use its plain method only, without the
    #: fallbacks it tries when that method fails (empty: no such distinction)
    plain_options: dict = {}

    @abstractmethod
    def solve_lp(self, lp: LP, options: SolverOptions) -> tuple[Status, np.ndarray, np.ndarray]:
        """Solve ``lp``; return ``(status, x, y)`` (x, y empty arrays unless optimal)."""

    def version(self) -> str:
        return ""

    # ------------------------------------------------------------------ driver

    @single_threaded
    def solve(self, problem: PlanProblem, options: SolverOptions) -> SolverResult:
        start = time.perf_counter()
        if np.isfinite(options.time_limit) and "deadline" not in options.extra:
            # one limit for the whole solve, whatever number of LPs it takes (highs.py)
            options = dataclasses.replace(
                options, extra={**options.extra, "deadline": start + options.time_limit})
        if problem.objective == Objective.MIN_LABOUR:
            res = self._min_labour(problem, options)
        elif problem.objective == Objective.HARMONY:
            res = self._harmony(problem, options)
        else:
            res = self._fulfilment(problem, options)
        res.solver = self.name
        res.solver_version = self.version()
        res.seconds = time.perf_counter() - start
        return res

    def _fulfilment(self, pb: PlanProblem, options: SolverOptions) -> SolverResult:
        n, m, k = pb.n, pb.m, pb.k
        d = pb.y - pb.ymin
        if not (d > 0).any():
            # nothing above the floors: t is 1 by convention; the plan meets the floors
            t = 1.0
            p = np.zeros(n)
            u = np.zeros(k)
            v = np.zeros(m)
        else:
            lp, S = stage1(pb)
            status, x, y = self.solve_lp(lp, options)
            if status == Status.INFEASIBLE:
                return self._infeasible(pb, pb.ymin, options)
            if status == Status.UNBOUNDED:
                return SolverResult(status=status, message=UNBOUNDED_MESSAGE)
            if status != Status.OPTIMAL:
                return SolverResult(status=status, message=_ended("stage 1", status, pb))
            t, p, u, v = stage1_duals(pb, lp, x, y)
        lp2, status, z, y2 = self.stage2_backoff(pb, t, options)
        if status == Status.INFEASIBLE:
            return self._infeasible(pb, pb.ymin, options)
        if status != Status.OPTIMAL:
            if not (d > 0).any():  # (t by convention: no stage-1 plan to keep)
                return SolverResult(status=status, t=t, message=_ended("stage 2", status, pb))
            return stage1_kept(pb, x, t, p, u, v, status, self.name)
        z = _covered(pb, z, lp2.row_lo[:pb.n])  # the balance rows stage 2 solved
        return SolverResult(status=Status.OPTIMAL, t=t, z=z, p=p, u=u, v=v,
                            **cost_duals(pb, lp2, y2))

    def _passes(self, options: SolverOptions) -> list[SolverOptions]:
        """The back-offs' option sets: the backend's plain method first (when it has one),
        then ``options`` with its fallbacks — a wider slack is cheaper than a slower method
        (measured, HiGHS on a fuzzed economy of 799 products: "unknown" unscaled at 1e-9 and
        1e-8, optimal at 1e-7 in 0.2 s, where the scaled and IPM retries at 1e-9 and 1e-8
        had taken 29 s, all "unknown" too)."""
        if not self.plain_options:
            return [options]
        return [dataclasses.replace(options, extra={**options.extra, **self.plain_options}),
                options]

    def stage2_backoff(self, pb: PlanProblem, t: float, options: SolverOptions,
                       slacks: tuple[float, ...] = BACKOFF_SLACKS):
        """Stage 2 at t ≥ t*(1 − slack). When stage 1's t* sits a hair above what is exactly
        attainable, stage 2 at the tightest slack is numerically on the edge of infeasible and
        solvers stall; each retry relaxes the slack tenfold (the certificate's gap then
        reports the difference), and for t* < 1 the same slacks then apply absolutely
        (:func:`~econplan.plan.formulation.stage2_floors`). Returns ``(lp, status, z, y)``."""
        status, z, y2, lp2 = Status.ERROR, np.array([]), np.array([]), None
        # first each slack by the backend's plain method, then each with its fallbacks
        for opts in self._passes(options):
            for t_lo in stage2_floors(t, slacks):
                lp2 = stage2(pb, t_lo)
                status, z, y2 = self.solve_lp(lp2, opts)
                if status == Status.OPTIMAL:
                    return lp2, status, z, y2
        return lp2, status, z, y2

    def _min_labour(self, pb: PlanProblem, options: SolverOptions) -> SolverResult:
        lp = stage2(pb, 1.0, exact_targets=True)
        status, z, y = self.solve_lp(lp, options)
        if status == Status.ERROR:
            # targets at the very edge of reach: the solver cannot tell feasible from not
            return self._min_labour_at_the_edge(pb, options)
        if status == Status.INFEASIBLE:
            return self._infeasible(pb, pb.y, options)
        if status != Status.OPTIMAL:
            return SolverResult(status=status, message=_ended("min-labour", status, pb))
        return SolverResult(status=Status.OPTIMAL, t=1.0, z=_covered(pb, z, lp.row_lo[:pb.n]),
                            **cost_duals(pb, lp, y))

    def _min_labour_at_the_edge(self, pb: PlanProblem, options: SolverOptions
                                ) -> SolverResult:
        """min-labour after the exact LP ended undecided: the targets lowered by a hair
        (:meth:`_targets_backoff`), and that plan kept only when its certificate against the
        *exact* targets holds (1e-6). At the edge of reach the prices can be so large that
        lowering the targets by 1e-8 saves a few per cent of the cost (measured, a fuzzed
        economy of 302 products: gap −2.6 %): such a plan is not proven least for the
        targets asked, and the solve ends with status error, saying so."""
        from .certificate import min_cost_certificate

        lp, status, z, y, slack = self._targets_backoff(pb, options)
        if status == Status.INFEASIBLE:
            return self._infeasible(pb, pb.y, options)
        if status != Status.OPTIMAL:
            return SolverResult(status=status, message=_ended("min-labour", status, pb))
        z = _covered(pb, z, lp.row_lo[:pb.n])
        duals = cost_duals(pb, lp, y)
        cert = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.c, z, duals["price"],
                                    duals["resource_price"], duals["capacity_price"])
        edge = (f"min-labour: the targets are at the edge of reach, where {self.name} could "
                f"not decide the exact LP; planned for targets {slack:.0e} (relative) below "
                f"them")
        if cert.holds(1e-6):
            return SolverResult(status=Status.OPTIMAL, t=1.0, z=z, message=edge + " (its "
                                "certificate holds for the exact targets)", **duals)
        return SolverResult(status=Status.ERROR, message=(
            f"{edge}, but that plan's cost {cert.achieved:.10g} is not proven least for the "
            f"exact targets (certificate gap {cert.duality_gap:.1e}, primal residual "
            f"{cert.primal_residual:.1e}): lower the targets a little or raise what limits "
            f"them"))

    def _targets_backoff(self, pb: PlanProblem, options: SolverOptions,
                         slacks: tuple[float, ...] = BACKOFF_SLACKS):
        """min-labour with every target ``y_i`` lowered to ``y_i − s|y_i|``, for each slack s
        in turn (the plain method first, then with its fallbacks, as
        :meth:`stage2_backoff`): for targets within reach by less than the solver's
        feasibility tolerance (a fuzzed economy of 302 products with its targets at
        ``1 − 1e-9`` of reach: HiGHS "unknown" after simplex, IPM and crossover). The plan
        then meets the targets to s relative, which its certificate's primal residual
        reports. Returns ``(lp, status, z, y, s)``."""
        status, z, y2, lp2, used = Status.ERROR, np.array([]), np.array([]), None, 0.0
        for opts in self._passes(options):
            for s in slacks:
                lp2 = stage2(pb, 1.0, exact_targets=True)
                lp2.row_lo[:pb.n] = pb.y - s * np.abs(pb.y)
                status, z, y2 = self.solve_lp(lp2, opts)
                used = s
                if status in (Status.OPTIMAL, Status.INFEASIBLE):
                    return lp2, status, z, y2, used
        return lp2, status, z, y2, used

    def _harmony(self, pb: PlanProblem, options: SolverOptions) -> SolverResult:
        """The harmony objective (:mod:`econplan.plan.harmony`): stage 1 maximises H, stage 2
        keeps H ≥ H*(1 − 1e-9) (relaxed tenfold twice when that is on the edge of
        infeasible, as :meth:`stage2_backoff`) and minimises the resource cost. Infeasible
        floors go to the elastic LP, as for fulfilment."""
        lp, S, _ = harmony_lp(pb)
        status, x, y = self.solve_lp(lp, options)
        if status == Status.INFEASIBLE:
            return self._infeasible(pb, pb.ymin, options)
        if status != Status.OPTIMAL:
            return SolverResult(status=status, message=_ended("harmony stage 1", status, pb))
        H, p, u, v = harmony_duals(pb, lp, x, y, S)
        for H_lo in stage2_floors(H, (H_SLACK, 1e-8, 1e-7)):
            lp2 = harmony_stage2(pb, H_lo)
            status, x2, y2 = self.solve_lp(lp2, options)
            if status == Status.OPTIMAL:
                break
        if status == Status.INFEASIBLE:
            return self._infeasible(pb, pb.ymin, options)
        if status != Status.OPTIMAL:
            return SolverResult(status=status, harmony=H,
                                message=_ended("harmony stage 2", status, pb))
        z = np.maximum(x2[:pb.m], 0.0)
        t = harmony_achieved_t(pb, z)
        return SolverResult(status=Status.OPTIMAL, t=float(t.min()) if len(t) else 1.0, z=z,
                            p=p, u=u, v=v, harmony=H, **cost_duals(pb, lp2, y2))

    def _infeasible(self, pb: PlanProblem, floors: np.ndarray,
                    options: SolverOptions) -> SolverResult:
        what = "targets" if pb.objective == Objective.MIN_LABOUR else "floors"
        lp = elastic(pb, floors)
        status, x, _ = self.solve_lp(lp, options)
        blocking: list[dict] = []
        if status == Status.OPTIMAL:
            m, k = pb.m, pb.k
            blocking = elastic_blocking(pb, x[m:m + k], x[m + k:])
            msg = f"{what} cannot be met with the resources and capacities available"
        else:
            msg = (f"{what} cannot be met even with unlimited resources and capacities "
                   f"(some {what[:-1]} needs a product the economy cannot make)")
        return SolverResult(status=Status.INFEASIBLE, blocking=blocking, message=msg)
