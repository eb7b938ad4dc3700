"""IBGE Brazil import: labour coefficients and values recomputed independently.

The reference path shares no code with econplan: it reads the shipped TRU with ``iotbr.tru``,
builds the industry × industry system with ``iotbr.io_system.system`` (iotbr's own basic-price
conversion and D·B construction), takes labour per unit of output from the value-added table
with pandas and inverts ``I − A`` densely with NumPy. econplan goes through its own conversion,
its sparse tables and its own values solver.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from iotbr import tru
from iotbr.io_system import system as iotbr_system

import econplan
from econplan.errors import BundleError
from econplan.importers import DataWarning
from econplan.importers.ibge import LEVELS, from_ibge, ibge_tables


def _reference(year: int, level: int) -> pd.DataFrame:
    """Labour and import coefficients and values per activity, by activity code."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ref = iotbr_system(str(year), str(level), "t")
    P = tru.read_var(str(year), str(level), "P_matrix", "t")
    va = tru.read_var(str(year), str(level), "VA_table", "t")
    # ids: the code printed before the name (0191, A, 01); level 51 prints none: position
    codes = [str(c).split("\n", 1)[0].strip() if "\n" in str(c) else f"{i + 1:02d}"
             for i, c in enumerate(P.columns)]
    g = P.sum(axis=0).to_numpy(float)  # gross output by activity (make matrix column sums)
    A_raw = ref.mZ.to_numpy(float) / g[None, :]
    # iotbr's own inverse is of the raw A: check our dense inverse against it
    np.testing.assert_allclose(np.linalg.inv(np.eye(level) - A_raw), ref.mL.to_numpy(float),
                               rtol=1e-9, atol=1e-12)
    A = A_raw.clip(min=0.0)  # documented: negative coefficients (negative make cells) → 0
    jobs = va["Fator trabalho (ocupações)"].to_numpy(float)
    labour = jobs / g
    imports = np.asarray(ref.mM_int["M_bens_serv"], dtype=float) / g
    Linv = np.linalg.inv(np.eye(level) - A)
    return pd.DataFrame(
        {
            "labour_coef": labour,
            "imports_coef": imports,
            "labour": labour @ Linv,
            "imports": imports @ Linv,
            "household": ref.mY["C_f"].to_numpy(float),
            "g": g,
            "jobs": jobs,
        },
        index=codes,
    )


def _reference_ids(year: int, level: int) -> list[str]:
    P = tru.read_var(str(year), str(level), "P_matrix", "t")
    return [str(c).split("\n", 1)[0].strip() if "\n" in str(c) else f"{i + 1:02d}"
            for i, c in enumerate(P.columns)]


@pytest.fixture(scope="module")
def brazil_2021():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return from_ibge(2021, 68)


def test_labour_values_match_independent_computation(brazil_2021):
    ref = _reference(2021, 68)
    economy = brazil_2021
    assert economy.n_products == 68
    assert sorted(economy.product_ids) == sorted(ref.index)
    values = economy.values().set_index("product").loc[ref.index]
    assert list(economy.resource_ids) == ["labour", "imports"]
    for col in ("labour", "imports"):
        rel = np.abs(values[col] - ref[col]) / np.abs(ref[col])
        assert rel.max() <= 1e-9, (col, rel.max())
    assert (values["labour"] > 0).all()
    # imports are embodied wherever there are intermediate inputs; domestic services (9700)
    # have none and embody no imports
    has_inputs = set(economy.inputs["technique"])
    assert (values.loc[sorted(has_inputs), "imports"] > 0).all()
    assert set(ref.index) - has_inputs == {"9700"}
    assert values.loc["9700", "imports"] == 0.0
    # values embody more than the direct coefficient where there are inputs (which carry
    # labour too); domestic services have none, so value = coefficient
    inner = sorted(has_inputs)
    assert (values.loc[inner, "labour"] > ref.loc[inner, "labour_coef"]).all()
    assert values.loc["9700", "labour"] == pytest.approx(ref.loc["9700", "labour_coef"],
                                                         rel=1e-12)


def test_coefficients_resources_and_needs(brazil_2021):
    ref = _reference(2021, 68)
    economy = brazil_2021
    use = economy.resource_use.pivot(index="technique", columns="resource", values="amount")
    use = use.fillna(0.0)  # triples are sparse: 9700 uses no imports
    np.testing.assert_allclose(use.loc[ref.index, "labour"], ref["labour_coef"], rtol=1e-12)
    np.testing.assert_allclose(use.loc[ref.index, "imports"], ref["imports_coef"], rtol=1e-12)
    res = economy.resources.set_index("id")
    assert res.loc["labour", "available"] == pytest.approx(ref["jobs"].sum(), rel=1e-12)
    assert 9e7 < res.loc["labour", "available"] < 1.2e8  # ~100 million jobs in Brazil 2021
    needs = economy.needs.set_index("product")["target"].reindex(ref.index).fillna(0.0)
    np.testing.assert_allclose(needs, ref["household"].clip(lower=0), rtol=1e-12, atol=1e-9)
    # labour needed for household consumption = λ·y; below total employment
    lam = economy.values().set_index("product")["labour"].reindex(ref.index)
    assert 0.3 < float(lam @ needs) / ref["jobs"].sum() < 1.0


def test_accounting_identity_output_equals_uses():
    with pytest.warns(DataWarning, match="negative make-matrix entries"):
        _, tables, system = ibge_tables(2021, 68)
    g = system.g
    balance = system.A @ g + system.F.sum(axis=1) - g
    # exact but for the three negative coefficients set to 0 (from one negative make cell)
    assert np.abs(balance / g).max() < 1e-5
    assert len(system.notes) == 2 and "5600" in system.notes[0]
    assert "3 negative input coefficients" in system.notes[1]
    assert "5600" in tables["products"]["id"].tolist()


def test_needs_options():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, base, _ = ibge_tables(2021, 68)
        _, raised, system = ibge_tables(2021, 68, consumption_factor=1.05,
                                        other_final_demand="floor")
    b = base["needs"].set_index("product")
    r = raised["needs"].set_index("product").reindex(b.index)
    np.testing.assert_allclose(r["target"] - r["floor"], 1.05 * b["target"], rtol=1e-12)
    assert (raised["needs"]["floor"] >= 0).all()
    assert (raised["needs"]["floor"] <= raised["needs"]["target"]).all()
    with pytest.raises(BundleError, match="other_final_demand"):
        ibge_tables(2021, 68, other_final_demand="all")


def test_bad_year_or_level():
    with pytest.raises(BundleError, match="level 13"):
        from_ibge(2021, 13)
    with pytest.raises(BundleError, match="year 2009"):
        from_ibge(2009, 68)


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS)
def test_every_year_and_level_loads(level):
    for year in range(2010, 2022):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            economy = from_ibge(year, level)
        assert economy.n_products == level
        ids = set(economy.product_ids)
        assert ids == set(_reference_ids(year, level)), (year, level)
        values = economy.values()
        assert (values["labour"] > 0).all(), (year, level)
        assert np.isfinite(values[["labour", "imports"]].to_numpy()).all()


def test_cli_import_ibge(tmp_path):
    """`econplan import ibge` writes a bundle whose values equal the independent ones."""
    out = tmp_path / "brazil"
    r = subprocess.run([sys.executable, "-m", "econplan.cli", "import", "ibge", "--year", "2015",
                        "--level", "20", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ref = _reference(2015, 20)
    values = econplan.load(out).values().set_index("product").loc[ref.index]
    np.testing.assert_allclose(values["labour"], ref["labour"], rtol=1e-9)
    bad = subprocess.run([sys.executable, "-m", "econplan.cli", "import", "ibge", "--year",
                          "2009", "--level", "68", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "year 2009" in bad.stderr
    assert not (tmp_path / "x").exists()
