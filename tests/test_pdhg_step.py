"""The fused PDHG passes (plan/pdhg_step.py) against the NumPy step they replace, and the
rewritten equilibration against the textbook one (diagonal matrix products)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from econplan import threaded
from econplan.plan import pdhg_step
from econplan.plan.pdhg import scale_problem, solve_lp
from test_pdhg import random_lp

pytestmark = pytest.mark.skipif(not threaded.numba_importable(), reason="numba not installed")


def _numpy_step(K, x, y, kx, kty, c, q, lb, ub, tau, sigma):
    """The NumPy step of pdhg.solve_lp, written out."""
    xn = np.minimum(np.maximum(x - tau * (c - kty), lb), ub)
    kxn = K @ xn
    yn = np.maximum(y + sigma * (q - 2.0 * kxn + kx), 0.0)
    ktyn = K.T @ yn
    dx, dy = xn - x, yn - y
    return xn, kxn, yn, ktyn, dx @ dx, dy @ dy, dy @ (kxn - kx)


def _case(seed: int, nr: int = 700, nc: int = 1100):
    rng = np.random.default_rng(seed)
    K = sp.random_array((nr, nc), density=0.02, rng=rng, format="csr")
    K.data = rng.normal(0, 1, K.nnz)
    K = sp.csr_array((K.data, K.indices.astype(np.int32), K.indptr.astype(np.int32)),
                     shape=K.shape)
    x = rng.uniform(0, 1, nc)
    y = np.maximum(rng.normal(0, 1, nr), 0)
    c, q = rng.normal(0, 1, nc), rng.normal(0, 1, nr)
    lb = np.zeros(nc)
    ub = np.where(rng.random(nc) < 0.5, rng.uniform(0.2, 1.5, nc), np.inf)
    return K, x, y, K @ x, K.T @ y, c, q, lb, ub


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fused_passes_are_the_numpy_step(seed, n_threads):
    K, x, y, kx, kty, c, q, lb, ub = _case(seed)
    tau, sigma, tau2, a = 0.37, 0.81, 0.29, 0.125
    f = pdhg_step.FusedStep(K, n_threads=n_threads)
    xn, dxdx = f.primal(x, kty, c, lb, ub, tau)
    kxn, yn, dydy, dykd = f.dual(xn, y, kx, q, sigma)
    avgs = tuple(v.copy() for v in (x, y, kx, kty))
    avgs0 = tuple(v.copy() for v in avgs)
    ktyn, x2, dx2 = f.transposed(yn, xn, kxn, c, lb, ub, tau2, avgs, a)
    ref = _numpy_step(K, x, y, kx, kty, c, q, lb, ub, tau, sigma)
    # elementwise the same operations in the same order: the same bits
    np.testing.assert_array_equal(xn, ref[0])
    np.testing.assert_array_equal(kxn, ref[1])  # SciPy's CSR order
    np.testing.assert_array_equal(yn, ref[2])
    np.testing.assert_allclose(ktyn, ref[3], rtol=1e-13, atol=1e-13 * np.abs(ref[3]).max())
    for got, want in zip((dxdx, dydy, dykd), ref[4:], strict=True):
        assert got == pytest.approx(want, rel=1e-12)
    # the next step's primal update from Kᵀy', and the running averages, in place
    x2_ref = np.minimum(np.maximum(xn - tau2 * (c - ktyn), lb), ub)
    np.testing.assert_array_equal(x2, x2_ref)
    assert dx2 == pytest.approx(float((x2_ref - xn) @ (x2_ref - xn)), rel=1e-12)
    for avg, old, v in zip(avgs, avgs0, (xn, yn, kxn, ktyn), strict=True):
        np.testing.assert_array_equal(avg, old + a * (v - old))


def test_thread_count_does_not_change_the_bits():
    """Fixed chunks with their own partial sums: 1 to 4 threads, the same iterates."""
    K, c, q, ub = random_lp(5, nr=400, nc=700)
    runs = []
    for t in (1, 2, 3, 4):
        f = pdhg_step.FusedStep(sp.csr_array(K), n_threads=t)
        x, y = np.zeros(K.shape[1]), np.zeros(K.shape[0])
        kx, kty = K @ x, K.T @ y
        for _ in range(5):
            xn, _ = f.primal(x, kty, c, np.zeros_like(c), ub, 0.1)
            kx, y, s1, s2 = f.dual(xn, y, kx, q, 0.1)
            avgs = tuple(np.zeros_like(v) for v in (x, y, kx, kty))
            kty, _, s3 = f.transposed(y, xn, kx, c, np.zeros_like(c), ub, 0.1, avgs, 0.5)
            x = xn
        runs.append((x, y, kx, kty, s1, s2, s3))
    for other in runs[1:]:
        for u, v in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solve_lp_with_the_fused_passes_matches_linprog(seed, monkeypatch):
    monkeypatch.setattr(pdhg_step, "MIN_ENTRIES", 0)
    K, c, q, ub = random_lp(seed)
    r = solve_lp(K, c, q, np.zeros(len(c)), ub, tol=1e-9)
    assert r.converged and r.engine == "numba (fused step)" and r.restarts > 0
    ref = linprog(c, A_ub=-K, b_ub=-q, method="highs",
                  bounds=[(0, None if not np.isfinite(u) else u) for u in ub])
    assert ref.status == 0
    assert abs(c @ r.x - ref.fun) <= 1e-6 * max(1.0, abs(ref.fun))
    assert np.max(np.maximum(q - K @ r.x, 0)) <= 1e-6 * (1 + np.linalg.norm(q))
    # the explicit "scipy" engine keeps the NumPy step, to the same optimum
    s = solve_lp(K, c, q, np.zeros(len(c)), ub, tol=1e-9, engine="scipy")
    assert s.converged and s.engine == "scipy"
    assert abs(c @ s.x - c @ r.x) <= 1e-6 * max(1.0, abs(ref.fun))


def test_fused_passes_off_below_the_threshold_or_with_no_threads(monkeypatch):
    assert not pdhg_step.usable(pdhg_step.MIN_ENTRIES - 1)
    assert pdhg_step.usable(pdhg_step.MIN_ENTRIES)
    monkeypatch.setenv("ECONPLAN_THREADS", "0")
    assert not pdhg_step.usable(10 * pdhg_step.MIN_ENTRIES)


def _textbook_scaling(K: sp.csr_array, passes: int = 10):
    """Ruiz ∞-norm passes then Pock–Chambolle, by diagonal matrix products (the definition)."""
    K = sp.csr_array(abs(K))
    dr, dc = np.ones(K.shape[0]), np.ones(K.shape[1])

    def inv_sqrt(v):
        return 1.0 / np.sqrt(np.where(v > 0, v, 1.0))

    for _ in range(passes):
        sr = inv_sqrt(K.max(axis=1).toarray().ravel())
        sc = inv_sqrt(K.max(axis=0).toarray().ravel())
        K = sp.csr_array(sp.diags_array(sr) @ K @ sp.diags_array(sc))
        dr, dc = dr * sr, dc * sc
    sr = inv_sqrt(np.asarray(K.sum(axis=1)).ravel())
    sc = inv_sqrt(np.asarray(K.sum(axis=0)).ravel())
    return dr * sr, dc * sc


@pytest.mark.parametrize("seed", [0, 3])
def test_equilibration_is_the_textbook_one(seed):
    rng = np.random.default_rng(seed)
    K = sp.random_array((300, 500), density=0.03, rng=rng, format="csr")
    K.data = rng.lognormal(0, 3, K.nnz) * rng.choice([-1, 1], K.nnz)
    dr, dc = scale_problem(K)
    er, ec = _textbook_scaling(K)
    np.testing.assert_allclose(dr, er, rtol=1e-12)
    np.testing.assert_allclose(dc, ec, rtol=1e-12)
    # equilibrated: every row's and column's largest entry near 1
    S = abs(sp.diags_array(dr) @ K @ sp.diags_array(dc))
    assert np.all(S.max(axis=1).toarray() <= 1.0 + 1e-9)


def test_a_restricted_try_gets_a_multiple_of_the_solve_so_far(monkeypatch):
    """A restricted-LP try may take RX_ELAPSED times the solve's time so far (at least
    RX_MIN_SECONDS), whatever the time left: an LP HiGHS cannot finish then costs a bounded
    multiple of the solve (a fuzzed economy spent 88 + 39 s in two unfinished tries, each 30 %
    of the time left, where PDHG needed ~10 s). From an iterate with certified gap above
    RX_GOOD_GAP (min-labour's excepted, often exact from the labour-cheapest plan) a try may
    take no more than the time so far (at least RX_ROUGH_MIN_SECONDS): such tries mostly end
    'infeasible' (a wrong guess) after 20-60 s at 1e4 x 2."""
    import time
    from types import SimpleNamespace

    from econplan.generate import generate_arrays
    from econplan.plan import firstorder
    from econplan.plan import restricted as rx
    from econplan.plan.base import SolverOptions

    pb = generate_arrays(150, 2, seed=11, capacities=True, floors=True).problem()
    seen: list[float] = []

    def fake_finish(*args, time_limit, **kwargs):
        seen.append(time_limit)
        rx.last_reason = "recorded"
        return None

    monkeypatch.setattr(rx, "restricted_finish", fake_finish)
    x, y = np.zeros(pb.m + 1), np.ones(pb.n + pb.k)
    for spent in (0.0, 100.0):
        run = firstorder._Run(pb, SolverOptions(time_limit=1000.0))
        run.t0 = time.perf_counter() - spent  # as if the solve had run that long
        for gap, min_cost in ((1e-2, False), (1e-4, False), (1e-2, True)):
            run._restricted(x, y, None, None, None, None, SimpleNamespace(duality_gap=gap),
                            min_cost=min_cost)
    fresh, later = seen[:3], seen[3:]
    assert fresh[0] == pytest.approx(firstorder.RX_ROUGH_MIN_SECONDS, rel=1e-2)
    for b in fresh[1:]:
        assert b == pytest.approx(firstorder.RX_MIN_SECONDS, rel=1e-2)
    assert later[0] == pytest.approx(100.0, rel=1e-2)
    for b in later[1:]:
        assert b == pytest.approx(firstorder.RX_ELAPSED * 100.0, rel=1e-2)
    assert firstorder.RX_ELAPSED * 100.0 < 900.0  # not the time left


def test_a_failed_restricted_try_is_tried_again_when_the_gap_falls_or_time_doubles():
    """After a failed try the next waits for the certified gap to fall RX_RETRY_GAP-fold, or
    for the solve to have run RX_RETRY_TIME times as long as when that try ended: a repaired
    gap can stall for good (a fuzzed economy sat at 5.24e-4 from 1 s to its 120 s limit)."""
    import time
    from types import SimpleNamespace

    from econplan.generate import generate_arrays
    from econplan.plan import firstorder
    from econplan.plan.base import SolverOptions

    pb = generate_arrays(150, 2, seed=11, capacities=True, floors=True).problem()
    run = firstorder._Run(pb, SolverOptions(time_limit=1000.0))
    gap = SimpleNamespace(duality_gap=5e-4)
    assert run._rx_due(gap)  # none failed yet
    run.t0 = time.perf_counter() - 10.0  # a try failed 10 s into the solve
    run._rx_failed(gap)
    assert not run._rx_due(gap)
    assert not run._rx_due(SimpleNamespace(duality_gap=5e-4 / firstorder.RX_RETRY_GAP * 1.01))
    assert run._rx_due(SimpleNamespace(duality_gap=5e-4 / firstorder.RX_RETRY_GAP * 0.99))
    run.t0 = time.perf_counter() - 10.0 * firstorder.RX_RETRY_TIME - 1.0  # time has doubled
    assert run._rx_due(gap)
    run.opt = SolverOptions(time_limit=1000.0, extra={"restricted": False})
    assert not run._rx_due(gap)


def _no_smaller(*args, **kwargs):
    """A restricted-LP try that reports "no smaller than the economy" (stands in for
    :func:`econplan.plan.restricted.restricted_finish`)."""
    from econplan.plan import restricted as rx

    rx.last_reason = f"{rx.NOT_SMALLER}: forced"


def test_the_whole_lp_goes_to_highs_when_the_restricted_lp_is_no_smaller(monkeypatch):
    """On an economy unlike the generator's (748 products, 1,879 techniques, a third
    capped, fuzz seed 113) over half the techniques were uncertain after PDHG's first run on
    one host: the route handed the whole sparse LP to HiGHS instead of the dense restricted
    LP, and the plan was optimal at SciPy's HiGHS t* (the dense restricted LP, boxed, took 5 s
    there; the whole LP 0.1 s). Which iterate PDHG reaches depends on the host's arithmetic
    (on a Zen 5 host its repairs certified that plan before any restricted try), so the try is
    made here from the route's structured start, the restricted LP forced "no smaller than
    the economy": the whole LP's plan is kept, certified, at SciPy's t*."""
    from econplan.plan import firstorder
    from econplan.plan import restricted as rx
    from econplan.plan.base import SolverOptions
    from econplan.testing import odd_economy

    calls: list[bool] = []
    whole = firstorder._Run._whole_lp

    def spy(self, seconds, min_cost):
        out = whole(self, seconds, min_cost)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(rx, "restricted_finish", _no_smaller)
    monkeypatch.setattr(firstorder._Run, "_whole_lp", spy)
    pb = odd_economy(113, 748).problem()
    run = firstorder._Run(pb, SolverOptions(time_limit=120.0))
    z, p, u, v, cert = run._structured_start()
    assert cert.duality_gap > 1e-3  # the start is far from the optimum
    x = np.r_[z, cert.achieved]
    y = np.zeros(pb.n + pb.k)
    z2, _, _, _, cert2 = run._restricted(x, y, z, p, u, v, cert)
    assert calls == [True]
    assert cert2.holds(1e-6), cert2
    assert cert2.achieved == pytest.approx(_scipy_t(pb), rel=1e-7)
    assert z2 is not z


def _scipy_t(pb) -> float:
    """t* by SciPy's HiGHS on the whole stage-1 LP, at tight tolerances."""
    d = pb.y - pb.ymin
    ref = linprog(np.r_[np.zeros(pb.m), -1.0],
                  A_ub=sp.vstack([sp.hstack([-pb.M, sp.csc_array(d.reshape(-1, 1))]),
                                  sp.hstack([pb.R, sp.csc_array((pb.k, 1))])]),
                  b_ub=np.r_[-pb.ymin, pb.b], method="highs",
                  bounds=[(0, c if np.isfinite(c) else None) for c in pb.cap] + [(None, None)],
                  options={"primal_feasibility_tolerance": 1e-10,  # the default 1e-7 is
                           "dual_feasibility_tolerance": 1e-10})  # 2e-6 off t* here
    assert ref.status == 0
    return float(-ref.fun)


def test_the_whole_lp_is_tried_once_per_run(monkeypatch):
    """The whole LP does not depend on PDHG's iterate, so after one try HiGHS is not handed it
    again (a fuzzed 8,584-product economy spent 25 s and then 143 s on two unfinished tries
    while PDHG certified a second after each). Forced: the restricted LP "no smaller than the
    economy" and the whole LP unfinished, three tries in a row from one run; above
    ``WHOLE_LP_UNTIL`` techniques none."""
    from types import SimpleNamespace

    from econplan.generate import generate_arrays
    from econplan.plan import firstorder
    from econplan.plan import restricted as rx
    from econplan.plan.base import SolverOptions

    calls: list[bool] = []

    def unfinished(self, seconds, min_cost):
        calls.append(min_cost)
        rx.last_reason = f"{rx.last_reason}; the whole LP by HiGHS: time_limit"
        return None

    monkeypatch.setattr(rx, "restricted_finish", _no_smaller)
    monkeypatch.setattr(firstorder._Run, "_whole_lp", unfinished)
    pb = generate_arrays(150, 2, seed=11, capacities=True, floors=True).problem()
    run = firstorder._Run(pb, SolverOptions(time_limit=1000.0))
    z = np.zeros(pb.m)
    x, y = np.r_[z, 0.0], np.zeros(pb.n + pb.k)
    p, u, v = np.zeros(pb.n), np.zeros(pb.k), np.zeros(pb.m)
    cert = SimpleNamespace(duality_gap=1e-3)
    for _ in range(3):
        out = run._restricted(x, y, z, p, u, v, cert)
        assert out[0] is z and out[4] is cert  # nothing better: the iterate's plan is kept
    assert calls == [False]
    assert firstorder._Run(pb, SolverOptions(time_limit=1000.0))._restricted(
        x, y, z, p, u, v, cert)[0] is z and calls == [False, False]  # a new run: a new try
    monkeypatch.setattr(firstorder, "WHOLE_LP_UNTIL", pb.m - 1)  # beyond HiGHS's reach: none
    assert firstorder._Run(pb, SolverOptions(time_limit=1000.0))._restricted(
        x, y, z, p, u, v, cert)[0] is z and calls == [False, False]
