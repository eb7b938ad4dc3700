"""Tests of the synthetic economy generator, checked from the written tables themselves.

The matrices here are rebuilt from the returned DataFrames / written files with plain pandas
and NumPy (not from the generator's internal arrays), so the checks are independent of the
generator's own bookkeeping.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from econplan.generate import generate, generate_arrays

COLUMNS = {
    "products": ["id", "name", "unit"],
    "techniques": ["id", "product", "output", "capacity"],
    "inputs": ["technique", "product", "amount"],
    "resources": ["id", "name", "unit", "available"],
    "resource_use": ["technique", "resource", "amount"],
    "needs": ["product", "target", "priority", "floor"],
}


def matrices(t: dict[str, pd.DataFrame]):
    """Dense A, B, R, cap, b, y, ymin rebuilt from the bundle tables."""
    pid = {p: i for i, p in enumerate(t["products"]["id"])}
    tid = {x: j for j, x in enumerate(t["techniques"]["id"])}
    rid = {x: k for k, x in enumerate(t["resources"]["id"])}
    n, m, k = len(pid), len(tid), len(rid)
    A = np.zeros((n, m))
    rows = t["inputs"]["product"].map(pid).to_numpy()
    cols = t["inputs"]["technique"].map(tid).to_numpy()
    np.add.at(A, (rows, cols), t["inputs"]["amount"].to_numpy())
    B = np.zeros((n, m))
    tp = t["techniques"]["product"].map(pid).to_numpy()
    B[tp, np.arange(m)] = t["techniques"]["output"].to_numpy()
    R = np.zeros((k, m))
    ru = t["resource_use"]
    np.add.at(
        R,
        (ru["resource"].map(rid).to_numpy(), ru["technique"].map(tid).to_numpy()),
        ru["amount"].to_numpy(),
    )
    cap = t["techniques"]["capacity"].to_numpy(dtype=float)
    b = t["resources"]["available"].to_numpy()
    y = np.zeros(n)
    ymin = np.zeros(n)
    nd = t["needs"]
    y[nd["product"].map(pid).to_numpy()] = nd["target"].to_numpy()
    ymin[nd["product"].map(pid).to_numpy()] = nd["floor"].to_numpy()
    return A, B, R, cap, b, y, ymin, tp


def max_fulfilment(A, B, R, cap, b, y, ymin):
    """t* by scipy HiGHS: max t s.t. (B−A)z ≥ ymin + t(y−ymin), Rz ≤ b, 0 ≤ z ≤ cap."""
    n, m = A.shape
    M = B - A
    d = y - ymin
    A_ub = sp.vstack(
        [
            sp.hstack([sp.csr_array(-M), sp.csr_array(d[:, None])]),
            sp.hstack([sp.csr_array(R), sp.csr_array((R.shape[0], 1))]),
        ]
    )
    b_ub = np.concatenate([-ymin, b])
    c = np.zeros(m + 1)
    c[-1] = -d.sum()  # scaled objective (DESIGN.md numerics note)
    bounds = [(0, None if np.isnan(x) else x) for x in cap] + [(None, None)]
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    assert res.status == 0, res.message
    return res


def test_columns_ids_and_references():
    t = generate(None, 120, 2, seed=5, capacities=True, floors=True)
    assert set(t) == set(COLUMNS)
    for name, cols in COLUMNS.items():
        assert list(t[name].columns) == cols, name
    assert t["products"]["id"].iloc[0] == "P000001"
    assert t["techniques"]["id"].iloc[:2].tolist() == ["T000001a", "T000001b"]
    assert t["resources"]["id"].iloc[0] == "labour"
    assert len(t["resources"]) >= 3
    assert set(t["resource_use"]["resource"]) <= set(t["resources"]["id"])
    assert t["products"]["id"].is_unique and t["techniques"]["id"].is_unique
    prods = set(t["products"]["id"])
    assert set(t["inputs"]["product"]) <= prods
    assert set(t["techniques"]["product"]) == prods
    assert set(t["inputs"]["technique"]) <= set(t["techniques"]["id"])
    assert (t["inputs"]["amount"] > 0).all()
    assert (t["resource_use"]["amount"] >= 0).all()
    assert not t["inputs"].duplicated(["technique", "product"]).any()
    nd = t["needs"]
    assert (nd["floor"] <= nd["target"]).all() and (nd["floor"] > 0).any()
    assert len(nd) >= 0.7 * len(t["products"])  # targets on most products
    cap = t["techniques"]["capacity"]
    assert cap.notna().any() and (cap.dropna() > 0).all()


def test_inputs_per_technique_and_hubs():
    t = generate(None, 400, 1, seed=2)
    per = t["inputs"].groupby("technique").size()
    assert len(per) == 400 and per.min() >= 10 and per.max() <= 30
    # hub products (energy, transport) are used by most techniques
    users = t["inputs"].groupby("product")["technique"].nunique()
    assert users["P000001"] > 0.8 * 400 and users["P000002"] > 0.8 * 400
    # heavy-tailed amounts in value terms: the largest share dwarfs the median
    amt = t["inputs"]["amount"].to_numpy()
    assert np.quantile(amt, 0.99) / np.median(amt) > 20


@pytest.mark.parametrize("n,K,seed", [(60, 1, 0), (150, 2, 1), (90, 3, 7)])
def test_productive_for_any_choice(n, K, seed):
    t = generate(None, n, K, seed=seed)
    A, B, R, cap, b, y, ymin, tp = matrices(t)
    out = B.sum(axis=0)
    rng = np.random.default_rng(seed)
    for _ in range(3):  # random choices of one technique per product
        choice = np.array([rng.choice(np.nonzero(tp == i)[0]) for i in range(n)])
        Ac = A[:, choice] / out[choice]
        radius = max(abs(np.linalg.eigvals(Ac)))
        assert 0.3 < radius < 0.61, radius


def test_deterministic_files(tmp_path: Path):
    for fmt in ("csv", "parquet"):
        a, b, c = tmp_path / f"a_{fmt}", tmp_path / f"b_{fmt}", tmp_path / f"c_{fmt}"
        generate(a, 80, 2, seed=11, capacities=True, floors=True, format=fmt)
        generate(b, 80, 2, seed=11, capacities=True, floors=True, format=fmt)
        generate(c, 80, 2, seed=12, capacities=True, floors=True, format=fmt)
        files = sorted(p.name for p in a.iterdir())
        assert files == sorted(p.name for p in b.iterdir())
        assert "economy.toml" in files and f"inputs.{fmt}" in files
        match, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
        assert not mismatch and not errors
        _, mismatch, _ = filecmp.cmpfiles(a, c, files, shallow=False)
        assert f"inputs.{fmt}" in mismatch
    # CSV and Parquet hold the same tables, and the same as the returned frames
    frames = generate(None, 80, 2, seed=11, capacities=True, floors=True)
    for name in COLUMNS:
        csv = pd.read_csv(tmp_path / "a_csv" / f"{name}.csv", dtype={"id": str})
        pq = pd.read_parquet(tmp_path / "a_parquet" / f"{name}.parquet")
        for col in COLUMNS[name]:
            x, z, f = csv[col].to_numpy(), pq[col].to_numpy(), frames[name][col].to_numpy()
            if f.dtype.kind == "f":
                np.testing.assert_array_equal(x.astype(float), f)
                np.testing.assert_array_equal(z.astype(float), f)
            else:
                assert list(map(str, x)) == list(map(str, f)) == list(map(str, z))


def test_atomic_overwrite(tmp_path: Path):
    out = tmp_path / "eco"
    generate(out, 40, 1, seed=1)
    generate(out, 50, 1, seed=2)
    assert len(pd.read_csv(out / "products.csv")) == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eco"]  # no temp folders left
    assert 'name = "synthetic-50x1-seed2"' in (out / "economy.toml").read_text()


@pytest.mark.parametrize(
    "n,K,caps,floors", [(150, 1, False, False), (200, 2, True, True), (150, 3, True, False)]
)
def test_resources_bind_near_target(n, K, caps, floors):
    t = generate(None, n, K, seed=3, capacities=caps, floors=floors)
    A, B, R, cap, b, y, ymin, tp = matrices(t)
    res = max_fulfilment(A, B, R, cap, b, y, ymin)
    tstar = res.x[-1]
    assert 0.75 <= tstar <= 0.96, tstar
    z = res.x[:-1]
    resource_dual = -res.ineqlin.marginals[n:]
    binding_caps = np.isfinite(cap) & (z >= np.nan_to_num(cap, nan=np.inf) * (1 - 1e-7))
    if caps:
        assert binding_caps.sum() >= 1
    else:
        assert resource_dual[0] > 0  # labour binds
    if K > 1:  # the alternatives are used: choices matter
        used = np.zeros(n, dtype=int)
        np.add.at(used, tp, (z > 1e-9).astype(int))
        assert (used > 1).any() or (z[1::K] > 1e-9).any()


def test_floors_feasible_and_flags_independent():
    g0 = generate_arrays(100, 2, seed=4)
    g1 = generate_arrays(100, 2, seed=4, capacities=True, floors=True)
    assert (g0.A != g1.A).nnz == 0  # flags do not change the rest of the economy
    np.testing.assert_array_equal(g0.target, g1.target)
    assert (g1.floor <= g1.target).all() and (g1.floor > 0).any()


def test_small_economies():
    for n in (2, 3, 11):
        t = generate(None, n, 2, seed=0)
        per = t["inputs"].groupby("technique").size()
        assert per.max() <= n - 1  # never an input to itself
        assert len(t["products"]) == n
    with pytest.raises(ValueError):
        generate(None, 1)


@pytest.mark.parametrize("args,option", [
    (["--products", "1"], "--products"), (["--products", "0"], "--products"),
    (["--products", "99999999999999"], "--products"),
    (["--techniques-per-product", "27"], "--techniques-per-product"),
    (["--techniques-per-product", "0"], "--techniques-per-product"),
    (["--seed", "-1"], "--seed"),
])
def test_cli_refuses_what_the_generator_cannot_make(tmp_path: Path, args, option):
    """Exit 2 with one line naming the option, nothing written (an outside check, session
    26: --products 1, --techniques-per-product 27 and --seed -1 ended exit 1 with
    'ValueError: ...', --products 1e14 with a MemoryError)."""
    from typer.testing import CliRunner

    from econplan.cli import app

    out = tmp_path / "g"
    r = CliRunner().invoke(app, ["generate", str(out), *args])
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith(option), r.output
    assert not out.exists()
