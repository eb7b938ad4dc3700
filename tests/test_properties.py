"""Hypothesis properties of the plan (issue 3): scaling, monotonicity, row order, formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import econplan
from econplan import Economy

SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _economy(seed: int, n: int, k: int, capacities: bool = False, floors: bool = False
             ) -> Economy:
    tables = econplan.generate(None, products=n, techniques_per_product=k, seed=seed,
                               capacities=capacities, floors=floors)
    return Economy.from_tables({"name": "h", "period": "p"}, tables)


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(5, 60), k=st.integers(1, 3),
       alpha=st.floats(0.05, 20.0))
def test_scaling_targets_scales_t_inversely(seed, n, k, alpha):
    e = _economy(seed, n, k)
    t1 = e.plan().fulfilment
    needs = e.needs.copy()
    needs["target"] *= alpha
    t2 = e.replace(needs=needs).plan().fulfilment
    assert abs(t2 - t1 / alpha) <= 1e-7 * max(1.0, t1 / alpha)


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(5, 50), which=st.integers(0, 10_000),
       factor=st.floats(0.3, 1.2), more=st.floats(1.0, 3.0), res=st.integers(0, 2))
def test_more_techniques_or_resources_never_lower_t(seed, n, which, factor, more, res):
    e = _economy(seed, n, 2, capacities=True, floors=True)
    t0 = e.plan().fulfilment
    # a new technique: a variant of an existing one with scaled labour
    tech = e.techniques.iloc[which % e.n_techniques]
    new_id = f"{tech['id']}-new"
    techniques = pd.concat([e.techniques, pd.DataFrame([{
        "id": new_id, "product": tech["product"], "output": tech["output"],
        "capacity": np.nan}])], ignore_index=True)
    inputs = e.inputs[e.inputs["technique"] == tech["id"]].assign(technique=new_id)
    use = e.resource_use[e.resource_use["technique"] == tech["id"]].assign(technique=new_id)
    use.loc[use["resource"] == e.labour, "amount"] *= factor
    e2 = e.replace(techniques=techniques,
                   inputs=pd.concat([e.inputs, inputs], ignore_index=True),
                   resource_use=pd.concat([e.resource_use, use], ignore_index=True))
    assert e2.plan().fulfilment >= t0 * (1 - 1e-9)
    resources = e.resources.copy()
    resources.loc[res % len(resources), "available"] *= more
    assert e.replace(resources=resources).plan().fulfilment >= t0 * (1 - 1e-9)


def _plan_files(bundle: Path, out: Path) -> dict[str, bytes]:
    econplan.load(bundle).plan().write(out, report=False)
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    s = json.loads(files["summary.json"])
    s.pop("seconds")
    s.pop("bundle", None)
    files["summary.json"] = json.dumps(s, sort_keys=True).encode()
    return files


@SETTINGS
@given(seed=st.integers(0, 10_000), shuffle_seed=st.integers(0, 2**32 - 1))
def test_shuffling_rows_changes_nothing(tmp_path_factory, seed, shuffle_seed):
    root = tmp_path_factory.mktemp("shuffle")
    a = root / "a"
    econplan.generate(a, products=30, techniques_per_product=2, seed=seed, capacities=True,
                      floors=True)
    b = root / "b"
    shutil.copytree(a, b)
    rng = np.random.default_rng(shuffle_seed)
    for name in ["products", "techniques", "inputs", "resource_use", "needs"]:
        df = pd.read_csv(b / f"{name}.csv", dtype=str, keep_default_na=False)
        df.iloc[rng.permutation(len(df))].to_csv(b / f"{name}.csv", index=False)
    # resources keep labour first (its position carries meaning); the rest may move
    r = pd.read_csv(b / "resources.csv", dtype=str, keep_default_na=False)
    rest = r.iloc[1:].iloc[rng.permutation(len(r) - 1)]
    pd.concat([r.iloc[:1], rest]).to_csv(b / "resources.csv", index=False)
    assert econplan.load(a).sha256 == econplan.load(b).sha256
    fa, fb = _plan_files(a, root / "pa"), _plan_files(b, root / "pb")
    assert fa == fb
    va = econplan.load(a).values()
    vb = econplan.load(b).values()
    pd.testing.assert_frame_equal(va, vb)


@SETTINGS
@given(seed=st.integers(0, 10_000), k=st.integers(1, 3))
def test_csv_and_parquet_give_the_same_plan(tmp_path_factory, seed, k):
    root = tmp_path_factory.mktemp("formats")
    econplan.generate(root / "csv", products=40, techniques_per_product=k, seed=seed,
                      capacities=True, floors=True, format="csv")
    econplan.generate(root / "pq", products=40, techniques_per_product=k, seed=seed,
                      capacities=True, floors=True, format="parquet")
    assert any(p.suffix == ".parquet" for p in (root / "pq").iterdir())
    assert _plan_files(root / "csv", root / "p1") == _plan_files(root / "pq", root / "p2")


def test_bundle_round_trip_is_identical(tmp_path, generated):
    for fmt in ("csv", "parquet"):
        src = generated(200, 2, seed=5, capacities=True, floors=True)
        e1 = econplan.load(src)
        econplan.write_bundle(e1, tmp_path / fmt, format=fmt)
        e2 = econplan.load(tmp_path / fmt)
        for name, df in e1.tables.items():
            pd.testing.assert_frame_equal(df, e2.tables[name], check_exact=True)
        assert e1.sha256 == e2.sha256
        assert (e1.A != e2.A).nnz == 0 and (e1.R != e2.R).nnz == 0
        econplan.write_bundle(e2, tmp_path / f"{fmt}2", format=fmt)
        for p in (tmp_path / fmt).iterdir():
            assert p.read_bytes() == (tmp_path / f"{fmt}2" / p.name).read_bytes()
