"""Products nothing can make (plan/unmade.py): the structured solvers plan the economy without
them and lift the plan back; HiGHS, which takes the whole LP as it is, is the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from econplan import Economy
from econplan.plan.unmade import reduce_unmade
from small_economies import CAPACITY_T, bread_tables
from test_random_economies import _random_economy


def _with_salt(cake_target: float = 0.0) -> Economy:
    """The bread village (bakery capacity 45) plus salt, which nothing makes: a second bakery
    that uses salt, and cake, whose only technique uses salt (unmade one level up)."""
    meta, t = bread_tables(bakery_capacity=45.0)
    t["products"] = pd.concat([t["products"], pd.DataFrame(
        {"id": ["salt", "cake"], "name": ["Salt", "Cake"], "unit": ["kg", "piece"]})],
        ignore_index=True)
    t["techniques"] = pd.concat([t["techniques"], pd.DataFrame(
        {"id": ["bakery2", "patisserie"], "product": ["bread", "cake"], "output": [1.0, 1.0],
         "capacity": [None, None]})], ignore_index=True)
    t["inputs"] = pd.concat([t["inputs"], pd.DataFrame(
        {"technique": ["bakery2", "bakery2", "patisserie", "patisserie"],
         "product": ["grain", "salt", "salt", "bread"], "amount": [1.0, 0.05, 0.1, 0.5]})],
        ignore_index=True)
    t["resource_use"] = pd.concat([t["resource_use"], pd.DataFrame(
        {"technique": ["bakery2", "patisserie"], "resource": ["labour", "labour"],
         "amount": [0.2, 0.1]})], ignore_index=True)
    if cake_target:
        t["needs"] = pd.concat([t["needs"], pd.DataFrame(
            {"product": ["cake"], "target": [cake_target], "priority": [1.0],
             "floor": [0.0]})], ignore_index=True)
    return Economy.from_tables(meta, t)


def test_reduction_removes_unmade_products_level_by_level():
    pb = _with_salt().problem()
    red = reduce_unmade(pb)
    assert red is not None
    ids = _with_salt().product_ids
    removed = sorted(str(ids[i]) for i in set(range(pb.n)) - set(red.products.tolist()))
    assert removed == ["cake", "salt"]
    tech = _with_salt().technique_ids
    gone = sorted(str(tech[j]) for j in set(range(pb.m)) - set(red.techniques.tolist()))
    assert gone == ["bakery2", "patisserie"]
    assert red.problem.n == pb.n - 2 and red.problem.m == pb.m - 2


@pytest.mark.parametrize("solver", ["fast", "pdhg"])
def test_unmade_products_are_planned_as_highs_does(solver):
    """bakery2 would be the cheaper bakery beyond the capacity, but it needs salt: t* stays
    45/40 (hand-computed), bakery2 and the patisserie stand still, and the lifted salt price
    makes both unprofitable (the certificate on the whole economy holds)."""
    e = _with_salt()
    ref = e.plan(solver="highs")
    plan = e.plan(solver=solver)
    assert ref.ok and plan.ok, plan.summary
    assert abs(ref.fulfilment - CAPACITY_T) <= 1e-9
    assert abs(plan.fulfilment - CAPACITY_T) <= 1e-7
    s = plan.summary
    assert abs(s["duality_gap"]) <= 1e-6 and s["dual_residual"] <= 1e-9
    assert s["primal_residual"] <= 1e-9
    z = plan.activities.set_index("technique")["level"]
    assert z["bakery2"] == 0.0 and z["patisserie"] == 0.0


@pytest.mark.parametrize("solver", ["fast", "pdhg"])
def test_a_needed_unmade_product_is_left_to_highs(solver):
    """Cake is needed but cannot be made (its only technique uses salt): the structured
    solvers hand the whole LP to HiGHS, with the reason in the message, and agree with it."""
    e = _with_salt(cake_target=3.0)
    ref = e.plan(solver="highs")
    plan = e.plan(solver=solver)
    assert plan.status == ref.status
    if ref.ok:
        assert abs(plan.fulfilment - ref.fulfilment) <= 1e-9
    assert "nobody can make" in plan.summary.get("message", "")


def _with_orphan(seed: int) -> Economy | None:
    rng = np.random.default_rng(seed + 20_000)
    e = _random_economy(seed)
    t = {k: getattr(e, k).copy() for k in ("products", "techniques", "inputs", "resources",
                                           "resource_use", "needs")}
    t["products"] = pd.concat([t["products"], pd.DataFrame(
        {"id": ["orphan"], "name": ["o"], "unit": ["u"]})], ignore_index=True)
    if rng.random() < 0.5:  # a technique that needs the orphan
        t0 = t["techniques"]["id"].iloc[int(rng.integers(len(t["techniques"])))]
        t["inputs"] = pd.concat([t["inputs"], pd.DataFrame(
            {"technique": [t0], "product": ["orphan"], "amount": [0.1]})], ignore_index=True)
    try:
        return Economy.from_tables({"name": "x", "period": "p"}, t)
    except Exception:  # noqa: BLE001 - e.g. the orphan's user made a needed product unmade
        return None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_random_economies_with_an_unmade_product(seed):
    """Random economies (test_random_economies) with a product nothing makes, used or not:
    fast and pdhg give HiGHS's status and t*, with a certificate on the whole economy."""
    e = _with_orphan(seed)
    if e is None:
        return
    ref = e.plan(solver="highs")
    for solver in ("fast", "pdhg"):
        plan = e.plan(solver=solver)
        assert plan.status == ref.status, (solver, plan.summary)
        if ref.ok:
            assert abs(plan.fulfilment - ref.fulfilment) <= 1e-6 * max(1.0, abs(ref.fulfilment))
            s = plan.summary
            assert abs(s["duality_gap"]) <= 1e-6 and s["dual_residual"] <= 1e-6


@pytest.mark.parametrize("solver", ["highs", "fast", "pdhg"])
def test_a_needed_product_nobody_can_make_gives_t_zero(tmp_path, solver):
    """a's only technique needs b, which nothing makes; a has a target and no floor: t* = 0
    is the optimum (no plan makes any a), not infeasible; summary.json says 0.0 (not -0.0)
    and the CLI does not blame resources that are all unused."""
    import json
    import subprocess
    import sys

    b = tmp_path / "b"
    b.mkdir()
    files = {
        "economy.toml": 'name = "u"\nperiod = "1"\n',
        "products.csv": "id,name,unit\na,A,u\nb,B,u\nc,C,u\n",
        "techniques.csv": "id,product,output,capacity\nta,a,1,\ntc,c,1,\n",
        "inputs.csv": "technique,product,amount\nta,b,0.5\ntc,a,0.1\n",
        "resources.csv": "id,name,unit,available\nlab,L,h,100\n",
        "resource_use.csv": "technique,resource,amount\nta,lab,1\ntc,lab,1\n",
        "needs.csv": "product,target,priority,floor\na,10,1,0\nc,5,1,0\n",
    }
    for name, text in files.items():
        (b / name).write_text(text)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "econplan.cli", "plan", str(b), "--out",
                           str(out), "--no-report", "--solver", solver],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = (out / "summary.json").read_text()
    s = json.loads(text)
    assert s["status"] == "optimal" and s["fulfilment"] == 0.0 and '"fulfilment": 0.0' in text
    assert s["labour_used"] == 0.0 and s["duality_gap"] <= 1e-9
    assert "a product that is needed cannot be made" in proc.stdout


def test_covering_a_vertex_solvers_short_rows_skips_products_nothing_can_make():
    """HiGHS leaves a row short by its tolerance; covering it by producing more must work when
    some product has no technique (a hypothesis run of the test above met 'products without a
    technique' raised from the covering's structure) and must not run a technique whose input
    nothing makes. Products: 0 ore (nothing makes it), 1 grain, 2 bread; techniques: farm
    (grain), mill (bread from grain), smelter (grain from ore: can never run)."""
    import scipy.sparse as sp

    from econplan.plan.repair import cover_deficits

    M = sp.csc_array(np.array([[0.0, 0.0, -1.0],    # ore: the smelter would use it
                               [1.0, -0.5, 1.0],    # grain: farm and smelter make it
                               [0.0, 1.0, 0.0]]))   # bread: the mill makes it
    tp = np.array([1, 2, 1])
    rhs = np.array([0.0, 2.0, 4.0])
    z = np.array([4.0, 4.0 - 1e-7, 0.0])  # bread short by 1e-7, as a vertex solver leaves it
    out = cover_deficits(M, tp, np.ones(3), np.full(3, np.inf), rhs, z)
    assert (M @ out >= rhs - 1e-15).all()
    assert out[2] == 0.0  # the smelter stays off
    assert out[1] >= 4.0 and out[0] >= 4.0 + 0.5 * (out[1] - 4.0) - 1e-12
