"""Reading a written plan back: the tables of DESIGN.md's plan-output contract, typed.

``econplan verify`` (checking a plan from its files) and warm starts (the next plan begun from
the last one) both read ``activities.csv``, ``products.csv``, ``resources.csv`` and
``summary.json`` of a plan folder. Bad files give a :class:`BundleError` naming the file, the
line and the field, as for bundles, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import BundleError
from .model import _codes  # id -> row lookups (Arrow)

__all__ = ["by_row", "read_plan_csv", "read_summary"]


def read_summary(plan_dir: str | Path) -> dict[str, Any]:
    """``summary.json`` of the plan in ``plan_dir`` as a dict."""
    path = Path(plan_dir) / "summary.json"
    if not path.is_file():
        raise BundleError(str(path), "required plan file is missing")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(str(path), f"not valid JSON: {e}") from None
    if not isinstance(summary, dict):
        raise BundleError(str(path), "not a JSON object")
    return summary


#: DESIGN.md's plan tables as read back: file -> (key column, number columns, text columns)
PLAN_TABLES: dict[str, tuple[str, list[str], tuple[str, ...]]] = {
    "activities.csv": ("technique", ["level", "valuation", "capacity"], ("product",)),
    "products.csv": ("product", ["valuation", "fulfilment_dual", "gross_output",
                                 "intermediate_use", "net_output", "target", "floor",
                                 "fulfilment"], ()),
    "resources.csv": ("resource", ["valuation", "used", "available"], ()),
}


def read_plan_table(plan_dir: str | Path, name: str) -> pd.DataFrame:
    """One of :data:`PLAN_TABLES` with every contract column, each number checked
    (:func:`read_plan_csv`)."""
    key, numbers, texts = PLAN_TABLES[name]
    return read_plan_csv(plan_dir, name, key, numbers, texts)


def read_plan_csv(plan_dir: str | Path, name: str, key: str,
                  numbers: list[str], texts: tuple[str, ...] = ()) -> pd.DataFrame:
    """Table ``name`` (e.g. ``activities.csv``) of a plan folder: its ``key`` and ``texts``
    columns as strings and the ``numbers`` columns as floats (an empty cell is NaN). Other
    columns are dropped. Raises :class:`BundleError` for a missing file or column or a value
    that is not a number (line 1 is the header)."""
    path = Path(plan_dir) / name
    if not path.is_file():
        raise BundleError(str(path), "required plan file is missing")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise BundleError(str(path), f"not a readable CSV file ({' '.join(str(e).split())})",
                          line=1) from None
    df.columns = [str(c).strip() for c in df.columns]
    for c in [key, *texts, *numbers]:
        if c not in df.columns:
            raise BundleError(str(path), f"required column is missing (header has: "
                              f"{', '.join(df.columns)})", line=1, field=c)
    out = pd.DataFrame({c: df[c].str.strip() for c in (key, *texts)})
    for c in numbers:
        text = df[c].str.strip()
        vals = pd.to_numeric(text.where(text != "", "nan"), errors="coerce").to_numpy(float)
        bad = np.isnan(vals) & (text != "").to_numpy() & ~text.str.lower().isin(
            ["nan", "+nan", "-nan"]).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise BundleError(str(path), f"not a number: {text.iloc[i]!r}", line=i + 2,
                              field=c)
        out[c] = vals
    return out


def repeated_row(tables: Any) -> tuple[str, str, str, int] | None:
    """The first id a plan table names twice, over ``tables`` ((file name, table, key
    column), as :func:`read_plan_csv` read them): ``(file, key, id, line)``, or None. A plan
    names each technique, product and resource once; verify fails such a plan and a warm
    start refuses it."""
    for name, df, key in tables:
        again = df[key].duplicated().to_numpy()
        if again.any():
            i = int(np.argmax(again))
            return name, key, str(df[key].iloc[i]), i + 2
    return None


def by_row(ids: Any, values: Any, rows_of: Any, fill: float) -> np.ndarray:
    """``values`` placed at the rows of the id column ``rows_of`` that ``ids`` name (``fill``
    elsewhere; ids not in ``rows_of`` are ignored, a repeated id keeps its last value): a
    table read by id (a plan's, or a bundle's needs) on an economy's rows."""
    out = np.full(len(rows_of), fill)
    rows = _codes(pd.Series(ids, dtype=str), pd.Series(rows_of, dtype=str))
    known = rows >= 0
    out[rows[known]] = np.asarray(values, dtype=np.float64)[known]
    return out


def cost_weights_text(summary: dict, labour: str) -> str | None:
    """What a min-labour plan's ``labour_cost`` weighs, as ``"1 × co2, 0.5 × land"``; None
    when it is labour hours alone (weight 1, the default), so the cost reads as hours."""
    weights = summary.get("cost_weights") or {labour: 1.0}
    if weights == {labour: 1.0}:
        return None
    return ", ".join(f"{w:g} × {rid}" for rid, w in weights.items())
