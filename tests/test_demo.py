"""The real demo (Brazil 2021, 68 activities): runs end to end, fast, and its fulfilment
matches a closed form computed here with NumPy from the shipped tables.

With one technique per product and labour the only binding resource, the plan's net output is
``floor + t·d`` and its labour ``λ·(floor + t·d)`` with ``λ = l (I − A)⁻¹``, so
``t* = (L − λ·floor) / (λ·d)`` where L is 2021 employment."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from econplan.demo import format_headline, run_demo
from econplan.importers.ibge import ibge_tables
from test_ibge import _reference


def test_demo_headline_and_files(tmp_path):
    started = time.perf_counter()
    h = run_demo(tmp_path / "demo", echo=False)
    wall = time.perf_counter() - started
    assert wall < 120
    assert h["status"] == "optimal"
    assert h["binding"] == ["labour"]

    ref = _reference(2021, 68)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, tables, _ = ibge_tables(2021, 68, consumption_factor=1.05,
                                   other_final_demand="floor")
    needs = tables["needs"].set_index("product").reindex(ref.index).fillna(0.0)
    d = (needs["target"] - needs["floor"]).to_numpy()
    floor = needs["floor"].to_numpy()
    lam = ref["labour"].to_numpy()
    t_ref = (ref["jobs"].sum() - lam @ floor) / (lam @ d)
    assert abs(h["fulfilment"] - t_ref) <= 1e-7 * t_ref
    assert 0.9 < h["fulfilment"] < 1.0  # 2021's workforce cannot give 5 % more consumption

    # imports are not binding: the plan's import use stays below 2021's
    res = pd.read_csv(tmp_path / "demo" / "plan" / "resources.csv").set_index("resource")
    assert res.loc["imports", "used"] < res.loc["imports", "available"]
    assert res.loc["imports", "valuation"] == 0
    assert res.loc["labour", "used"] == pytest.approx(res.loc["labour", "available"], rel=1e-9)
    # top five labour values per real = the five largest λ (every unit costs R$ 1 million)
    top = sorted(zip(-lam, ref.index, strict=True))[:5]
    assert [r["product"] for r in h["top_labour_per_real"]] == [p for _, p in top]
    np.testing.assert_allclose([r["jobs_per_million_reais"] for r in h["top_labour_per_real"]],
                               [-v for v, _ in top], rtol=1e-9)

    plan = tmp_path / "demo" / "plan"
    summary = json.loads((plan / "summary.json").read_text())
    assert summary["fulfilment"] == h["fulfilment"]
    page = (plan / "report.html").read_text()
    assert f"Needs met: {100 * h['fulfilment']:.1f} %" in page
    assert "Serviços domésticos" in page
    text = (tmp_path / "demo" / "explain.txt").read_text()
    assert "labour: 105,065,178 of 105,065,178 jobs used" in text
    assert "97.5 %" in format_headline(h)
