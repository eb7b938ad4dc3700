"""The Economy: one validated, immutable model object built once from a bundle.

It holds the bundle's tables (rows sorted by id, so the order of rows in the files never
changes a result) and the sparse matrices of DESIGN.md's model, built once:

- ``A`` (n × m): units of product i consumed per unit of activity of technique j;
- ``B`` (n × m): units of product i made per unit of activity (``B[p(j), j] = o_j``);
- ``R`` (k × m): units of resource k used per unit of activity.

Everything downstream (values, solvers, plans, reports, the service) reads from it and never
writes back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import BundleError
from .schema import TABLE_ORDER, TABLES, Shared, attr

if TYPE_CHECKING:
    from .plan.base import PlanProblem
    from .plan.result import Plan

Tables = dict[str, pd.DataFrame]
#: for each reference column (table, column), the row of the table it names
Codes = dict[tuple[str, str], np.ndarray]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class Economy:
    """A validated economy: products, techniques, resources and needs.

    Build it with :func:`econplan.load` (from a bundle folder) or :meth:`from_tables`.
    Arrays are read-only; :meth:`replace` returns a new Economy with some tables changed.

    Attributes (n products, m techniques, k resources):
        product_ids, technique_ids, resource_ids: id arrays (str), in model order.
        A, B: ``scipy.sparse.csc_array`` (n × m); R: ``csr_array`` (k × m).
        tech_product: (m,) int, index of the product technique j makes.
        output: (m,) units made per unit of activity. cap: (m,) capacity, ``inf`` = none.
        available: (k,) availability b. cost: (k,) weight of each resource in the
            resource-minimising stage (labour 1, others 0 unless ``[costs]`` says otherwise).
        target, floor, priority: (n,) needs y, y_min, w (products not listed: 0, 0, 1).
        labour: id of the labour resource (always first, index 0).
    """

    def __init__(self, meta: dict, tables: Tables, files: Mapping[str, str] | None = None,
                 codes: Codes | None = None):
        """Use :meth:`from_tables` or :func:`econplan.load`; this trusts its input.

        ``codes`` (from :meth:`from_tables`, tables in canonical order without repeated
        keys): for each reference column ``(table, column)`` the row of the table it refers
        to, so that the ids need not be looked up again."""
        self._given_codes: Codes = dict(codes or {})
        self.meta = dict(meta)
        self.files = dict(files or {})
        self.source: str | None = None  # folder it was read from, if any
        self.products: pd.DataFrame = tables["products"]
        self.techniques: pd.DataFrame = tables["techniques"]
        self._inputs: pd.DataFrame | None = tables["inputs"]
        self.resources: pd.DataFrame = tables["resources"]
        self.resource_use: pd.DataFrame = tables["resource_use"]
        self.needs: pd.DataFrame = tables["needs"]
        self._build()
        del self._given_codes

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_tables(
        cls,
        meta: dict,
        tables: Mapping[str, pd.DataFrame],
        source: str = "<memory>",
        files: Mapping[str, str] | None = None,
        check_productive: bool = True,
    ) -> Economy:
        """Validate ``tables`` (DESIGN.md columns) and build the Economy.

        ``files`` maps a table name to the file it came from (for error messages); by default
        ``<source>/<table>.csv``. Raises :class:`BundleError` on the first problem found.
        """
        from .bundle import _empty, _numbers  # local: bundle imports model for typing only

        files = dict(files or {})
        for name in TABLE_ORDER:
            files.setdefault(name, f"{source}/{name}.csv")
        files.setdefault("economy", f"{source}/economy.toml")
        meta = dict(meta)
        for key in ("name", "period"):
            if key not in meta:
                raise BundleError(files["economy"], "required key is missing", field=key)
            meta[key] = str(meta[key])
        t: Tables = {}
        for name in TABLE_ORDER:
            spec = TABLES[name]
            df = tables.get(name)
            if df is None:
                if spec.required:
                    raise BundleError(files[name], "required file is missing")
                df = _empty(spec)
            lines = _row_lines(df)  # set by the reader when rows skip lines
            df = df.reset_index(drop=True)
            offset = lines if lines is not None and len(lines) == len(df) else 2
            out = {}
            for col in spec.columns:
                if col.kind == "number":
                    out[col.name] = _numbers(_as_arrow(df, col.name), col, len(df),
                                             files[name], offset)
                else:
                    if col.name not in df.columns:
                        if col.required:
                            raise BundleError(files[name], "required column is missing",
                                              line=1, field=col.name)
                        out[col.name] = np.full(len(df), "", dtype=object)
                    else:
                        # kept as pandas strings (Arrow-backed): no Python object per row
                        out[col.name] = df[col.name].astype(str).str.strip()
            t[name] = pd.DataFrame(out, columns=spec.column_names)
            if not isinstance(offset, int):
                t[name].attrs["lines"] = Shared(offset)
            if len(t[name]) < spec.min_rows:
                raise BundleError(files[name], "has no rows; at least 1 required", line=2)
        _check_keys(t, files)
        codes = _check_references(t, files, meta)
        t, codes = _canonical_order(t, meta, codes, files)
        economy = cls(meta, t, files, codes)
        economy._check_needs_producible()
        if check_productive:
            from .values import check_productive as _check

            _check(economy)
        return economy

    def _build(self) -> None:
        p_ids = self.products["id"].to_numpy(object)
        t_ids = self.techniques["id"].to_numpy(object)
        r_ids = self.resources["id"].to_numpy(object)
        n, m, k = len(p_ids), len(t_ids), len(r_ids)
        p_index = pd.Index(p_ids)
        t_index = pd.Index(t_ids)
        r_index = pd.Index(r_ids)
        tp = self._code("techniques", "product", "products")
        out = self.techniques["output"].to_numpy(float)
        cap = self.techniques["capacity"].to_numpy(float).copy()
        cap[np.isnan(cap)] = np.inf
        inputs = self._inputs
        assert inputs is not None
        ii = self._code("inputs", "product", "products")
        jj = self._code("inputs", "technique", "techniques")
        amount = inputs["amount"].to_numpy(float)
        canonical = ("inputs", "technique") in self._given_codes
        if canonical:  # sorted by technique, then product, one entry each: A by columns
            indptr = np.zeros(m + 1, dtype=np.int64)
            np.cumsum(np.bincount(jj, minlength=m), out=indptr[1:])
            A = sp.csc_array((amount, ii.astype(np.int32 if n < 2**31 else np.int64),
                              indptr.astype(np.int32 if len(ii) < 2**31 else np.int64)),
                             shape=(n, m))
            A.has_sorted_indices = True
        else:
            A = sp.csc_array((amount, (ii, jj)), shape=(n, m))
            A.sum_duplicates()
            A.sort_indices()
        if (A.nnz == len(inputs) and not inputs.attrs
                and (canonical or len(jj) < 2 or (np.diff(jj * n + ii) > 0).all())):
            # rows in A's own order (by technique, then product), one entry each: the table
            # is A by columns, rebuilt when asked for (:attr:`inputs`) rather than held (at
            # 1e6 × 2 its 40M rows are 1.5 GiB, the largest thing a plan would keep)
            self._inputs = None
        B = sp.csc_array((out, (tp, np.arange(m))), shape=(n, m))
        rk = self._code("resource_use", "resource", "resources")
        rj = self._code("resource_use", "technique", "techniques")
        R = sp.csr_array((self.resource_use["amount"].to_numpy(float), (rk, rj)), shape=(k, m))
        R.sum_duplicates()
        R.eliminate_zeros()  # a stated use of 0 is no use (the solvers' scalings divide by it)
        R.sort_indices()
        ni = self._code("needs", "product", "products")
        y = np.zeros(n)
        ymin = np.zeros(n)
        w = np.ones(n)
        y[ni] = self.needs["target"].to_numpy(float)
        ymin[ni] = self.needs["floor"].to_numpy(float)
        w[ni] = self.needs["priority"].to_numpy(float)
        cost = np.zeros(k)
        cost[0] = 1.0
        for rid, weight in (self.meta.get("costs") or {}).items():
            cost[r_index.get_loc(rid)] = float(weight)
        self.product_ids = _readonly(p_ids)
        self.technique_ids = _readonly(t_ids)
        self.resource_ids = _readonly(r_ids)
        self.product_index = p_index
        self.technique_index = t_index
        self.resource_index = r_index
        self.tech_product = _readonly(tp.astype(np.int64))
        self.output = _readonly(out)
        self.cap = _readonly(cap)
        self.A = A
        self.B = B
        self.R = R
        self.available = _readonly(self.resources["available"].to_numpy(float))
        self.target = _readonly(y)
        self.floor = _readonly(ymin)
        self.priority = _readonly(w)
        self.cost = _readonly(cost)
        self.labour = str(r_ids[0])
        self.labour_index = 0

    def _code(self, table: str, column: str, target: str) -> np.ndarray:
        """Row of ``target`` that each entry of ``table.column`` names."""
        given = self._given_codes.get((table, column))
        if given is not None:
            return given
        return _codes(getattr(self, "_inputs" if table == "inputs" else table)[column],
                      getattr(self, target)["id"])

    # ------------------------------------------------------------------ views

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def period(self) -> str:
        return str(self.meta["period"])

    @property
    def description(self) -> str:
        return str(self.meta.get("description", ""))

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    @property
    def n_techniques(self) -> int:
        return len(self.technique_ids)

    @property
    def n_resources(self) -> int:
        return len(self.resource_ids)

    @property
    def inputs(self) -> pd.DataFrame:
        """The inputs table (``technique``, ``product``, ``amount``; canonical order, sorted
        by technique then product id). Large economies rebuild it from :attr:`A` on each
        access (a fresh DataFrame: keep it in a variable rather than asking twice)."""
        if self._inputs is not None:
            return self._inputs
        import pyarrow as pa

        A = self.A
        cols = np.repeat(np.arange(A.shape[1]), np.diff(A.indptr))
        t_ids = pa.array(self.techniques["id"], type=pa.string())
        p_ids = pa.array(self.products["id"], type=pa.string())
        return pd.DataFrame({
            "technique": t_ids.take(pa.array(cols)).to_pandas(),
            "product": p_ids.take(pa.array(A.indices)).to_pandas(),
            "amount": np.array(A.data, dtype=np.float64),
        })

    @property
    def tables(self) -> Tables:
        """The bundle tables (canonical row order), e.g. for :func:`write_bundle`."""
        return {name: getattr(self, name) for name in TABLE_ORDER}

    @cached_property
    def M(self) -> sp.csc_array:
        """Net-output matrix ``B − A`` (n × m, CSC)."""
        M = (self.B - self.A).tocsc()
        M.sort_indices()
        return M

    @cached_property
    def sha256(self) -> str:
        """sha256 of the canonical bundle: independent of row order and of CSV vs Parquet."""
        h = hashlib.sha256()
        for key in ("name", "period", "description"):
            h.update(f"{key}={self.meta.get(key, '')}\n".encode())
        h.update(f"labour={self.labour}\n".encode())
        for rid, w in sorted((self.meta.get("costs") or {}).items()):
            h.update(f"cost {rid}={float(w)!r}\n".encode())
        for name in TABLE_ORDER:
            df = getattr(self, name)
            h.update(f"[{name}]\n".encode())
            for col in TABLES[name].column_names:
                s = df[col]
                if pd.api.types.is_float_dtype(s):
                    h.update(np.ascontiguousarray(s.to_numpy(float)).tobytes())
                else:
                    _hash_joined(h, s)
                h.update(b"\x1e")
        return h.hexdigest()

    def __repr__(self) -> str:
        return (f"Economy({self.name!r}, period={self.period!r}, products={self.n_products}, "
                f"techniques={self.n_techniques}, resources={self.n_resources})")

    # ------------------------------------------------------------------ operations

    def replace(self, **tables: pd.DataFrame | dict) -> Economy:
        """A new, re-validated Economy with some tables (or ``meta``) replaced, e.g.
        ``economy.replace(needs=new_needs)``."""
        meta = tables.pop("meta", None) or self.meta
        t = self.tables
        unknown = set(tables) - set(TABLE_ORDER)
        if unknown:
            raise TypeError(f"unknown tables: {sorted(unknown)}")
        t.update(tables)  # type: ignore[arg-type]
        return Economy.from_tables(meta, t, source=self.files.get("economy", "<memory>")
                                   .rsplit("/", 1)[0])

    def values(self, progress: bool = False) -> pd.DataFrame:
        """Labour values and other embodied resources per unit of each product.

        Returns a DataFrame: ``product``, one column per resource (labour first, in the
        resource's unit per unit of the product), ``technique`` (the technique chosen).
        """
        from .values import compute_values

        return compute_values(self, progress=progress)

    def problem(self, objective: str = "fulfilment") -> PlanProblem:
        """The LP data of DESIGN.md's plan as arrays, for a solver backend."""
        from .plan.base import Objective, PlanProblem

        return PlanProblem(
            M=self.M, R=self.R, b=np.asarray(self.available), cap=np.asarray(self.cap),
            y=np.asarray(self.target), ymin=np.asarray(self.floor), cost=np.asarray(self.cost),
            tech_product=np.asarray(self.tech_product), output=np.asarray(self.output),
            objective=Objective(objective), w=np.asarray(self.priority),
        )

    def plan(self, objective: str = "fulfilment", solver: str | None = None,
             **options: Any) -> Plan:
        """Compute the optimal plan (DESIGN.md) and its certificate; see
        :func:`econplan.plan.make_plan`."""
        from .plan import make_plan

        return make_plan(self, objective=objective, solver=solver, **options)

    # ------------------------------------------------------------------ checks

    def _check_needs_producible(self) -> None:
        made = np.zeros(self.n_products, dtype=bool)
        made[self.tech_product] = True
        bad = (self.target > 0) & ~made
        if bad.any():
            i = int(np.argmax(bad))
            pid = self.product_ids[i]
            row = int(self.needs.index[self.needs["product"] == pid][0])
            line = _line(self.needs, row)
            raise BundleError(
                self.files["needs"],
                f"product {pid!r} has a positive target but no technique makes it "
                "(add a technique for it in techniques.csv or set its target to 0)",
                line=line, field="product",
            )


def _as_arrow(df: pd.DataFrame, name: str):
    """A column as an Arrow array for :func:`econplan.bundle._numbers`: floats with NaN as
    empty, anything else as trimmed strings (None/NaN → empty)."""
    import pyarrow as pa

    if name not in df.columns:
        return None
    s = df[name]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        arr = s.to_numpy(float)
        return pa.array(arr, mask=np.isnan(arr))
    strs = ["" if (v is None or (isinstance(v, float) and v != v)) else str(v)
            for v in s.to_numpy(object)]
    return pa.array(strs, type=pa.string())


#: rows per piece when a string column is hashed
HASH_CHUNK = 1 << 20


def _hash_joined(h: Any, s: pd.Series) -> None:
    """Feed ``h`` the bytes of ``"\\x1f".join(s.astype(str))`` (UTF-8) piece by piece: the
    same digest as joining the whole column, without holding it (at 1e6 products the inputs'
    40M ids as one joined Python string, and the list of its parts, were ~1.5 GiB). Arrow
    joins each piece (``binary_join``) without a Python string per row: 55 s → ~1 s for the
    1e6 × 2 bundle's hash."""
    import pyarrow as pa
    import pyarrow.compute as pc

    strs = s.astype(str)
    arr = pa.array(strs, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    for start in range(0, len(arr), HASH_CHUNK):
        if start:
            h.update(b"\x1f")
        piece = arr.slice(start, HASH_CHUNK)
        if piece.null_count:  # not from a validated table: join as Python strings
            h.update("\x1f".join(strs.iloc[start:start + HASH_CHUNK]).encode())
            continue
        lists = pa.ListArray.from_arrays(pa.array([0, len(piece)], pa.int32()), piece)
        joined = pc.binary_join(lists, "\x1f")[0]
        h.update(joined.as_buffer() if joined.is_valid else b"")


def _codes(values: pd.Series, ids: pd.Series) -> np.ndarray:
    """Position of each of ``values`` in the id column ``ids`` (int64, −1 where absent),
    computed by Arrow on the strings as they are stored: at 1e6 products the inputs' 20M ids
    would otherwise become Python strings (~1 GiB per column) and a hash table each
    (``pd.Index.get_indexer``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pa.array(ids, type=pa.string())
    arr = pa.array(values, type=pa.string()) if len(values) else pa.array([], pa.string())
    found = pc.index_in(arr, value_set=keys)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _row_lines(df: pd.DataFrame) -> list | np.ndarray | None:
    """The file line of each row of a table, when the reader recorded them (rows not on
    consecutive lines), else None: row i is then on line i + 2."""
    lines = attr(df, "lines")
    return lines if isinstance(lines, list | np.ndarray) else None


def _line(df: pd.DataFrame, i: int) -> int:
    """File line number of row ``i`` of a table as read (header = line 1)."""
    lines = _row_lines(df)
    return int(lines[i]) if lines is not None else i + 2


def _check_keys(t: Tables, files: Mapping[str, str]) -> None:
    for name in TABLE_ORDER:
        spec = TABLES[name]
        df = t[name]
        if not len(df):
            continue
        for col in spec.columns:
            if col.kind != "text":
                empty = ((df[col.name] == "").to_numpy(bool) if col.kind != "number"
                         else None)
                if empty is not None and empty.any():
                    i = int(np.argmax(empty))
                    raise BundleError(files[name], "empty; an id is required", line=_line(df, i),
                                      field=col.name)
        if all(_kind(spec, k).startswith("ref:") for k in spec.key):
            continue  # entries named by references: _canonical_order, on their codes
        dup = df.duplicated(list(spec.key), keep="first").to_numpy()
        if dup.any():
            raise _duplicate_error(df, spec, files[name], int(np.argmax(dup)))
        if name == "resources":  # values.csv names a column after each resource
            taken = df["id"].isin(RESERVED_RESOURCE_IDS).to_numpy(bool)
            if taken.any():
                i = int(np.argmax(taken))
                raise BundleError(files[name], f"resource id {df['id'].iloc[i]!r} is reserved: "
                                  "values.csv has columns 'product' and 'technique' (rename "
                                  "the resource)", line=_line(df, i), field="id")


#: values.csv's own columns beside one per resource (DESIGN.md), so no resource may be called so
RESERVED_RESOURCE_IDS = ("product", "technique")


def _kind(spec: Any, column: str) -> str:
    return next(c.kind for c in spec.columns if c.name == column)


def _duplicate_error(df: pd.DataFrame, spec: Any, file: str, i: int) -> BundleError:
    """The message for row ``i`` of ``df`` repeating the key of an earlier row."""
    key = ", ".join(str(df.iloc[i][k]) for k in spec.key)
    first = int(np.argmax((df[list(spec.key)] == df.iloc[i][list(spec.key)])
                          .all(axis=1).to_numpy()))
    what = "id" if spec.key == ("id",) else "entry"
    return BundleError(file, f"duplicate {what} {key!r} (first at line {_line(df, first)})",
                       line=_line(df, i),
                       field=spec.key[0] if len(spec.key) == 1 else "/".join(spec.key))


def _check_references(t: Tables, files: Mapping[str, str], meta: dict) -> Codes:
    """Check that every reference names an existing row; return the row each names."""
    ids = {name: t[name]["id"] for name in ("products", "techniques", "resources")}
    found: Codes = {}
    for name in TABLE_ORDER:
        for col in TABLES[name].columns:
            if not col.kind.startswith("ref:"):
                continue
            target = col.kind[4:]
            vals = t[name][col.name]
            if not len(vals):
                found[name, col.name] = np.zeros(0, dtype=np.int64)
                continue
            code = _codes(vals, ids[target])
            found[name, col.name] = code
            missing = code < 0
            if missing.any():
                i = int(np.argmax(missing))
                vals = vals.to_numpy(object)
                kind = target[:-1]
                raise BundleError(files[name], f"unknown {kind} {vals[i]!r} (not in "
                                  f"{Path(files[target]).name})", line=_line(t[name], i),
                                  field=col.name)
    needs = t["needs"]
    bad = needs["floor"].to_numpy(float) > needs["target"].to_numpy(float)
    if bad.any():
        i = int(np.argmax(bad))
        raise BundleError(
            files["needs"],
            f"floor {needs['floor'].iloc[i]:g} is above target {needs['target'].iloc[i]:g} "
            f"for product {needs['product'].iloc[i]!r}", line=_line(needs, i), field="floor")
    from .bundle import meta_line

    labour = meta.get("labour")
    if labour is not None and labour not in set(ids["resources"]):
        raise BundleError(files["economy"], f"unknown resource {labour!r} (not in "
                          "resources.csv)", field="labour",
                          line=meta_line(files["economy"], "labour"))
    for rid, weight in (meta.get("costs") or {}).items():
        if rid not in set(ids["resources"]):
            raise BundleError(files["economy"], f"unknown resource {rid!r}", field="costs",
                              line=meta_line(files["economy"], "costs", rid))
        if (isinstance(weight, bool) or not isinstance(weight, int | float)
                or not np.isfinite(weight) or weight < 0):
            raise BundleError(files["economy"], f"weight {weight!r} of resource {rid!r} must "
                              "be a finite number ≥ 0", field="costs",
                              line=meta_line(files["economy"], "costs", rid))
    return found


def _canonical_order(t: Tables, meta: dict, codes: Codes,
                     files: Mapping[str, str]) -> tuple[Tables, Codes]:
    """Sort rows by key so that row order in the files never changes a result; return the
    sorted tables and the references' codes into the sorted tables. A repeated entry (the
    same key twice in inputs, resource uses or needs) is bad input, found on the same sort.

    Products and techniques by id; resources: labour first (the first row of resources.csv
    unless economy.toml names it), then the others by id; entries (inputs, resource uses,
    needs) by the ids they name, in the same string order, sorted as integers (the rank of
    each id) rather than as the strings themselves. The original line numbers of needs rows
    are kept for later messages.
    """
    order: dict[str, np.ndarray] = {}  # table -> its rows in sorted order
    rank: dict[str, np.ndarray] = {}  # id table -> each row's place in string order of ids
    for name in ("products", "techniques", "resources"):
        ids = t[name]["id"]
        by_id = ids.sort_values(kind="stable").index.to_numpy()
        rank[name] = _inverse(by_id)
        if name == "resources" and len(ids):
            labour = meta.get("labour") or ids.iloc[0]
            by_id = np.concatenate([by_id[ids.to_numpy(object)[by_id] == labour],
                                    by_id[ids.to_numpy(object)[by_id] != labour]])
        order[name] = by_id
    for name in ("inputs", "resource_use", "needs"):
        spec = TABLES[name]
        keys = [rank[_kind(spec, k)[4:]][codes[name, k]] for k in spec.key]
        order[name] = np.lexsort(keys[::-1]) if len(t[name]) else np.zeros(0, np.int64)
        _check_repeats(t[name], spec, files[name], keys, order[name])
    place = {name: _inverse(order[name]) for name in ("products", "techniques", "resources")}
    out: Tables = {}
    for name in TABLE_ORDER:
        df = t[name]
        sorted_df = df.iloc[order[name]].reset_index(drop=True)
        sorted_df.attrs = {}  # file lines no longer match the sorted rows
        if name == "needs":  # each sorted row's line as read (for messages about a need)
            lines = _row_lines(df)
            sorted_df.attrs["lines"] = Shared(
                order[name] + 2 if lines is None else np.asarray(lines)[order[name]])
        out[name] = sorted_df
    moved = {(name, col): place[_kind(TABLES[name], col)[4:]][code[order[name]]]
             for (name, col), code in codes.items()}
    return out, moved


def _check_repeats(df: pd.DataFrame, spec: Any, file: str, keys: list[np.ndarray],
                   order: np.ndarray) -> None:
    """Raise for the first row, in file order, whose key (``keys``: the rows its ids name,
    integers rather than the 40M id strings of a 1e6 × 2 economy's inputs) an earlier row
    has. ``order`` sorts the keys stably, so equal keys are neighbours in file order."""
    if len(order) < 2:
        return
    again = np.ones(len(order) - 1, dtype=bool)
    for key in keys:
        ordered = key[order]
        again &= ordered[1:] == ordered[:-1]
    if again.any():
        raise _duplicate_error(df, spec, file, int(order[1:][again].min()))


def _inverse(permutation: np.ndarray) -> np.ndarray:
    """``inv`` with ``inv[permutation[i]] = i``."""
    inv = np.empty(len(permutation), dtype=np.int64)
    inv[permutation] = np.arange(len(permutation))
    return inv
