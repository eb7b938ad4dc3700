"""pymrio import: econplan's embodied resources equal pymrio's multipliers M = S L.

The reference is pymrio's own computation (``calc_all``: A = Z/x, L = (I − A)⁻¹ dense,
S = F/x, M = S L) on its shipped test system; econplan goes through its own sparse tables and
its own values solver, so agreement to 1e-9 is a real cross-check.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pymrio
import pytest

import econplan
from econplan.errors import BundleError
from econplan.importers import DataWarning
from econplan.importers.pymrio import (
    from_pymrio,
    import_pymrio_cli,
    parse_resource_specs,
    pymrio_tables,
)

RESOURCES = {
    "emission-air": ("emissions", "emission_type1"),
    "value-added": ("Factor Inputs", "Value Added"),
    "emission-water": ("emissions", "emission_type2/water"),
}
ROWS = {
    "emission-air": ("emissions", ("emission_type1", "air")),
    "value-added": ("factor_inputs", "Value Added"),
    "emission-water": ("emissions", ("emission_type2", "water")),
}


@pytest.fixture(scope="module")
def test_system() -> pymrio.IOSystem:
    io = pymrio.load_test()
    io.calc_all()
    return io


def _expected(io: pymrio.IOSystem, rid: str) -> pd.Series:
    ext, row = ROWS[rid]
    M = getattr(io, ext).M.loc[row]
    return pd.Series(M.to_numpy(), index=[f"{r}/{s}" for r, s in M.index])


def _check_values(values: pd.DataFrame, io: pymrio.IOSystem, rids) -> None:
    v = values.set_index("product")
    assert len(v) == 48
    for rid in rids:
        exp = _expected(io, rid)
        got = v.loc[exp.index, rid].to_numpy()
        rel = np.abs(got - exp.to_numpy()) / np.abs(exp.to_numpy())
        assert rel.max() <= 1e-9, (rid, rel.max())


def test_values_equal_pymrio_multipliers_python_api(test_system):
    economy = from_pymrio(test_system, RESOURCES)
    assert list(economy.resource_ids)[0] == "emission-air"  # the first resource is labour
    assert economy.n_products == 48
    values = economy.values()
    # labour first, then the other resources by id (DESIGN.md, canonical order)
    assert list(values.columns[1:4]) == ["emission-air", "emission-water", "value-added"]
    _check_values(values, test_system, RESOURCES)


def test_tables_match_pymrio_coefficients(test_system):
    meta, tables, notes = pymrio_tables(test_system, RESOURCES)
    assert notes == []
    A = test_system.A
    inputs = tables["inputs"]
    ids = [f"{r}/{s}" for r, s in A.index]
    dense = (
        pd.DataFrame({"t": inputs["technique"].astype(str), "p": inputs["product"].astype(str),
                      "a": inputs["amount"]})
        .pivot(index="p", columns="t", values="a")
        .reindex(index=ids, columns=ids)
        .fillna(0.0)
    )
    np.testing.assert_allclose(dense.to_numpy(), A.to_numpy(), rtol=1e-14, atol=0)
    # availability = the extension row's total; needs = total final demand
    res = tables["resources"].set_index("id")
    assert res.loc["value-added", "available"] == pytest.approx(
        test_system.factor_inputs.F.loc["Value Added"].sum(), rel=1e-12)
    assert res.loc["value-added", "unit"] == "Mill USD"
    needs = tables["needs"].set_index("product")["target"]
    y = test_system.Y.sum(axis=1)
    np.testing.assert_allclose(needs.reindex(ids).to_numpy(), y.to_numpy(), rtol=1e-14)
    assert set(tables["products"]["unit"]) == {"Mill USD"}


def test_cli_import_from_save_all_folder(test_system, tmp_path):
    src = tmp_path / "mrio"
    test_system.save_all(src)
    out = tmp_path / "bundle"
    import_pymrio_cli(src, out, ["emission-air=emissions:emission_type1",
                                 "Factor Inputs:Value Added"])
    assert (out / "products.csv").exists()
    economy = econplan.load(out)
    assert list(economy.resource_ids) == ["emission-air", "value-added"]
    _check_values(economy.values(), test_system, ["emission-air", "value-added"])


def _cli_has_import() -> bool:
    try:
        r = subprocess.run([sys.executable, "-m", "econplan.cli", "import", "pymrio", "--help"],
                           capture_output=True, text=True, timeout=60)
    except Exception:
        return False
    return r.returncode == 0


def test_cli_command_import_pymrio(test_system, tmp_path):
    if not _cli_has_import():
        pytest.skip("`econplan import pymrio` is not wired in econplan.cli yet")
    src = tmp_path / "mrio"
    test_system.save_all(src)
    out = tmp_path / "bundle"
    r = subprocess.run(
        [sys.executable, "-m", "econplan.cli", "import", "pymrio", str(src), "--out", str(out),
         "--resource", "emissions:emission_type1", "--resource", "Factor Inputs:Value Added"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    values = econplan.load(out).values()
    values = values.rename(columns={"emission-type1": "emission-air"})
    _check_values(values, test_system, ["emission-air", "value-added"])


@pytest.mark.parametrize("damage,words", [("truncate Z", "has shape (5, 48)"),
                                          ("cut Y rows", "Y has 45 rows, expected 48")])
def test_damaged_save_all_folders_are_bad_input(tmp_path, damage, words):
    """Exit 2, one line naming Z or Y (an outside check, session 26: a truncated Z.txt and a
    Y.txt with rows cut ended exit 1 with NumPy's broadcast error); nothing written."""
    src = tmp_path / "mrio"
    pymrio.load_test().save_all(src)  # as shipped: Z and Y, no x (x comes from their sums)
    if damage == "truncate Z":
        z = src / "Z.txt"
        z.write_bytes(z.read_bytes()[:3000])
    else:
        y = src / "Y.txt"
        lines = y.read_text().splitlines()
        y.write_text("\n".join(lines[:-3]) + "\n")
    out = tmp_path / "bundle"
    r = subprocess.run([sys.executable, "-m", "econplan.cli", "import", "pymrio", str(src),
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and words in lines[0], r.stderr
    assert not out.exists()


def test_zero_output_sector_no_division_by_zero(test_system):
    io = test_system.copy()
    io.reset_all_full()
    sector = ("reg2", "mining")
    io.Z.loc[sector, :] = 0.0
    io.Z.loc[:, sector] = 0.0
    io.Y.loc[sector, :] = 0.0
    for ext in (io.emissions, io.factor_inputs):
        ext.F.loc[:, sector] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        io.calc_all()
    assert io.x.loc[sector].iloc[0] == 0
    with pytest.warns(DataWarning, match="zero gross output"):
        economy = from_pymrio(io, RESOURCES)
    assert "zero gross output" in economy.description
    assert "reg2/mining" in economy.description
    values = economy.values().set_index("product")
    assert np.all(np.isfinite(values[["emission-air", "value-added"]].to_numpy()))
    # pymrio sets the same coefficients to 0; all other multipliers still agree
    exp = _expected(io, "value-added")
    np.testing.assert_allclose(values.loc[exp.index, "value-added"], exp, rtol=1e-9)
    assert values.loc["reg2/mining", "value-added"] == 0.0


def test_negative_final_demand_is_clipped_and_reported(test_system):
    io = test_system.copy()
    y = io.Y.sum(axis=1)
    key = y.index[3]
    io.Y.loc[key, :] = 0.0
    io.Y.loc[key, io.Y.columns[0]] = -5.0
    with pytest.warns(DataWarning, match="negative final-demand"):
        _, tables, notes = pymrio_tables(io, RESOURCES)
    assert f"{key[0]}/{key[1]}" not in set(tables["needs"]["product"])
    assert any("negative final-demand" in n for n in notes)


def test_bad_resource_specs():
    with pytest.raises(BundleError, match="EXTENSION:ROW"):
        parse_resource_specs(["no-colon"])
    assert parse_resource_specs(["emissions:emission_type1"]) == {
        "emission-type1": ("emissions", "emission_type1")
    }
    io = pymrio.load_test()
    with pytest.raises(BundleError, match="no extension 'nope'"):
        pymrio_tables(io, {"x": ("nope", "a")})
    with pytest.raises(BundleError, match="has no row 'nope'"):
        pymrio_tables(io, {"x": ("emissions", "nope")})
    with pytest.raises(BundleError, match="ambiguous"):
        io2 = pymrio.load_test()
        io2.emissions.F = pd.concat([io2.emissions.F, io2.emissions.F.rename(
            index={"air": "soil"}, level=1)])
        pymrio_tables(io2, {"x": ("emissions", "emission_type1")})
