"""The fused, multi-threaded Anderson sweep (econplan.threaded) against the NumPy loop and a
direct sparse solve: same iteration, same answers, honest residuals, same guards."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from econplan import threaded
from econplan.errors import EconplanError
from econplan.generate import generate_arrays
from econplan.kernels import CsrOperator, fixed_point_solve, solve_values

pytest.importorskip("numba")


@pytest.fixture
def forced(monkeypatch):
    """The threaded sweep on small systems, with two threads."""
    monkeypatch.setattr(threaded, "MIN_ROWS", 1)
    monkeypatch.setenv("ECONPLAN_THREADS", "2")


def _system(n: int, seed: int):
    g = generate_arrays(n, 1, seed=seed)
    QT = sp.csr_array(g.A.T)  # rows: techniques = products (one technique each)
    return g, QT, g.R.toarray()[0] / g.output


@pytest.mark.parametrize("n,seed", [(300, 0), (5000, 1)])
def test_threaded_equals_numpy_loop_and_direct_solve(forced, monkeypatch, n, seed):
    g, QT, rhs = _system(n, seed)
    scale = 1.0 / g.output
    op = CsrOperator(QT, "scipy", row_scale=scale)
    seen: list[tuple[int, float]] = []
    x, sweeps, res = fixed_point_solve(op, rhs, tol=1e-12,
                                       callback=lambda i, r: seen.append((i, r)))
    monkeypatch.setenv("ECONPLAN_THREADS", "0")  # the NumPy loop
    x0, sweeps0, res0 = fixed_point_solve(op, rhs, tol=1e-12)
    assert sweeps == sweeps0  # the same iteration: summation order is all that differs
    assert abs(res - res0) <= 1e-3 * res0 + 1e-15
    # against a direct solve of (I − diag(s) Qᵀ) x = rhs
    direct = spla.spsolve(sp.csc_array(sp.eye_array(n) - sp.diags_array(scale) @ QT), rhs)
    assert np.max(np.abs(x - direct)) <= 1e-10 * np.max(np.abs(direct))
    # the reported residual is recomputed, not trusted: check it from the answer
    true_res = np.linalg.norm(rhs + scale * (QT @ x) - x) / np.linalg.norm(rhs)
    assert res <= 1e-12 and true_res <= 1e-12
    assert [i for i, _ in seen] == list(range(1, sweeps + 1))
    assert seen[-1][1] == res


def test_threaded_warm_start_and_zero_rhs(forced):
    g, QT, rhs = _system(800, 2)
    op = CsrOperator(QT, "scipy", row_scale=1.0 / g.output)
    x, sweeps, _ = fixed_point_solve(op, rhs, tol=1e-11)
    x2, sweeps2, res2 = fixed_point_solve(op, rhs, x0=x, tol=1e-11)
    assert sweeps2 == 0 and res2 <= 1e-11
    np.testing.assert_array_equal(x2, x)
    z, s, r = fixed_point_solve(op, np.zeros_like(rhs), tol=1e-11)
    assert s == 0 and r == 0.0 and not z.any()


def test_threaded_values_match_serial(forced, monkeypatch):
    g = generate_arrays(3000, 2, seed=3)
    r = solve_values(g.A, g.output, g.tech_product, g.R[[0]])
    monkeypatch.setenv("ECONPLAN_THREADS", "0")
    ref = solve_values(g.A, g.output, g.tech_product, g.R[[0]])
    np.testing.assert_array_equal(r.choice, ref.choice)
    np.testing.assert_allclose(r.values, ref.values, rtol=1e-10)
    assert r.residual <= 1e-10


def test_threaded_stops_at_maxiter_with_the_residual(forced):
    g, QT, rhs = _system(600, 5)
    op = CsrOperator(QT, "scipy", row_scale=1.0 / g.output)
    with pytest.raises(EconplanError, match="did not converge.*after 3 sweeps"):
        fixed_point_solve(op, rhs, tol=1e-14, maxiter=3)


def test_chunks_cover_every_row_once():
    g, QT, _ = _system(2000, 4)
    for k in (1, 2, 7, 64, 5000):
        chunks = threaded._chunks(QT.indptr[:-1], QT.indptr[1:], k)
        rows = np.concatenate([np.arange(a, b) for a, b in chunks])
        np.testing.assert_array_equal(rows, np.arange(2000))


def test_off_switch_and_threshold(monkeypatch):
    monkeypatch.setenv("ECONPLAN_THREADS", "0")
    assert not threaded.available(10**7)
    monkeypatch.setenv("ECONPLAN_THREADS", "2")
    assert threaded.available(threaded.MIN_ROWS)
    assert not threaded.available(threaded.MIN_ROWS - 1)


@pytest.mark.parametrize("width,scaled", [(3, True), (8, False)])
def test_block_sweep_equals_numpy_loop_and_direct_solve(width, scaled, monkeypatch):
    """A block of right-hand sides (n, w) through the fused passes, in the calling thread and
    on two threads: the NumPy loop's iteration on the flattened block (one set of Anderson
    weights), the answers of a direct solve."""
    g, QT, _ = _system(2000, 3)
    rng = np.random.default_rng(7)
    Y = rng.random((2000, width)) * rng.lognormal(0.0, 2.0, width)  # columns of mixed size
    scale = 1.0 / g.output if scaled else None
    op = CsrOperator(QT, "scipy", row_scale=scale)
    monkeypatch.setenv("ECONPLAN_THREADS", "0")
    x0, sweeps0, res0 = fixed_point_solve(op, Y, tol=1e-13)
    direct = spla.splu(sp.csc_array(sp.eye_array(2000) - (
        sp.diags_array(scale) @ QT if scaled else QT))).solve(Y)
    for n_threads in (1, 2):
        monkeypatch.setenv("ECONPLAN_THREADS", "2")
        x, sweeps, res = threaded.anderson_solve(*op.gather_arrays(), Y, None, 1e-13, 500, 3,
                                                 None, n_threads=n_threads)
        assert x.shape == Y.shape
        assert sweeps == sweeps0 and abs(res - res0) <= 1e-3 * res0 + 1e-16
        assert np.max(np.abs(x - x0)) <= 1e-12 * np.max(np.abs(x0))
        assert np.max(np.abs(x - direct)) <= 1e-11 * np.max(np.abs(direct))
        Mx = QT @ x
        true_res = np.linalg.norm(Y + (scale[:, None] * Mx if scaled else Mx) - x)
        assert true_res <= 1e-13 * np.linalg.norm(Y) and res <= 1e-13
    zero, sw, r = threaded.anderson_solve(*op.gather_arrays(), np.zeros((2000, width)), None,
                                          1e-13, 500, 3, None, n_threads=1)
    assert zero.shape == (2000, width) and sw == 0 and r == 0.0 and not zero.any()


def test_leontief_solve_chunks_on_threads_give_the_serial_answer(monkeypatch):
    """Many columns: chunks solved side by side (one per thread) give the NumPy loop's
    answers, and the same bits with two or three threads (each chunk's iteration is its own)."""
    from econplan.plan.repair import CHUNK_BYTES, leontief_solve

    g, QT, _ = _system(3000, 4)
    width = max(4, int(CHUNK_BYTES // (8 * 3000)))
    Y = np.random.default_rng(1).random((3000, 3 * width + 5))  # three chunks and a remainder
    monkeypatch.setenv("ECONPLAN_THREADS", "0")
    serial = leontief_solve(QT, Y)
    monkeypatch.setenv("ECONPLAN_THREADS", "2")
    two = leontief_solve(QT, Y)
    monkeypatch.setenv("ECONPLAN_THREADS", "3")
    three = leontief_solve(QT, Y)
    np.testing.assert_array_equal(two, three)
    assert np.max(np.abs(two - serial)) <= 1e-13 * np.max(np.abs(serial))
    direct = spla.splu(sp.csc_array(sp.eye_array(3000) - QT)).solve(Y)
    assert np.max(np.abs(two - direct)) <= 1e-11 * np.max(np.abs(direct))
