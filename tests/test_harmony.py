"""The ``harmony`` objective (DESIGN.md, "The model"): H* and the least cost against an
independent linprog solve built here from the matrices, the recomputed certificate, a
two-product economy checked by hand, the command line and the service's objective list."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog
from typer.testing import CliRunner

import econplan
from econplan import Economy, write_bundle
from econplan.cli import app
from econplan.plan.harmony import HARMONY_TABLE, h
from econplan.verify import verify
from small_economies import bread_tables

runner = CliRunner()

#: h's segments written out here, independently of the module's table
LENGTHS = np.array([0.25, 0.25, 0.25, 0.25, 0.5, 0.5])
SLOPES = np.array([4.0, 2.0, 4.0 / 3.0, 1.0, 0.5, 0.25])


def reference(e: Economy) -> tuple[float, float]:
    """(H*, least cost at H ≥ H*(1 − 1e-9)) of ``e`` by linprog(method="highs") on the LP of
    DESIGN.md, columns z then one s per (needed product, segment)."""
    M, R = sp.csr_array(e.M), sp.csr_array(e.R)
    y, ymin, w = np.asarray(e.target), np.asarray(e.floor), np.asarray(e.priority)
    d = y - ymin
    idx = np.flatnonzero(d > 0)
    n, m, K, q = M.shape[0], M.shape[1], len(LENGTHS), len(idx)
    D = sp.csr_array((np.repeat(d[idx], K), (np.repeat(idx, K), np.arange(q * K))),
                     shape=(n, q * K))
    A_ub = sp.vstack([sp.hstack([-M, D]), sp.hstack([R, sp.csr_array((R.shape[0], q * K))])])
    b_ub = np.concatenate([-ymin, np.asarray(e.available)])
    gain = np.concatenate([np.zeros(m), (w[idx, None] * SLOPES).ravel()])
    cap = np.asarray(e.cap)
    bounds = ([(0, None if np.isinf(c) else c) for c in cap]
              + [(0, length) for length in np.tile(LENGTHS, q)])
    r1 = linprog(-gain, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    assert r1.status == 0, r1.message
    H = -r1.fun
    cost = np.concatenate([np.asarray(e.R.T @ e.cost), np.zeros(q * K)])
    r2 = linprog(cost, A_ub=sp.vstack([A_ub, sp.csr_array(-gain.reshape(1, -1))]),
                 b_ub=np.concatenate([b_ub, [-H * (1 - 1e-9)]]), bounds=bounds,
                 method="highs")
    assert r2.status == 0, r2.message
    return H, r2.fun


def test_table_is_the_documented_h():
    breaks, slopes = HARMONY_TABLE
    assert np.allclose(np.diff(breaks), LENGTHS) and np.allclose(slopes, SLOPES)
    # h(0) = 0, h(1) = 1 + 0.5 + 1/3 + 0.25, flat above 2, concave
    h1 = 1 + 0.5 + 1 / 3 + 0.25
    assert h(np.array([0.0, 1.0, 2.0, 5.0])) == pytest.approx(
        [0.0, h1, h1 + 0.25 + 0.125, h1 + 0.25 + 0.125])
    assert h(np.array([0.1]))[0] == pytest.approx(0.4)


ECONOMIES = [("gen", 60, 2, 1, True, True), ("gen", 80, 2, 2, True, True),
             ("gen", 150, 1, 3, True, False), ("gen", 200, 2, 4, False, True),
             ("bread", None, None, None, 45.0, None), ("bread", None, None, None, None, None)]


@pytest.fixture(params=ECONOMIES, ids=lambda p: "-".join(str(x) for x in p))
def economy(request, generated) -> Economy:
    kind, n, k, seed, caps, floors = request.param
    if kind == "bread":
        meta, tables = bread_tables(caps)
        tables["needs"]["priority"] = [2.0, 1.0]
        return Economy.from_tables(meta, tables)
    return econplan.load(generated(n, k, seed=seed, capacities=caps, floors=floors))


def test_harmony_matches_linprog_and_certifies(economy):
    plan = economy.plan(objective="harmony")
    assert plan.status == "optimal" and plan.summary["solver"] == "highs"
    H_ref, cost_ref = reference(economy)
    assert H_ref > 0
    assert plan.result.harmony == pytest.approx(H_ref, rel=1e-7)
    assert plan.summary["harmony"] == pytest.approx(H_ref, rel=1e-7)
    cost = float(np.asarray(economy.R.T @ economy.cost) @ plan.activities["level"])
    assert cost == pytest.approx(cost_ref, rel=1e-6)
    c = plan.certificate
    assert -1e-9 <= c.duality_gap <= 1e-7
    assert c.dual_residual <= 1e-9 and c.primal_residual <= 1e-9
    s = plan.summary
    assert s["objective"] == "harmony" and s["duality_gap"] == c.duality_gap
    # fulfilment = the least t_i over needed products, from the written net outputs
    d = np.asarray(economy.target) - np.asarray(economy.floor)
    net = plan.products["net_output"].to_numpy()
    t = (net[d > 0] - economy.floor[d > 0]) / d[d > 0]
    assert s["fulfilment"] == pytest.approx(t.min(), rel=1e-12)
    assert float(np.asarray(economy.priority)[d > 0] @ h(t)) == pytest.approx(s["harmony"])


def test_verify_recomputes_harmony_certificate(tmp_path, generated):
    bundle = generated(60, 2, seed=1, capacities=True, floors=True)
    plan = econplan.load(bundle).plan(objective="harmony")
    out = plan.write(tmp_path / "plan")
    v = verify(bundle, out)
    assert v.ok, v.line
    assert v.duality_gap == pytest.approx(plan.summary["duality_gap"], abs=1e-9)
    assert v.dual_residual <= 1e-9 and "harmony H*" in v.line


def two_products(priority_b: float = 1.0, floors: tuple[float, float] = (0.0, 0.0)
                 ) -> tuple[dict, dict[str, pd.DataFrame]]:
    """A needs 1 h of labour per unit, B 3.5 h; both targets 10; 20 h of labour."""
    meta = {"name": "Two products", "period": "test"}
    tables = {
        "products": pd.DataFrame({"id": ["A", "B"], "name": ["A", "B"], "unit": ["u", "u"]}),
        "techniques": pd.DataFrame({"id": ["a", "b"], "product": ["A", "B"],
                                    "output": [1.0, 1.0], "capacity": [None, None]}),
        "inputs": pd.DataFrame({"technique": pd.Series([], dtype=str),
                                "product": pd.Series([], dtype=str),
                                "amount": pd.Series([], dtype=float)}),
        "resources": pd.DataFrame({"id": ["labour"], "name": ["Labour"], "unit": ["h"],
                                   "available": [20.0]}),
        "resource_use": pd.DataFrame({"technique": ["a", "b"], "resource": ["labour"] * 2,
                                      "amount": [1.0, 3.5]}),
        "needs": pd.DataFrame({"product": ["A", "B"], "target": [10.0, 10.0],
                               "priority": [1.0, priority_b], "floor": list(floors)}),
    }
    return meta, tables


def test_two_products_by_hand():
    """Max-t meets both to t = 20/45 (10t + 35t = 20 h). Harmony buys segments in order of
    H per hour, w·slope/(d·labour): A's 0.4, 0.2, 0.133, then B's first (4/35 = 0.114), then
    A's fourth (0.1), then B's second (2/35 = 0.057) with the 1.25 h left: A = 10,
    B = 2.5 + 1.25/3.5 = 20/7. H = (1 + .5 + 1/3 + .25) + (1 + 2·(1/28)) = 3.154762;
    duals: p_B·d_B = w·slope of the partial segment = 2, so p_B = 0.2, u = p_B/3.5, p_A = u."""
    e = Economy.from_tables(*two_products())
    fair = e.plan()
    assert fair.fulfilment == pytest.approx(20 / 45)
    assert fair.products["net_output"].tolist() == pytest.approx([200 / 45, 200 / 45])
    plan = e.plan(objective="harmony")
    net = plan.products["net_output"].tolist()
    assert net == pytest.approx([10.0, 20 / 7], rel=1e-8)
    H = (1 + 0.5 + 1 / 3 + 0.25) + (1 + 2 * (1 / 28))
    assert plan.summary["harmony"] == pytest.approx(H, rel=1e-8)
    assert plan.summary["fulfilment"] == pytest.approx(2 / 7, rel=1e-8)
    assert plan.products["fulfilment_dual"].tolist() == pytest.approx([0.2 / 3.5, 0.2])
    assert plan.resources["valuation"].tolist() == pytest.approx([0.2 / 3.5])
    assert plan.summary["bound"] == pytest.approx(H, rel=1e-8)
    # stage 2: all 20 h are needed for H*; a product's valuation is its labour cost
    assert plan.summary["labour_used"] == pytest.approx(20.0)
    assert plan.products["valuation"].tolist() == pytest.approx([1.0, 3.5])


def test_priority_moves_labour_to_b():
    """With w_B = 2 B's ratios double (8/35, 4/35, …): A's first (0.4), B's first (0.229),
    A's second (0.2) and third (0.133), then B's second (0.114) with the 3.75 h left:
    A = 7.5, B = 2.5 + 3.75/3.5 = 25/7."""
    plan = Economy.from_tables(*two_products(priority_b=2.0)).plan(objective="harmony")
    assert plan.products["net_output"].tolist() == pytest.approx([7.5, 25 / 7], rel=1e-8)
    H = (1 + 0.5 + 1 / 3) + 2 * (1 + 2 * (0.375 / 3.5))
    assert plan.summary["harmony"] == pytest.approx(H, rel=1e-8)


def test_harmony_is_highs_whatever_the_size(monkeypatch):
    import econplan.plan as planmod

    monkeypatch.setattr(planmod, "default_solver", lambda economy: "pdhg")
    e = Economy.from_tables(*two_products())
    assert e.plan(objective="harmony").summary["solver"] == "highs"
    with pytest.raises(ValueError, match="cannot plan objective 'harmony'"):
        e.plan(objective="harmony", solver="pdhg")


@pytest.fixture()
def bundle(tmp_path):
    path = tmp_path / "two"
    write_bundle(Economy.from_tables(*two_products()), path)
    return path


def test_cli_plan_verify_and_tampering(tmp_path, bundle):
    out = tmp_path / "plan"
    r = runner.invoke(app, ["plan", str(bundle), "--out", str(out), "--objective", "harmony"])
    assert r.exit_code == 0, r.output
    assert "harmony H* = 3.154762" in r.output
    s = json.loads((out / "summary.json").read_text())
    H = (1 + 0.5 + 1 / 3 + 0.25) + (1 + 2 * (1 / 28))
    assert s["objective"] == "harmony" and s["status"] == "optimal"
    assert s["harmony"] == pytest.approx(H, rel=1e-8)
    assert s["fulfilment"] == pytest.approx(2 / 7, rel=1e-8)
    assert s["bound"] == pytest.approx(H, rel=1e-8)
    assert 0 <= s["duality_gap"] <= 1e-7 and s["dual_residual"] <= 1e-9
    assert s["primal_residual"] <= 1e-9
    prod = pd.read_csv(out / "products.csv")
    assert prod["fulfilment"].tolist() == pytest.approx([1.0, 2 / 7], rel=1e-8)
    assert prod["fulfilment_dual"].tolist() == pytest.approx([0.2 / 3.5, 0.2])
    r = runner.invoke(app, ["verify", str(bundle), str(out)])
    assert r.exit_code == 0, r.output
    assert "harmony H* = 3.15476" in r.output

    def tampered(name: str, edit) -> int:
        bad = tmp_path / f"bad-{name}"
        shutil.copytree(out, bad)
        edit(bad)
        return runner.invoke(app, ["verify", str(bundle), str(bad)]).exit_code

    def level_up(d):  # B made beyond the labour available
        act = pd.read_csv(d / "activities.csv")
        act.loc[act["technique"] == "b", "level"] = 4.0
        act.to_csv(d / "activities.csv", index=False)

    def cheap_labour(d):  # u lowered: technique a then earns a profit (dual infeasible)
        res = pd.read_csv(d / "resources.csv")
        res["valuation"] = 0.01
        res.to_csv(d / "resources.csv", index=False)

    def loose_p(d):  # p_B halved: still dual feasible, but the bound leaves a gap
        prod = pd.read_csv(d / "products.csv")
        prod.loc[prod["product"] == "B", "fulfilment_dual"] = 0.1
        prod.to_csv(d / "products.csv", index=False)

    def claim(d):  # a harmony that the levels do not reach
        s2 = json.loads((d / "summary.json").read_text())
        s2["harmony"] = 3.3
        (d / "summary.json").write_text(json.dumps(s2))

    for name, edit in (("level", level_up), ("u", cheap_labour), ("p", loose_p),
                       ("claim", claim)):
        assert tampered(name, edit) == 1, name


@pytest.mark.parametrize("solver", ["pdhg", "scipy", "fast", "portfolio"])
def test_cli_refuses_other_solvers(tmp_path, bundle, solver):
    out = tmp_path / "plan"
    r = runner.invoke(app, ["plan", str(bundle), "--out", str(out), "--objective", "harmony",
                            "--solver", solver])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot plan objective 'harmony'" in lines[0]
    assert "Traceback" not in r.output and not out.exists()


def test_cli_infeasible_floors(tmp_path):
    """Floors A 15 (15 h) and B 5 (17.5 h) need 32.5 h of the 20: labour lacks 12.5 h."""
    bundle = tmp_path / "tight"
    meta, tables = two_products(floors=(15.0, 5.0))
    tables["needs"]["target"] = [15.0, 10.0]
    write_bundle(Economy.from_tables(meta, tables), bundle)
    out = tmp_path / "plan"
    r = runner.invoke(app, ["plan", str(bundle), "--out", str(out), "--objective", "harmony"])
    assert r.exit_code == 3, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "infeasible" and s["objective"] == "harmony"
    assert [(b["kind"], b["id"]) for b in s["blocking"]] == [("resource", "labour")]
    assert s["blocking"][0]["lacking"] == pytest.approx(12.5)


def test_explain_and_report_name_harmony(tmp_path, bundle):
    from econplan.explain import explain

    plan = econplan.load(bundle).plan(objective="harmony")
    out = plan.write(tmp_path / "plan")
    text = explain(out)
    assert "harmony" in text and "H = 3.15" in text and "t* =" not in text
    page = (out / "report.html").read_text()
    assert "Harmony: 3.155" in page and "Needs met:" not in page


def test_service_plans_harmony(bundle):
    from pydantic import ValidationError

    from econplan.service.api import PlanRunIn
    from econplan.service.planning import OBJECTIVES, compute_plan

    assert "harmony" in OBJECTIVES and PlanRunIn(objective="harmony").objective == "harmony"
    with pytest.raises(ValidationError):
        PlanRunIn(objective="happiness")
    files = {p.name: p.read_text() for p in bundle.iterdir() if p.is_file()}
    out = compute_plan(files, "harmony")
    assert out["summary"]["objective"] == "harmony"
    assert out["summary"]["harmony"] == pytest.approx(
        (1 + 0.5 + 1 / 3 + 0.25) + (1 + 2 * (1 / 28)), rel=1e-8)
    assert [r["net_output"] for r in out["products"]] == pytest.approx([10.0, 20 / 7])
