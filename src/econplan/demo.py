"""The real demo: plan Brazil's economy of 2021 (IBGE, 68 activities) for more consumption.

Needs: 2021 household consumption raised 5 %, while the rest of 2021 final demand
(government and non-profit consumption, investment, exports) is kept as floors; labour: the
persons employed in 2021 (IBGE's *ocupações*); imports: the imported intermediates of 2021
(see docs/ibge.md for the construction). The question the plan answers: with the same
workforce and imports as in 2021, how much of a 5 % rise in household consumption can Brazil
produce, what stands in the way, and what does each product really cost in labour?

``run_demo(out)`` writes ``out/bundle`` (the economy), ``out/values.csv``, ``out/plan`` (the
plan-output contract with ``report.html``) and ``out/explain.txt``, and returns the headline.
It runs offline in a few seconds.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

YEAR = 2021
LEVEL = 68
RAISE = 0.05


def run_demo(out: Path | str, *, year: int = YEAR, level: int = LEVEL, raise_by: float = RAISE,
             echo: bool = True) -> dict[str, Any]:
    """Import, value, plan and report Brazil ``year`` at ``level``; return the headline.

    Headline keys: ``fulfilment`` (t*: share of the raised household consumption met, floors
    kept), ``status``, ``binding`` (ids of binding resources/capacities), ``labour_used`` and
    ``labour_available`` (jobs), ``top_labour_per_real`` (five products with the most labour
    per real of price: id, name, jobs per R$ million = person-years per R$ million at basic
    prices), ``seconds`` (wall time) and the paths written.
    """
    import econplan
    from econplan.bundle import write_bundle, write_csv
    from econplan.explain import explain
    from econplan.importers import DataWarning
    from econplan.importers.ibge import from_ibge
    from econplan.report import render_report

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # adjustments are in the description
        economy = from_ibge(year, level, consumption_factor=1.0 + raise_by,
                            other_final_demand="floor")
    bundle = out / "bundle"
    write_bundle(economy, bundle)
    economy = econplan.load(bundle)  # the plan records this bundle (explain uses it)
    values = economy.values()
    write_csv(values, out / "values.csv")
    plan = economy.plan()
    plan_dir = out / "plan"
    plan.write(plan_dir)
    summary = plan.summary
    names = dict(zip(economy.products["id"], economy.products["name"], strict=True))
    units = dict(zip(economy.resources["id"], economy.resources["unit"], strict=True))
    # one unit of every product is R$ 1 million of output at basic prices: its price is 1
    # (in R$ million), so labour per real of price is the labour value / 1e6 reais
    prices = pd.Series(1.0, index=economy.products["id"].astype(str))
    if plan.ok:
        html = render_report(summary, plan.activities, plan.products, plan.resources,
                             product_names=names, values=values, prices=prices,
                             resource_units=units)
        (plan_dir / "report.html").write_text(html, encoding="utf-8")
    (out / "explain.txt").write_text(explain(plan_dir), encoding="utf-8")
    labour = economy.labour
    top = values.sort_values([labour, "product"], ascending=[False, True],
                             kind="stable").head(5)
    headline: dict[str, Any] = {
        "economy": economy.name,
        "status": summary.get("status"),
        "fulfilment": summary.get("fulfilment"),
        "binding": [str(b["id"]) for b in summary.get("bottlenecks") or []],
        "labour_used": summary.get("labour_used"),
        "labour_available": summary.get("labour_available"),
        "top_labour_per_real": [
            {"product": str(r.product), "name": names.get(str(r.product), ""),
             "jobs_per_million_reais": float(getattr(r, labour))}
            for r in top.itertuples(index=False)
        ],
        "plan": str(plan_dir),
        "report": str(plan_dir / "report.html"),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if echo:
        print(format_headline(headline))
    return headline


def format_headline(h: dict[str, Any]) -> str:
    """The headline as a few lines of text for the terminal."""
    t = h.get("fulfilment")
    lines = [f"{h['economy']}: needs = household consumption +{RAISE:.0%}, other final demand "
             "kept as floors, 2021 employment and imports."]
    if h.get("status") == "optimal" and t is not None:
        lines.append(f"Fulfilment: {100 * t:.1f} % of the raised household consumption "
                     f"(t* = {t:.6f}); status {h['status']}.")
    else:
        lines.append(f"Status: {h.get('status')}.")
    lines.append("Binding: " + (", ".join(h["binding"]) or "nothing") + ".")
    if h.get("labour_used") is not None:
        lines.append(f"Labour: {h['labour_used']:,.0f} of {h['labour_available']:,.0f} jobs.")
    lines.append("Most labour per real of price (jobs per R$ million of output):")
    for i, r in enumerate(h["top_labour_per_real"], 1):
        lines.append(f"  {i}. {r['name']} ({r['product']}): {r['jobs_per_million_reais']:.2f}")
    lines.append(f"Report: {h['report']}  ({h['seconds']:.1f} s)")
    return "\n".join(lines)


def demo_cli(out: Path | str = "demo-out") -> dict[str, Any]:
    """What ``econplan demo --out DIR`` does: run the demo and print the headline."""
    return run_demo(out, echo=True)
