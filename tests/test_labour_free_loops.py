"""Techniques that make a product from as much of itself (or of a product made from it)
without labour cannot run on their own, yet cost nothing at values 0. The technique choice
started from them and called valid economies unproductive (exit 2 on load: an outside check,
session 26), and the first-order route's repairs picked them on ties and failed. Values are
checked against a brute force over every choice that can run (dense NumPy solves), plans
against the separately written linprog of test_plan, certificates from the files."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import econplan
from econplan import Economy
from econplan.verify import verify
from test_plan import reference_t

#: (name, techniques as (id, product, output, capacity), inputs (technique, product,
#: amount), labour (technique, hours)), products a and b, a single land resource
CASES = [
    ("capped-at-0 self loop", [("t1", "a", 1, None), ("t2", "a", 1, 0.0)],
     [("t2", "a", 1.0)], [("t1", 1.0)]),
    ("self loop, lower id", [("t1", "a", 1, None), ("t2", "a", 1, None)],
     [("t1", "a", 1.0)], [("t2", 1.0)]),
    ("self loop using up more", [("t1", "a", 1, None), ("t2", "a", 1, None)],
     [("t1", "a", 1.5)], [("t2", 1.0)]),
    ("two-product loop", [("ta1", "a", 1, None), ("ta2", "a", 1, None),
                          ("tb1", "b", 1, None), ("tb2", "b", 1, None)],
     [("ta1", "b", 1.0), ("tb1", "a", 1.0)], [("ta2", 1.0), ("tb2", 2.0)]),
    ("loop beside a real economy", [("ta1", "a", 2, None), ("ta2", "a", 1, None),
                                    ("tb1", "b", 1, 3.0), ("tb2", "b", 1, None)],
     [("ta1", "a", 2.0), ("ta2", "b", 0.3), ("tb1", "a", 0.2), ("tb2", "a", 0.1)],
     [("ta2", 1.0), ("tb1", 0.5), ("tb2", 2.0)]),
]


def _economy(techs, inputs, labour) -> Economy:
    made = sorted({t[1] for t in techs})
    tables = {
        "products": pd.DataFrame({"id": made, "name": made, "unit": "u"}),
        "techniques": pd.DataFrame({"id": [t[0] for t in techs],
                                    "product": [t[1] for t in techs],
                                    "output": [float(t[2]) for t in techs],
                                    "capacity": [np.nan if t[3] is None else t[3]
                                                 for t in techs]}),
        "inputs": pd.DataFrame(inputs, columns=["technique", "product", "amount"]),
        "resources": pd.DataFrame({"id": ["labour"], "name": ["L"], "unit": ["h"],
                                   "available": [1000.0]}),
        "resource_use": pd.DataFrame([(t, "labour", h) for t, h in labour],
                                     columns=["technique", "resource", "amount"]),
        "needs": pd.DataFrame({"product": made, "target": 10.0, "priority": 1.0,
                               "floor": 0.0}),
    }
    return Economy.from_tables({"name": "loops", "period": "p"}, tables)


def _brute_force(e: Economy) -> np.ndarray:
    """Least values over every choice of one technique per product that can run on its own:
    (B − A)_c has a nonnegative inverse (dense NumPy)."""
    M, lab = (e.B - e.A).toarray(), e.R.toarray()[0]
    by = [np.flatnonzero(e.tech_product == i) for i in range(e.n_products)]
    best = None
    for combo in itertools.product(*by):
        c = np.array(combo)
        try:
            inv = np.linalg.inv(M[:, c])
        except np.linalg.LinAlgError:
            continue
        if (inv < -1e-12).any():
            continue
        lam = lab[c] @ inv
        best = lam if best is None else np.minimum(best, lam)
    return best


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_values_skip_labour_free_loops(case):
    e = _economy(*case[1:])
    v = e.values()
    np.testing.assert_allclose(v["labour"], _brute_force(e), rtol=1e-12)
    # the chosen techniques can run: their own values are the ones reported
    tech = e.technique_index.get_indexer(v["technique"])
    M = (e.B - e.A).toarray()[:, tech]
    assert (np.linalg.inv(M) >= -1e-12).all()


@pytest.mark.parametrize("solver", ["highs", "scipy", "fast", "pdhg"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_plans_with_labour_free_loops_match_linprog(tmp_path, case, solver):
    e = _economy(*case[1:])
    plan = e.plan(solver=solver)
    assert plan.ok, plan.summary
    t_ref = reference_t(e)
    assert abs(plan.fulfilment - t_ref) <= 1e-7 * max(1.0, t_ref)
    econplan.write_bundle(e, tmp_path / "b")
    plan.write(tmp_path / "p")
    got = verify(tmp_path / "b", tmp_path / "p")
    assert got.ok, got.line
