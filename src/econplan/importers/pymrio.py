"""Import a pymrio ``IOSystem`` (EXIOBASE, WIOD, OECD ICIO, Eora, pymrio's test system).

The construction (Leontief's, as pymrio uses it):

- one **product** per region × sector, id ``"<region>/<sector>"`` (commas replaced by ``;``
  because bundle ids may not contain commas), unit = the system's monetary unit (e.g.
  ``Mill USD``);
- one **technique** per product, same id, output 1: one unit of activity is one monetary unit
  of the sector's gross output;
- **inputs** ``A = Z x̂⁻¹`` (monetary input per monetary unit of output), only the non-zero
  entries, built column block by column block so an EXIOBASE-size system (~10k sectors) never
  needs a dense inverse or a second dense copy;
- **resources** = chosen rows of the satellite accounts (extensions): ``S = F x̂⁻¹`` per unit of
  output, availability = the extension row's total over all sectors (``F`` summed), i.e. what
  the economy used in the table's year. The first resource is labour;
- **needs** = total final demand (``Y`` summed over regions and categories) unless given.

Sectors with zero gross output cannot be divided by: their column of ``A`` and ``S`` is zero
(pymrio does the same), they keep a technique (so a need for them stays plannable) and they are
reported by a :class:`~econplan.importers.DataWarning` and a note in the description. Negative
final demand (inventory draw-downs) is set to 0 and negative intermediate or extension entries
are dropped (the model needs non-negative inputs), each reported the same way.

Then ``econplan`` values equal pymrio's multipliers ``M = S L = S (I − A)⁻¹`` for every chosen
row (tests/test_pymrio.py checks this to 1e-9 relative).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from econplan.errors import BundleError
from econplan.importers import DataWarning

if TYPE_CHECKING:  # pragma: no cover
    from econplan.model import Economy

_SOURCE = "pymrio"
_BLOCK = 1024  # columns of Z turned into triples at a time


def _label(key: Any) -> str:
    """A row/column label of a pymrio frame as text: tuples joined by '/'."""
    if isinstance(key, tuple):
        return "/".join(str(k) for k in key)
    return str(key)


def _clean_id(text: str) -> str:
    """A bundle id: no commas, no surrounding spaces."""
    return text.replace(",", ";").strip()


def _slug(text: str) -> str:
    """A short lowercase resource id from an extension row label."""
    s = re.sub(r"[^0-9a-zA-Z]+", "-", text).strip("-").lower()
    return s or "resource"


def _extensions(io: Any) -> dict[str, Any]:
    """Extensions of ``io`` by attribute name and by their display name."""
    out: dict[str, Any] = {}
    for attr in io.get_extensions():
        ext = getattr(io, attr)
        out[attr] = ext
        out.setdefault(str(getattr(ext, "name", attr)), ext)
    return out


def _find_row(ext: Any, frame: pd.DataFrame, row: Any, where: str) -> Any:
    """The index key of ``frame`` meant by ``row``.

    ``row`` may be the exact key (a tuple for multi-level rows), the levels joined by '/', or
    the first level alone when that is unique (``emission_type1`` for
    ``("emission_type1", "air")``).
    """
    idx = frame.index
    if row in idx and not isinstance(idx, pd.MultiIndex):
        return row
    if isinstance(row, tuple) and row in idx:
        return row
    text = str(row)
    labels = [_label(k) for k in idx]
    if text in labels:
        return idx[labels.index(text)]
    if isinstance(idx, pd.MultiIndex):
        first = [k for k in idx if str(k[0]) == text]
        if len(first) == 1:
            return first[0]
        if len(first) > 1:
            raise BundleError(
                where,
                f"row {text!r} of extension {ext.name!r} is ambiguous; name it in full, one of "
                + ", ".join(_label(k) for k in first),
                field="resource",
            )
    raise BundleError(
        where,
        f"extension {ext.name!r} has no row {text!r}; rows: "
        + ", ".join(labels[:20])
        + (" …" if len(labels) > 20 else ""),
        field="resource",
    )


def _row_unit(ext: Any, key: Any) -> str:
    unit = getattr(ext, "unit", None)
    if isinstance(unit, pd.DataFrame) and key in unit.index and "unit" in unit.columns:
        value = unit.loc[key, "unit"]
        if isinstance(value, pd.Series):
            value = value.iloc[0]
        return str(value)
    return "unit"


def _monetary_unit(io: Any) -> str:
    unit = getattr(io, "unit", None)
    if isinstance(unit, pd.DataFrame) and "unit" in unit.columns and len(unit):
        values = unit["unit"].astype(str).unique()
        return values[0] if len(values) == 1 else "/".join(sorted(values))
    return "monetary unit"


def pymrio_tables(
    io: Any,
    resources: Mapping[str, tuple[str, Any]] | None = None,
    needs: Mapping[str, float] | pd.Series | None = None,
    *,
    name: str | None = None,
    where: str = _SOURCE,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame], list[str]]:
    """Build the bundle tables of an ``IOSystem``; return ``(meta, tables, notes)``.

    ``resources`` maps a resource id to ``(extension, row)``: the extension by attribute name
    (``"emissions"``) or display name (``"Emissions"``), the row as in :func:`_find_row`.
    The first is labour. ``None`` takes every row of every extension (ids are slugs of the
    rows). ``needs`` maps product ids (``"reg1/food"``) or ``(region, sector)`` keys to the
    target in the monetary unit; ``None`` = total final demand. ``notes`` lists every
    adjustment made (also in ``meta["description"]``).
    """
    notes: list[str] = []
    Z = getattr(io, "Z", None)
    A = getattr(io, "A", None)
    x_frame = getattr(io, "x", None)
    Y = getattr(io, "Y", None)
    if Y is None:
        raise BundleError(where, "the IO system has no final demand Y", field="Y")
    if A is None and Z is None:
        raise BundleError(where, "the IO system has neither Z nor A", field="Z")
    if x_frame is None:
        if Z is None:
            raise BundleError(where, "the IO system has A but no output x", field="x")
        z, y = Z.to_numpy(dtype=float), Y.to_numpy(dtype=float)
        # shapes first (an outside check, session 26: a truncated Z or a Y with rows cut
        # ended exit 1 with NumPy's "operands could not be broadcast together")
        if z.ndim != 2 or z.shape[0] != z.shape[1]:
            raise BundleError(where, f"Z has shape {z.shape}, expected a square matrix "
                              "(a damaged or truncated file?)", field="Z")
        if y.shape[0] != z.shape[0]:
            raise BundleError(where, f"Y has {y.shape[0]} rows, expected {z.shape[0]} as Z "
                              "(a damaged or truncated file?)", field="Y")
        with np.errstate(invalid="ignore"):
            if not np.all(np.isfinite(z)):
                raise BundleError(where, "Z has non-finite entries", field="Z")
            if not np.all(np.isfinite(y)):
                raise BundleError(where, "Y has non-finite entries", field="Y")
        x = z.sum(axis=1) + y.sum(axis=1)
        sectors = Z.index
    else:
        x = np.asarray(x_frame, dtype=float).reshape(-1)
        sectors = x_frame.index
    n = len(sectors)
    if not np.all(np.isfinite(x)):
        raise BundleError(where, "gross output x has non-finite entries", field="x")
    ids = [_clean_id(_label(s)) for s in sectors]
    if len(set(ids)) != n:
        raise BundleError(where, "region/sector labels are not unique", field="sector")
    regions = [str(s[0]) if isinstance(s, tuple) else "" for s in sectors]
    names = [str(s[-1]) if isinstance(s, tuple) else str(s) for s in sectors]
    unit = _monetary_unit(io)

    positive = x > 0
    zero_out = [ids[i] for i in np.flatnonzero(~positive)]
    if np.any(x < 0):
        notes.append(f"{int(np.sum(x < 0))} sectors have negative output; treated as zero")
    if zero_out:
        shown = ", ".join(zero_out[:10]) + (" …" if len(zero_out) > 10 else "")
        notes.append(
            f"{len(zero_out)} sectors have zero gross output; their input and resource "
            f"coefficients are set to 0 (no division by zero): {shown}"
        )
    recip = np.zeros(n)
    recip[positive] = 1.0 / x[positive]

    # inputs: A = Z / x, non-zero entries only, block by block over columns
    rows_all: list[np.ndarray] = []
    cols_all: list[np.ndarray] = []
    vals_all: list[np.ndarray] = []
    dropped_negative = 0
    source = Z if Z is not None else A
    dense = source.to_numpy(dtype=float) if hasattr(source, "to_numpy") else np.asarray(source)
    if dense.shape != (n, n):
        raise BundleError(where, f"Z/A has shape {dense.shape}, expected {(n, n)}", field="Z")
    for start in range(0, n, _BLOCK):
        block = dense[:, start : start + _BLOCK]
        if Z is not None:
            block = block * recip[start : start + _BLOCK]
        else:
            block = block * positive[start : start + _BLOCK]
        if not np.all(np.isfinite(block)):
            raise BundleError(where, "Z/A has non-finite entries", field="Z")
        dropped_negative += int(np.count_nonzero(block < 0))
        r, c = np.nonzero(block > 0)
        rows_all.append(r.astype(np.int64))
        cols_all.append(c.astype(np.int64) + start)
        vals_all.append(block[r, c])
    if dropped_negative:
        notes.append(f"{dropped_negative} negative intermediate-input coefficients dropped")
    r = np.concatenate(rows_all) if rows_all else np.zeros(0, np.int64)
    c = np.concatenate(cols_all) if cols_all else np.zeros(0, np.int64)
    v = np.concatenate(vals_all) if vals_all else np.zeros(0)
    order = np.lexsort((r, c))
    cat = pd.CategoricalDtype(ids)
    inputs = pd.DataFrame(
        {
            "technique": pd.Categorical.from_codes(c[order], dtype=cat),
            "product": pd.Categorical.from_codes(r[order], dtype=cat),
            "amount": v[order],
        }
    )

    # resources from extension rows
    exts = _extensions(io)
    if resources is None:
        resources = {}
        for attr in io.get_extensions():
            ext = getattr(io, attr)
            frame = ext.F if getattr(ext, "F", None) is not None else ext.S
            for key in frame.index:
                rid = _slug(f"{attr}-{_label(key)}")
                resources[rid] = (attr, key)
        if not resources:
            raise BundleError(where, "the IO system has no extensions to take resources from")
        notes.append("resources: every extension row (none chosen)")
    res_rows: list[dict[str, Any]] = []
    use_parts: list[pd.DataFrame] = []
    for rid, spec in resources.items():
        rid = _clean_id(str(rid))
        try:
            ext_name, row = spec
        except (TypeError, ValueError):
            raise BundleError(
                where, f"resource {rid!r}: expected (extension, row), got {spec!r}"
            ) from None
        if ext_name not in exts:
            raise BundleError(
                where,
                f"resource {rid!r}: no extension {ext_name!r}; extensions: "
                + ", ".join(sorted(exts)),
                field="resource",
            )
        ext = exts[ext_name]
        F = getattr(ext, "F", None)
        if F is not None:
            key = _find_row(ext, F, row, where)
            f = np.asarray(F.loc[[key]].to_numpy(dtype=float)).reshape(-1)
            if f.shape[0] != n:
                raise BundleError(where, f"extension {ext_name!r} has {f.shape[0]} columns")
            s = f * recip
            lost = float(np.abs(f[~positive]).sum())
            if lost > 0:
                notes.append(
                    f"resource {rid}: {lost:.6g} of use in zero-output sectors left out"
                )
        else:
            S = ext.S
            key = _find_row(ext, S, row, where)
            s = np.asarray(S.loc[[key]].to_numpy(dtype=float)).reshape(-1) * positive
        if not np.all(np.isfinite(s)):
            raise BundleError(where, f"resource {rid!r} has non-finite entries", field=rid)
        neg = s < 0
        if np.any(neg):
            notes.append(
                f"resource {rid}: {int(neg.sum())} negative coefficients (e.g. sinks, "
                "subsidies) set to 0"
            )
            s = np.where(neg, 0.0, s)
        available = float(s @ np.where(positive, x, 0.0))
        res_rows.append(
            {
                "id": rid,
                "name": f"{getattr(ext, 'name', ext_name)}: {_label(key)}",
                "unit": _row_unit(ext, key),
                "available": available,
            }
        )
        nz = np.flatnonzero(s > 0)
        use_parts.append(
            pd.DataFrame(
                {
                    "technique": pd.Categorical.from_codes(nz, dtype=cat),
                    "resource": rid,
                    "amount": s[nz],
                }
            )
        )
    res_ids = [row["id"] for row in res_rows]
    if len(set(res_ids)) != len(res_ids):
        raise BundleError(where, "resource ids are not unique", field="resource")

    # needs
    if needs is None:
        y = Y.to_numpy(dtype=float).sum(axis=1)
        if y.shape[0] != n:
            raise BundleError(where, f"Y has {y.shape[0]} rows, expected {n}", field="Y")
        what = "total final demand"
    else:
        series = pd.Series(needs, dtype=float)
        keys = [_clean_id(_label(k)) for k in series.index]
        pos = pd.Index(ids).get_indexer(keys)
        if np.any(pos < 0):
            bad = [k for k, p in zip(keys, pos, strict=True) if p < 0][:5]
            raise BundleError(where, f"needs name unknown products: {bad}", field="product")
        y = np.zeros(n)
        y[pos] = series.to_numpy()
        what = "given needs"
    if not np.all(np.isfinite(y)):
        raise BundleError(where, "needs have non-finite entries", field="target")
    if np.any(y < 0):
        notes.append(
            f"{int(np.sum(y < 0))} negative final-demand entries (inventory draw-downs) set to 0"
        )
        y = np.where(y < 0, 0.0, y)
    nz = np.flatnonzero(y > 0)
    need_frame = pd.DataFrame(
        {
            "product": [ids[i] for i in nz],
            "target": y[nz],
            "priority": 1.0,
            "floor": 0.0,
        }
    )

    products = pd.DataFrame(
        {
            "id": ids,
            "name": [f"{nm} ({rg})" if rg else nm for nm, rg in zip(names, regions, strict=True)],
            "unit": unit,
        }
    )
    techniques = pd.DataFrame(
        {"id": ids, "product": ids, "output": 1.0, "capacity": np.full(n, np.nan)}
    )
    resources_frame = pd.DataFrame(res_rows, columns=["id", "name", "unit", "available"])
    resource_use = (
        pd.concat(use_parts, ignore_index=True)
        if use_parts
        else pd.DataFrame({"technique": [], "resource": [], "amount": []})
    )
    meta_name = name or str(getattr(io, "name", None) or "pymrio system")
    description = (
        f"Imported from pymrio: {n} region×sector products in {unit}, A = Z/x, "
        f"resources S = F/x ({', '.join(res_ids)}), needs = {what}."
    )
    if notes:
        description += " Adjustments: " + "; ".join(notes) + "."
    meta: dict[str, Any] = {
        "name": meta_name,
        "period": str(getattr(io, "year", None) or getattr(io, "period", None) or "table year"),
        "description": description,
        "labour": res_ids[0],
    }
    tables = {
        "products": products,
        "techniques": techniques,
        "inputs": inputs,
        "resources": resources_frame,
        "resource_use": resource_use,
        "needs": need_frame,
    }
    for note in notes:
        warnings.warn(f"pymrio import: {note}", DataWarning, stacklevel=3)
    return meta, tables, notes


def from_pymrio(
    iosystem: Any,
    resources: Mapping[str, tuple[str, Any]] | None = None,
    needs: Mapping[str, float] | pd.Series | None = None,
    *,
    name: str | None = None,
) -> Economy:
    """An :class:`~econplan.model.Economy` from a pymrio ``IOSystem`` (see module docstring).

    Example: ``from_pymrio(pymrio.load_test(), {"value-added": ("factor_inputs",
    "Value Added")})``. Units: products in the system's monetary unit, resources in their
    extension row's unit per monetary unit of output.
    """
    from econplan.model import Economy

    meta, tables, _ = pymrio_tables(iosystem, resources, needs, name=name)
    return Economy.from_tables(meta, tables, source=_SOURCE)


def load_pymrio(path: str | Path) -> Any:
    """Read a folder (or zip) written by ``IOSystem.save_all`` with ``pymrio.load_all``."""
    import pymrio

    p = Path(path)
    if not p.exists():
        raise BundleError(str(p), "no such file or folder")
    try:
        io = pymrio.load_all(p)
    except Exception as exc:  # pymrio raises many kinds; turn them into one clear line
        raise BundleError(str(p), f"not a pymrio save_all folder: {exc}") from None
    if io is None or getattr(io, "Y", None) is None:
        raise BundleError(str(p), "not a pymrio save_all folder (no Y found)")
    return io


def parse_resource_specs(specs: Sequence[str], where: str = "--resource") -> dict[str, tuple]:
    """``["EXT:ROW", ...]`` → ``{id: (EXT, ROW)}``; an optional ``ID=EXT:ROW`` names the id.

    The id defaults to a slug of ROW (``"Value Added"`` → ``value-added``).
    """
    out: dict[str, tuple] = {}
    for spec in specs:
        rid = None
        body = spec
        if "=" in spec.split(":", 1)[0]:
            rid, body = spec.split("=", 1)
        if ":" not in body:
            raise BundleError(where, f"{spec!r}: expected EXTENSION:ROW", field="resource")
        ext, row = body.split(":", 1)
        if not ext or not row:
            raise BundleError(where, f"{spec!r}: expected EXTENSION:ROW", field="resource")
        rid = _clean_id(rid) if rid else _slug(row)
        if rid in out:
            raise BundleError(where, f"resource id {rid!r} given twice", field="resource")
        out[rid] = (ext, row)
    return out


def import_pymrio_cli(
    path: str | Path,
    out: str | Path,
    resources: Sequence[str],
    format: str = "csv",
) -> Economy:
    """What ``econplan import pymrio PATH --out BUNDLE --resource EXT:ROW ...`` does.

    Loads the ``save_all`` folder, imports it (first resource = labour; none given = every
    extension row) and writes the bundle to ``out``. Returns the economy.
    """
    from econplan.bundle import write_bundle

    io = load_pymrio(path)
    specs = parse_resource_specs(resources) if resources else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the notes go into the description
        economy = from_pymrio(io, specs, name=Path(path).name)
    write_bundle(economy, Path(out), format=format)
    return economy
