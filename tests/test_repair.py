"""plan/repair.py's primal repair on an economy built by hand, against SciPy's HiGHS."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

import econplan.plan.repair as repair
from econplan.plan.repair import Structure, repair_primal

# products X, Y, F; techniques tX (makes X, capacity 0.9), tY (makes Y from 0.2 X),
# tF1 (makes F from 1 X), tF2 (makes F from 1 Y, capacity 0.3). Final demand: F only.
M = sp.csc_array(np.array([
    [1.0, -0.2, -1.0, 0.0],   # X
    [0.0, 1.0, 0.0, -1.0],    # Y
    [0.0, 0.0, 1.0, 1.0],     # F
]))
TECH_PRODUCT = np.array([0, 1, 2, 2])
CAP = np.array([0.9, np.inf, np.inf, 0.3])
R = sp.csr_array(np.array([[1.0, 1.0, 1.0, 1.0]]))  # labour, hours per unit of activity
B = np.array([10.0])
D = np.array([0.0, 0.0, 1.0])
YMIN = np.zeros(3)


def t_star() -> float:
    """max t: M z ≥ ymin + t d, R z ≤ b, 0 ≤ z ≤ cap, by HiGHS."""
    A_ub = sp.vstack([sp.hstack([-M, sp.csc_array(D[:, None])]),
                      sp.hstack([R, sp.csc_array((1, 1))])])
    bounds = [(0, None if not np.isfinite(c) else c) for c in CAP] + [(None, None)]
    res = linprog(np.r_[np.zeros(4), -1.0], A_ub=A_ub, b_ub=np.r_[-YMIN, B], bounds=bounds,
                  method="highs")
    assert res.status == 0
    return float(res.x[-1])


@pytest.mark.parametrize("rounds,keeps_t", [(repair.SWITCH_ROUNDS, True), (1, False)])
def test_switches_repeat_until_the_exhausted_product_is_covered(monkeypatch, rounds, keeps_t):
    """A plan making all of F with tF1 asks for 1.0 X where tX can make 0.9: consumers
    switch to tF2, whose Y takes 0.2 X per unit, so each round of switches leaves a fifth of
    the shortfall. Repeated rounds keep t = 1 (t* = 1.14 by HiGHS: t = 1 is feasible);
    one round leaves 0.02 X short, which costs t."""
    assert t_star() == pytest.approx(0.9 + 0.8 * 0.3, abs=1e-9)
    monkeypatch.setattr(repair, "SWITCH_ROUNDS", rounds)
    st = Structure(M, TECH_PRODUCT, np.ones(4))
    z0 = np.array([0.9, 0.0, 1.0, 0.0])
    z, t = repair_primal(st, R, B, CAP, YMIN, D, z0, 1.0)
    # the repaired plan is feasible at its t
    assert (M @ z - YMIN - t * D >= -1e-12).all()
    assert (z >= 0).all() and (z <= CAP + 1e-15).all() and (R @ z <= B).all()
    if keeps_t:
        assert t >= 1.0 - 1e-7
        assert z[3] == pytest.approx(0.125, rel=1e-6)  # tF1 + 0.2 tF2 = 0.9, tF1 + tF2 = 1
    else:
        assert t < 1.0 - 1e-3


def test_cover_deficits_meets_rows_a_vertex_solver_left_short():
    """Session-15 fuzzer: HiGHS left rows ~2e-7 short (within its feasibility tolerance); on a
    product with a small need that cost the achieved t 4.6e-6 and the certificate gap 4.2e-6
    on a plan called optimal. The exact backends now cover such rows by producing more."""
    from econplan.generate import generate_arrays
    from econplan.plan.repair import cover_deficits

    pb = generate_arrays(300, 2, seed=3, capacities=True, floors=True).problem()
    # an exact optimum at t = 0.8 by SciPy's HiGHS, then levels cut as a tolerance would
    rhs = pb.ymin + 0.8 * (pb.y - pb.ymin)
    lp = linprog(pb.c, A_ub=-pb.M, b_ub=-rhs, A_eq=None,
                    bounds=list(zip(np.zeros(pb.m), np.where(np.isfinite(pb.cap), pb.cap, None),
                                    strict=True)), method="highs")
    assert lp.status == 0
    z = lp.x * (1 - 2e-7)  # every row ~2e-7 short (relative)
    assert (rhs - pb.M @ z).max() > 0
    out = cover_deficits(pb.M, pb.tech_product, pb.output, pb.cap, rhs, z)
    short = np.maximum(rhs - pb.M @ out, 0.0)
    assert short.max() <= 1e-12 * max(1.0, float(np.abs(rhs).max()))
    assert (out >= z).all() and (out <= np.where(np.isfinite(pb.cap), pb.cap, np.inf)).all()
    assert np.abs(out - z).max() <= 1e-5 * max(1.0, float(z.max()))  # a hair more, not a new plan
