"""The optimal plan: t* against a separately formulated linprog, residuals, complementary
slackness, valuations = labour values when only labour binds, infeasible floors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

import econplan
from econplan import Economy


def reference_t(e: Economy) -> float:
    """max t s.t. (B − A) z ≥ ymin + t (y − ymin), R z ≤ b, 0 ≤ z ≤ cap — written here from
    the bundle tables, not from econplan's formulation."""
    n, m = e.n_products, e.n_techniques
    pid = {p: i for i, p in enumerate(e.products["id"])}
    tid = {t: j for j, t in enumerate(e.techniques["id"])}
    rid = {r: k for k, r in enumerate(e.resources["id"])}
    out = sp.coo_array((e.techniques["output"], ([pid[p] for p in e.techniques["product"]],
                                                  range(m))), shape=(n, m))
    inp = sp.coo_array((e.inputs["amount"], ([pid[p] for p in e.inputs["product"]],
                                             [tid[t] for t in e.inputs["technique"]])),
                       shape=(n, m))
    use = sp.coo_array((e.resource_use["amount"],
                        ([rid[r] for r in e.resource_use["resource"]],
                         [tid[t] for t in e.resource_use["technique"]])), shape=(len(rid), m))
    y = np.zeros(n)
    ymin = np.zeros(n)
    for row in e.needs.itertuples():
        y[pid[row.product]] = row.target
        ymin[pid[row.product]] = row.floor
    net = (out - inp).tocsr()
    A_ub = sp.vstack([sp.hstack([-net, sp.csr_array((y - ymin).reshape(-1, 1))]),
                      sp.hstack([use, sp.csr_array((len(rid), 1))])]).tocsr()
    b_ub = np.concatenate([-ymin, e.resources["available"].to_numpy()])
    caps = e.techniques["capacity"].to_numpy()
    bounds = [(0, None if np.isnan(c) else c) for c in caps] + [(0, None)]
    c = np.zeros(m + 1)
    c[-1] = -(y - ymin).sum()  # scaled objective (DESIGN.md, "Numerics")
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs-ipm",
                  options={"primal_feasibility_tolerance": 1e-10,
                           "dual_feasibility_tolerance": 1e-10})
    assert res.status == 0, res.message
    return float(res.x[-1])


#: the last case is above plan.RACE_ABOVE techniques (2,200), so the default races `fast` and
#: HiGHS; at 2,000 × 2 the reference's interior point alone took ~112 s of CI (1,100: ~10 s)
CASES = [(60, 2, 1), (300, 2, 2), (800, 3, 3), (1100, 2, 4)]


@pytest.mark.parametrize("n,k,seed", CASES)
def test_t_star_equals_linprog(generated, n, k, seed):
    e = econplan.load(generated(n, k, seed=seed, capacities=True, floors=True))
    plan = e.plan()
    assert plan.ok
    t_ref = reference_t(e)
    assert abs(plan.fulfilment - t_ref) <= 1e-7 * max(1.0, abs(t_ref))
    s = plan.summary
    assert s["primal_residual"] <= 1e-9
    assert s["dual_residual"] <= 1e-9
    assert abs(s["duality_gap"]) <= 1e-7
    # some capacities and labour bind: the test exercises what it claims to
    assert any(b["kind"] == "capacity" for b in s["bottlenecks"])
    assert plan.fulfilment < 1


@pytest.mark.parametrize("n,k,seed", CASES[:3])
def test_complementary_slackness(generated, n, k, seed):
    e = econplan.load(generated(n, k, seed=seed, capacities=True, floors=True))
    plan = e.plan()
    r = plan.result
    z, p, u, v = r.z, r.p, r.u, r.v
    M, R = e.M, e.R
    d = e.target - e.floor
    # fulfilment stage: each valued resource/capacity is used up; each technique in use
    # has zero reduced cost p·M_j − u·R_j − v_j (relative to the size of its terms)
    used = R @ z
    for k_ in np.flatnonzero(u > 0):
        assert u[k_] * (e.available[k_] - used[k_]) <= 1e-7 * max(plan.certificate.bound, 1)
    capped = np.isfinite(e.cap)
    slack_cap = np.where(capped, e.cap - z, 0)
    assert np.max(v * slack_cap) <= 1e-7 * max(plan.certificate.bound, 1)
    rc = M.T @ p - R.T @ u - v
    mag = abs(M).T @ p + R.T @ u + v
    active = z > 1e-9 * max(1, z.max())
    assert np.max(np.abs(rc[active]) / np.maximum(mag[active], 1e-300)) <= 1e-7
    # balance rows with a positive fulfilment dual are met with equality at t
    t = plan.certificate.achieved
    row = M @ z - e.floor - t * d
    scale = np.maximum(1, np.abs(e.floor + t * d))
    assert np.max(p * row / scale) <= 1e-7 * max(1, p.max())
    # resource-minimising stage: a product with a positive price is not over-produced
    price = r.price
    t_lo = r.t * (1 - 1e-9)
    row2 = M @ z - (e.floor + t_lo * d)
    assert np.max(price * np.maximum(row2, 0) / scale) <= 1e-6 * max(1, price.max())


@pytest.mark.parametrize("k", [1, 2])
def test_valuations_equal_labour_values_when_only_labour_binds(generated, k):
    e = econplan.load(generated(500, k, seed=7))
    res = e.resources.copy()
    res.loc[res["id"] != e.labour, "available"] = 1e15  # only labour can bind
    e = e.replace(resources=res)
    plan = e.plan()
    assert plan.ok
    binding = [b["id"] for b in plan.summary["bottlenecks"]]
    assert binding == [e.labour]
    values = e.values().set_index("product")[e.labour]
    val = plan.products.set_index("product")["valuation"]
    rel = np.abs(val - values) / values
    assert rel.max() <= 1e-8


def test_infeasible_floors_exit_3_with_blocking(tmp_path, example_bundle):
    from typer.testing import CliRunner

    from econplan.cli import app

    e = econplan.load(example_bundle)
    needs = e.needs.copy()
    needs["floor"] = needs["target"]  # floors at the full targets need far more CO2
    bundle = tmp_path / "b"
    econplan.write_bundle(e.replace(needs=needs), bundle)
    out = tmp_path / "plan"
    r = CliRunner().invoke(app, ["plan", str(bundle), "--out", str(out)])
    assert r.exit_code == 3
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "infeasible"
    kinds = {(b["kind"], b["id"]) for b in s["blocking"]}
    assert ("resource", "co2") in kinds or ("capacity", "wind_farm") in kinds
    # relaxing exactly what is reported makes the floors feasible
    res = e.resources.set_index("id")
    tech = e.techniques.set_index("id")
    for b in s["blocking"]:
        assert b["lacking"] > 0
        if b["kind"] == "resource":
            res.loc[b["id"], "available"] += b["lacking"] * (1 + 1e-6)
        else:
            tech.loc[b["id"], "capacity"] += b["lacking"] * (1 + 1e-6)
    relaxed = e.replace(needs=needs, resources=res.reset_index(),
                        techniques=tech.reset_index())
    assert relaxed.plan().ok


def test_min_labour_meets_targets_at_least_labour(generated):
    e = econplan.load(generated(200, 2, seed=11))
    res = e.resources.copy()
    res["available"] = 1e15
    e = e.replace(resources=res)
    plan = e.plan(objective="min-labour")
    assert plan.ok
    net = plan.products["net_output"].to_numpy()
    assert np.all(net >= e.target - 1e-9 * np.maximum(1, e.target))
    # the least labour is λ·y (non-substitution), labour values from the values module
    lam = e.values()[e.labour].to_numpy()
    assert plan.summary["labour_cost"] == pytest.approx(float(lam @ e.target), rel=1e-9)
    assert abs(plan.summary["duality_gap"]) <= 1e-9


def test_plan_files_follow_the_contract(tmp_path, example_bundle):
    e = econplan.load(example_bundle)
    plan = e.plan()
    out = plan.write(tmp_path / "p")
    s = json.loads((out / "summary.json").read_text())
    for key in ["status", "objective", "fulfilment", "solver", "seconds", "products",
                "techniques", "primal_residual", "duality_gap", "bottlenecks",
                "inputs_sha256", "solver_version", "dual_residual"]:
        assert key in s
    cols = {
        "activities.csv": ["technique", "product", "level", "capacity", "valuation"],
        "products.csv": ["product", "gross_output", "intermediate_use", "net_output", "target",
                         "floor", "fulfilment", "valuation", "fulfilment_dual"],
        "resources.csv": ["resource", "used", "available", "valuation"],
    }
    for name, c in cols.items():
        assert list(pd.read_csv(out / name).columns) == c
    assert (out / "report.html").is_file()
    # gross − intermediate = net; fulfilment = net / target
    pr = pd.read_csv(out / "products.csv")
    np.testing.assert_allclose(pr["gross_output"] - pr["intermediate_use"], pr["net_output"],
                               rtol=1e-12, atol=1e-9)
    has = pr["target"] > 0
    np.testing.assert_allclose(pr.loc[has, "fulfilment"],
                               pr.loc[has, "net_output"] / pr.loc[has, "target"], rtol=1e-12)


def test_time_limit_option(tmp_path, example_bundle):
    """``--time-limit``: a bad value is bad input (exit 2, nothing written); a generous one
    gives the same plan as without it."""
    from typer.testing import CliRunner

    from econplan.cli import app

    bad = tmp_path / "bad"
    r = CliRunner().invoke(app, ["plan", str(example_bundle), "--out", str(bad),
                                 "--time-limit", "-5"])
    assert r.exit_code == 2 and "--time-limit" in r.output and not bad.exists()
    # an unknown solver is bad input too (it was exit 1 with "ValueError: ..." until session 26)
    r = CliRunner().invoke(app, ["plan", str(example_bundle), "--out", str(bad),
                                 "--solver", "bogus"])
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "unknown solver 'bogus'" in lines[0]
    assert "Error" not in lines[0] and not bad.exists()
    a, b = tmp_path / "a", tmp_path / "b"
    assert CliRunner().invoke(app, ["plan", str(example_bundle), "--out", str(a)]).exit_code == 0
    r = CliRunner().invoke(app, ["plan", str(example_bundle), "--out", str(b),
                                 "--time-limit", "120"])
    assert r.exit_code == 0, r.output
    assert (a / "activities.csv").read_text() == (b / "activities.csv").read_text()
