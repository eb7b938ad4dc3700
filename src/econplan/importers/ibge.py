"""Import Brazil's official IBGE supply–use tables (TRU), as shipped by the ``iotbr`` package.

The construction is written down in ``docs/ibge.md``; in short:

1. Read, for one year and level (12, 20, 51 or 68 activities), the supply table (make matrix
   ``V`` activity × product, product totals ``q``, trade and transport margins, product taxes,
   imports ``M``) and the use table at purchasers' prices (intermediate use ``U`` product ×
   activity, final-demand columns: exports, government, non-profit, household consumption,
   gross fixed capital formation, inventory change; value added with persons employed).
2. Take the use table to **basic prices, domestic production only**: each row's margins,
   product taxes, import tax and imports are spread over that row's uses in proportion to the
   uses (inventory change excluded; imports and import tax also exclude exports, which are
   never imported), and trade/transport margins are credited to the products that supply them
   (the rows where the margin column is negative). This is the proportionality assumption IBGE
   and ``iotbr`` use.
3. **Industry × industry** coefficients with the **fixed product-sales-structure** assumption
   (Eurostat model D; market shares ``D = V q̂⁻¹``): ``Z = D U``, ``A = Z ĝ⁻¹`` with ``g`` the
   activities' gross output; final demand ``F = D E``. One product per activity (id = the
   activity code, e.g. ``0191``; unit = R$ 1 million at basic prices of the year), one technique
   with output 1 (level 20: the section letter, ``A``…; level 51, which prints no codes:
   the activity's position, ``01``…``51``).
4. Resources per unit of output: **labour** = persons employed (``Fator trabalho
   (ocupações)``, jobs in the year) / ``g``; **imports** = imported intermediate inputs (R$
   million) / ``g``. Availability = the year's totals (all jobs; all imported intermediates).
5. Negative entries: a few make-matrix cells are negative (2021: activity 5600 "makes"
   R$ −294 million of trade services); the negative input coefficients they cause are set to
   0. Intermediate entries that turn negative in step 2 (proportional
   removal of taxes/margins/imports exceeding a cell) are set to 0; negative household
   consumption would be set to 0 (none occur 2010–2021); inventory change (often negative)
   is not a need. Every adjustment is counted and written into the economy's description.

Needs default to household consumption (``C_f``, domestic, basic prices) of the year. With
``other_final_demand="floor"`` the rest of final demand (government and non-profit
consumption, investment, exports; inventory change excluded, negatives dropped) is added to
the target *and* set as the floor, so ``t`` measures only how much of household consumption can
be met while the other commitments are kept.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from econplan.errors import BundleError
from econplan.importers import DataWarning

if TYPE_CHECKING:  # pragma: no cover
    from econplan.model import Economy

LEVELS = (12, 20, 51, 68)
FINAL_COLUMNS = ("X_bens_serv", "C_g", "C_ong", "C_f", "FBKF", "DE")
FINAL_NAMES = {
    "X_bens_serv": "exports",
    "C_g": "government consumption",
    "C_ong": "non-profit institutions' consumption",
    "C_f": "household consumption",
    "FBKF": "gross fixed capital formation",
    "DE": "inventory change",
}
EMPLOYMENT = "Fator trabalho (ocupações)"
GROSS_OUTPUT = "Valor da produção"
UNIT = "R$ million"
_SOURCE = "ibge"


def _first_year(level: int) -> int:
    return 2000 if level in (12, 51) else 2010


def _check(year: int, level: int) -> None:
    if level not in LEVELS:
        raise BundleError(_SOURCE, f"level {level} not available; use 12, 20, 51 or 68",
                          field="level")
    if not (_first_year(level) <= year <= 2021):
        raise BundleError(
            _SOURCE,
            f"year {year} not available at level {level}; use {_first_year(level)}–2021",
            field="year",
        )


def _split_activity(label: str, position: int) -> tuple[str, str]:
    """``"0191\\nAgricultura, …"`` → ``("0191", "Agricultura, …")``; ``"A\\nAgricultura…"``
    → ``("A", …)``. Level 51 labels carry no code: the id is the 1-based position, two digits
    (``"01"``)."""
    text = str(label).strip()
    m = re.match(r"^([0-9A-Z]{1,6})\s*\n(.*)$", text, flags=re.S)
    if m:
        return m.group(1), re.sub(r"\s+", " ", m.group(2)).strip()
    return f"{position + 1:02d}", re.sub(r"\s+", " ", text)


@dataclass(frozen=True)
class IBGETables:
    """The raw TRU arrays of one year and level (R$ million, current prices; jobs).

    ``V`` activities × products (make), ``q`` product output, ``U`` products × activities
    (intermediate use at purchasers' prices), ``E`` products × 6 final-demand columns
    (:data:`FINAL_COLUMNS`), supply vectors by product, ``employment`` and ``gross_output`` by
    activity.
    """

    year: int
    level: int
    activity_codes: list[str]
    activity_names: list[str]
    product_names: list[str]
    V: np.ndarray
    q: np.ndarray
    U: np.ndarray
    E: np.ndarray
    total_demand: np.ndarray
    margins_trade: np.ndarray
    margins_transport: np.ndarray
    taxes: dict[str, np.ndarray]
    import_tax: np.ndarray
    imports: np.ndarray
    employment: np.ndarray
    gross_output: np.ndarray


def read_tables(year: int, level: int) -> IBGETables:
    """Read the TRU of ``year`` at ``level`` from the files ``iotbr`` ships (offline)."""
    _check(year, level)
    try:
        from iotbr import tru
    except ImportError as exc:  # pragma: no cover - iotbr is a dependency
        raise BundleError(_SOURCE, f"the iotbr package is needed: {exc}") from None

    def vec(var: str) -> np.ndarray:
        return tru.read_var(str(year), str(level), var, "t").to_numpy(dtype=float).reshape(-1)

    P = tru.read_var(str(year), str(level), "P_matrix", "t")
    CI = tru.read_var(str(year), str(level), "CI_matrix", "t")
    VA = tru.read_var(str(year), str(level), "VA_table", "t")
    labels = [_split_activity(c, i) for i, c in enumerate(P.columns)]
    E = np.column_stack([vec(c) for c in FINAL_COLUMNS])
    tables = IBGETables(
        year=year,
        level=level,
        activity_codes=[c for c, _ in labels],
        activity_names=[nm for _, nm in labels],
        product_names=[re.sub(r"\s+", " ", str(p)).strip() for p in P.index],
        V=P.to_numpy(dtype=float).T,
        q=vec("PT"),
        U=CI.to_numpy(dtype=float),
        E=E,
        total_demand=vec("D_total"),
        margins_trade=vec("MG_com"),
        margins_transport=vec("MG_tra"),
        taxes={"IPI": vec("IPI"), "ICMS": vec("ICMS"), "OI_liq_Sub": vec("OI_liq_Sub")},
        import_tax=vec("I_imp"),
        imports=vec("M_bens_serv"),
        employment=VA[EMPLOYMENT].to_numpy(dtype=float),
        gross_output=VA[GROSS_OUTPUT].to_numpy(dtype=float),
    )
    for name in ("V", "q", "U", "E", "employment", "gross_output"):
        arr = getattr(tables, name)
        if not np.all(np.isfinite(arr)):
            raise BundleError(_SOURCE, f"{year} level {level}: non-finite entries in {name}")
    return tables


def _row_shares(T: np.ndarray) -> np.ndarray:
    """Each row of ``T`` divided by its sum (rows summing to 0 → 0): distribution shares."""
    s = T.sum(axis=1)
    out = np.zeros_like(T)
    ok = s != 0
    out[ok] = T[ok] / s[ok, None]
    return out


def _margin_matrix(shares: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Margins by use: charged on each row in proportion to its uses and credited to the
    margin-supplying rows (negative entries of the margin column) in proportion to their
    supply, so that every column's margins sum to zero."""
    G = shares * margin[:, None]
    suppliers = margin < 0
    G[suppliers] = 0.0
    if suppliers.any():
        weight = margin[suppliers] / margin[suppliers].sum()
        G[suppliers] = -np.outer(weight, G.sum(axis=0))
    return G


@dataclass(frozen=True)
class IBGESystem:
    """The industry × industry system built from one TRU (see module docstring).

    ``A`` (n × n) input per R$ of output, ``g`` gross output (R$ million), ``F`` (n × 6)
    domestic final demand at basic prices, ``labour`` jobs per R$ million, ``imports`` R$ of
    imported intermediates per R$ of output, ``notes`` the adjustments made.
    """

    tables: IBGETables
    A: np.ndarray
    g: np.ndarray
    F: np.ndarray
    labour: np.ndarray
    imports: np.ndarray
    notes: list[str]


def build_system(t: IBGETables) -> IBGESystem:
    """Basic prices, domestic use, industry × industry, fixed product-sales structure."""
    n = t.level
    notes: list[str] = []
    T = np.concatenate([t.U, t.E], axis=1)  # products × (n activities + 6 final)
    de = n + FINAL_COLUMNS.index("DE")
    ex = n + FINAL_COLUMNS.index("X_bens_serv")
    T1 = T.copy()
    T1[:, de] = 0.0  # margins and taxes are not spread onto inventory change
    dist1 = _row_shares(T1)
    T2 = T1.copy()
    T2[:, ex] = 0.0  # nor are imports and import tax spread onto exports
    dist2 = _row_shares(T2)
    remove = (
        _margin_matrix(dist1, t.margins_trade)
        + _margin_matrix(dist1, t.margins_transport)
        + sum(dist1 * v[:, None] for v in t.taxes.values())
        + dist2 * t.import_tax[:, None]
    )
    imported = dist2 * t.imports[:, None]
    basic = T - remove - imported
    U = basic[:, :n]
    E = basic[:, n:]
    neg = U < 0
    if neg.any():
        notes.append(
            f"{int(neg.sum())} intermediate cells negative after removing margins, taxes and "
            f"imports (total {-U[neg].sum():.6g} R$ million) set to 0"
        )
        U = np.where(neg, 0.0, U)
    # industry × industry, fixed product-sales structure: D = V q̂⁻¹
    q = t.q
    inv_q = np.zeros_like(q)
    inv_q[q > 0] = 1.0 / q[q > 0]
    D = t.V * inv_q[None, :]
    g = t.V.sum(axis=1)
    if np.any(g <= 0):
        bad = [t.activity_codes[i] for i in np.flatnonzero(g <= 0)]
        raise BundleError(_SOURCE, f"{t.year} level {t.level}: activities with no output: {bad}")
    rel = np.max(np.abs(g - t.gross_output) / t.gross_output)
    if rel > 1e-3:
        notes.append(f"make-matrix output differs from published gross output by {rel:.2g}")
    if np.any(t.V < 0):
        cells = [
            f"activity {t.activity_codes[a]} makes {t.V[a, b]:g} of '{t.product_names[b]}'"
            for a, b in zip(*np.nonzero(t.V < 0), strict=True)
        ]
        notes.append("negative make-matrix entries: " + "; ".join(cells))
    Z = D @ U
    A = Z / g[None, :]
    negA = A < 0
    if negA.any():
        notes.append(
            f"{int(negA.sum())} negative input coefficients (largest {-A[negA].min():.3g} per "
            "R$ of output; they come from the negative make-matrix entries) set to 0"
        )
        A = np.where(negA, 0.0, A)
    F = D @ E
    m_int = imported[:, :n].sum(axis=0)  # imported intermediates by activity
    labour = t.employment / g
    if np.any(t.employment <= 0):
        notes.append("activities with no persons employed: " + ", ".join(
            t.activity_codes[i] for i in np.flatnonzero(t.employment <= 0)))
    return IBGESystem(tables=t, A=A, g=g, F=F, labour=labour, imports=m_int / g, notes=notes)


def ibge_tables(
    year: int = 2021,
    level: int = 68,
    *,
    consumption_factor: float = 1.0,
    other_final_demand: str = "none",
    imports: bool = True,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame], IBGESystem]:
    """Bundle tables of the IBGE economy of ``year`` at ``level``; see the module docstring.

    ``consumption_factor`` scales household consumption in the needs (1.05 = raised 5 %).
    ``other_final_demand``: ``"none"`` (needs = household consumption only) or ``"floor"``
    (the rest of final demand is added to targets and floors). ``imports``: add the imports
    resource.
    """
    if other_final_demand not in ("none", "floor"):
        raise BundleError(_SOURCE, "other_final_demand must be 'none' or 'floor'",
                          field="other_final_demand")
    if not (np.isfinite(consumption_factor) and consumption_factor >= 0):
        raise BundleError(_SOURCE, "consumption_factor must be ≥ 0", field="consumption_factor")
    system = build_system(read_tables(year, level))
    t = system.tables
    notes = list(system.notes)
    ids = t.activity_codes
    n = len(ids)
    cf = system.F[:, FINAL_COLUMNS.index("C_f")]
    if np.any(cf < 0):
        notes.append(f"{int(np.sum(cf < 0))} negative household-consumption entries set to 0")
        cf = np.where(cf < 0, 0.0, cf)
    target = consumption_factor * cf
    floor = np.zeros(n)
    if other_final_demand == "floor":
        cols = [FINAL_COLUMNS.index(c) for c in ("X_bens_serv", "C_g", "C_ong", "FBKF")]
        other = system.F[:, cols]
        if np.any(other < 0):
            notes.append(f"{int(np.sum(other < 0))} negative other final-demand entries dropped")
        floor = np.where(other < 0, 0.0, other).sum(axis=1)
        target = target + floor
    products = pd.DataFrame({"id": ids, "name": t.activity_names, "unit": UNIT})
    techniques = pd.DataFrame(
        {"id": ids, "product": ids, "output": 1.0, "capacity": np.full(n, np.nan)}
    )
    r, c = np.nonzero(system.A > 0)
    order = np.lexsort((r, c))
    inputs = pd.DataFrame(
        {
            "technique": [ids[j] for j in c[order]],
            "product": [ids[i] for i in r[order]],
            "amount": system.A[r[order], c[order]],
        }
    )
    res = [
        {
            "id": "labour",
            "name": "persons employed",
            "unit": "jobs",
            "available": float(t.employment.sum()),
        }
    ]
    use = [pd.DataFrame({"technique": ids, "resource": "labour", "amount": system.labour})]
    if imports:
        m_total = float((system.imports * system.g).sum())
        res.append(
            {
                "id": "imports",
                "name": "imported intermediate goods and services",
                "unit": "R$ million",
                "available": m_total,
            }
        )
        keep = system.imports > 0
        use.append(
            pd.DataFrame(
                {
                    "technique": [i for i, k in zip(ids, keep, strict=True) if k],
                    "resource": "imports",
                    "amount": system.imports[keep],
                }
            )
        )
    resource_use = pd.concat(use, ignore_index=True)
    resource_use = resource_use[resource_use["amount"] > 0].reset_index(drop=True)
    needs = pd.DataFrame({"product": ids, "target": target, "priority": 1.0, "floor": floor})
    needs = needs[needs["target"] > 0].reset_index(drop=True)
    what = "household consumption"
    if consumption_factor != 1.0:
        what += f" × {consumption_factor:g}"
    if other_final_demand == "floor":
        what += "; other final demand (government, non-profit, investment, exports) as floors"
    description = (
        f"Brazil {year}, IBGE supply–use tables at {level} activities (via iotbr): "
        "industry × industry, fixed product-sales structure, basic prices, domestic production; "
        f"labour = persons employed (jobs); needs = {what}."
    )
    if notes:
        description += " Adjustments: " + "; ".join(notes) + "."
    meta = {
        "name": f"Brazil {year} ({level} activities)",
        "period": str(year),
        "description": description,
        "labour": "labour",
    }
    for note in notes:
        warnings.warn(f"IBGE {year}/{level}: {note}", DataWarning, stacklevel=3)
    tables = {
        "products": products,
        "techniques": techniques,
        "inputs": inputs,
        "resources": pd.DataFrame(res, columns=["id", "name", "unit", "available"]),
        "resource_use": resource_use,
        "needs": needs,
    }
    return meta, tables, system


def from_ibge(
    year: int = 2021,
    level: int = 68,
    *,
    consumption_factor: float = 1.0,
    other_final_demand: str = "none",
    imports: bool = True,
) -> Economy:
    """Brazil's economy of ``year`` at ``level`` activities as an ``Economy``.

    Products are R$ 1 million of an activity's output at basic prices; labour is in jobs
    (persons employed in the year), imports in R$ million. See :func:`ibge_tables`.
    """
    from econplan.model import Economy

    meta, tables, _ = ibge_tables(
        year,
        level,
        consumption_factor=consumption_factor,
        other_final_demand=other_final_demand,
        imports=imports,
    )
    return Economy.from_tables(meta, tables, source=f"ibge:{year}:{level}")


def import_ibge_cli(
    year: int,
    level: int,
    out: Any,
    *,
    consumption_factor: float = 1.0,
    other_final_demand: str = "none",
    imports: bool = True,
    format: str = "csv",
) -> Economy:
    """What ``econplan import ibge --year Y --level L --out BUNDLE`` does: import and write."""
    from pathlib import Path

    from econplan.bundle import write_bundle

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # notes are in the description
        economy = from_ibge(
            year,
            level,
            consumption_factor=consumption_factor,
            other_final_demand=other_final_demand,
            imports=imports,
        )
    write_bundle(economy, Path(out), format=format)
    return economy
