"""Stage 2's back-off (ExactSolver.stage2_backoff): a wider slack before a slower method."""

from __future__ import annotations

import numpy as np
import pytest

from econplan.generate import generate_arrays
from econplan.plan.base import SolverOptions, Status
from econplan.plan.exact import cost_duals
from econplan.plan.formulation import T_SLACK
from econplan.plan.highs import HighsSolver


def test_stage2_widens_the_slack_before_trying_slower_methods(monkeypatch):
    """HiGHS's unscaled simplex ending "unknown" at the tightest slacks: stage 2 tries the
    wider slacks by the same plain method before the scaled and IPM retries (a fuzzed economy
    of 799 products: 29 s of such retries, all "unknown", before the plain method at 1e-7
    took 0.2 s). The plan it returns is a real optimum at the slack that worked, checked by
    its row duals (the reduced costs' sign conditions) and against a plain solve there."""
    pb = generate_arrays(150, 2, seed=3, capacities=True, floors=True).problem()
    t = 0.5
    calls: list[tuple[float, object]] = []
    real = HighsSolver.solve_lp

    def flaky(self, lp, options):
        t_lo = float(np.max((lp.row_lo[:pb.n] - pb.ymin) / np.maximum(pb.y - pb.ymin, 1e-300)))
        slack = 1 - t_lo / t
        calls.append((slack, options.extra.get("scale")))
        if slack < 5e-8:  # the two tightest slacks: "unknown" whatever the method
            return Status.ERROR, np.array([]), np.array([])
        return real(self, lp, options)

    monkeypatch.setattr(HighsSolver, "solve_lp", flaky)
    lp2, status, z, y = HighsSolver().stage2_backoff(pb, t, SolverOptions())
    assert status == Status.OPTIMAL
    assert [s for s, _ in calls] == pytest.approx([T_SLACK, 1e-8, 1e-7], rel=1e-3)
    assert all(scale == 0 for _, scale in calls)  # plain: no scaled or IPM retry was asked
    # the optimum at slack 1e-7: rows met, and the same cost as an unhindered solve there
    lo = np.asarray(lp2.row_lo[:pb.n])
    assert (pb.M @ z - lo >= -1e-9 * np.maximum(np.abs(lo), 1.0)).all()
    ref_status, ref_z, _ = real(HighsSolver(), lp2, SolverOptions())
    assert ref_status == Status.OPTIMAL
    assert pb.c @ z == pytest.approx(pb.c @ ref_z, rel=1e-9)
    assert (cost_duals(pb, lp2, y)["price"] >= 0).all()
