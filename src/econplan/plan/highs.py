"""HiGHS backend (highspy): dual simplex to a vertex, tight tolerances.

Tolerances are 1e-10 (primal and dual feasibility), well below HiGHS's defaults, because the
fulfilment LP's duals are small on large economies (DESIGN.md, "Numerics").
"""

from __future__ import annotations

from importlib.metadata import version as _pkg_version

import highspy
import numpy as np

from .base import SolverOptions, Status
from .exact import ExactSolver
from .formulation import LP

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


def new_highs() -> highspy.Highs:
    """A Highs instance; HiGHS prints a banner on stdout at its first construction in a
    process, which would corrupt machine-readable output, so it is sent to /dev/null."""
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


class HighsSolver(ExactSolver):
    """Exact backend on HiGHS's dual simplex."""

    name = "highs"

    def version(self) -> str:
        return f"highspy {_pkg_version('highspy')}"

    def solve_lp(self, lp: LP, options: SolverOptions) -> tuple[Status, np.ndarray, np.ndarray]:
        h = new_highs()
        h.setOptionValue("output_flag", bool(options.verbose))
        tol = min(options.tolerance, 1e-7)
        h.setOptionValue("primal_feasibility_tolerance", max(tol, 1e-10))
        h.setOptionValue("dual_feasibility_tolerance", max(tol, 1e-10))
        h.setOptionValue("solver", options.extra.get("highs_solver", "simplex"))
        h.setOptionValue("random_seed", 0)
        if options.threads:
            h.setOptionValue("threads", int(options.threads))
        if np.isfinite(options.time_limit):
            h.setOptionValue("time_limit", float(options.time_limit))
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
        h.run()
        st = h.getModelStatus()
        status = _STATUS.get(st, Status.ERROR)
        if status != Status.OPTIMAL:
            return status, np.array([]), np.array([])
        sol = h.getSolution()
        return status, np.asarray(sol.col_value, float), np.asarray(sol.row_dual, float)
