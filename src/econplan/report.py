"""The plan report: one self-contained HTML page people would rather look at than read.

:func:`render_report` turns the plan-output files (summary, activities, products, resources;
DESIGN.md) into a single HTML file with plotly.js inlined, so it opens offline, on a phone too.
What it shows, top to bottom:

1. the headline — how fully needs are met (t*), the status, what binds;
2. fulfilment by product (all products when few; for many, the least-fulfilled ones and a
   histogram over all of them, so 1e6 products stay readable and the file stays small);
3. the bottlenecks and what relaxing each would buy: the fulfilment gained, in percentage
   points, by 1 % more of the resource or capacity (its valuation × its amount / 100);
4. resource use against availability;
5. labour value against price, when values and prices are given (the products whose price
   is furthest below their labour cost first).

All numbers come from the files; nothing is recomputed except ratios shown on the charts.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from .schema import LIMITED_STATUSES

#: Most bars on one chart; larger sets are cut to the most telling ones and summarised.
TOP = 70
_HIST_BINS = 30
_SCATTER_MAX = 2000


def _fmt(x: Any, digits: int = 3) -> str:
    """A number for people: 105065178 → '105.1 million', 0.0174 → '0.0174'."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return html.escape(str(x))
    if not math.isfinite(v):
        return "—"
    a = abs(v)
    for limit, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if a >= limit:
            return f"{v / limit:.{digits + 1}g} {word}"
    if a >= 1000:
        return f"{v:,.0f}"
    if a == 0:
        return "0"
    return f"{v:.{digits}g}"


def _pct(x: float, digits: int = 1) -> str:
    return "—" if not math.isfinite(x) else f"{100 * x:.{digits}f} %"


def _short(text: str, width: int = 28) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _label(pid: str, names: dict[str, str] | None) -> str:
    if names and pid in names and names[pid] and names[pid] != pid:
        return _short(f"{names[pid]} ({pid})")
    return _short(pid)


def _floats(a: Any) -> list[float | None]:
    """JSON-safe list: NaN/inf → None."""
    arr = np.asarray(a, dtype=float)
    return [float(v) if math.isfinite(v) else None for v in arr]


def _hbar_height(n: int) -> int:
    return int(min(130 + 24 * max(n, 1), 1900))


_LAYOUT = {
    "margin": {"l": 10, "r": 20, "t": 40, "b": 40},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13},
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
}


def _figure(data: list[dict], layout: dict) -> dict:
    lay = dict(_LAYOUT)
    lay.update(layout)
    return {"data": data, "layout": lay}


# ------------------------------------------------------------------ charts


def _fulfilment_charts(products: pd.DataFrame, t_star: float,
                       names: dict[str, str] | None, top: int) -> tuple[list[dict], str]:
    """Fulfilment (net output / target) per product with a target."""
    if products.empty or "target" not in products:
        return [], "<p>No products in this plan.</p>"
    p = products[products["target"] > 0]
    if p.empty:
        return [], "<p>No product has a target, so there is nothing to fulfil.</p>"
    f = (p["net_output"] / p["target"]).to_numpy(float)
    ids = p["product"].astype(str).to_numpy()
    order = np.argsort(f, kind="stable")
    shown = order[:top]
    # lowest at the top of a horizontal bar chart: plotly draws the first category at the
    # bottom, so reverse
    shown = shown[::-1]
    vals = f[shown]
    cap = max(1.5, float(np.nanmin([np.nanmax(vals) if len(vals) else 1.5, 3.0])))
    colors = ["#c0392b" if v < 1 - 1e-9 else "#27ae60" for v in vals]
    labels = [_label(i, names) for i in ids[shown]]
    bars = {
        "type": "bar",
        "orientation": "h",
        "x": _floats(np.minimum(vals, cap) * 100),
        "y": labels,
        "marker": {"color": colors},
        "text": [_pct(v) for v in vals],
        "textposition": "auto",
        "customdata": [[_fmt(a), _fmt(b)] for a, b in
                       zip(p["net_output"].to_numpy()[shown], p["target"].to_numpy()[shown],
                           strict=True)],
        "hovertemplate": "%{y}<br>%{text} of the need<br>net output %{customdata[0]}"
                         " of target %{customdata[1]}<extra></extra>",
        "name": "fulfilment",
    }
    n = len(f)
    title = ("Fulfilment by product" if n <= top
             else f"Least fulfilled: {len(shown)} of {n:,}")
    figs = [_figure([bars], {
        "title": {"text": title},
        "height": _hbar_height(len(shown)),
        "xaxis": {"title": {"text": "% of the need met"}, "range": [0, cap * 100 * 1.02],
                  "ticksuffix": " %"},
        "yaxis": {"automargin": True},
        "shapes": [{"type": "line", "x0": 100, "x1": 100, "yref": "paper", "y0": 0, "y1": 1,
                    "line": {"color": "#555", "dash": "dot"}}],
        "showlegend": False,
    })]
    if n > top:
        clipped = np.clip(f[np.isfinite(f)], 0, 3) * 100
        counts, edges = np.histogram(clipped, bins=_HIST_BINS)
        mids = (edges[:-1] + edges[1:]) / 2
        figs.append(_figure([{
            "type": "bar", "x": _floats(mids), "y": [int(c) for c in counts],
            "width": float(edges[1] - edges[0]) if len(edges) > 1 else 1,
            "marker": {"color": "#2980b9"},
            "hovertemplate": "%{x:.0f} %: %{y} products<extra></extra>",
        }], {
            "title": {"text": f"All {n:,} products"},
            "height": 320,
            "xaxis": {"title": {"text": "% of the need met (over 300 % shown at 300 %)"},
                      "ticksuffix": " %"},
            "yaxis": {"title": {"text": "products"}},
        }))
    low = int(np.sum(f < 1 - 1e-9))
    cut = (f" The chart shows the {len(shown)} least fulfilled; the histogram shows all of them."
           if n > top else "")
    text = (f"<p>{n:,} products have a need. {low:,} of them are met below 100 %"
            + (f"; the plan meets every need to at least {_pct(float(np.nanmin(f)))}."
               if n else ".")
            + cut + "</p>")
    return figs, text


def _bottleneck_chart(summary: dict, names: dict[str, str] | None,
                      units: dict[str, str] | None) -> tuple[list[dict], str]:
    """What relaxing each binding resource or capacity by 1 % would buy, in percentage points
    of fulfilment (valuation × amount / 100, from the fulfilment-stage duals)."""
    bns = summary.get("bottlenecks") or []
    per = "fulfilment"
    if not bns:
        status = summary.get("status")
        if status == "optimal":
            return [], ("<p>Nothing binds: no resource or capacity limits the plan "
                        "(the needs are met in full with room to spare).</p>")
        return [], ""
    per = bns[0].get("per", "fulfilment")
    rows = []
    labels, gains = [], []
    for b in bns[:TOP]:
        if b.get("kind") == "capacity":
            label = f"capacity of {b['id']}"
            if b.get("product"):
                label += f" ({_label(str(b['product']), names)})"
        else:
            label = str(b["id"])
        label = _short(label, 44)
        gain = float(b.get("gain_per_percent", 0.0))
        unit = (units or {}).get(str(b["id"])) if b.get("kind") != "capacity" else "activity"
        per_unit = f" per {html.escape(unit)}" if unit else ""
        if per == "fulfilment":
            gain_txt = f"+{100 * gain:.3g} percentage points"
            one = f"{100 * float(b['valuation']):.3g} percentage points{per_unit}"
        elif per == "harmony":  # harmony plans: duals in units of H, a gain
            gain_txt = f"+{_fmt(gain)} harmony"
            one = f"{_fmt(b['valuation'])} harmony{per_unit}"
        else:
            gain_txt = f"−{_fmt(gain)} {html.escape(str(per))}"
            one = f"{_fmt(b['valuation'])} {html.escape(str(per))}{per_unit}"
        labels.append(label)
        gains.append(100 * gain if per == "fulfilment" else gain)
        rows.append(
            f"<tr><td>{html.escape(label)}</td><td>{_fmt(b.get('used'))} of "
            f"{_fmt(b.get('available'))}</td><td>{gain_txt}</td><td>{one}</td></tr>"
        )
    order = np.argsort(gains)  # largest at the top
    fig = _figure([{
        "type": "bar", "orientation": "h",
        "x": [gains[i] for i in order], "y": [labels[i] for i in order],
        "marker": {"color": "#e67e22"},
        "text": [f"+{gains[i]:.3g}" for i in order], "textposition": "auto",
        "hovertemplate": ("%{y}: 1 % more would raise harmony by %{x:.3g}<extra></extra>"
                          if per == "harmony" else
                          "%{y}: 1 % more would raise fulfilment by %{x:.3g} points"
                          "<extra></extra>"),
    }], {
        "title": {"text": "What 1 % more would buy"},
        "height": _hbar_height(len(labels)),
        "xaxis": {"title": {"text": {"fulfilment": "fulfilment gained (percentage points)",
                                     "harmony": "harmony gained"}.get(per, f"{per} saved")}},
        "yaxis": {"automargin": True},
    })
    table = (
        "<table><thead><tr><th>Binding</th><th>Used of available</th>"
        "<th>1 % more would buy</th><th>One more unit buys</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )
    return [fig], table


def _resource_chart(resources: pd.DataFrame, units: dict[str, str] | None,
                    top: int) -> list[dict]:
    if resources.empty:
        return []
    r = resources.copy()
    avail = r["available"].to_numpy(float)
    used = r["used"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(avail > 0, used / avail, np.nan)
    order = np.argsort(-np.nan_to_num(share, nan=-1), kind="stable")[:top][::-1]
    ids = r["resource"].astype(str).to_numpy()[order]
    s = share[order]
    colors = ["#c0392b" if v >= 1 - 1e-6 else "#2980b9" for v in np.nan_to_num(s)]
    text = [f"{_pct(v)} — {_fmt(u)} of {_fmt(a)} {html.escape((units or {}).get(i, ''))}"
            for v, u, a, i in zip(s, used[order], avail[order], ids, strict=True)]
    return [_figure([{
        "type": "bar", "orientation": "h", "x": _floats(s * 100), "y": list(ids),
        "marker": {"color": colors}, "text": text, "textposition": "auto",
        "hovertemplate": "%{y}: %{text}<extra></extra>",
    }], {
        "title": {"text": "Used of available"},
        "height": _hbar_height(len(ids)),
        "xaxis": {"title": {"text": "% of what is available"}, "ticksuffix": " %",
                  "range": [0, max(105, float(np.nanmax(s * 100)) * 1.05 if len(s) else 105)]},
        "yaxis": {"automargin": True},
        "shapes": [{"type": "line", "x0": 100, "x1": 100, "yref": "paper", "y0": 0, "y1": 1,
                    "line": {"color": "#555", "dash": "dot"}}],
    })]


def _value_price_charts(values: pd.DataFrame, prices: pd.Series, labour: str | None,
                        names: dict[str, str] | None, top: int) -> tuple[list[dict], str]:
    """Labour value against price, and the products with the most labour per unit of price."""
    col = labour if labour and labour in values.columns else values.columns[1]
    v = values.set_index(values["product"].astype(str))[col].astype(float)
    pr = pd.Series(prices, dtype=float)
    pr.index = pr.index.astype(str)
    both = pd.DataFrame({"value": v, "price": pr}).dropna()
    both = both[(both["price"] > 0) & np.isfinite(both["value"])]
    if both.empty:
        return [], "<p>No product has both a labour value and a positive price.</p>"
    both["ratio"] = both["value"] / both["price"]
    k = min(15, top, len(both))
    best = both.sort_values(["ratio"], ascending=False, kind="stable").head(k)
    # scatter: every product when few, else the top ratios plus an even sample
    if len(both) > _SCATTER_MAX:
        rest = both.drop(best.index)
        step = max(1, len(rest) // (_SCATTER_MAX - k))
        pts = pd.concat([best, rest.sort_index().iloc[::step]])
    else:
        pts = both
    uniform = float(both["price"].max()) <= float(both["price"].min()) * (1 + 1e-12)
    figs = [
        _figure([{
            "type": "scatter", "mode": "markers",
            "x": _floats(pts["price"]), "y": _floats(pts["value"]),
            "text": [_label(i, names) for i in pts.index],
            "marker": {"size": 9, "color": _floats(pts["ratio"]), "colorscale": "Viridis",
                       "line": {"width": 0.5, "color": "#333"}},
            "hovertemplate": "%{text}<br>price %{x:.4g}<br>labour value %{y:.4g}<extra></extra>",
        }], {
            "title": {"text": "Labour value against price"},
            "height": 420,
            "xaxis": {"title": {"text": "price per unit"}, "type": "log", "automargin": True},
            "yaxis": {"title": {"text": f"{col} per unit"}, "type": "log", "automargin": True},
        }),
        _figure([{
            "type": "bar", "orientation": "h",
            "x": _floats(best["ratio"][::-1]), "y": [_label(i, names) for i in best.index[::-1]],
            "marker": {"color": "#8e44ad"},
            "text": [f"{r:.4g}" for r in best["ratio"][::-1]], "textposition": "auto",
            "hovertemplate": "%{y}: %{x:.4g} " + html.escape(col)
                             + " per unit of price<extra></extra>",
        }], {
            "title": {"text": f"{col} per unit of price"},
            "height": _hbar_height(k),
            "xaxis": {"title": {"text": f"{col} per unit of price"}},
            "yaxis": {"automargin": True},
        }),
    ]
    spread = both[["price", "value"]].max() / both[["price", "value"]].min()
    axis = "log" if float(spread.max()) > 100 else "linear"
    figs[0]["layout"]["xaxis"]["type"] = axis
    figs[0]["layout"]["yaxis"]["type"] = axis
    if uniform:  # every unit has the same price (money-valued units): only the ranking tells
        return figs[1:], (f"<p>Every product's unit has the same price "
                          f"({_fmt(both['price'].iloc[0])}), so labour per unit of price "
                          "ranks products by their labour value.</p>")
    text = ("<p>Each dot is a product. Above the trend, its price asks less than the labour "
            "it takes; the bars list those with the most labour per unit of price.</p>")
    return figs, text


# ------------------------------------------------------------------ page


def _js(obj: Any) -> str:
    """JSON for inside a <script> element: '</' escaped so no name can close the element."""
    return json.dumps(obj, ensure_ascii=False).replace("</", "<\\/")

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;
  background:#f4f5f7;color:#222;line-height:1.45}
main{max-width:980px;margin:0 auto;padding:12px}
section{background:#fff;border-radius:10px;padding:14px 16px;margin:12px 0;
  box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.5rem;margin:.3em 0} h2{font-size:1.15rem;margin:.2em 0 .5em}
.big{font-size:2.6rem;font-weight:700;margin:.1em 0}
.ok{color:#27ae60}.short{color:#c0392b}.muted{color:#666;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;display:block;overflow-x:auto}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
.chart{width:100%}
@media (max-width:600px){.big{font-size:2rem} main{padding:4px} section{padding:10px}}
"""


def _headline(summary: dict, units: dict[str, str] | None) -> str:
    status = str(summary.get("status", "unknown"))
    t = summary.get("fulfilment")
    t = float(t) if t is not None else float("nan")
    name = html.escape(str(summary.get("economy", "")))
    period = html.escape(str(summary.get("period", "")))
    parts = [f"<h1>Plan{': ' + name if name else ''}"
             f"{' — ' + period if period else ''}</h1>"]
    if status == "optimal" and summary.get("objective") == "harmony":
        parts.append(f'<p class="big" id="fulfilment">Harmony: '
                     f'{_fmt(summary.get("harmony"), 4)}</p>')
        parts.append(f"<p>The plan balances the needs by priority (harmony, Cockshott): every "
                     f"floor is met and the least met need gets {_pct(t)} of what it asks "
                     "beyond its floor; shortfalls weigh more than surpluses.</p>")
    elif status == "optimal" and math.isfinite(t):
        cls = "ok" if t >= 1 - 1e-9 else "short"
        parts.append(f'<p class="big {cls}" id="fulfilment">Needs met: {_pct(t)}</p>')
        if t >= 1 - 1e-9:
            spare = f", with room for {_pct(t - 1)} more" if t > 1 + 1e-9 else ""
            parts.append("<p>Every need can be met in full with the resources "
                         f"available{spare}.</p>")
        else:
            parts.append(f"<p>The resources available meet every floor and "
                         f"{_pct(t)} of every need beyond it; to go further, something "
                         "below has to grow.</p>")
    elif status in LIMITED_STATUSES and summary.get("bound") is not None:
        gap = float(summary.get("duality_gap") or 0.0)
        if summary.get("objective") == "min-labour":
            parts.append(f'<p class="big short" id="fulfilment">Not proven optimal: '
                         f'stopped at the {html.escape(status.replace("_", " "))}</p>')
            parts.append(f"<p>This plan meets every target at a cost of "
                         f"{_fmt(summary.get('labour_cost'))}; no plan costs less than "
                         f"{_fmt(summary.get('bound'))} (certified gap {gap:.1e}).</p>")
        else:
            parts.append(f'<p class="big short" id="fulfilment">Needs met: {_pct(t)} '
                         f'(not proven optimal)</p>')
            parts.append(f"<p>The solver stopped at its {html.escape(status.replace('_', ' '))}"
                         f". This plan is feasible and meets every floor and {_pct(t)} of "
                         f"every need beyond it; no plan can meet more than "
                         f"{_pct(float(summary['bound']))} (certified gap {gap:.1e}).</p>")
    else:
        parts.append(f'<p class="big short" id="fulfilment">Status: {html.escape(status)}</p>')
        blocking = summary.get("blocking") or []
        if blocking:
            items = "".join(
                f"<li>{html.escape(str(b.get('kind')))} <b>{html.escape(str(b.get('id')))}"
                f"</b>: {_fmt(b.get('lacking'))} lacking</li>" for b in blocking)
            parts.append(f"<p>The floors cannot all be met. What blocks them:</p><ul>{items}</ul>")
        if summary.get("message"):
            parts.append(f"<p>{html.escape(str(summary['message']))}</p>")
    bns = summary.get("bottlenecks") or []
    if bns:
        names = ", ".join(
            f"<b>{html.escape(str(b['id']))}</b>"
            + (f" (capacity of {html.escape(str(b.get('product', '')))})"
               if b.get("kind") == "capacity" else "")
            for b in bns[:5])
        more = f" and {len(bns) - 5} more" if len(bns) > 5 else ""
        parts.append(f'<p id="binding">Binding: {names}{more}.</p>')
    facts = [f"status <b>{html.escape(status)}</b>",
             f"objective {html.escape(str(summary.get('objective', '')))}",
             f"{_fmt(summary.get('products'))} products",
             f"{_fmt(summary.get('techniques'))} techniques"]
    if summary.get("solver"):
        facts.append(f"solver {html.escape(str(summary['solver']))} "
                     f"{html.escape(str(summary.get('solver_version', '')))}")
    if summary.get("duality_gap") is not None:
        facts.append(f"gap {float(summary['duality_gap']):.1e}")
    parts.append(f'<p class="muted">{" · ".join(facts)}</p>')
    return "\n".join(parts)


def render_report(
    summary: dict,
    activities: pd.DataFrame,
    products: pd.DataFrame,
    resources: pd.DataFrame,
    *,
    product_names: dict[str, str] | None = None,
    values: pd.DataFrame | None = None,
    prices: pd.Series | None = None,
    resource_units: dict[str, str] | None = None,
    top: int = TOP,
) -> str:
    """One self-contained HTML page (plotly.js inlined) reporting a plan.

    ``summary``/``activities``/``products``/``resources``: the plan-output contract
    (DESIGN.md). ``product_names``: id → name for labels. ``values``: the ``values.csv``
    table (product, resource columns, technique) and ``prices``: price per unit of each
    product (Series indexed by product id); with both, labour value is charted against
    price. ``resource_units``: id → unit for the resource and bottleneck texts. ``top``:
    most bars per chart (larger sets are summarised), keeping the page readable and small
    for up to 1e6 products.
    """
    from plotly.offline import get_plotlyjs

    sections: list[tuple[str, str, list[dict]]] = []
    t = summary.get("fulfilment")
    figs, text = _fulfilment_charts(products, float(t) if t is not None else float("nan"),
                                    product_names, top)
    if figs or text:
        sections.append(("Fulfilment by product", text, figs))
    figs, text = _bottleneck_chart(summary, product_names, resource_units)
    if figs or text:
        sections.append(("Bottlenecks and what relaxing them would buy", text, figs))
    figs = _resource_chart(resources, resource_units, top)
    if figs:
        sections.append(("Resource use", "", figs))
    if values is not None and prices is not None and len(values):
        figs, text = _value_price_charts(values, prices, summary.get("labour"),
                                         product_names, top)
        sections.append(("Labour value and price", text, figs))

    body: list[str] = [f"<section>{_headline(summary, resource_units)}</section>"]
    scripts: list[str] = []
    k = 0
    for title, text, fig_list in sections:
        divs = []
        for fig in fig_list:
            div_id = f"chart{k}"
            k += 1
            divs.append(f'<div class="chart" id="{div_id}"></div>')
            scripts.append(
                f"Plotly.newPlot({_js(div_id)}, {_js(fig['data'])}, "
                f"{_js(fig['layout'])}, {{responsive: true, displaylogo: false}});"
            )
        body.append(f"<section><h2>{html.escape(title)}</h2>{text}{''.join(divs)}</section>")
    body.append('<p class="muted">Made by econplan. Valuations are the plan\'s duals '
                "(Kantorovich's objectively determined valuations); see DESIGN.md.</p>")
    title = html.escape(f"econplan plan — {summary.get('economy', '')}".strip(" —"))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{title}</title><style>{_CSS}</style>"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head>"
        f"<body><main>{''.join(body)}</main>"
        f"<script>{''.join(scripts)}</script></body></html>\n"
    )
