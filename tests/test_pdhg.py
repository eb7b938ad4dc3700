"""The first-order backend (plan/pdhg.py, plan/repair.py, plan/firstorder.py) against SciPy's
HiGHS on separately built LPs."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from econplan.generate import generate_arrays
from econplan.kernels import available_engines
from econplan.plan.base import SolverOptions, Status
from econplan.plan.certificate import fulfilment_certificate
from econplan.plan.firstorder import PdhgSolver
from econplan.plan.pdhg import solve_lp
from econplan.plan.repair import Structure, repair_dual, repair_primal
from test_fast import reference_t


def random_lp(seed: int, nr: int = 60, nc: int = 90):
    """A feasible, bounded LP min c·x, Kx ≥ q, 0 ≤ x ≤ ub (some ub infinite), c ≥ 0."""
    rng = np.random.default_rng(seed)
    K = sp.random_array((nr, nc), density=0.15, rng=rng, format="csr")
    K.data = rng.normal(0, 1, K.nnz)
    x_feas = rng.uniform(0, 2, nc)
    q = K @ x_feas - rng.uniform(0, 0.5, nr)
    ub = np.where(rng.random(nc) < 0.5, x_feas + rng.uniform(0.1, 2, nc), np.inf)
    c = rng.uniform(0.1, 1.0, nc)
    return K, c, q, ub


def engines():
    return ["scipy"] + [e for e in ("torch",) if e in available_engines()]


@pytest.mark.parametrize("engine", engines())
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solve_lp_matches_linprog(seed, engine):
    K, c, q, ub = random_lp(seed)
    r = solve_lp(K, c, q, np.zeros(len(c)), ub, tol=1e-9, engine=engine)
    assert r.converged and r.engine == engine
    ref = linprog(c, A_ub=-K, b_ub=-q, method="highs",
                  bounds=[(0, None if not np.isfinite(u) else u) for u in ub])
    assert ref.status == 0
    assert abs(c @ r.x - ref.fun) <= 1e-6 * max(1.0, abs(ref.fun))
    # the returned point is feasible to the tolerance and the duals are nonnegative
    assert np.max(np.maximum(q - K @ r.x, 0)) <= 1e-6 * (1 + np.linalg.norm(q))
    assert (r.y >= 0).all()


def test_repairs_make_an_exact_certificate():
    g = generate_arrays(150, 2, seed=11, capacities=True, floors=True)
    pb = g.problem()
    t_ref = reference_t(pb)
    r = PdhgSolver().solve(pb, SolverOptions(extra={"pdhg_tolerance": 1e-4,
                                                    "certificate_tolerance": 1.0}))
    # a loose first-order answer: the repairs still give a feasible plan and a valid bound
    st = Structure(pb.M, pb.tech_product, pb.output)
    d = pb.y - pb.ymin
    rng = np.random.default_rng(0)
    z = r.z * (1 + 1e-3 * rng.normal(size=pb.m))
    z2, t2 = repair_primal(st, pb.R, pb.b, pb.cap, pb.ymin, d, z, r.t)
    p, u, v = repair_dual(st, pb.R, pb.b, pb.cap, pb.ymin, d,
                          r.p * (1 + 1e-3 * rng.random(pb.n)), r.u)
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z2, p, u, v)
    assert cert.primal_residual <= 1e-12 and cert.dual_residual <= 1e-12
    assert cert.achieved <= t_ref * (1 + 1e-9) <= cert.bound * (1 + 1e-9) + 1e-12
    assert t2 <= r.t


@pytest.mark.parametrize("n,seed", [(300, 0), (500, 3)])
def test_plan_with_alternatives_and_capacities(n, seed):
    g = generate_arrays(n, 2, seed=seed, capacities=True, floors=True)
    pb = g.problem()
    r = PdhgSolver().solve(pb, SolverOptions())
    assert r.status == Status.OPTIMAL, r.message
    ref = reference_t(pb)
    assert abs(r.t - ref) <= 1e-6 * max(1.0, ref)  # the certificate gap is relative to max(1, t)
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, r.z, r.p, r.u, r.v)
    assert cert.holds(1e-6), cert
    assert cert.achieved >= ref - 1e-6 * max(1.0, ref)
    assert (r.v > 0).any()  # capacities bind and are valued


def test_stage_two_least_cost():
    # cost on labour *and* CO2: stage 2 runs (no shortcut) and reaches HiGHS's least cost
    g = generate_arrays(200, 2, seed=5, capacities=True, floors=True)
    pb = dataclasses.replace(g.problem(), cost=np.array([1.0, 0.0, 0.5]))
    r = PdhgSolver().solve(pb, SolverOptions())
    assert r.status == Status.OPTIMAL, r.message
    assert "not needed" not in r.message
    d = pb.y - pb.ymin
    t_lo = r.t * (1 - 1e-9)  # HiGHS's stage 2 keeps t ≥ t*(1 − 1e-9) (DESIGN.md)
    ref = linprog(pb.c, A_ub=sp.vstack([-pb.M, pb.R]), method="highs",
                  b_ub=np.concatenate([-(pb.ymin + t_lo * d), pb.b]),
                  bounds=[(0, None if not np.isfinite(x) else x) for x in pb.cap])
    assert ref.status == 0
    # 400 techniques: stage 2 is HiGHS's simplex (firstorder.EXACT_STAGE2_UNTIL), exact
    assert pb.c @ r.z == pytest.approx(ref.fun, rel=1e-6)
    assert r.price is not None and (r.price >= 0).all()


def test_stage_two_not_proven_is_not_optimal(monkeypatch):
    """Where stage 2 (least resource cost at t*) is not certified in its time, the plan is
    not called optimal: status time_limit, t* still certified (HiGHS's), the message giving
    the kept plan's cost. Forced two ways on the same economy: the first-order stage 2 with
    almost no time and no restricted LP, and a stage 2 that returns nothing."""
    from econplan.plan import firstorder

    g = generate_arrays(200, 2, seed=5, capacities=True, floors=True)
    pb = dataclasses.replace(g.problem(), cost=np.array([1.0, 0.0, 0.5]))
    t_ref = reference_t(pb)
    monkeypatch.setattr(firstorder, "EXACT_STAGE2_UNTIL", 0)
    monkeypatch.setattr(firstorder, "TRY_HIGHS_STAGE2_UNTIL", 0)
    first_order = firstorder._Run._stage2_first_order

    def hurried(self, z1, t1, p_u_v, budget):
        # stage 2 has the time left (none given: of the 900 s safety limit); here 0.05 s
        return first_order(self, z1, t1, p_u_v, 0.05)

    monkeypatch.setattr(firstorder._Run, "_stage2_first_order", hurried)
    restricted = firstorder._Run._restricted

    def stage1_only(self, x, y, z, p, u, v, cert, min_cost=False):
        # the elastic restricted LP finishes this stage 2 within the second it always gets
        if min_cost:
            return z, p, u, v, cert
        return restricted(self, x, y, z, p, u, v, cert)

    monkeypatch.setattr(firstorder._Run, "_restricted", stage1_only)
    r = PdhgSolver().solve(pb, SolverOptions())
    assert r.status == Status.TIME_LIMIT, r.message
    assert "stage 2" in r.message and "certified" in r.message
    assert r.t == pytest.approx(t_ref, rel=1e-6)
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, r.z, r.p, r.u, r.v)
    assert cert.holds(1e-6)
    monkeypatch.setattr(firstorder._Run, "stage2", lambda self, *a: None)
    r = PdhgSolver().solve(pb, SolverOptions())
    assert r.status == Status.TIME_LIMIT and "not proven least" in r.message
    assert r.t == pytest.approx(t_ref, rel=1e-6)


def test_warm_start_after_needs_change():
    g = generate_arrays(300, 2, seed=7, capacities=True, floors=True)
    pb = g.problem()
    r0 = PdhgSolver().solve(pb, SolverOptions())
    pb1 = dataclasses.replace(pb, y=pb.y * 1.01)
    cold = PdhgSolver().solve(pb1, SolverOptions())
    warm = PdhgSolver().solve(pb1, SolverOptions(warm_start=r0))
    assert warm.status == cold.status == Status.OPTIMAL
    assert abs(warm.t - cold.t) <= 2e-6 * cold.t
    assert abs(warm.t - reference_t(pb1)) <= 1e-6 * max(1.0, cold.t)


@pytest.mark.skipif("torch" not in available_engines(), reason="torch not importable")
def test_torch_engine_same_plan():
    g = generate_arrays(200, 2, seed=9, capacities=True, floors=True)
    pb = g.problem()
    r = PdhgSolver().solve(pb, SolverOptions(extra={"engine": "torch"}))
    assert r.status == Status.OPTIMAL and "torch" in r.solver_version
    assert abs(r.t - reference_t(pb)) <= 1e-6 * max(1.0, r.t)


def test_crossover_reproduces_the_vertex():
    # from HiGHS's exact vertex (via linprog) the structured crossover rebuilds it exactly
    from econplan.plan.crossover import crossover

    g = generate_arrays(300, 2, seed=4, capacities=True, floors=True)
    pb = g.problem()
    d = pb.y - pb.ymin
    A_ub = sp.vstack([sp.hstack([-pb.M, sp.csc_array(d[:, None])]),
                      sp.hstack([pb.R, sp.csc_array((pb.k, 1))])]).tocsc()
    c = np.zeros(pb.m + 1)
    c[-1] = -1.0
    res = linprog(c, A_ub=A_ub, b_ub=np.concatenate([-pb.ymin, pb.b]), method="highs-ds",
                  bounds=[(0, None if not np.isfinite(x) else x) for x in pb.cap] + [(0, None)])
    assert res.status == 0
    p, u = -res.ineqlin.marginals[: pb.n], -res.ineqlin.marginals[pb.n:]
    st = Structure(pb.M, pb.tech_product, pb.output)
    out = crossover(st, sp.csr_array(pb.R), pb.b, pb.cap, pb.ymin, d, res.x[:-1], p, u,
                    res.x[-1])
    assert out is not None
    z, t, p2, u2, v2 = out
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z, p2, u2, v2)
    assert cert.holds(1e-9), cert
    assert abs(t - res.x[-1]) <= 1e-9 and abs(cert.achieved - res.x[-1]) <= 1e-9
    assert (v2 > 0).any()
    # with its deadline passed, the same try starts no round: None, "time limit" (a try with
    # a large border at 1e5 x 2 took 242 s: near the plan's time limit it would overrun it)
    from econplan.plan import crossover as cx

    late = crossover(st, sp.csr_array(pb.R), pb.b, pb.cap, pb.ymin, d, res.x[:-1], p, u,
                     res.x[-1], deadline=0.0)
    assert late is None and "time limit" in cx.last_reason


def test_crossover_refuses_a_wrong_guess():
    # a far-off "solution" (all activities at half capacity, flat prices) must not be
    # turned into a plan: None, or a plan whose certificate the caller would reject
    from econplan.plan.crossover import crossover

    g = generate_arrays(200, 2, seed=2, capacities=True, floors=True)
    pb = g.problem()
    d = pb.y - pb.ymin
    st = Structure(pb.M, pb.tech_product, pb.output)
    z = np.where(np.isfinite(pb.cap), pb.cap / 2, 1.0)
    out = crossover(st, sp.csr_array(pb.R), pb.b, pb.cap, pb.ymin, d, z, np.ones(pb.n),
                    np.ones(pb.k), 0.5)
    if out is not None:
        cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, out[0],
                                      *out[2:])
        assert not cert.holds(1e-9) or abs(out[1] - reference_t(pb)) <= 1e-9


def test_default_solver_by_measured_size():
    from types import SimpleNamespace

    from econplan.plan import default_solver

    def eco(n, m, capped):
        cap = np.full(m, np.inf)
        cap[:capped] = 1.0
        return SimpleNamespace(n_products=n, n_techniques=m, cap=cap)

    assert default_solver(eco(1000, 2000, 10)) == "highs"  # small: exact vertex
    assert default_solver(eco(2500, 5000, 10)) == "portfolio"  # alternatives and capacities
    assert default_solver(eco(30_000, 60_000, 10)) == "fast"  # ... beyond RACE_UNTIL
    assert default_solver(eco(2500, 5000, 0)) == "highs"  # alternatives, no capacities
    assert default_solver(eco(5000, 5000, 100)) == "highs"  # capacities, no alternatives
    assert default_solver(eco(30_000, 30_000, 0)) == "fast"  # large


def test_cli_plan_with_pdhg_passes_verify(generated, tmp_path):
    # the bundle → plan → verify contract, with the first-order backend
    from typer.testing import CliRunner

    from econplan.cli import app

    bundle = generated(300, 2, seed=1, capacities=True, floors=True)
    out = tmp_path / "plan"
    runner = CliRunner()
    r = runner.invoke(app, ["plan", str(bundle), "--out", str(out), "--solver", "pdhg"])
    assert r.exit_code == 0, r.output
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "optimal" and summary["solver"] == "pdhg"
    assert abs(summary["duality_gap"]) <= 1e-6 and summary["primal_residual"] <= 1e-6
    v = runner.invoke(app, ["verify", str(bundle), str(out)])
    assert v.exit_code == 0, v.output


def _scaled_floors(n: int, seed: int, factor: float):
    pb = generate_arrays(n, 2, seed=seed, capacities=True, floors=True).problem()
    return dataclasses.replace(pb, ymin=pb.ymin * factor, y=np.maximum(pb.y, pb.ymin * factor))


def _floors_feasible(pb, b: np.ndarray, cap: np.ndarray) -> bool:
    """linprog(HiGHS): is there 0 ≤ z ≤ cap with M z ≥ ymin and R z ≤ b?"""
    A_ub = sp.vstack([-pb.M, pb.R]).tocsc()
    bounds = [(0, None if not np.isfinite(x) else x) for x in cap]
    res = linprog(np.zeros(pb.m), A_ub=A_ub, b_ub=np.concatenate([-pb.ymin, b]),
                  bounds=bounds, method="highs")
    return res.status == 0


def _with_lacking(pb, blocking):
    """(b, cap) with the amounts a ``blocking`` report says lack added."""
    b, cap = pb.b.copy(), pb.cap.copy()
    for e in blocking:
        if e["kind"] == "resource":
            b[e["index"]] += e["lacking"]
        else:
            cap[e["index"]] += e["lacking"]
    return b, cap


@pytest.mark.parametrize("factor", [3.0, 5.0])
def test_infeasible_floors_are_proven_with_lacking_amounts_that_suffice(factor):
    from econplan.plan.highs import HighsSolver

    pb = _scaled_floors(200, 1, factor)
    assert not _floors_feasible(pb, pb.b, pb.cap)
    r = PdhgSolver().solve(pb, SolverOptions(time_limit=120.0))
    assert r.status == Status.INFEASIBLE, r.message
    assert r.blocking and "prove" in r.message
    b, cap = _with_lacking(pb, r.blocking)
    assert _floors_feasible(pb, b, cap)  # the reported amounts are enough ...

    def weighted(blocking):
        return sum(e["lacking"] / max(pb.b[e["index"]] if e["kind"] == "resource"
                                      else pb.cap[e["index"]], 1.0) for e in blocking)

    # ... and close to the least (HiGHS on the elastic LP)
    exact = HighsSolver().solve(pb, SolverOptions())
    assert exact.status == Status.INFEASIBLE
    assert weighted(exact.blocking) <= weighted(r.blocking) <= weighted(exact.blocking) * 1.001


def test_plan_certified_when_pdhg_converges_between_checks():
    # small and easy: PDHG's continuation reaches its own 1e-13 before the first periodic
    # check; the final iterate must still be certified (this once ended as time_limit)
    pb = _scaled_floors(200, 1, 2.0)
    r = PdhgSolver().solve(pb, SolverOptions(time_limit=120.0))
    assert r.status == Status.OPTIMAL, r.message
    ref = reference_t(pb)
    assert abs(r.t - ref) <= 1e-6 * max(1.0, ref)


def _min_labour(n: int, scale: float, seed: int = 3):
    """min-labour on n × 2 with capacities, the targets scaled to ``scale`` times the reach
    t* of the full targets (capacities are set to bind at 0.96-1.0 of it)."""
    from econplan.plan.base import Objective

    pb, reach = _reach(n, seed)
    return dataclasses.replace(pb, y=pb.y * scale * reach, objective=Objective.MIN_LABOUR)


@functools.cache
def _reach(n: int, seed: int):
    """The generated n × 2 economy with capacities and HiGHS's t* of its full targets (a
    linprog of ~25 s at 1,500 × 2, shared by the min-labour tests: CI time)."""
    pb = generate_arrays(n, 2, seed=seed, capacities=True).problem()
    return pb, reference_t(pb)


def _least_cost(pb, b, cap):
    res = linprog(pb.c, A_ub=sp.vstack([-pb.M, pb.R]), b_ub=np.concatenate([-pb.y, b]),
                  method="highs", bounds=[(0, None if not np.isfinite(x) else x) for x in cap])
    return res.fun if res.status == 0 else None


@functools.cache
def _min_labour_case(n: int):
    """The economy (targets beyond most capacities) and HiGHS's least cost, once per size for
    both parametrisations (two linprogs of ~10 s each at 1,500 × 2: CI time)."""
    pb = _min_labour(n, 0.99)
    return pb, _least_cost(pb, pb.b, pb.cap)


@pytest.mark.parametrize("n,restricted", [(300, False), (1500, False), (300, True),
                                          (1500, True)])
def test_min_labour_with_capacities_and_alternatives(n, restricted):
    """The min-labour objective on the first-order route (before: the decomposition's HiGHS
    fallback): least cost as HiGHS's, its own certificate checked. By PDHG and its repairs
    alone (``restricted`` off): to 1e-6. With the restricted LP's exact finish in its min-cost
    form (the default): to 1e-9 — here reached from the labour-cheapest plan itself, before
    any PDHG iteration."""
    from econplan.plan.certificate import min_cost_certificate
    from econplan.plan.fast import FastSolver

    pb, ref = _min_labour_case(n)
    r = FastSolver().solve(pb, SolverOptions(time_limit=120.0,
                                             extra={"restricted": restricted}))
    assert r.status == Status.OPTIMAL, r.message
    assert "pdhg" in r.solver_version
    if restricted:
        assert "restricted LP" in r.solver_version
    else:
        assert r.iterations > 0
    capped = np.isfinite(pb.cap)
    assert np.count_nonzero(r.z[capped] >= pb.cap[capped] * (1 - 1e-9)) >= 10  # they bind
    tol = 1e-9 if restricted else 1e-6
    assert abs(pb.c @ r.z - ref) <= tol * ref
    cert = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.c, r.z, r.price,
                                r.resource_price, r.capacity_price)
    assert cert.holds(1e-8 if restricted else 1e-6), cert
    assert cert.bound <= ref * (1 + 1e-12) <= cert.achieved * (1 + 1e-12)


def test_min_labour_unreachable_targets_are_proven():
    """Targets beyond reach (1.3 times what resources allow): the repaired duals prove
    t* < 1, and the amounts reported as lacking make the targets reachable (HiGHS says so
    before and after)."""
    pb = _min_labour(300, 1.3)
    assert _least_cost(pb, pb.b, pb.cap) is None
    r = PdhgSolver().solve(pb, SolverOptions(time_limit=120.0))
    assert r.status == Status.INFEASIBLE, r.message
    assert r.blocking and "targets cannot be met" in r.message and "< 1" in r.message
    b, cap = _with_lacking(pb, r.blocking)
    assert _least_cost(pb, b, cap) is not None


def test_min_labour_certified_from_the_labour_plan_when_nothing_else_binds():
    """Targets at 0.9 of their reach: no capacity binds, so the labour-cheapest plan and the
    labour values are the optimum (non-substitution theorem); their certificate holds before
    any PDHG iteration, and the cost is HiGHS's."""
    pb = _min_labour(1500, 0.9)
    r = PdhgSolver().solve(pb, SolverOptions(time_limit=120.0))
    assert r.status == Status.OPTIMAL and r.iterations == 0, r.message
    ref = _least_cost(pb, pb.b, pb.cap)
    assert abs(pb.c @ r.z - ref) <= 1e-9 * ref


@pytest.mark.parametrize("n,seed,floors", [(500, 1, True), (800, 4, False)])
def test_structured_start_is_a_certified_plan(n, seed, floors):
    """Stage 1's structured start (labour-cheapest techniques, repaired into capacities, and
    the fill at the labour values): a feasible plan whose repaired labour values bound t*
    from above — HiGHS's t* lies between the two — within a few per cent."""
    from econplan.plan.firstorder import _Run

    pb = generate_arrays(n, 2, seed=seed, capacities=True, floors=floors).problem()
    ref = reference_t(pb)
    z, p, u, v, cert = _Run(pb, SolverOptions())._structured_start()
    again = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z, p, u, v)
    assert again == cert
    assert cert.primal_residual <= 1e-9 and cert.dual_residual <= 1e-12
    assert cert.achieved <= ref * (1 + 1e-9) and cert.bound >= ref * (1 - 1e-9)
    assert 0 < cert.duality_gap < 0.05


def test_price_search_tightens_the_structured_start():
    """CO₂ runs out before labour at the labour-cheapest plan: the start also prices CO₂
    (θ searched) and fills with rents on the products that run out. Both candidates are
    certified plans around HiGHS's t*; with the search the gap is ≥ 4× smaller (measured at
    1,000 × 2 with floors: 2.19e-2 → 3.8e-3)."""
    from econplan.plan.firstorder import _Run

    pb = generate_arrays(1000, 2, seed=0, capacities=True, floors=True).problem()
    ref = reference_t(pb)
    certs = []
    for evaluations in (0, 10):
        run = _Run(pb, SolverOptions(extra={"price_search_evaluations": evaluations}))
        z, p, u, v, cert = run._structured_start()
        assert cert == fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z, p, u,
                                              v)
        assert cert.primal_residual <= 1e-9 and cert.dual_residual <= 1e-12
        assert cert.achieved <= ref * (1 + 1e-9) and cert.bound >= ref * (1 - 1e-9)
        certs.append(cert)
    assert certs[1].duality_gap <= certs[0].duality_gap / 4, certs
    assert certs[1].duality_gap < 5e-3


def test_structured_start_is_the_optimum_when_only_labour_binds():
    """Alternatives without capacities, CO₂ and land ample: the non-substitution plan is
    optimal, so stage 1 ends at the structured start with no PDHG iteration, at HiGHS's t*."""
    pb = generate_arrays(800, 2, seed=6, floors=True).problem()
    b = pb.b.copy()
    b[1:] *= 10.0  # only labour binds
    pb = dataclasses.replace(pb, b=b)
    ref = reference_t(pb)
    r = PdhgSolver().solve(pb, SolverOptions(time_limit=60.0))
    assert r.status == Status.OPTIMAL and r.iterations == 0, r.message
    assert abs(r.t - ref) <= 1e-9 * ref
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, r.z, r.p, r.u, r.v)
    assert cert.holds(1e-9), cert


def test_time_limit_is_kept_with_a_certified_plan():
    """A limit far too short for the certificate (1,200 × 2 with capacities, 1 s): the solve
    ends near it (the last check's cost is reserved) with status time_limit, a feasible plan
    and a valid bound around HiGHS's t*."""
    import time

    pb = generate_arrays(1200, 2, seed=2, capacities=True, floors=True).problem()
    ref = reference_t(pb)
    t0 = time.perf_counter()
    r = PdhgSolver().solve(pb, SolverOptions(time_limit=1.0))
    took = time.perf_counter() - t0
    assert took <= 1.0 + 2.0, took  # a loaded CI machine: some slack
    assert r.status in (Status.TIME_LIMIT, Status.OPTIMAL), r.message
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, r.z, r.p, r.u, r.v)
    assert cert.primal_residual <= 1e-9 and cert.dual_residual <= 1e-9
    assert cert.achieved <= ref * (1 + 1e-9) <= cert.bound * (1 + 2e-9)


def test_scaling_leaves_empty_rows_and_columns_alone():
    """A resource no technique uses is an empty row of K (and a product nothing is made of an
    empty column): the equilibration must neither fail on it nor change the other rows' and
    columns' scaling (found by planning a random economy with an unused resource)."""
    from econplan.plan.pdhg import scale_problem

    rng = np.random.default_rng(3)
    core = sp.random_array((6, 5), density=0.6, rng=rng, format="csr")
    core.data = rng.uniform(0.1, 3.0, core.nnz)
    K = sp.csr_array(sp.block_array([[sp.csr_array((1, 7))],
                                     [sp.hstack([sp.csr_array((6, 1)), core,
                                                 sp.csr_array((6, 1))])],
                                     [sp.csr_array((2, 7))]]))  # empty rows 0, 7, 8; cols 0, 6
    dr, dc = scale_problem(K)
    dr0, dc0 = scale_problem(core)
    assert np.all(np.isfinite(dr)) and np.all(np.isfinite(dc))
    np.testing.assert_allclose(dr[1:7], dr0, rtol=1e-12)
    np.testing.assert_allclose(dc[1:6], dc0, rtol=1e-12)


@pytest.mark.parametrize("solver", ["fast", "pdhg"])
def test_plan_with_a_resource_no_technique_uses(solver):
    """The bread village with a bakery capacity and a declared but unused resource (water):
    the first-order route gives HiGHS's plan, t* = 45/40 (hand-computed in small_economies)."""
    import pandas as pd

    from econplan import Economy
    from small_economies import CAPACITY_T, bread_tables

    meta, tables = bread_tables(bakery_capacity=45.0)
    tables["resources"] = pd.concat([tables["resources"], pd.DataFrame(
        {"id": ["water"], "name": ["Water"], "unit": ["m3"], "available": [5.0]})],
        ignore_index=True)
    e = Economy.from_tables(meta, tables)
    ref = e.plan(solver="highs")
    plan = e.plan(solver=solver)
    assert plan.ok, plan.summary
    assert abs(ref.fulfilment - CAPACITY_T) <= 1e-9
    assert abs(plan.fulfilment - CAPACITY_T) <= 1e-7
    assert abs(plan.summary["duality_gap"]) <= 1e-6
