"""`econplan verify`: passes on real plans, fails on tampered ones; plans are reproducible."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

import econplan
from econplan.cli import app
from econplan.verify import verify

runner = CliRunner()


@pytest.fixture(params=["example", "generated", "min-labour"])
def planned(request, tmp_path, example_bundle, generated):
    if request.param == "example":
        bundle = example_bundle
        objective = "fulfilment"
    elif request.param == "generated":
        bundle = generated(300, 2, seed=21, capacities=True, floors=True)
        objective = "fulfilment"
    else:
        e = econplan.load(generated(100, 2, seed=22))
        res = e.resources.copy()
        res["available"] = 1e12
        free = e.replace(resources=res)
        co2 = free.plan(objective="min-labour").resources.set_index("resource").loc["co2", "used"]
        res.loc[res["id"] == "co2", "available"] = 0.97 * co2  # binds: cleaner techniques
        bundle = tmp_path / "ml"
        econplan.write_bundle(e.replace(resources=res), bundle)
        objective = "min-labour"
    out = tmp_path / "plan"
    r = runner.invoke(app, ["plan", str(bundle), "--out", str(out), "--objective", objective])
    assert r.exit_code == 0, r.output
    return bundle, out


def test_verify_passes_on_plans(planned):
    bundle, out = planned
    r = runner.invoke(app, ["verify", str(bundle), str(out)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("OK")
    assert len(r.output.strip().splitlines()) == 1


def test_verify_fails_when_one_activity_is_altered(planned, tmp_path):
    bundle, out = planned
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    act = pd.read_csv(bad / "activities.csv")
    j = act["level"].idxmax()
    act.loc[j, "level"] *= 1.001  # uses more labour/inputs than the plan can afford
    act.to_csv(bad / "activities.csv", index=False)
    v = verify(bundle, bad)
    assert not v.ok
    r = runner.invoke(app, ["verify", str(bundle), str(bad)])
    assert r.exit_code == 1 and r.output.startswith("FAIL")


@pytest.mark.parametrize("file", ["activities.csv", "products.csv", "resources.csv"])
def test_verify_fails_on_a_row_named_twice(planned, tmp_path, file):
    """A plan file that names a technique, product or resource twice is not a plan (which
    row would count?): FAIL naming the file, the id and the line, exit 1."""
    bundle, out = planned
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    df = pd.read_csv(bad / file, dtype=str, keep_default_na=False)
    pd.concat([df, df.iloc[[1]]]).to_csv(bad / file, index=False)
    r = runner.invoke(app, ["verify", str(bundle), str(bad)])
    assert r.exit_code == 1, r.output
    assert r.output.startswith(f"FAIL: {file} names") and repr(df.iloc[1, 0]) in r.output
    assert f"line {len(df) + 2}" in r.output


def test_verify_reads_plan_columns_by_name(planned, tmp_path):
    """Another tool may write the plan's columns in another order: same verdict."""
    bundle, out = planned
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    for file in ("activities.csv", "products.csv", "resources.csv"):
        df = pd.read_csv(moved / file, dtype=str, keep_default_na=False)
        df[df.columns[::-1]].to_csv(moved / file, index=False)
    assert verify(bundle, moved).line == verify(bundle, out).line
    assert verify(bundle, moved).ok


def test_verify_fails_when_a_technique_has_no_level(planned, tmp_path):
    bundle, out = planned
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    df = pd.read_csv(bad / "activities.csv", dtype=str, keep_default_na=False)
    df.drop(index=2).to_csv(bad / "activities.csv", index=False)
    v = verify(bundle, bad)
    assert not v.ok and v.line == f"FAIL: activities.csv lacks technique {df.iloc[2, 0]!r}"


def test_verify_fails_when_a_binding_resource_is_valued_zero(planned, tmp_path):
    bundle, out = planned
    s = json.loads((out / "summary.json").read_text())
    binding = [b for b in s["bottlenecks"] if b["kind"] == "resource"]
    if not binding:
        pytest.skip("no binding resource in this plan")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    res = pd.read_csv(bad / "resources.csv")
    res.loc[res["resource"] == binding[0]["id"], "valuation"] = 0.0
    res.to_csv(bad / "resources.csv", index=False)
    v = verify(bundle, bad)
    assert not v.ok and "dual" in v.line


def test_verify_fails_on_a_claimed_higher_fulfilment(tmp_path, example_bundle):
    out = tmp_path / "p"
    econplan.load(example_bundle).plan().write(out)
    s = json.loads((out / "summary.json").read_text())
    s["fulfilment"] *= 1.01
    (out / "summary.json").write_text(json.dumps(s))
    assert not verify(example_bundle, out).ok


def test_verify_fails_for_another_bundle(tmp_path, example_bundle, generated):
    out = tmp_path / "p"
    econplan.load(example_bundle).plan().write(out)
    v = verify(generated(20, 1, seed=1), out)
    assert not v.ok and "different bundle" in v.line


def test_planning_twice_gives_identical_files(tmp_path, generated):
    bundle = generated(300, 2, seed=21, capacities=True, floors=True)
    for name in ("a", "b"):
        r = runner.invoke(app, ["plan", str(bundle), "--out", str(tmp_path / name)])
        assert r.exit_code == 0
    for p in sorted((tmp_path / "a").iterdir()):
        a, b = p.read_bytes(), (tmp_path / "b" / p.name).read_bytes()
        if p.name == "summary.json":
            ja, jb = json.loads(a), json.loads(b)
            ja.pop("seconds"), jb.pop("seconds")
            assert ja == jb
        else:
            assert a == b, p.name


def test_plan_cli_prints_a_short_summary(tmp_path, example_bundle):
    r = runner.invoke(app, ["plan", str(example_bundle), "--out", str(tmp_path / "p")])
    assert r.exit_code == 0
    assert "fulfilment t* = " in r.output and "certificate" in r.output
    assert len(r.output.strip().splitlines()) <= 12
    q = runner.invoke(app, ["--quiet", "plan", str(example_bundle), "--out", str(tmp_path / "q")])
    assert q.exit_code == 0 and q.output == ""


def test_plan_without_needs_is_certified(tmp_path, example_bundle):
    bundle = tmp_path / "b"
    shutil.copytree(example_bundle, bundle)
    (bundle / "needs.csv").unlink()  # optional file: no needs at all
    out = tmp_path / "p"
    r = runner.invoke(app, ["plan", str(bundle), "--out", str(out)])
    assert r.exit_code == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["fulfilment"] == 1.0 and s["labour_used"] == 0.0
    assert verify(bundle, out).ok


@pytest.mark.parametrize("key,value", [("duality_gap", 0.5), ("primal_residual", 3.0),
                                       ("dual_residual", 0.25), ("duality_gap", -1e-7),
                                       ("primal_residual", 5e-7), ("dual_residual", 5e-7)])
def test_verify_fails_on_false_figures_in_the_summary(planned, tmp_path, key, value):
    """summary.json's residuals and gap must be the ones the files give (a fuzzer changed them
    in a certified plan and verify still said OK)."""
    bundle, out = planned
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    s = json.loads((bad / "summary.json").read_text())
    s[key] = value
    (bad / "summary.json").write_text(json.dumps(s))
    v = verify(bundle, bad)
    assert not v.ok and key in v.line


def test_verify_fails_when_the_summary_lacks_a_contract_field(planned, tmp_path):
    """Every field DESIGN.md's plan output lists must be in summary.json (an outside check
    removed duality_gap, primal_residual, bottlenecks, objective, solver, seconds,
    techniques and solver_version in turn, and verify said OK: session 26)."""
    from econplan.verify import SUMMARY_FIELDS

    bundle, out = planned
    s = json.loads((out / "summary.json").read_text())
    assert set(SUMMARY_FIELDS) <= set(s)
    for key in SUMMARY_FIELDS:
        bad = tmp_path / f"bad-{key}"
        shutil.copytree(out, bad)
        (bad / "summary.json").write_text(json.dumps({k: v for k, v in s.items() if k != key}))
        v = verify(bundle, bad)
        assert not v.ok and f"lacks {key}" in v.line, (key, v.line)


def test_verify_fails_when_the_bottlenecks_are_not_the_binding_ones(planned, tmp_path):
    """The bottlenecks must be every binding resource and capacity, and only those, largest
    first (an outside check emptied, reversed and shortened the list and added an unpriced
    resource, and verify said OK: session 26)."""
    bundle, out = planned
    s = json.loads((out / "summary.json").read_text())
    listed = s["bottlenecks"]
    assert listed  # each planned economy has a binding resource or capacity
    res = pd.read_csv(out / "resources.csv")
    unpriced = res[res["valuation"] == 0]
    edits = {"emptied": [], "shortened": listed[1:]}
    if len(listed) > 1:
        edits["reversed"] = listed[::-1]
    if len(unpriced):
        r = unpriced.iloc[0]
        edits["unpriced added"] = listed + [{
            "kind": "resource", "id": r["resource"], "valuation": 0.0, "used": r["used"],
            "available": r["available"], "gain_per_percent": 0.0, "per": listed[0]["per"]}]
    for what, bottlenecks in edits.items():
        bad = tmp_path / what.replace(" ", "-")
        shutil.copytree(out, bad)
        (bad / "summary.json").write_text(json.dumps({**s, "bottlenecks": bottlenecks}))
        v = verify(bundle, bad)
        assert not v.ok and "bottleneck" in v.line, (what, v.line)


SUMMARY_FIGURES = ["bound", "fulfilment_achieved", "labour_used", "labour_available",
                   "labour_cost", "fulfilment", "products", "techniques", "resources"]


def test_verify_fails_on_any_other_false_figure_in_the_summary(planned, tmp_path):
    """Every figure summary.json derives from the files is recomputed (session-16 fuzzer:
    bound, fulfilment_achieved, labour_used, labour_available and the resource count changed
    in a certified plan's summary.json, and verify said OK); so are the bottlenecks' figures.
    One plan per fixture, each figure it carries altered in turn."""
    bundle, out = planned
    s0 = json.loads((out / "summary.json").read_text())
    changes = [(key, [key], s0[key] + 1 if isinstance(s0[key], int) else s0[key] * 1.01 + 0.5)
               for key in SUMMARY_FIGURES if key in s0]
    assert len(changes) >= 7
    if s0.get("bottlenecks"):
        b = s0["bottlenecks"][0]
        changes += [(f"bottleneck {b['id']!r}", ["bottlenecks", 0, f], b[f] * 1.01 + 0.5)
                    for f in ("valuation", "used", "available", "gain_per_percent")]
        changes.append((f"names {b['kind']} 'nowhere'", ["bottlenecks", 0, "id"], "nowhere"))
    for i, (said, path, value) in enumerate(changes):
        bad = tmp_path / f"bad{i}"
        shutil.copytree(out, bad)
        s = json.loads((bad / "summary.json").read_text())
        node = s
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
        (bad / "summary.json").write_text(json.dumps(s))
        v = verify(bundle, bad)
        assert not v.ok and said in v.line, (path, v.line)


@pytest.mark.parametrize("tol", ["-1", "nan", "inf", "0", "2"])
def test_verify_refuses_a_tolerance_that_proves_nothing(example_bundle, tmp_path, tol):
    r = runner.invoke(app, ["verify", str(example_bundle), str(tmp_path), "--tol", tol])
    assert r.exit_code == 2 and "--tol" in r.output


DERIVED = [("products.csv", "gross_output"), ("products.csv", "intermediate_use"),
           ("products.csv", "net_output"), ("products.csv", "target"),
           ("products.csv", "floor"), ("products.csv", "fulfilment"),
           ("resources.csv", "used"), ("resources.csv", "available"),
           ("activities.csv", "capacity")]


def test_verify_fails_on_a_false_derived_figure(planned, tmp_path):
    """The tables' figures derived from the levels and the bundle are recomputed too: a
    reader of products.csv must be able to trust its net output and fulfilment. One figure
    of each column altered at a time (one plan per fixture: CI time)."""
    bundle, out = planned
    for file, column in DERIVED:
        bad = tmp_path / f"bad-{column}"
        shutil.copytree(out, bad)
        df = pd.read_csv(bad / file, dtype=str, keep_default_na=False)
        vals = pd.to_numeric(df[column].where(df[column] != "", None), errors="coerce")
        i = int(vals.abs().fillna(-1).to_numpy().argmax())  # a row with a figure
        x = float(vals.iloc[i])
        df.loc[i, column] = "2.0" if x != x else repr(x * 1.01 + 1.0)  # a figure where none is
        df.to_csv(bad / file, index=False)
        v = verify(bundle, bad)
        assert not v.ok, (file, column)
        assert v.line.startswith(f"FAIL: {file}'s {column} of ") and f"(line {i + 2})" in v.line


def test_verify_fails_on_a_technique_said_to_make_another_product(planned, tmp_path):
    """activities.csv's product column is the bundle's (session-16 fuzzer: renamed, verify
    said OK)."""
    bundle, out = planned
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    df = pd.read_csv(bad / "activities.csv", dtype=str, keep_default_na=False)
    df.loc[2, "product"] = df.loc[2, "product"] + "X"
    df.to_csv(bad / "activities.csv", index=False)
    line = verify(bundle, bad).line
    assert line.startswith("FAIL: ") and "activities.csv's product of technique" in line
    assert "(line 4)" in line


def test_verify_fails_on_a_product_the_bundle_lacks(planned, tmp_path):
    bundle, out = planned
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    df = pd.read_csv(bad / "products.csv", dtype=str, keep_default_na=False)
    df.loc[1, "product"] = "no-such-product"
    df.to_csv(bad / "products.csv", index=False)
    line = verify(bundle, bad).line
    assert line.startswith("FAIL: ")
    assert "products.csv names product 'no-such-product', which the bundle lacks (line 3)" in line


def test_verify_passes_a_plan_with_no_needs(tmp_path, example_bundle):
    """All targets 0 (labour named in economy.toml, not listed first): t = 1 by convention
    and the summary's bound 1 (DESIGN.md); verify's own recomputation must agree (a
    mid-session state of verify said "bound 1.0 is not the recomputed 0")."""
    bundle = tmp_path / "bundle"
    shutil.copytree(example_bundle, bundle)
    needs = pd.read_csv(bundle / "needs.csv")
    needs["target"] = 0.0
    needs["floor"] = 0.0
    needs.to_csv(bundle / "needs.csv", index=False)
    res = pd.read_csv(bundle / "resources.csv")
    res = pd.concat([res.iloc[1:], res.iloc[:1]])  # labour last, named instead
    res.to_csv(bundle / "resources.csv", index=False)
    toml = (bundle / "economy.toml").read_text()
    (bundle / "economy.toml").write_text('labour = "labour"\n' + toml)
    out = tmp_path / "plan"
    r = runner.invoke(app, ["plan", str(bundle), "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["fulfilment"] == 1.0 and s["bound"] == 1.0
    v = verify(bundle, out)
    assert v.ok, v.line


def test_verify_names_an_infeasible_plans_status(tmp_path):
    """An infeasible plan (summary.json only) fails on its status, not on the certificate
    fields it cannot have (it said "lacks bottlenecks": an outside check, session 26)."""
    from econplan.model import Economy
    from small_economies import bread_tables

    tables = bread_tables()
    meta, t = tables
    t = dict(t)
    needs = t["needs"].copy()
    needs["floor"] = needs["target"] * 1e6
    needs["target"] = needs["floor"]
    t["needs"] = needs
    e = Economy.from_tables(meta, t)
    plan = e.plan()
    assert plan.status == "infeasible"
    econplan.write_bundle(e, tmp_path / "b")
    plan.write(tmp_path / "p")
    v = verify(tmp_path / "b", tmp_path / "p")
    assert not v.ok and "status is 'infeasible'" in v.line, v.line
