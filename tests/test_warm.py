"""Warm starts from a previous plan (econplan.plan.warm): matched by id, certified as cold
plans are, and fewer PDHG iterations after a small change of needs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import econplan
from econplan.errors import BundleError
from econplan.plan.warm import warm_start_from
from econplan.verify import verify
from test_plan import reference_t


@pytest.fixture(scope="module")
def before_after(generated, tmp_path_factory):
    """A 300 × 2 economy with capacities and floors, its plan written, and the same economy
    with every target and floor moved by up to ±1 %."""
    e = econplan.load(generated(300, 2, seed=3, capacities=True, floors=True))
    root = tmp_path_factory.mktemp("warm")
    p0 = e.plan(solver="pdhg")
    assert p0.ok
    p0.write(root / "plan0")
    needs = e.needs.copy()
    f = 1 + 0.01 * np.random.default_rng(0).uniform(-1, 1, len(needs))
    needs["target"] *= f
    needs["floor"] *= f
    return e, p0, root, e.replace(needs=needs)


def test_warm_from_folder_same_optimum_fewer_iterations(before_after):
    _, _, root, e1 = before_after
    cold = e1.plan(solver="pdhg")
    warm = e1.plan(solver="pdhg", warm_start=root / "plan0")
    assert cold.ok and warm.ok
    assert warm.summary["warm_start"] is True and "warm_start" not in cold.summary
    t_ref = reference_t(e1)
    assert abs(warm.fulfilment - t_ref) <= 1e-6 * max(1.0, t_ref)
    assert abs(cold.fulfilment - t_ref) <= 1e-6 * max(1.0, t_ref)
    # measured: 1,792 cold against 128 warm
    assert warm.result.iterations * 4 <= cold.result.iterations
    econplan.write_bundle(e1, root / "b1")
    warm.write(root / "plan1")
    v = verify(root / "b1", root / "plan1")
    assert v.ok, v.line


def test_warm_from_plan_object_and_fast(before_after):
    _, p0, _, e1 = before_after
    warm = e1.plan(solver="fast", warm_start=p0)  # the same ids: the result is reused
    assert warm.ok
    assert abs(warm.fulfilment - reference_t(e1)) <= 1e-6 * max(1.0, warm.fulfilment)


def test_matched_by_id_when_rows_move(before_after):
    e, p0, root, _ = before_after
    # techniques in reverse order, one new technique, one resource fewer in the plan files
    tech = e.techniques.iloc[::-1].reset_index(drop=True)
    new = tech.iloc[[0]].copy()
    new["id"] = "brand-new"
    e2 = e.replace(techniques=pd.concat([tech, new], ignore_index=True))
    ws = warm_start_from(e2, root / "plan0")
    level = dict(zip(p0.activities["technique"], p0.activities["level"], strict=True))
    rent = dict(zip(p0.activities["technique"], p0.activities["valuation"], strict=True))
    for j, tid in enumerate(e2.technique_ids):
        assert ws.z[j] == (max(level[tid], 0.0) if tid in level else 0.0)
        assert ws.v[j] == (max(rent[tid], 0.0) if tid in rent else 0.0)
    dual = dict(zip(p0.products["product"], p0.products["fulfilment_dual"], strict=True))
    assert np.array_equal(ws.p, [max(dual[i], 0.0) for i in e2.product_ids])
    assert ws.t == pytest.approx(p0.fulfilment, rel=1e-15)
    plan = e2.plan(solver="pdhg", warm_start=root / "plan0")
    assert plan.ok
    assert abs(plan.fulfilment - reference_t(e2)) <= 1e-6 * max(1.0, plan.fulfilment)


def test_highs_starts_from_the_previous_vertex(before_after):
    _, p0, root, e1 = before_after
    cold = e1.plan(solver="highs")
    warm = e1.plan(solver="highs", warm_start=root / "plan0")
    assert cold.ok and warm.ok
    t_ref = reference_t(e1)
    assert abs(warm.fulfilment - t_ref) <= 1e-7 * max(1.0, t_ref)
    # simplex pivots of both stages; measured: 68 from the crash basis, 4 from the old vertex
    assert warm.result.iterations * 4 <= cold.result.iterations
    assert "warm start" not in warm.summary.get("message", "")


def test_backend_without_warm_start_says_so(before_after):
    _, p0, _, e1 = before_after
    plan = e1.plan(solver="scipy", warm_start=p0)
    assert plan.ok
    assert "warm start not used" in plan.summary["message"]
    assert plan.summary["warm_start"] is False


def _plan0_with(root, bad, activities: list[str]) -> None:
    """``bad``: a copy of the fixture's plan0 with its activities.csv lines replaced."""
    bad.mkdir()
    for f in ("summary.json", "products.csv", "resources.csv"):
        (bad / f).write_bytes((root / "plan0" / f).read_bytes())
    (bad / "activities.csv").write_text("\n".join(activities) + "\n")


def _plan0_activities(root) -> list[str]:
    return (root / "plan0" / "activities.csv").read_text().splitlines()


def test_bad_warm_start_folder_names_file_line_field(before_after, tmp_path):
    e, _, root, _ = before_after
    bad = tmp_path / "bad"
    lines = _plan0_activities(root)
    cells = lines[3].split(",")
    cells[2] = "lots"
    lines[3] = ",".join(cells)
    _plan0_with(root, bad, lines)
    with pytest.raises(BundleError, match=r"activities\.csv, line 4, field 'level': not a number"):
        warm_start_from(e, bad)
    (bad / "resources.csv").write_text("resource,used\nlabour,1\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "econplan.cli", "plan", str(root / "b1"), "--out",
                        str(out), "--warm-start", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_warm_start_folder_naming_a_technique_twice_is_bad_input(before_after, tmp_path):
    """As verify refuses it (it was accepted: an outside check, session 26)."""
    e, _, root, _ = before_after
    bad = tmp_path / "twice"
    lines = _plan0_activities(root)
    lines.append(lines[1])  # the first technique again
    _plan0_with(root, bad, lines)
    first = lines[1].split(",")[0]
    with pytest.raises(BundleError, match=rf"activities\.csv, line {len(lines)}, field "
                                          rf"'technique': warm start: names technique "
                                          rf"'{first}' twice"):
        warm_start_from(e, bad)


def test_infeasible_previous_plan_is_named(before_after, tmp_path):
    e, _, _, _ = before_after
    (tmp_path / "summary.json").write_text('{"status": "infeasible", "blocking": []}')
    with pytest.raises(BundleError, match=r"summary\.json, field 'status': warm start: this "
                                          r"plan has status 'infeasible'"):
        warm_start_from(e, tmp_path)


def test_a_plan_of_another_economy_is_not_reported_as_a_warm_start(tmp_path, example_bundle,
                                                                   generated):
    """No technique of this economy runs in it: every backend starts cold, so the summary
    says warm_start false, and why (it said true: an outside check, session 26)."""
    other = econplan.load(generated(50, 1, seed=3)).plan()
    other.write(tmp_path / "other")
    e = econplan.load(example_bundle)
    cold = e.plan(solver="highs")
    plan = e.plan(solver="highs", warm_start=tmp_path / "other")
    assert plan.ok and plan.summary["warm_start"] is False
    assert "warm start not used" in plan.summary["message"]
    assert abs(plan.fulfilment - cold.fulfilment) <= 1e-9 * max(1.0, cold.fulfilment)
