"""The structured planner (plan/fast.py) against scipy's HiGHS on separately built LPs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from econplan.generate import generate_arrays
from econplan.kernels import available_engines
from econplan.plan.base import Objective, SolverOptions, Status
from econplan.plan.certificate import fulfilment_certificate, min_cost_certificate
from econplan.plan.fast import FastSolver, LeontiefCapacitySolver


def reference_t(pb) -> float:
    """t* by scipy linprog(HiGHS): max t, (B−A)z − t d ≥ ymin, Rz ≤ b, 0 ≤ z ≤ cap."""
    d = pb.y - pb.ymin
    A_ub = sp.vstack(
        [
            sp.hstack([-pb.M, sp.csc_array(d[:, None])]),
            sp.hstack([pb.R, sp.csc_array((pb.k, 1))]),
        ]
    ).tocsc()
    c = np.zeros(pb.m + 1)
    c[-1] = -d.sum()
    bounds = [(0, None if not np.isfinite(x) else x) for x in pb.cap] + [(None, None)]
    res = linprog(c, A_ub=A_ub, b_ub=np.concatenate([-pb.ymin, pb.b]), bounds=bounds,
                  method="highs")
    assert res.status == 0
    return float(res.x[-1])


def check(pb, r, structured: bool):
    assert r.status == Status.OPTIMAL, r.message
    ref = reference_t(pb)
    first_order = "pdhg" in r.solver_version  # certified to 1e-6, not to a vertex
    assert abs(r.t - ref) <= (1e-6 if first_order else 1e-7) * max(1.0, abs(ref))
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, r.z, r.p, r.u, r.v)
    assert cert.holds(1e-6), cert
    if structured:  # solved by the decomposition itself, not the HiGHS fallback
        assert r.solver_version.startswith("econplan-fast"), r.message
        assert "fallback" not in r.solver_version, r.message
    return ref


@pytest.mark.parametrize("n,K,floors,seed", [(300, 2, True, 0), (400, 3, False, 1)])
def test_no_capacities_structured(n, K, floors, seed):
    pb = generate_arrays(n, K, seed=seed, floors=floors).problem()
    r = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy"}))
    check(pb, r, structured=True)
    # stage 2: no resource wasted — labour at the plan equals HiGHS's minimum at t*
    assert r.price is not None and (r.price >= -1e-12).all()


def test_single_technique_binding_capacities_structured():
    pb = generate_arrays(300, 1, seed=2, capacities=True, floors=True).problem()
    r = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy"}))
    check(pb, r, structured=True)
    assert (r.v > 0).any()  # a capacity binds and is valued


def test_alternatives_with_capacities_certified():
    # alternatives and capacities go to the first-order backend; right and certified
    pb = generate_arrays(200, 2, seed=0, capacities=True, floors=True).problem()
    r = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy"}))
    check(pb, r, structured=True)
    assert "pdhg" in r.solver_version


def test_alternatives_with_capacities_decomposition_or_highs():
    # the decomposition on these (first_order off) may hand them to HiGHS: still certified
    pb = generate_arrays(200, 2, seed=0, capacities=True, floors=True).problem()
    r = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy", "first_order": False}))
    check(pb, r, structured=False)


def test_no_fallback_reports_honestly():
    pb = generate_arrays(200, 2, seed=0, capacities=True, floors=True).problem()
    r = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy", "fallback": False,
                                                    "max_master_iterations": 3,
                                                    "first_order": False}))
    if r.status == Status.OPTIMAL:  # only when it really is certified
        check(pb, r, structured=True)
    else:
        assert r.message


@pytest.mark.parametrize("engine", ["numba", "torch"])
def test_other_engines(engine):
    if engine not in available_engines():
        pytest.skip(f"{engine} not importable here")
    pb = generate_arrays(300, 2, seed=3, floors=True).problem()
    r = FastSolver().solve(pb, SolverOptions(extra={"engine": engine}))
    check(pb, r, structured=True)
    assert engine in r.solver_version


def test_subproblem_matches_linprog():
    g = generate_arrays(250, 2, seed=4, capacities=True)
    pb = g.problem()
    inner = LeontiefCapacitySolver(g.A, g.output, g.tech_product, "scipy")
    c = pb.R.toarray()[0]
    Y = 0.5 * pb.y
    r = inner.solve(c, Y, pb.cap)
    assert not r.exhausted.any()
    res = linprog(c, A_ub=-pb.M, b_ub=-Y, method="highs",
                  bounds=[(0, None if not np.isfinite(x) else x) for x in pb.cap])
    assert abs(r.cost - res.fun) <= 1e-9 * res.fun
    assert r.gap <= 1e-9 and r.primal_residual <= 1e-9


def test_min_labour_matches_linprog():
    g = generate_arrays(300, 2, seed=5)
    pb = dataclasses.replace(g.problem(), b=g.available * 10, objective=Objective.MIN_LABOUR)
    r = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy"}))
    assert r.status == Status.OPTIMAL
    res = linprog(pb.c, A_ub=sp.vstack([-pb.M, pb.R]), b_ub=np.concatenate([-pb.y, pb.b]),
                  method="highs")
    assert abs(pb.c @ r.z - res.fun) <= 1e-8 * res.fun
    # solved and certified by the decomposition itself (its certificate is now checked)
    assert "fallback" not in r.solver_version, r.message
    cert = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.c, r.z, r.price,
                                r.resource_price, r.capacity_price)
    assert cert.holds(1e-8), cert
    # valuations = labour values when only labour costs (DESIGN.md's check of the theory)
    from econplan.kernels import solve_values

    lam = solve_values(g.A, g.output, g.tech_product, g.R, engine="scipy").values[:, 0]
    np.testing.assert_allclose(r.price, lam, rtol=1e-8)


def test_infeasible_floors():
    g = generate_arrays(150, 2, seed=6, floors=True)
    pb = dataclasses.replace(g.problem(), b=g.available * np.array([0.05, 1.0, 1.0]))
    r = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy"}))
    assert r.status == Status.INFEASIBLE
    assert r.blocking and r.blocking[0]["kind"] == "resource" and r.blocking[0]["index"] == 0


def test_warm_start_same_answer():
    g = generate_arrays(300, 2, seed=7, floors=True)
    pb = g.problem()
    r0 = FastSolver().solve(pb, SolverOptions(extra={"engine": "scipy"}))
    pb1 = dataclasses.replace(pb, y=pb.y * 1.02)
    cold = FastSolver().solve(pb1, SolverOptions(extra={"engine": "scipy"}))
    warm = FastSolver().solve(pb1, SolverOptions(warm_start=r0, extra={"engine": "scipy"}))
    check(pb1, warm, structured=True)
    assert abs(warm.t - cold.t) <= 1e-9 * cold.t
