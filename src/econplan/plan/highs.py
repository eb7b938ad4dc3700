"""HiGHS backend (highspy): dual simplex to a vertex, tight tolerances.

Tolerances are 1e-10 (primal and dual feasibility), well below HiGHS's defaults, because the
fulfilment LP's duals are small on large economies (DESIGN.md, "Numerics").
"""

from __future__ import annotations

import time
from importlib.metadata import version as _pkg_version

import highspy
import numpy as np

from .base import Capability, PlanProblem, SolverOptions, SolverResult, Status
from .exact import ExactSolver, _covered, cost_duals, stage1_duals, stage1_kept
from .formulation import LP, T_SLACK, stage1

_STATUS = {
    highspy.HighsModelStatus.kOptimal: Status.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: Status.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kIterationLimit: Status.ITERATION_LIMIT,
    highspy.HighsModelStatus.kTimeLimit: Status.TIME_LIMIT,
}


def _inf(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.where(np.isposinf(a), highspy.kHighsInf,
                    np.where(np.isneginf(a), -highspy.kHighsInf, a))


_banner_shown = False
#: HiGHS's thread scheduler is global to a process and set up by the first run: a later
#: instance asking for another number of threads fails to run (status "error"; found by a
#: fuzzer: the portfolio's contestant ran the restricted LP with the default, then stage 2
#: with threads=1, and stage 2 fell to the first-order route). So the first number used in a
#: process is kept for every later instance (None: none chosen yet; 0: HiGHS's default).
_process_threads: list[int | None] = [None]


def highs_threads(requested: int = 0) -> int:
    """The thread count every HiGHS instance of this process uses: the first one requested
    (0 = HiGHS's default)."""
    if _process_threads[0] is None:
        _process_threads[0] = max(int(requested), 0)
    return _process_threads[0]


def new_highs(threads: int = 0) -> highspy.Highs:
    """A Highs instance with the process's thread count (:func:`highs_threads`: ``threads``
    if this is the process's first request, 0 = HiGHS's default); HiGHS prints a banner on
    stdout at its first construction in a process, which would corrupt machine-readable
    output, so it is sent to /dev/null."""
    h = _new_highs()
    if highs_threads(threads):
        h.setOptionValue("threads", highs_threads())
    return h


def _new_highs() -> highspy.Highs:
    global _banner_shown
    if _banner_shown:
        return highspy.Highs()
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_shown = True
    return h


def set_time_left(h: highspy.Highs, seconds: float) -> None:
    """Let the next ``run`` of ``h`` take at most ``seconds`` (inf: no limit). HiGHS's
    ``time_limit`` bounds the instance's *total* run time, which adds up over its runs
    (measured, HiGHS 1.16: after a 4.9 s solve, a second run with a 3.9 s limit stopped at
    once), so the limit is set that far past the time already run."""
    h.setOptionValue("time_limit", h.getRunTime() + max(float(seconds), 0.01)
                     if np.isfinite(seconds) else float("inf"))


def _set_time_left(h: highspy.Highs, options: SolverOptions) -> None:
    """A solve here is several runs (stage 1, stage 2, retries, the cold restart after a
    failed crash start), so each gets what is left of the solve's own limit
    (``ExactSolver.solve`` puts its deadline in ``extra["deadline"]``; a fuzzer measured
    41.5 s for a limit of 20 s, 623 s for 300 s, before)."""
    deadline = options.extra.get("deadline")
    if deadline is not None:
        set_time_left(h, float(deadline) - time.perf_counter())
    elif np.isfinite(options.time_limit):  # the instance's runs together
        h.setOptionValue("time_limit", float(options.time_limit))


def _run(h: highspy.Highs, options: SolverOptions) -> None:
    _set_time_left(h, options)
    h.run()


class HighsSolver(ExactSolver):
    """Exact backend on HiGHS's dual simplex."""

    name = "highs"
    #: a warm start becomes stage 1's starting basis (:func:`warm_basis`); harmony plans
    #: (the driver's :meth:`ExactSolver._harmony`) start cold
    capabilities = frozenset(ExactSolver.capabilities
                             | {Capability.WARM_START, Capability.HARMONY})
    #: the unscaled simplex alone (``scale`` given: solve_lp tries no scaled or IPM retry)
    plain_options = {"scale": 0}

    def version(self) -> str:
        return f"highspy {_pkg_version('highspy')}"

    def _configure(self, h: highspy.Highs, options: SolverOptions) -> None:
        h.setOptionValue("output_flag", bool(options.verbose))
        tol = min(options.tolerance, 1e-7)
        h.setOptionValue("primal_feasibility_tolerance", max(tol, 1e-10))
        h.setOptionValue("dual_feasibility_tolerance", max(tol, 1e-10))
        h.setOptionValue("solver", options.extra.get("highs_solver", "simplex"))
        h.setOptionValue("random_seed", 0)
        # Unscaled simplex by default: HiGHS's tolerances then hold on the model as written,
        # which keeps primal residuals ~1e-12 instead of ~1e-9 after unscaling (measured on
        # generated economies; bench/RESULTS.md). ``scale=N`` restores a scaling strategy.
        h.setOptionValue("simplex_scale_strategy", int(options.extra.get("scale", 0)))
        # (the time limit is set before each run: _run)

    def _load(self, h: highspy.Highs, lp: LP) -> None:
        model = highspy.HighsLp()
        A = lp.A.tocsc()
        A.sort_indices()
        model.num_col_ = A.shape[1]
        model.num_row_ = A.shape[0]
        model.col_cost_ = np.asarray(lp.c, dtype=float)
        model.col_lower_ = _inf(lp.col_lo)
        model.col_upper_ = _inf(lp.col_hi)
        model.row_lower_ = _inf(lp.row_lo)
        model.row_upper_ = _inf(lp.row_hi)
        model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        model.a_matrix_.start_ = A.indptr.astype(np.int32)
        model.a_matrix_.index_ = A.indices.astype(np.int32)
        model.a_matrix_.value_ = A.data.astype(float)
        model.a_matrix_.num_col_ = A.shape[1]
        model.a_matrix_.num_row_ = A.shape[0]
        h.passModel(model)

    def _result(self, h: highspy.Highs) -> tuple[Status, np.ndarray, np.ndarray]:
        status = _STATUS.get(h.getModelStatus(), Status.ERROR)
        if status != Status.OPTIMAL:
            return status, np.array([]), np.array([])
        sol = h.getSolution()
        return status, np.asarray(sol.col_value, float), np.asarray(sol.row_dual, float)

    def solve_lp(self, lp: LP, options: SolverOptions) -> tuple[Status, np.ndarray, np.ndarray]:
        h = new_highs(options.threads)
        self._configure(h, options)
        self._load(h, lp)
        _run(h, options)
        result = self._result(h)
        if result[0] == Status.ERROR and "scale" not in options.extra:
            # the unscaled simplex can stall on badly scaled rows ("unknown"): retry with
            # HiGHS's own scaling, then with its interior point + crossover
            for extra in ({"scale": 1}, {"scale": 1, "highs_solver": "ipm"}):
                opts = SolverOptions(**{**options.__dict__, "extra": {**options.extra, **extra}})
                h = new_highs(opts.threads)
                self._configure(h, opts)
                self._load(h, lp)
                _run(h, opts)
                result = self._result(h)
                if result[0] != Status.ERROR:
                    break
        return result

    def _shift_rows(self, h: highspy.Highs, lp: LP, x: np.ndarray, y: np.ndarray,
                    options: SolverOptions, rounds: int = 3
                    ) -> tuple[Status, np.ndarray, np.ndarray]:
        """Bound shifting: the simplex accepts basic rows up to ~1e-9 below their lower
        bound. Raise each such row's bound by twice its violation and re-solve from the
        current basis (a few iterations), so the reported plan meets every row exactly up to
        rounding. Costs at most ~1e-9 relative in the objective."""
        lo = np.array(lp.row_lo, dtype=float)
        h.setOptionValue("presolve", "off")
        status = Status.OPTIMAL
        for _ in range(rounds):
            act = lp.A @ x
            viol = lo - act
            bad = np.flatnonzero(np.isfinite(lo) & (viol > 1e-13 * np.maximum(1, np.abs(lo))))
            if not len(bad):
                break
            lo[bad] += 2 * viol[bad] + 1e-12 * np.maximum(1, np.abs(lo[bad]))
            h.changeRowsBounds(len(bad), bad.astype(np.int32), _inf(lo[bad]),
                               _inf(np.asarray(lp.row_hi)[bad]))
            _run(h, options)
            status, x_new, y_new = self._result(h)
            if status != Status.OPTIMAL:
                # the shift made the stage infeasible (a row pinned by capacities): keep the
                # last optimal solution, whose violation is within the simplex tolerance
                return Status.OPTIMAL, x, y
            x, y = x_new, y_new
        return Status.OPTIMAL, x, y

    def _fulfilment(self, pb: PlanProblem, options: SolverOptions) -> SolverResult:
        """Both stages in one HiGHS instance: stage 1 from a crash basis built from the
        non-substitution technique choice, or from the vertex of a warm start
        (:func:`warm_basis`); stage 2 by fixing t at t*(1 − 1e-9) and swapping the objective,
        so the simplex restarts from stage 1's optimal basis."""
        m = pb.m
        d = pb.y - pb.ymin
        if not (d > 0).any() or options.extra.get("crash") is False:
            return super()._fulfilment(pb, options)
        lp, S = stage1(pb)
        h = new_highs(options.threads)
        self._configure(h, options)
        self._load(h, lp)
        ws = options.warm_start
        # (a start that names none of these techniques — another economy's plan — says
        # nothing about the basis: the crash basis is the better start then)
        warm = (ws is not None and ws.z is not None and len(ws.z) == m and np.isfinite(ws.t)
                and bool((np.asarray(ws.z) > 0).any()))
        basis = warm_basis(pb, lp, ws.z, ws.t) if warm else _crash_from_problem(pb)
        if basis is not None and h.setBasis(basis) != highspy.HighsStatus.kOk and warm:
            basis = _crash_from_problem(pb)  # HiGHS refused the warm basis: start as cold
            if basis is not None:
                h.setBasis(basis)
        _run(h, options)
        status, x, y = self._result(h)
        pivots = int(h.getInfo().simplex_iteration_count)  # stage 1's; HiGHS counts per run
        if status == Status.INFEASIBLE:
            return self._infeasible(pb, pb.ymin, options)
        if status != Status.OPTIMAL:  # HiGHS gave up from the crash basis: start cold
            return super()._fulfilment(pb, options)
        t, p, u, v = stage1_duals(pb, lp, x, y)
        t_lo = t * (1 - T_SLACK) if t > 0 else 0.0
        h.changeColBounds(m, t_lo, t_lo)
        lp2 = LP(c=np.concatenate([pb.c, [0.0]]), A=lp.A, row_lo=lp.row_lo, row_hi=lp.row_hi,
                 col_lo=lp.col_lo, col_hi=lp.col_hi)  # stage 2 as HiGHS now holds it
        h.changeColsCost(m + 1, np.arange(m + 1, dtype=np.int32), lp2.c)
        _run(h, options)
        status, z, y2 = self._result(h)
        rhs = pb.ymin + t_lo * d  # the balance rows of stage 2 as HiGHS holds it (t fixed)
        if status == Status.OPTIMAL:
            status, z, y2 = self._shift_rows(h, lp, z, y2, options)
            z = refine(h, lp, z)
        else:
            # the hot start failed (HiGHS can end "unknown" after the model change): solve
            # stage 2 afresh, relaxing t_lo step by step if it is on the edge of infeasible
            lp2, status, z2, y2b = self.stage2_backoff(pb, t, options)
            if status == Status.OPTIMAL:
                z = np.concatenate([z2, [0.0]])
                y2 = y2b
                rhs = lp2.row_lo[:pb.n]  # possibly at a relaxed t
        if status == Status.INFEASIBLE:
            return self._infeasible(pb, pb.ymin, options)
        if status != Status.OPTIMAL:
            return stage1_kept(pb, x, t, p, u, v, status, self.name)
        z = _covered(pb, z[:m], rhs)
        return SolverResult(status=Status.OPTIMAL, t=t, z=z, p=p, u=u, v=v,
                            iterations=pivots + int(h.getInfo().simplex_iteration_count),
                            **cost_duals(pb, lp2, y2))


def refine(h: highspy.Highs, lp: LP, x: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Iterative refinement of a simplex vertex on HiGHS's own basis factorisation.

    The simplex reports x to its feasibility tolerance (~1e-9 absolute on rows whose terms are
    small). At the optimal basis the vertex is defined exactly: nonbasic variables sit at
    their bounds and nonbasic rows at theirs. Each round recomputes the residual
    ``A x − s`` in float64 (s = row bound for nonbasic rows) and solves ``B Δ = −residual``
    with HiGHS's factorisation of the basis B, removing the rounding error of the solve.
    """
    try:
        basis = h.getBasis()
        st, basic = h.getBasicVariables()
    except Exception:  # noqa: BLE001 - refinement is an optional improvement
        return x
    if st != highspy.HighsStatus.kOk:
        return x
    basic = np.asarray(basic, dtype=np.int64)
    A = lp.A.tocsr()
    rows_status = list(basis.row_status)
    lower = highspy.HighsBasisStatus.kLower
    upper = highspy.HighsBasisStatus.kUpper
    nb_rows = np.array([s_ in (lower, upper) for s_ in rows_status])
    bound = np.array([lp.row_lo[i] if s_ == lower else (lp.row_hi[i] if s_ == upper else 0.0)
                      for i, s_ in enumerate(rows_status)])
    x = x.copy()
    col_of = basic[basic >= 0]
    pos_col = np.flatnonzero(basic >= 0)
    for _ in range(rounds):
        ax = A @ x
        s_ = np.where(nb_rows, bound, ax)
        res = ax - s_
        if not np.any(res):
            break
        st, delta = h.getBasisSolve(-res)
        if st != highspy.HighsStatus.kOk:
            break
        delta = np.asarray(delta, float)
        x_new = x.copy()
        x_new[col_of] += delta[pos_col]
        # keep bounds: refinement must not push a basic variable out of its box
        x_new = np.clip(x_new, lp.col_lo, lp.col_hi)
        if np.linalg.norm(A @ x_new - np.where(nb_rows, bound, A @ x_new)) >= np.linalg.norm(res):
            break
        x = x_new
    return x


def warm_basis(pb: PlanProblem, lp: LP, z: np.ndarray, t: float,
               tol: float = 1e-9) -> highspy.HighsBasis:
    """Stage 1's starting basis from a previous plan's vertex (activities ``z``, fulfilment
    ``t``): activities at 0 or at capacity nonbasic there, the others and t basic; rows within
    ``tol`` (relative) of a bound nonbasic at it, the others basic. When needs change a little
    that basis stays dual feasible and the dual simplex repairs it in a few pivots (bench case
    warm_2e3x2_caps_highs, 2,000 × 2 with capacities and floors, needs moved ±1 %: 36 pivots
    against 484, 25 s against 47 s from the crash basis: most of the time is the
    factorisation of the Leontief basis). A plan
    of stage 2 has t fixed, so one basic too many: the rows nearest a bound (and, with too few,
    the rows farthest from one) switch, to the count of rows HiGHS needs."""
    n, k = pb.n, pb.k
    z = np.clip(np.asarray(z, dtype=np.float64), 0.0, pb.cap)
    x = np.concatenate([z, [max(float(t), 0.0)]])
    capped = np.isfinite(pb.cap)
    at_cap = capped & (z >= np.where(capped, pb.cap, np.inf) - tol * np.maximum(1.0, np.where(
        capped, pb.cap, 1.0)))
    cols = np.where(z <= tol * np.maximum(1.0, z), 0, np.where(at_cap, 2, 1))
    cols = np.concatenate([cols, [1]])  # 0 lower, 1 basic, 2 upper
    act = lp.A @ x
    scale = np.maximum(1.0, abs(lp.A) @ np.abs(x))
    with np.errstate(invalid="ignore"):
        lo_gap = np.where(np.isfinite(lp.row_lo), (act - lp.row_lo) / scale, np.inf)
        hi_gap = np.where(np.isfinite(lp.row_hi), (lp.row_hi - act) / scale, np.inf)
    gap = np.minimum(lo_gap, hi_gap)
    side = np.where(lo_gap <= hi_gap, 0, 2)
    rows = np.where(gap <= tol, side, 1)
    surplus = int((cols == 1).sum() + (rows == 1).sum()) - (n + k)
    if surplus > 0:
        cand = np.flatnonzero(rows == 1)
        pick = cand[np.argsort(gap[cand], kind="stable")[:surplus]]
        rows[pick] = side[pick]
    elif surplus < 0:
        cand = np.flatnonzero(rows != 1)
        pick = cand[np.argsort(-gap[cand], kind="stable")[:-surplus]]
        rows[pick] = 1
    status = [highspy.HighsBasisStatus.kLower, highspy.HighsBasisStatus.kBasic,
              highspy.HighsBasisStatus.kUpper]
    basis = highspy.HighsBasis()
    basis.col_status = [status[c] for c in cols]
    basis.row_status = [status[r] for r in rows]
    basis.valid = True
    return basis


def _crash_from_problem(pb: PlanProblem) -> highspy.HighsBasis | None:
    """Crash basis for stage 1 (see :func:`crash_basis`), or None if the structure does not
    give one (e.g. no labour use)."""
    from ..values import labour_choice

    try:
        cols, unproducible = labour_choice(pb)
    except (RuntimeError, ValueError, np.linalg.LinAlgError):
        return None
    return crash_basis(pb, cols, unproducible)


def crash_basis(pb, choice_columns: np.ndarray, unproducible_rows: np.ndarray
                ) -> highspy.HighsBasis:
    """A starting basis from the structure of the economy (DESIGN.md's non-substitution
    result): the labour-cheapest technique of each product basic, fulfilment t basic, the
    labour row tight, every other resource row slack. It is optimal when only labour binds
    and no capacity does, so the simplex only has to repair what capacities and other
    resources change, instead of crawling from the all-slack basis."""
    n, m, k = pb.n, pb.m, pb.k
    basis = highspy.HighsBasis()
    cols = [highspy.HighsBasisStatus.kLower] * (m + 1)
    for j in choice_columns:
        cols[int(j)] = highspy.HighsBasisStatus.kBasic
    cols[m] = highspy.HighsBasisStatus.kBasic
    rows = [highspy.HighsBasisStatus.kLower] * n + [highspy.HighsBasisStatus.kBasic] * k
    for i in unproducible_rows:
        rows[int(i)] = highspy.HighsBasisStatus.kBasic
    if k:
        rows[n] = highspy.HighsBasisStatus.kUpper  # labour (index 0) binds
    basis.col_status = cols
    basis.row_status = rows
    basis.valid = True
    return basis
