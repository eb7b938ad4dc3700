"""Fast kernels (econplan.kernels) against dense NumPy and SciPy direct solves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from econplan.errors import EconplanError
from econplan.generate import generate_arrays
from econplan.kernels import (
    CsrOperator,
    available_engines,
    fixed_point_solve,
    gross_activities,
    solve_left,
    solve_values,
)


def dense_values(g, choice):
    """λ for all resources by a dense solve of λ (B − A)_c = r_c."""
    B = np.zeros((g.n, g.m))
    B[g.tech_product, np.arange(g.m)] = g.output
    Mc = (B - g.A.toarray())[:, choice]
    return np.linalg.solve(Mc.T, g.R.toarray()[:, choice].T)  # n × k


@pytest.mark.parametrize("n,K,seed", [(400, 1, 0), (300, 3, 1), (3000, 1, 2)])
def test_values_match_dense(n, K, seed):
    g = generate_arrays(n, K, seed=seed)
    r = solve_values(g.A, g.output, g.tech_product, g.R, engine="scipy")
    ref = dense_values(g, r.choice)
    assert np.max(np.abs(r.values - ref)) <= 1e-10 * np.max(np.abs(ref))
    assert r.residual <= 1e-10
    np.testing.assert_array_equal(r.choice, g.choice)  # the generator's own value iteration


def test_alternatives_equal_brute_force():
    g = generate_arrays(6, 2, seed=3)
    best = None
    for pick in itertools.product(range(2), repeat=6):
        choice = np.arange(6) * 2 + np.array(pick)
        lam = dense_values(g, choice)[:, 0]
        best = lam if best is None else np.minimum(best, lam)
    r = solve_values(g.A, g.output, g.tech_product, g.R, engine="scipy")
    np.testing.assert_allclose(r.values[:, 0], best, rtol=1e-10)


def test_ties_go_to_lowest_technique_id():
    g = generate_arrays(30, 2, seed=0)
    # make technique b an exact copy of a for every product: a must be chosen
    A = g.A.tolil()
    A[:, 1::2] = A[:, 0::2]
    R = g.R.tolil()
    R[:, 1::2] = R[:, 0::2]
    out = g.output.copy()
    out[1::2] = out[0::2]
    r = solve_values(sp.csc_array(A), out, g.tech_product, sp.csr_array(R), engine="scipy")
    np.testing.assert_array_equal(r.choice, np.arange(30) * 2)


@pytest.mark.parametrize("engine", ["scipy", "numba", "torch"])
def test_engines_agree(engine):
    if engine not in available_engines():
        pytest.skip(f"{engine} not importable here")
    g = generate_arrays(500, 2, seed=4)
    ref = solve_values(g.A, g.output, g.tech_product, g.R, engine="scipy")
    r = solve_values(g.A, g.output, g.tech_product, g.R, engine=engine)
    np.testing.assert_array_equal(r.choice, ref.choice)
    np.testing.assert_allclose(r.values, ref.values, rtol=1e-10)
    assert r.engine == engine


def test_solve_left_matches_spsolve():
    g = generate_arrays(2000, 1, seed=5)
    B = sp.csc_array((g.output, (g.tech_product, np.arange(g.m))), shape=(g.n, g.m))
    Mc = sp.csc_array(B - g.A)
    rhs = g.R.toarray()
    x = solve_left(Mc, rhs, tol=1e-13)
    ref = np.vstack([spla.spsolve(sp.csc_matrix(Mc.T), r) for r in rhs])
    assert np.max(np.abs(x - ref)) <= 1e-11 * np.max(np.abs(ref))


def test_gross_activities_match_dense():
    g = generate_arrays(800, 2, seed=6)
    z = gross_activities(g.A, g.output, g.choice, g.target, engine="scipy")
    B = np.zeros((g.n, g.m))
    B[g.tech_product, np.arange(g.m)] = g.output
    Mc = (B - g.A.toarray())[:, g.choice]
    np.testing.assert_allclose(z, np.linalg.solve(Mc, g.target), rtol=1e-9, atol=1e-12)


def test_unproductive_is_reported():
    g = generate_arrays(300, 1, seed=8)
    A = sp.csc_array(g.A * 3.0)  # column sums up to 1.8 in the value scale: not productive
    with pytest.raises(EconplanError, match="not productive"):
        solve_values(A, g.output, g.tech_product, g.R, engine="scipy")


def test_residual_is_honest():
    g = generate_arrays(1000, 1, seed=7)
    from econplan.kernels import chosen_input_matrix

    Q = chosen_input_matrix(g.A, g.output, np.arange(g.n))
    op = CsrOperator(Q.T, "scipy")
    rhs = np.asarray(g.R.toarray()[0] / g.output)
    x, sweeps, res = fixed_point_solve(op, rhs, tol=1e-10)
    true = np.linalg.norm(rhs + Q.T @ x - x) / np.linalg.norm(rhs)
    assert true <= 1e-10 and abs(true - res) <= 1e-12
    assert sweeps < 30  # Anderson beats the ~45 plain Neumann sweeps at ρ ≈ 0.5


def test_screened_policy_iteration_ends_on_the_exact_policy():
    """cheapest_policy screens with loose solves first: its answer must still be the exact
    fixed point λ_i = min_j (c_j + λ·A_j)/o_j (checked against a dense solve and every
    technique), with ties to the lowest index."""
    from econplan.kernels import _group_index, cheapest_policy

    g = generate_arrays(2500, 3, seed=5)
    cost = np.asarray(g.R[[2]].toarray()).ravel() + 0.3 * np.asarray(g.R[[0]].toarray()).ravel()
    order, starts = _group_index(np.asarray(g.tech_product, dtype=np.int64), g.n)
    choice, lam, _, its = cheapest_policy(sp.csc_array(g.A), g.output, cost, order, starts)
    assert its >= 2
    B = np.zeros((g.n, g.m))
    B[g.tech_product, np.arange(g.m)] = g.output
    Mc = (B - g.A.toarray())[:, choice]
    exact = np.linalg.solve(Mc.T, cost[choice])
    assert np.max(np.abs(lam - exact)) <= 1e-10 * np.max(np.abs(exact))
    unit = (cost + g.A.T @ exact) / g.output
    best = unit.reshape(g.n, 3).min(axis=1)
    assert np.all(unit[choice] <= best + 1e-11 * np.abs(best))
