"""The compiled passes over the chosen techniques (econplan.chosen), forced on small economies
and checked against SciPy's own indexing, NumPy's argmin and direct sparse solves."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from econplan import chosen, threaded
from econplan.generate import generate_arrays
from econplan.kernels import (
    _group_index,
    chosen_input_matrix,
    fixed_point_solve,
    grouped_argmin,
)

pytest.importorskip("numba")


@pytest.fixture
def compiled(monkeypatch):
    """Every size takes the compiled passes."""
    monkeypatch.setattr(chosen, "MIN_ENTRIES", 0)
    monkeypatch.setattr(chosen, "MIN_TECHNIQUES", 0)


def _reference_q(g, choice) -> sp.csc_array:
    Q = sp.csc_array(sp.csc_array(g.A)[:, choice] @ sp.diags_array(1.0 / g.output[choice]))
    Q.sort_indices()
    return Q


@pytest.mark.parametrize("rows", [False, True])
def test_compiled_gather_equals_scipy_indexing(compiled, monkeypatch, rows):
    g = generate_arrays(700, 3, seed=4)
    choice = np.arange(g.n) * 3 + np.random.default_rng(2).integers(0, 3, g.n)
    ref = _reference_q(g, choice)
    ref = sp.csr_array(ref) if rows else ref
    ref.sort_indices()
    Q = chosen_input_matrix(g.A, g.output, choice, rows=rows)
    assert Q.format == ("csr" if rows else "csc")
    np.testing.assert_array_equal(Q.indptr, ref.indptr)
    np.testing.assert_array_equal(Q.indices, ref.indices)
    np.testing.assert_array_equal(Q.data, ref.data)  # bit for bit: the same products
    monkeypatch.setattr(chosen, "MIN_ENTRIES", 10**12)  # the NumPy gather: the same matrix
    assert (chosen_input_matrix(g.A, g.output, choice, rows=rows) != Q).nnz == 0


def test_chosen_columns_follow_every_change_of_choice():
    """Slots rewritten only where the choice changed still hold exactly Q (as Qᵀ's rows, tails
    of explicit zeros), through a sequence of changes of every size."""
    g = generate_arrays(900, 3, seed=6)
    cc = chosen.ChosenColumns(sp.csc_array(g.A), g.output, g.tech_product, g.n)
    rng = np.random.default_rng(3)
    choice = np.arange(g.n) * 3
    for frac in (1.0, 0.01, 0.3, 0.0, 1.0):
        flip = rng.random(g.n) < frac
        choice = np.where(flip, np.arange(g.n) * 3 + rng.integers(0, 3, g.n), choice)
        expected = g.n if cc.choice is None else int((choice != cc.choice).sum())
        assert cc.update(choice) == expected
        QT = cc.transposed("scipy").M
        assert (sp.csr_array(QT) != sp.csr_array(_reference_q(g, choice).T)).nnz == 0
        lengths = np.diff(sp.csc_array(g.A).indptr)[choice]
        np.testing.assert_array_equal(cc.ends - cc.slot[:-1], lengths)
        assert not cc.data[np.concatenate([np.arange(e, s) for e, s in
                                           zip(cc.ends, cc.slot[1:], strict=True)])].any()


@pytest.mark.parametrize("threads", ["0", "2"])
def test_values_solve_over_the_slots(monkeypatch, threads):
    """The slot operator in the NumPy loop and in the threaded sweep (which reads only
    ``slot[i]:ends[i]``) gives the direct solve's λ."""
    monkeypatch.setattr(threaded, "MIN_ROWS", 1)
    monkeypatch.setenv("ECONPLAN_THREADS", threads)
    g = generate_arrays(1500, 2, seed=9)
    cc = chosen.ChosenColumns(sp.csc_array(g.A), g.output, g.tech_product, g.n)
    choice = g.choice
    cc.update(choice)
    op = cc.transposed()
    rhs = g.R.toarray()[0][choice] / g.output[choice]
    lam, _, res = fixed_point_solve(op, rhs, tol=1e-12)
    Q = _reference_q(g, choice)
    direct = spla.spsolve(sp.csc_array(sp.eye_array(g.n) - Q.T), rhs)
    assert res <= 1e-12
    assert np.max(np.abs(lam - direct)) <= 1e-10 * np.max(np.abs(direct))


def test_compiled_argmin_keeps_the_tie_rule(compiled, monkeypatch):
    """Per product the lowest technique index within rtol of the least cost: exact ties,
    near ties inside and outside rtol, shuffled technique order, groups of different size."""
    rng = np.random.default_rng(5)
    n = 400
    tp = np.repeat(np.arange(n), rng.integers(1, 5, n))
    rng.shuffle(tp)
    cost = np.round(rng.random(len(tp)) * 4) / 4  # many exact ties
    cost[::7] *= 1 + 1e-13  # within rtol of a tie
    cost[::11] *= 1 + 1e-9  # outside it
    order, starts = _group_index(tp, n)
    got = grouped_argmin(cost, order, starts)
    monkeypatch.setattr(chosen, "MIN_TECHNIQUES", 10**12)
    want = grouped_argmin(cost, order, starts)
    np.testing.assert_array_equal(got, want)
    for i in range(n):  # and from first principles
        js = np.nonzero(tp == i)[0]
        low = cost[js].min()
        assert got[i] == js[cost[js] <= low + 1e-12 * abs(low)].min()


def test_compiled_argmin_refuses_an_empty_group(compiled):
    """A product with no technique (an empty group) is an error, not a read past its group."""
    order = np.arange(4)
    with pytest.raises(ValueError, match="without techniques"):
        grouped_argmin(np.ones(4), order, np.array([0, 2, 4]))
    with pytest.raises(ValueError, match="without techniques"):
        grouped_argmin(np.ones(4), order, np.array([0, 2, 2]))
