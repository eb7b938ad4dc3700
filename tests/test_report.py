"""The HTML report: content checks, and a real render in headless Chromium with a screenshot.

The browser test opens the file with networking disabled (so plotly.js must be inlined),
waits for plotly to draw, saves ``artifacts/report.png`` (and ``artifacts/report-phone.png``),
and checks that every chart holds drawn marks (bars/points with non-zero size) and that the
headline shows the plan's fulfilment.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from econplan.model import Economy
from econplan.report import render_report
from small_economies import LABOUR_T, bread_tables

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                        if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def bread_plan():
    economy = Economy.from_tables(*bread_tables())
    return economy, economy.plan()


def _render(economy, plan, **kw) -> str:
    names = dict(zip(economy.products["id"], economy.products["name"], strict=True))
    values = economy.values()
    prices = pd.Series({"bread": 3.0, "grain": 0.8, "energy": 0.15})
    units = dict(zip(economy.resources["id"], economy.resources["unit"], strict=True))
    return render_report(plan.summary, plan.activities, plan.products, plan.resources,
                         product_names=names, values=values, prices=prices,
                         resource_units=units, **kw)


def test_report_content(bread_plan):
    economy, plan = bread_plan
    page = _render(economy, plan)
    assert page.startswith("<!DOCTYPE html>")
    assert get_plotlyjs() in page  # plotly.js inlined: opens offline (browser test too)
    assert f"Needs met: {100 * LABOUR_T:.1f} %" in page  # 114.2 %
    assert re.search(r'id="binding">Binding: <b>labour</b>', page)
    # 1 % more labour buys t*/100 = 1.14 points; one more hour 1/87.6 t = 1.14 points
    assert "+1.14 percentage points" in page
    assert "Bread (bread)" in page
    assert page.count("Plotly.newPlot(") == 5  # fulfilment, bottleneck, resources, 2 × value
    # labour per unit of price: bread 2.14/3, grain 0.52/0.8 = 0.65, energy 0.2/0.15 = 1.333
    assert page.index("1.333") < page.index("0.7133")


def test_report_escapes_names(bread_plan):
    economy, plan = bread_plan
    page = render_report(plan.summary, plan.activities, plan.products, plan.resources,
                         product_names={"bread": "</script><b>x</b>"})
    assert "</script><b>x" not in page


def test_large_plan_is_summarised():
    n = 200_000
    rng = np.random.default_rng(1)
    target = rng.lognormal(size=n)
    net = target * np.where(rng.random(n) < 0.01, 0.5, 1.0)
    products = pd.DataFrame({
        "product": [f"p{i}" for i in range(n)], "gross_output": net, "intermediate_use": 0.0,
        "net_output": net, "target": target, "floor": 0.0, "fulfilment": net / target,
        "valuation": 1.0, "fulfilment_dual": 0.0,
    })
    resources = pd.DataFrame({"resource": ["labour"], "used": [1.0], "available": [1.0],
                              "valuation": [0.1]})
    summary = {"status": "optimal", "fulfilment": 0.5, "objective": "fulfilment",
               "products": n, "techniques": n, "bottlenecks": []}
    page = render_report(summary, pd.DataFrame(), products, resources)
    assert "Least fulfilled: 70 of 200,000" in page
    assert f"All {n:,} products" in page
    # the 1 % of products met at 50 % are the ones listed
    assert page.count('"50.0 %"') == 70
    assert len(page) < 6_000_000  # plotly.js (~4.8 MB) plus a bounded amount of data


@pytest.mark.browser
def test_report_renders_in_chromium(bread_plan, tmp_path):
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (scripts/sysdeps.sh installs it)")
    playwright = pytest.importorskip("playwright.sync_api",
                                     reason="python package playwright is not installed")
    economy, plan = bread_plan
    path = tmp_path / "report.html"
    path.write_text(_render(economy, plan), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            for name, viewport in (("report", {"width": 1100, "height": 900}),
                                   ("report-phone", {"width": 390, "height": 844})):
                context = browser.new_context(viewport=viewport, offline=True)
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
                page.goto(path.as_uri())
                page.wait_for_function(
                    "document.querySelectorAll('.chart .main-svg').length >= 5", timeout=30000)
                assert errors == []
                headline = page.inner_text("#fulfilment")
                assert f"{100 * LABOUR_T:.1f} %" in headline
                assert "labour" in page.inner_text("#binding")
                # every chart drew marks with a real size
                marks = page.evaluate("""() => Array.from(document.querySelectorAll('.chart'))
                    .map(div => Array.from(div.querySelectorAll(
                        '.trace.bars .point path, .trace.scatter .points path'))
                        .filter(p => { const b = p.getBBox(); return b.width > 0.5 &&
                                       b.height > 0.5; }).length)""")
                assert len(marks) == 5 and min(marks) >= 1, marks
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
                context.close()
        finally:
            browser.close()
    shot = (ARTIFACTS / "report.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
