"""``explain``: plain words from a plan's files, on hand-made economies with known answers
(tests/small_economies.py: t* = 100/87.6 with labour binding; 45/40 with the bakery's
capacity binding; bread's labour value 1 + 2·0.52 + 0.5·0.2 = 2.14 hours)."""

from __future__ import annotations

import json
import shutil

import pytest

import econplan
from econplan.bundle import write_bundle
from econplan.errors import BundleError
from econplan.explain import explain
from econplan.model import Economy
from small_economies import CAPACITY_T, LABOUR_T, bread_tables


def _plan(tmp_path, capacity=None):
    bundle = tmp_path / "bundle"
    write_bundle(Economy.from_tables(*bread_tables(capacity)), bundle)
    plan_dir = tmp_path / "plan"
    econplan.load(bundle).plan().write(plan_dir)
    return bundle, plan_dir


def test_labour_binds(tmp_path):
    _, plan_dir = _plan(tmp_path)
    text = explain(plan_dir)
    assert f"{100 * LABOUR_T:.1f} % of each need" in text  # 114.2 %
    assert "Every need can be met in full" in text
    # one more hour buys 1/87.6 of t = 1.14 points; 1 % more (1 hour) the same
    assert "- labour: 100 of 100 hours used." in text
    assert f"One more hour would raise fulfilment by {100 / 87.6:.3g} percentage points" in text
    assert "land 91.3 %" in text  # 8 ha per unit of t × 1.1416 of 10 ha
    # largest needs in labour: bread 2.14 × 40 = 85.6 hours, electricity 0.2 × 10 = 2
    assert "Bread 85.6 hours; Electricity 2 hours" in text


def test_capacity_binds(tmp_path):
    _, plan_dir = _plan(tmp_path, capacity=45)
    text = explain(plan_dir)
    assert f"{100 * CAPACITY_T:.1f} % of each need" in text  # 112.5 %
    assert "the capacity of bakery (makes Bread): 45 of 45 used" in text
    # one more loaf of capacity buys 1/40 of t = 2.5 points; 1 % (0.45 loaf) 1.125 points
    assert "would raise fulfilment by 2.5 percentage points" in text
    assert "1 % more would raise fulfilment by 1.12 percentage points" in text
    # labour does not bind: 87.6 × 1.125 = 98.55 of 100 hours used
    assert "One more hour of labour would buy nothing now" in text
    assert "1.45 spare" in text


def test_product_cost_breakdown(tmp_path):
    bundle, plan_dir = _plan(tmp_path)
    text = explain(plan_dir, product="bread")
    assert "Bread (bread) costs 2.14 hours per loaf" in text
    lines = text.splitlines()
    i = lines.index("It is made by bakery. Per loaf:")
    assert lines[i + 1] == "- direct labour at bakery: 1 hours"
    assert lines[i + 2] == "- 2 kg of Grain at 0.52 hours each: 1.04 hours"
    assert lines[i + 3] == "- 0.5 kWh of Electricity at 0.2 hours each: 0.1 hours"
    assert "Together 2.14 hours: its direct labour and its inputs at their valuations" in text
    assert "labour value only when labour alone binds" in text
    # the bundle can be given explicitly when the recorded one has moved
    moved = tmp_path / "moved"
    shutil.move(bundle, moved)
    assert "bundle is needed" in explain(plan_dir, product="bread")
    assert "- 2 kg of Grain" in explain(plan_dir, product="bread", bundle=moved)


def test_infeasible_floors(tmp_path):
    meta, tables = bread_tables()
    tables["needs"].loc[0, "floor"] = 40.0
    tables["resources"].loc[0, "available"] = 50.0  # 87.6 h would be needed for the floors
    bundle = tmp_path / "bundle"
    write_bundle(Economy.from_tables(meta, tables), bundle)
    plan = econplan.load(bundle).plan()
    plan.write(tmp_path / "plan")
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert summary["status"] == "infeasible"
    text = explain(tmp_path / "plan")
    assert "No plan is possible" in text
    assert "resource labour lacks" in text


def test_bad_input(tmp_path):
    with pytest.raises(BundleError, match="summary.json"):
        explain(tmp_path)
    _, plan_dir = _plan(tmp_path)
    with pytest.raises(BundleError, match="no product 'cake'"):
        explain(plan_dir, product="cake")


def test_damaged_plans_and_wrong_bundles_are_bad_input(tmp_path, example_bundle):
    """Each named with its file, line and field, or the option, through the CLI: exit 2, one
    line (an outside check, session 26: a summary.json list gave a traceback, 'abc' in a
    valuation exit 1 with a ValueError, a --bundle that is not there or not the plan's
    exit 0)."""
    from typer.testing import CliRunner

    from econplan.cli import app

    bundle, plan_dir = _plan(tmp_path)
    cases = []
    listed = tmp_path / "listed"
    shutil.copytree(plan_dir, listed)
    (listed / "summary.json").write_text(json.dumps([1, 2]))
    cases.append(([str(listed)], "summary.json: not a JSON object"))
    bad = tmp_path / "abc"
    shutil.copytree(plan_dir, bad)
    lines = (bad / "products.csv").read_text().splitlines()
    head = lines[0].split(",")
    row = lines[1].split(",")
    row[head.index("valuation")] = "abc"
    lines[1] = ",".join(row)
    (bad / "products.csv").write_text("\n".join(lines) + "\n")
    cases.append(([str(bad)], "products.csv, line 2, field 'valuation': not a number"))
    cases.append(([str(plan_dir), "--bundle", str(tmp_path / "nowhere")],
                  "no such bundle folder"))
    cases.append(([str(plan_dir), "--bundle", str(example_bundle)],
                  "not the bundle this plan was made from"))
    for args, words in cases:
        r = CliRunner().invoke(app, ["explain", *args])
        out = [x for x in r.output.splitlines() if x.strip()]
        assert r.exit_code == 2 and len(out) == 1 and words in out[0], (args, r.output)
    r = CliRunner().invoke(app, ["explain", str(plan_dir), "--bundle", str(bundle)])
    assert r.exit_code == 0, r.output


def test_a_reader_that_goes_away_ends_explain_quietly(tmp_path, generated):
    """``econplan explain PLAN | head -1``: the closed pipe ends the command with SIGPIPE's
    conventional status (141) and nothing on stderr — no "BrokenPipeError" line."""
    import subprocess
    import sys

    import econplan

    plan = tmp_path / "plan"
    economy = econplan.load(generated(3000, 2, capacities=True, floors=True))
    economy.plan(solver="pdhg").write(plan, report=False)  # hundreds of binding capacities
    proc = subprocess.Popen([sys.executable, "-m", "econplan.cli", "explain", str(plan)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away with ~150 kB still to come
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert first.startswith(b"Plan for") and err == b"", err


def test_infeasible_min_labour_names_the_targets(tmp_path, example_bundle):
    """min-labour's infeasibility is its targets' (session-16 fuzzer: explain said "lower the
    floors" for a plan whose floors are reachable; the bundled example's targets need 3,599
    more of wind_farm's capacity than there is)."""
    plan = econplan.load(example_bundle).plan(objective="min-labour")
    plan.write(tmp_path / "plan")
    assert plan.summary["status"] == "infeasible"
    text = explain(tmp_path / "plan")
    assert "the targets (min-labour meets every target exactly) are out of reach" in text
    assert "- the capacity of wind_farm lacks 3,599" in text
    assert "lower the targets" in text and "floor" not in text


def _gold_bundle(tmp_path, example_bundle, floor: float):
    """The bundled example plus gold (need 10, ``floor``), made only from ore, which nothing
    makes."""
    bundle = tmp_path / "bundle"
    shutil.copytree(example_bundle, bundle)
    for name, rows in (("products", "ore,Ore,tonnes\ngold,Gold,kg\n"),
                       ("techniques", "mine,gold,1,\n"), ("inputs", "mine,ore,0.5\n"),
                       ("needs", f"gold,10,1,{floor:g}\n")):
        with open(bundle / f"{name}.csv", "a") as f:
            f.write(rows)
    return bundle


def test_infeasible_with_nothing_to_raise_names_the_product(tmp_path, example_bundle):
    """A floor on gold, made only from ore, which nothing makes: no amount of any resource
    helps (``blocking`` is empty), so the message and explain name gold; --product with an
    id the economy lacks is an error, as for a feasible plan (session-16 fuzzer: explain
    advised raising an empty list and ignored --product)."""
    plan = econplan.load(_gold_bundle(tmp_path, example_bundle, floor=2)).plan()
    plan.write(tmp_path / "plan")
    s = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert s["status"] == "infeasible" and s["blocking"] == []
    assert s["message"].endswith("nothing can make these products that the floors need: gold")
    text = explain(tmp_path / "plan")
    assert "No resource or capacity would help" in text and ": gold." in text
    assert "Raise those" not in text
    with pytest.raises(BundleError, match="no product 'nope'"):
        explain(tmp_path / "plan", product="nope")
    assert "gold: target 10, floor 2; nothing can make it" in explain(tmp_path / "plan",
                                                                      product="gold")


def test_a_need_nothing_can_make_holds_t_at_zero_and_is_named(tmp_path, example_bundle):
    """A target (no floor) on gold, made only from ore, which nothing makes: t* = 0 is a
    plan (exit 0, every other need at its floor); its message names gold and explain says
    0 % (it said "nan %": a t of 0 read as missing), with the reason (session-16 fuzzer)."""
    plan = econplan.load(_gold_bundle(tmp_path, example_bundle, floor=0)).plan()
    plan.write(tmp_path / "plan")
    s = plan.summary
    assert s["status"] == "optimal" and s["fulfilment"] == 0.0
    assert s["message"] == "nothing can make these products that the targets need: gold"
    text = explain(tmp_path / "plan")
    assert "0.0 % of each need beyond its floor (t* = 0)" in text and "nan" not in text
    assert "Why nothing more: nothing can make these products that the targets need: gold" in text
