"""Product valuations are marginal costs (DESIGN.md, "Valuations"), whatever the backend.

Checked against independent computations: labour values by plain dense value iteration
(NumPy, not econplan's solver), and stage 2's dual inequalities recomputed from the tables.
"""

from __future__ import annotations

import numpy as np
import pytest

from econplan import Economy
from econplan.plan.valuation import raise_free_prices
from test_random_economies import _random_economy

SOLVERS = ["highs", "fast", "pdhg"]


def _labour_only(seed: int, weight: float = 1.0) -> Economy:
    """A random economy (test_random_economies) with labour the only resource, no
    capacities and no floors: labour alone binds, so valuations must equal labour values."""
    t = dict(_random_economy(seed).tables)
    lab = t["resources"]["id"].iloc[0]
    t["resources"] = t["resources"].iloc[:1]
    t["resource_use"] = t["resource_use"][t["resource_use"]["resource"] == lab]
    t["techniques"] = t["techniques"].assign(capacity=np.nan)
    t["needs"] = t["needs"].assign(floor=0.0)
    meta = {"name": f"labour only {seed}", "period": "p"}
    if weight != 1.0:
        meta["costs"] = {lab: weight}
    return Economy.from_tables(meta, t)


def _dense_labour_values(e: Economy) -> np.ndarray:
    """λ_i = min_j (r_j + λ·A_j) / o_j by plain value iteration on dense arrays."""
    A = e.A.toarray()
    r = np.asarray(e.R.toarray()[0])
    lam = np.zeros(e.n_products)
    for _ in range(5000):
        unit = (r + lam @ A) / e.output
        new = np.full(e.n_products, np.inf)
        np.minimum.at(new, e.tech_product, unit)
        if np.abs(new - lam).max() <= 1e-14 * max(1.0, np.abs(new).max()):
            return new
        lam = new
    raise AssertionError("value iteration did not converge")


@pytest.mark.parametrize("seed", [16, 56, 3, 7])
@pytest.mark.parametrize("solver", SOLVERS)
def test_valuations_equal_labour_values_when_labour_alone_binds(seed, solver):
    # seeds 16 and 56: HiGHS left a product nothing makes, uses or needs at 6.04 and 7.21
    # against labour values 8.56 and 10.67 (its row's dual is degenerate)
    e = _labour_only(seed)
    plan = e.plan(solver=solver)
    assert plan.ok, plan.summary
    lam = _dense_labour_values(e)
    got = plan.products["valuation"].to_numpy()
    np.testing.assert_allclose(got, lam, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("solver", SOLVERS)
def test_valuations_are_in_cost_units(solver):
    # labour weighted 2 in the resource-minimising stage: valuations are 2 × labour values
    # (the first-order route's stage-2 shortcut divided by the weight instead)
    e = _labour_only(5, weight=2.0)
    plan = e.plan(solver=solver)
    assert plan.ok, plan.summary
    np.testing.assert_allclose(plan.products["valuation"].to_numpy(),
                               2.0 * _dense_labour_values(e), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("solver", SOLVERS)
def test_stage_two_duals_are_dual_feasible_and_complementary(seed, solver):
    # capacities, several resources, floors: the resource-minimising stage's duals must
    # satisfy price·M_j − ρ·R_j − v_j ≤ c_j (SolverResult's convention, which the valuations
    # and the removal of unmade products rely on), and hold with equality on techniques that
    # run strictly inside their bounds
    e = _random_economy(seed)
    plan = e.plan(solver=solver)
    if not plan.ok:
        pytest.skip(f"status {plan.status}")
    r = plan.result
    price = plan.products["valuation"].to_numpy()
    rho = np.asarray(r.resource_price)
    cp = np.asarray(r.capacity_price)
    c = np.asarray(e.R.T @ e.cost)
    lhs = e.M.T @ price - e.R.T @ rho - cp - c
    scale = np.abs(e.M).T @ np.abs(price) + e.R.T @ (rho + e.cost) + np.abs(cp) + 1e-12
    assert (lhs <= 1e-6 * scale).all(), (lhs / scale).max()
    assert (price >= -1e-12).all() and (rho >= -1e-12).all() and (cp >= -1e-12).all()
    z = r.z
    zmax = max(1.0, float(np.abs(z).max()))
    cap = np.asarray(e.cap)
    finite = np.where(np.isfinite(cap), cap, np.inf)
    at_cap = z >= finite - 1e-6 * np.maximum(np.where(np.isfinite(cap), cap, 1.0), 1.0)
    inside = (z > 1e-6 * zmax) & ~at_cap
    assert (np.abs(lhs[inside]) <= 1e-5 * scale[inside]).all(), np.abs(lhs / scale)[inside].max()


def test_raise_reaches_the_least_unit_cost_through_a_chain():
    # products 0 <- 1 <- 2 (0 uses 1, 1 uses 2), none made: prices rise along the chain;
    # product 3 has no technique and keeps its price
    import scipy.sparse as sp

    A = sp.csc_array(np.array([[0, 0, 0.0], [0.5, 0, 0], [0, 0.25, 0], [0, 0, 0]]))
    out = np.ones(3)
    tp = np.array([0, 1, 2])
    unit = np.array([1.0, 2.0, 4.0])
    p = raise_free_prices(A, out, tp, unit, np.zeros(4), np.ones(4, bool))
    np.testing.assert_allclose(p, [1 + 0.5 * (2 + 0.25 * 4), 2 + 0.25 * 4, 4.0, 0.0])
    # a product not free keeps its price, and its users' unit costs see it
    p = raise_free_prices(A, out, tp, unit, np.array([0, 0, 10.0, 0]),
                          np.array([True, True, False, True]))
    np.testing.assert_allclose(p, [1 + 0.5 * (2 + 2.5), 2 + 2.5, 10.0, 0.0])
