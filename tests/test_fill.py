"""The price-guided fill (plan/fill.py): a feasible plan from any valuations, optimal ones
when no mix of techniques is needed; checked against SciPy's HiGHS."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from econplan.generate import generate_arrays
from econplan.kernels import solve_values
from econplan.plan.certificate import fulfilment_certificate
from econplan.plan.fill import adjusted_fill, fill_plan
from econplan.plan.repair import Structure


def exact(pb):
    """(t*, p, u) of stage 1 by linprog (HiGHS dual simplex), p normalised to p·d = 1."""
    d = pb.y - pb.ymin
    A_ub = sp.vstack([sp.hstack([-pb.M, sp.csc_array(d[:, None])]),
                      sp.hstack([pb.R, sp.csc_array((pb.k, 1))])]).tocsc()
    c = np.zeros(pb.m + 1)
    c[-1] = -1.0
    bounds = [(0, None if not np.isfinite(x) else x) for x in pb.cap] + [(None, None)]
    res = linprog(c, A_ub=A_ub, b_ub=np.concatenate([-pb.ymin, pb.b]), bounds=bounds,
                  method="highs-ds")
    assert res.status == 0
    y = -res.ineqlin.marginals
    p, u = y[: pb.n], y[pb.n:]
    return float(res.x[-1]), p / (p @ d), u / (p @ d)


def _fill(pb, p, u, t):
    s = Structure(pb.M, pb.tech_product, pb.output)
    d = pb.y - pb.ymin
    out = fill_plan(s, sp.csr_array(pb.R), pb.b, pb.cap, pb.ymin, d, p, u, t)
    assert out is not None
    return out


def test_fill_at_optimal_prices_is_the_optimal_plan_without_mixes():
    """Labour the only scarce resource, no capacities: the non-substitution theorem says one
    technique per product is optimal, and the prices pick it: the fill reaches t*."""
    pb = generate_arrays(300, 3, seed=4).problem()
    b = np.where(np.arange(pb.k) == 0, pb.b, 1e12)  # only labour scarce
    pb = dataclasses.replace(pb, b=b)
    t_star, p, u = exact(pb)
    z, t = _fill(pb, p, u, 0.5 * t_star)
    assert abs(t - t_star) <= 1e-9 * t_star
    v = np.zeros(pb.m)
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z, p, u, v)
    assert cert.holds(1e-8), cert


def test_fill_with_capacities_is_feasible_and_close():
    """Capacities and floors: the optimum mixes techniques in a few products (forced by a
    second binding resource and by products whose capacities are exhausted), which the fill
    does not; its plan is feasible, below t*, and at the optimal prices not far below
    (measured here: 3.0e-3 relative; the first-order route keeps the repaired plan when it
    certifies better)."""
    pb = generate_arrays(400, 2, seed=2, capacities=True, floors=True).problem()
    t_star, p, u = exact(pb)
    z, t = _fill(pb, p, u, t_star)
    v = np.where(np.isfinite(pb.cap), np.maximum(pb.M.T @ p - pb.R.T @ u, 0.0), 0.0)
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z, p, u, v)
    assert cert.primal_residual <= 1e-9, cert
    assert cert.achieved <= t_star + 1e-9
    assert t_star - cert.achieved <= 1e-2 * t_star, (t_star, cert.achieved)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), noise=st.floats(0.0, 2.0))
def test_fill_is_feasible_whatever_the_prices(seed, noise):
    """Valuations far from optimal (optimal ones times random factors up to e^±2, or none at
    all): the plan still meets every floor, resource and capacity, at a t ≤ t*."""
    pb = _CASE["pb"]
    rng = np.random.default_rng(seed)
    p = _CASE["p"] * np.exp(noise * rng.normal(size=pb.n))
    u = _CASE["u"] * np.exp(noise * rng.normal(size=pb.k))
    z, t = _fill(pb, p, u, _CASE["t"])
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z,
                                  np.ones(pb.n) / (pb.y - pb.ymin).sum(), np.zeros(pb.k),
                                  np.zeros(pb.m))
    assert cert.primal_residual <= 1e-9, cert
    assert -1e-9 <= cert.achieved <= _CASE["t"] + 1e-9
    assert abs(cert.achieved - t) <= 1e-9 * max(1.0, t)
    # with rents on the products that run out: feasible too, and never below the plain fill
    s = Structure(pb.M, pb.tech_product, pb.output)
    za, ta = adjusted_fill(s, sp.csr_array(pb.R), pb.b, pb.cap, pb.ymin, pb.y - pb.ymin, p, u,
                           _CASE["t"])
    ca = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, za,
                                np.ones(pb.n) / (pb.y - pb.ymin).sum(), np.zeros(pb.k),
                                np.zeros(pb.m))
    assert ca.primal_residual <= 1e-9, ca
    assert t - 1e-12 <= ta <= _CASE["t"] + 1e-9
    assert abs(ca.achieved - ta) <= 1e-9 * max(1.0, ta)


def test_adjusted_fill_prices_away_the_products_that_run_out():
    """Labour and CO₂ priced together (w = labour + θ CO₂, θ from the structured start's price
    search on this economy): the plain fill stops at t 0.816 where some product's capacities
    are all used; raising those products' prices until consumers switch reaches a plan within
    1 % of HiGHS's t* (measured: 0.8834 against t* 0.8845), feasible, the gap cut ≥ 5×."""
    pb = generate_arrays(1000, 2, seed=0, capacities=True, floors=True).problem()
    t_star, _, _ = exact(pb)
    s = Structure(pb.M, pb.tech_product, pb.output)
    w = np.array([1.0, 0.0, 0.00826746])
    lam = solve_values(s.A, s.o, s.tp, sp.csr_array((pb.R.T @ w).reshape(1, -1))).values[:, 0]
    d = pb.y - pb.ymin
    R = sp.csr_array(pb.R)
    _, t_plain = fill_plan(s, R, pb.b, pb.cap, pb.ymin, d, lam, w, 0.88)
    z, t = adjusted_fill(s, R, pb.b, pb.cap, pb.ymin, d, lam, w, 0.88)
    cert = fulfilment_certificate(pb.M, pb.R, pb.b, pb.cap, pb.y, pb.ymin, z,
                                  np.ones(pb.n) / d.sum(), np.zeros(pb.k), np.zeros(pb.m))
    assert cert.primal_residual <= 1e-9, cert
    assert abs(cert.achieved - t) <= 1e-9
    assert t <= t_star + 1e-9
    assert t_star - t <= 1e-2 * t_star, (t, t_star)
    assert t_star - t <= (t_star - t_plain) / 5, (t_plain, t, t_star)


_pb = generate_arrays(200, 2, seed=9, capacities=True, floors=True).problem()
_t, _p, _u = exact(_pb)
_CASE = {"pb": _pb, "t": _t, "p": _p, "u": _u}
