"""SciPy backend: ``scipy.optimize.linprog`` — a second, independent path to the same plan.

It reaches HiGHS through SciPy's own interface (and its own translation of the LP), so
disagreement with :mod:`econplan.plan.highs` points at a formulation or dual-sign error.
Default method ``highs-ipm`` (interior point + crossover): a different algorithm than the
dual simplex of the highspy backend.
"""

from __future__ import annotations

import time
from importlib.metadata import version as _pkg_version

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from .base import SolverOptions, Status
from .exact import ExactSolver
from .formulation import LP


class ScipySolver(ExactSolver):
    """Exact backend on ``scipy.optimize.linprog``."""

    name = "scipy"

    def version(self) -> str:
        return f"scipy {_pkg_version('scipy')}"

    def solve_lp(self, lp: LP, options: SolverOptions) -> tuple[Status, np.ndarray, np.ndarray]:
        A = sp.csr_array(lp.A)
        lo_rows = np.flatnonzero(np.isfinite(lp.row_lo))
        hi_rows = np.flatnonzero(np.isfinite(lp.row_hi))
        A_ub = sp.vstack([-A[lo_rows, :], A[hi_rows, :]], format="csr")
        b_ub = np.concatenate([-lp.row_lo[lo_rows], lp.row_hi[hi_rows]])
        bounds = np.column_stack([lp.col_lo, np.where(np.isinf(lp.col_hi), np.inf, lp.col_hi)])
        tol = max(min(options.tolerance, 1e-7), 1e-10)
        opts: dict = {"primal_feasibility_tolerance": tol, "dual_feasibility_tolerance": tol,
                      "presolve": True}
        deadline = options.extra.get("deadline")  # ExactSolver.solve's, for the whole solve
        if deadline is not None:
            # (an outside check, session 26: --time-limit 0.001 ran 44 s to optimal)
            left = float(deadline) - time.perf_counter()
            if left <= 0:
                return Status.TIME_LIMIT, np.array([]), np.array([])
            opts["time_limit"] = left
        res = linprog(
            lp.c, A_ub=A_ub, b_ub=b_ub, bounds=[(a, None if np.isinf(b) else b)
                                                 for a, b in bounds],
            method=options.extra.get("scipy_method", "highs-ipm"), options=opts,
        )
        if res.status == 1 and deadline is not None:  # (no iteration limit is set here)
            return Status.TIME_LIMIT, np.array([]), np.array([])
        if res.status == 2:
            return Status.INFEASIBLE, np.array([]), np.array([])
        if res.status == 3:
            return Status.UNBOUNDED, np.array([]), np.array([])
        if res.status == 1:
            return Status.ITERATION_LIMIT, np.array([]), np.array([])
        if res.status != 0:
            return Status.ERROR, np.array([]), np.array([])
        marg = np.asarray(res.ineqlin.marginals, float)
        y = np.zeros(A.shape[0])
        y[lo_rows] = -marg[: len(lo_rows)]
        y[hi_rows] += marg[len(lo_rows):]
        return Status.OPTIMAL, np.asarray(res.x, float), y
