"""The exact finish by the restricted LP (plan/restricted.py): from a loose PDHG iterate to the
optimum, checked against SciPy's HiGHS on the full LP and by the certificate."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from econplan.generate import generate_arrays
from econplan.plan import restricted as rx
from econplan.plan.certificate import fulfilment_certificate
from econplan.plan.pdhg import solve_lp
from econplan.plan.repair import Structure, repair_primal
from test_fast import reference_t


def _stage1(pb):
    d = pb.y - pb.ymin
    K = sp.vstack([sp.hstack([pb.M, sp.csc_array(-d.reshape(-1, 1))]),
                   sp.hstack([-pb.R, sp.csc_array((pb.k, 1))])], format="csr")
    c = np.zeros(pb.m + 1)
    c[pb.m] = -1.0
    return K, c, np.concatenate([pb.ymin, -pb.b]), np.zeros(pb.m + 1), \
        np.concatenate([pb.cap, [np.inf]])


@pytest.mark.parametrize("n,seed,floors", [(400, 2, True), (800, 5, False)])
def test_restricted_lp_finds_the_optimum_from_a_loose_iterate(n, seed, floors):
    pb = generate_arrays(n, 2, seed=seed, capacities=True, floors=floors).problem()
    t_ref = reference_t(pb)
    K, c, q, lb, ub = _stage1(pb)
    r = solve_lp(K, c, q, lb, ub, tol=1e-4)  # loose: the repaired plan is ~1e-3 off
    st = Structure(pb.M, pb.tech_product, pb.output)
    d = pb.y - pb.ymin
    m = pb.m
    out = rx.restricted_finish(st, pb.R, pb.b, pb.cap, pb.ymin, d, r.x[:m], r.y[:pb.n],
                               r.y[pb.n:])
    assert out is not None, rx.last_reason
    z, t, p, u, v = out
    assert abs(t - t_ref) <= 1e-8 * t_ref  # the LP's optimum, not an approximation
    # no rent for rounding on a technique below its cap: a noise profit (here ~1e-17; ~1e-3
    # at price scales of 1e8) as such a rent would cost the bound v·(cap − z). "Below" by
    # more than 1e-6: a technique at its cap up to the solves' rounding keeps its real rent
    # (the min-cost test below on a Zen 5 host: z = cap·(1 − 1e-8), profit 3 % of its scale)
    assert not (v[z < pb.cap * (1 - 1e-6)] > 0).any()
    z, t = repair_primal(st, pb.R, pb.b, pb.cap, pb.ymin, d, z, t)
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z, p, u, v)
    assert cert.holds(1e-8), cert
    assert abs(cert.achieved - t_ref) <= 1e-8 * t_ref


def test_restricted_lp_declines_when_too_large():
    pb = generate_arrays(400, 2, seed=2, capacities=True, floors=True).problem()
    K, c, q, lb, ub = _stage1(pb)
    r = solve_lp(K, c, q, lb, ub, tol=1e-4)
    st = Structure(pb.M, pb.tech_product, pb.output)
    out = rx.restricted_finish(st, pb.R, pb.b, pb.cap, pb.ymin, pb.y - pb.ymin, r.x[:pb.m],
                               r.y[:pb.n], r.y[pb.n:], max_cells=10)
    assert out is None and "too large" in rx.last_reason


@pytest.mark.parametrize("n,seed", [(300, 3), (1000, 4)])
def test_restricted_lp_min_cost_form_finds_the_least_cost(n, seed):
    """min-labour: from PDHG at tolerance 1e-4 on ``min c·z, Mz ≥ y, Rz ≤ b, z ≤ cap`` (targets
    beyond most capacities) the min-cost form of the restricted LP ends at HiGHS's least cost
    (to 1e-9) with a min-cost certificate that holds at 1e-8."""
    import dataclasses

    from scipy.optimize import linprog

    from econplan.plan.base import Objective
    from econplan.plan.certificate import min_cost_certificate
    from econplan.plan.formulation import as_inequalities, stage2
    from econplan.plan.repair import produce_deficits

    pb = generate_arrays(n, 2, seed=seed, capacities=True).problem()
    pb = dataclasses.replace(pb, y=0.99 * reference_t(pb) * pb.y,
                             objective=Objective.MIN_LABOUR)
    ref = linprog(pb.c, A_ub=sp.vstack([-pb.M, pb.R]), b_ub=np.concatenate([-pb.y, pb.b]),
                  method="highs",
                  bounds=[(0, None if not np.isfinite(x) else x) for x in pb.cap]).fun
    K, q = as_inequalities(stage2(pb, 1.0, exact_targets=True))
    r = solve_lp(K, pb.c, q, np.zeros(pb.m), pb.cap, tol=1e-4)
    st = Structure(pb.M, pb.tech_product, pb.output)
    out = rx.restricted_finish(st, pb.R, pb.b, pb.cap, pb.y, np.zeros(pb.n), r.x, r.y[:pb.n],
                               r.y[pb.n:], cost=np.asarray(pb.cost, dtype=float))
    assert out is not None, rx.last_reason
    z, t, p, u, v = out
    assert t == 0.0
    assert not (v[z < pb.cap * (1 - 1e-6)] > 0).any()  # no rent for rounding below caps (above)
    produce_deficits(st, pb.cap, pb.y, np.zeros(pb.n), z, 0.0, 3)
    cert = min_cost_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.c, z, p, u, v)
    assert cert.holds(1e-8), cert
    assert abs(pb.c @ z - ref) <= 1e-9 * ref
    assert cert.bound <= ref * (1 + 1e-12)


def test_small_lp_goes_on_with_the_next_method_when_one_stalls(monkeypatch):
    """_SmallLp.solve tries the usual method, then the primal simplex from where it stopped,
    then IPM afresh (a fuzzed economy's dense LP defeated IPM's crossover and the dual simplex
    for 40 s each; the primal simplex solved it in 2.5 s). Here the first run is made to stall
    (HiGHS stopped after one iteration): the next method finishes, at SciPy's optimum."""
    from scipy.optimize import linprog

    rng = np.random.default_rng(3)
    n_rows, n_cols = 30, 40
    A = rng.uniform(0.0, 1.0, (n_rows, n_cols))
    c = -rng.uniform(0.5, 1.5, n_cols)
    hi = rng.uniform(5.0, 10.0, n_rows)
    ref = linprog(c, A_ub=A, b_ub=hi, bounds=(0, 3), method="highs")

    lp = rx._SmallLp()
    lp.add_cols(c, np.zeros(n_cols), np.full(n_cols, 3.0), np.zeros((0, n_cols)))
    lp.add_rows(np.full(n_rows, -np.inf), hi, A)
    methods: list[tuple[str, int]] = []
    run = lp.h.run

    def stalling_run():
        methods.append((lp.h.getOptionValue("solver")[1],
                        lp.h.getOptionValue("simplex_strategy")[1]))
        if len(methods) == 1:  # the first method stops short, as on a time limit
            lp.h.setOptionValue("ipm_iteration_limit", 1)
            lp.h.setOptionValue("simplex_iteration_limit", 1)
            out = run()
            lp.h.setOptionValue("ipm_iteration_limit", 1_000_000)
            lp.h.setOptionValue("simplex_iteration_limit", 1_000_000)
            return out
        return run()

    monkeypatch.setattr(lp.h, "run", stalling_run)
    out, why = lp.solve(60.0)
    assert out is not None, why
    assert methods[:2] == [("ipm", 1), ("simplex", 4)]
    x, _ = out
    assert c @ x == pytest.approx(ref.fun, rel=1e-9)


def _substitution_economy():
    """Two products, A (the need) and B (an input of A): A by a1 (labour 2) or a2 (labour 1),
    both with 0.1 B; B by b1 (labour 1); 10 of labour, no capacities. t* = 10 / 1.1: every A
    by a2 at 1.1 labour a unit (a dense NumPy check below)."""
    M = sp.csc_array(np.array([[1.0, 1.0, 0.0], [-0.1, -0.1, 1.0]]))
    R = sp.csr_array(np.array([[2.0, 1.0, 1.0]]))
    tp = np.array([0, 0, 1])
    return Structure(M, tp, np.ones(3)), R, np.array([10.0]), np.full(3, np.inf)


def test_restricted_lp_boxes_in_what_the_lazy_rows_leave_open():
    """From a plan making all A by a1 (a2 uncertain, a1 carrying A's row) the restricted LP
    starts with the labour row only: raising a2 "unproduces" a1 (z_a1 < 0) and frees labour
    without end, and HiGHS says unbounded (a fuzzed economy of 799 products failed so from
    every PDHG iterate). Boxed in, the first optimum shows a1 negative, its row joins, and
    the box no longer binds: the exact optimum, with a certificate that holds."""
    st, R, b, cap = _substitution_economy()
    ymin, d = np.zeros(2), np.array([1.0, 0.0])
    # the dense check: all A by a2, B for it by b1, labour 1 + 0.1 per unit of A
    z_a2 = np.linalg.solve(np.array([[1.0, 0.0], [-0.1, 1.0]]), np.array([1.0, 0.0]))
    t_ref = 10.0 / (np.array([1.0, 1.0]) @ z_a2)
    assert t_ref == pytest.approx(10 / 1.1)
    z = np.array([1.0, 0.0, 0.1])
    u = np.array([1 / 2.1])
    p = np.array([1.0, 1 / 2.1])  # a1's prices: p·d = 1
    out = rx.restricted_finish(st, R, b, cap, ymin, d, z, p, u)
    assert out is not None, rx.last_reason
    zo, t, po, uo, vo = out
    assert t == pytest.approx(t_ref, rel=1e-12)
    np.testing.assert_allclose(zo, [0.0, t_ref, 0.1 * t_ref], rtol=1e-10, atol=1e-12)
    cert = fulfilment_certificate(st.M, R, b, cap, d, ymin, zo, po, uo, vo)
    assert cert.holds(1e-9), cert


def test_restricted_lp_declines_when_it_is_no_smaller_than_the_economy():
    """With most techniques uncertain the dense restricted LP is no smaller than the sparse
    whole LP: above ``max_share`` it is not built (the first-order route gives the whole LP
    to HiGHS then)."""
    st, R, b, cap = _substitution_economy()
    args = (st, R, b, cap, np.zeros(2), np.array([1.0, 0.0]), np.array([1.0, 0.0, 0.1]),
            np.array([1.0, 1 / 2.1]), np.array([1 / 2.1]))
    assert rx.restricted_finish(*args, max_share=0.25) is None
    assert rx.last_reason.startswith(rx.NOT_SMALLER)
    assert "1 of 3" in rx.last_reason
    assert rx.restricted_finish(*args, max_share=0.5) is not None


def test_min_cost_restricted_lp_lets_the_targets_fall_short_until_what_they_need_joins():
    """Stage 2's restricted LPs (min-cost form, targets pinned at t*) were *infeasible* from
    every iterate on fuzzed economies of 7,000-11,000 products: a technique the targets need
    was held at 0. With ``elastic`` the targets may fall short at a penalty, the duals of
    that LP price the held technique in, and the optimum meets the targets exactly.

    A (target 1.5) by a1 (capacity 1, labour 1) or a2 (0.1 labour and 1 B a unit); B by b1
    (labour 1). From a plan making A by a1 alone, priced at a1's cost, a2 runs at a loss and
    is held at 0; a1 would have to make 1.5. The least labour: a1 at capacity, a2 the rest
    (1 + 0.5 · 1.1 = 1.55), checked against SciPy's HiGHS on the whole LP."""
    from scipy.optimize import linprog

    from econplan.plan.certificate import min_cost_certificate

    M = sp.csc_array(np.array([[1.0, 1.0, 0.0], [0.0, -1.0, 1.0]]))
    R = sp.csr_array(np.array([[1.0, 0.1, 1.0]]))
    st = Structure(M, np.array([0, 0, 1]), np.ones(3))
    b, cap, y = np.array([100.0]), np.array([1.0, np.inf, np.inf]), np.array([1.5, 0.0])
    cost = np.array([1.0])
    c = R.T @ cost
    ref = linprog(c, A_ub=np.vstack([-M.toarray(), R.toarray()]), b_ub=np.r_[-y, b],
                  bounds=[(0, 1.0), (0, None), (0, None)], method="highs")
    assert ref.status == 0 and ref.fun == pytest.approx(1.55, rel=1e-12)
    args = (st, R, b, cap, y, np.zeros(2), np.array([0.5, 0.0, 0.0]), np.array([1.0, 1.0]),
            np.zeros(1))
    assert rx.restricted_finish(*args, cost=cost) is None
    assert "Infeasible" in rx.last_reason
    args = (st, R, b, cap, y, y, *args[6:])  # the shortfall's direction: the targets
    out = rx.restricted_finish(*args, cost=cost, elastic=10.0)
    assert out is not None, rx.last_reason
    z, _, q, u, v = out
    np.testing.assert_allclose(z, ref.x, rtol=1e-10, atol=1e-12)
    cert = min_cost_certificate(M, R, b, cap, y, c, z, q, u, v)
    assert cert.holds(1e-9), cert
    assert cert.achieved == pytest.approx(ref.fun, rel=1e-12)

