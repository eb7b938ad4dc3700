"""The default for middling economies with alternatives and capacities: ``fast`` and
``highs`` raced in two processes, the first certified answer kept (econplan.plan.portfolio)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from typer.testing import CliRunner

import econplan
from econplan.cli import app
from econplan.generate import generate_arrays
from econplan.plan.base import SolverOptions, Status
from econplan.plan.certificate import fulfilment_certificate
from econplan.plan.portfolio import race
from econplan.verify import verify
from test_fast import reference_t


def _problem(n: int, seed: int = 1):
    return generate_arrays(n, 2, seed=seed, capacities=True, floors=True).problem()


def test_race_returns_a_certified_optimum_and_names_the_winner():
    pb = _problem(300)
    res = race(pb, SolverOptions(), head_start=0.0)  # both run at once
    assert res.status == Status.OPTIMAL
    assert res.solver in ("fast", "highs")
    assert res.message.startswith(f"portfolio: {res.solver} answered first")
    assert abs(res.t - reference_t(pb)) <= 1e-6
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, res.z, res.p, res.u,
                                  res.v)
    assert cert.holds(1e-6)


def test_a_contestant_that_fails_hands_over_to_the_next_at_once():
    # the first contestant is no backend at all: its process reports an error, the next one
    # starts without waiting out the head start, and its plan is kept
    pb = _problem(200)
    res = race(pb, SolverOptions(), contestants=("no-such-backend", "highs"), head_start=600.0)
    assert res.status == Status.OPTIMAL and res.solver == "highs"
    assert "no-such-backend: error" in res.message
    assert abs(res.t - reference_t(pb)) <= 1e-7


def test_a_plan_within_the_head_start_does_not_start_the_second():
    pb = _problem(200)
    res = race(pb, SolverOptions(), contestants=("highs", "fast"), head_start=600.0)
    assert res.status == Status.OPTIMAL and res.solver == "highs"
    assert "fast not started" in res.message


def test_infeasible_floors_are_definitive():
    pb = _problem(200)
    pb = dataclasses.replace(pb, b=pb.b * 1e-3)  # floors far out of reach
    res = race(pb, SolverOptions(), head_start=0.0)
    assert res.status == Status.INFEASIBLE
    assert res.blocking


def test_cli_default_races_and_the_plan_passes_verify(generated, tmp_path):
    bundle = generated(1200, 2, seed=3, capacities=True, floors=True)  # 2,400 techniques
    e = econplan.load(bundle)
    assert econplan.plan.default_solver(e) == "portfolio"
    out = tmp_path / "plan"
    r = CliRunner().invoke(app, ["plan", str(bundle), "--out", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "optimal" and summary["solver"] in ("fast", "highs")
    assert verify(bundle, out).ok
    assert np.isfinite(summary["fulfilment"])


def test_without_a_limit_a_plan_short_of_its_certificate_bounds_the_wait():
    """fast may return t* proven and its least cost not (status time_limit, a plan): without a
    time limit the race then waits for HiGHS as long again (at least GRACE_SECONDS), where it
    used to wait for ever; a result without a plan, or a limit set already, changes nothing."""
    import numpy as np

    from econplan.plan.base import SolverResult, Status
    from econplan.plan.portfolio import GRACE_SECONDS, _deadline

    plan = SolverResult(Status.TIME_LIMIT, z=np.zeros(2), p=np.zeros(1))
    assert _deadline(None, 100.0, plan) == 200.0
    assert _deadline(None, 1.0, plan) == 1.0 + GRACE_SECONDS
    assert _deadline(None, 100.0, SolverResult(Status.ERROR)) is None
    assert _deadline(70.0, 100.0, plan) == 70.0
    # with a limit of 8 s (deadline 8 + LIMIT_GRACE): once a plan is in hand the race waits
    # only LATE_SECONDS past the limit (session-15 fuzzer: 21 s for a limit of 8 s)
    from econplan.plan.portfolio import LATE_SECONDS, LIMIT_GRACE

    assert _deadline(8.0 + LIMIT_GRACE, 10.0, plan) == 10.0 + LATE_SECONDS
    assert _deadline(8.0 + LIMIT_GRACE, 3.0, plan) == 8.0 + LATE_SECONDS
    assert _deadline(8.0 + LIMIT_GRACE, 10.0, SolverResult(Status.ERROR)) == 8.0 + LIMIT_GRACE
