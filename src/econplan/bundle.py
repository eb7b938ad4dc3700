"""Read and write economy bundles (DESIGN.md, "The economy bundle").

A bundle is a folder: ``economy.toml`` plus one CSV (or Parquet) file per table of
:data:`econplan.schema.TABLES`. Reading turns every cell into a typed column and reports the
first bad one as a :class:`~econplan.errors.BundleError` naming the file, its line number
(the header is line 1), the field and the problem. Writing goes through a temporary folder
renamed into place, so a reader never sees half a bundle.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import BundleError
from .schema import TABLE_ORDER, TABLES, Column, Table

if TYPE_CHECKING:
    from .model import Economy

Tables = dict[str, pd.DataFrame]


# --------------------------------------------------------------------------- reading


def read_meta(folder: Path) -> dict:
    """Read ``economy.toml``: ``name`` and ``period`` (strings), optional ``description``,
    ``labour`` (the id of the labour resource) and ``[costs]`` (resource id → weight)."""
    path = folder / "economy.toml"
    if not path.is_file():
        raise BundleError(str(path), "required file is missing")
    raw = path.read_bytes()
    text = _decode(raw, str(path))
    try:
        meta = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise BundleError(
            str(path), f"not valid TOML: {msg}", line=int(m.group(1)) if m else None
        ) from None
    for key in ("name", "period"):
        if key not in meta:
            raise BundleError(str(path), "required key is missing", field=key)
        if not isinstance(meta[key], str | int | float):
            raise BundleError(str(path), "must be a string", field=key)
        meta[key] = str(meta[key])
    for key in ("description", "labour"):
        if key in meta and not isinstance(meta[key], str):
            raise BundleError(str(path), "must be a string", field=key)
    if "costs" in meta and not isinstance(meta["costs"], dict):
        raise BundleError(str(path), "must be a table of resource id = weight", field="costs")
    return meta


def read_tables(folder: str | Path) -> tuple[dict, Tables]:
    """Read every table of the bundle in ``folder``; return ``(meta, tables)``.

    Column types are checked here (ids are strings, numbers finite and within bounds);
    cross-references between tables are checked when the Economy is built.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(str(folder), "bundle folder does not exist")
    meta = read_meta(folder)
    tables: Tables = {}
    for name in TABLE_ORDER:
        tables[name] = read_table(folder, TABLES[name])
    return meta, tables


def _find(folder: Path, name: str) -> Path | None:
    for ext in (".csv", ".parquet"):
        p = folder / f"{name}{ext}"
        if p.is_file():
            return p
    return None


def read_table(folder: Path, spec: Table) -> pd.DataFrame:
    """Read one table (CSV preferred, else Parquet) and type-check its columns."""
    path = _find(folder, spec.name)
    if path is None:
        if spec.required:
            raise BundleError(str(folder / f"{spec.name}.csv"), "required file is missing")
        return _empty(spec)
    offset: Lines = 2  # line number of the first data row (the header is line 1)
    if path.suffix == ".csv":
        raw, offset = _read_csv_strings(path, spec)
    else:
        raw = _read_parquet_strings(path, spec)
    df = _typed(raw, spec, str(path), offset)
    if isinstance(offset, np.ndarray):
        df.attrs["lines"] = offset  # rows are not on consecutive lines (blank lines, ...)
    if len(df) < spec.min_rows:
        raise BundleError(str(path), f"has no rows; at least {spec.min_rows} required", line=2)
    return df


#: Where data rows are in their file: the line of the first (the others follow it), or the line
#: of each row when blank lines or values with line breaks come between them.
Lines = int | np.ndarray


def _ln(offset: Lines, i: int) -> int:
    """Line number of data row ``i`` (0-based)."""
    return int(offset[i]) if isinstance(offset, np.ndarray) else i + int(offset)


def _has_inner_blank_line(path: Path) -> bool:
    """True when an empty line is followed by more content (readers skip empty lines, so
    data rows would no longer sit at ``index + 2``)."""
    blank = False
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            buf = tail + chunk
            if blank and buf.strip():
                return True
            for sep in (b"\n\n", b"\n\r\n"):
                k = buf.find(sep)
                if k >= 0:
                    if buf[k + len(sep):].strip():
                        return True
                    blank = True
            tail = buf[-2:]
    return False


def _empty(spec: Table) -> pd.DataFrame:
    cols = {}
    for c in spec.columns:
        cols[c.name] = pd.Series([], dtype=float if c.kind == "number" else object)
    return pd.DataFrame(cols)


def _decode(raw: bytes, file: str, header: list[str] | None = None) -> str:
    """Decode UTF-8; on failure name the line and, for a CSV data row (``header`` given), the
    field the bad byte falls in."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        field = None
        if header and line > 1:
            start = raw.rfind(b"\n", 0, e.start) + 1
            prefix = raw[start:e.start].decode("utf-8", "replace")
            k = len(next(csv.reader([prefix]), [""])) - 1 if prefix else 0
            field = header[k] if 0 <= k < len(header) else None
        raise BundleError(file, f"invalid UTF-8 (byte 0x{raw[e.start]:02x})", line=line,
                          field=field) from None


def _read_csv_strings(path: Path, spec: Table) -> tuple[dict[str, pa.Array], Lines]:
    """Parse a CSV into string columns; the fast path is pyarrow, the slow path (taken only
    when pyarrow refuses the file, or blank lines would shift line numbers) pins the exact
    line of the problem and of every row."""
    file = str(path)
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if not head.strip():
        raise BundleError(file, "file is empty; expected a header row", line=1)
    first_line = head.split(b"\n", 1)[0]
    _decode(first_line if b"\n" in head else head, file)
    try:
        header = next(csv.reader([first_line.decode("utf-8-sig").rstrip("\r")]))
    except (UnicodeDecodeError, StopIteration):
        header = []
    header = [h.strip() for h in header]
    _check_header(header, spec, file)
    if _has_inner_blank_line(path):
        return _read_csv_slow(path, spec, header)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return _read_csv_slow(path, spec, header)
    for col in table.columns:
        if pc.any(pc.match_substring(col, "\n")).as_py():
            return _read_csv_slow(path, spec, header)  # a quoted value spans lines
    cols = {c: table.column(c).combine_chunks() for c in table.column_names if c.strip() in
            spec.column_names}
    cols = {k.strip(): v for k, v in cols.items()}
    return cols, 2


def _read_csv_slow(path: Path, spec: Table,
                   header: list[str]) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Parse with the csv module, keeping the line each row starts on."""
    file = str(path)
    text = _decode(path.read_bytes(), file, header)
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        next(reader)
        start = reader.line_num + 1
        for row in reader:
            row_start, start = start, reader.line_num + 1
            if not row:
                continue
            if len(row) != len(header):
                raise BundleError(
                    file,
                    f"expected {len(header)} fields as in the header, found {len(row)}",
                    line=row_start,
                )
            rows.append(row)
            lines.append(row_start)
    except csv.Error as e:
        raise BundleError(file, f"malformed CSV: {e}", line=start) from None
    cols = {}
    for i, h in enumerate(header):
        if h in spec.column_names:
            cols[h] = pa.array([r[i] for r in rows], type=pa.string())
    return cols, np.asarray(lines, dtype=np.int64)


def _read_parquet_strings(path: Path, spec: Table) -> dict[str, pa.Array]:
    file = str(path)
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for broken files
        raise BundleError(file, f"not a readable Parquet file: {e}") from None
    header = [c.strip() for c in table.column_names]
    _check_header(header, spec, file)
    out = {}
    for c in table.column_names:
        if c.strip() not in spec.column_names:
            continue
        arr = table.column(c).combine_chunks()
        col = spec.column(c.strip())
        if col.kind == "number" and (pa.types.is_floating(arr.type)
                                     or pa.types.is_integer(arr.type)):
            out[c.strip()] = arr.cast(pa.float64())  # already numeric: keep nulls
        else:
            out[c.strip()] = pc.fill_null(arr.cast(pa.string()), "")
    return out


def _check_header(header: list[str], spec: Table, file: str) -> None:
    seen = set()
    for h in header:
        if h in seen and h in spec.column_names:
            raise BundleError(file, "column appears twice in the header", line=1, field=h)
        seen.add(h)
    for c in spec.columns:
        if c.required and c.name not in header:
            raise BundleError(
                file, f"required column is missing (header has: {', '.join(header)})",
                line=1, field=c.name,
            )


def _typed(raw: dict[str, pa.Array], spec: Table, file: str, offset: Lines) -> pd.DataFrame:
    """Turn string (or numeric) arrays into typed pandas columns, checking each value."""
    n = len(next(iter(raw.values()))) if raw else 0
    out: dict[str, object] = {}
    for col in spec.columns:
        arr = raw.get(col.name)
        if col.kind == "number":
            out[col.name] = _numbers(arr, col, n, file, offset)
        else:
            if arr is None:
                out[col.name] = np.full(n, "", dtype=object)
                continue
            s = pc.utf8_trim_whitespace(arr) if pa.types.is_string(arr.type) else arr
            # pandas strings backed by the Arrow buffers: no Python object per row (at 1e6
            # products the inputs' ids would be ~1 GiB of str objects per column)
            values = (s.to_pandas() if pa.types.is_string(s.type)
                      else pd.Series(s.to_numpy(zero_copy_only=False).astype(object)))
            if col.kind != "text":
                empty = pc.equal(s, "").to_numpy(zero_copy_only=False)
                if empty.any():
                    i = int(np.argmax(empty))
                    raise BundleError(file, "empty; an id is required", line=_ln(offset, i),
                                      field=col.name)
                if col.kind == "id":
                    bad = pc.match_substring(s, ",").to_numpy(zero_copy_only=False)
                    if bad.any():
                        i = int(np.argmax(bad))
                        raise BundleError(file, f"id {values.iloc[i]!r} contains a comma",
                                          line=_ln(offset, i), field=col.name)
            out[col.name] = values
    return pd.DataFrame(out)  # duplicates are checked with references, in Economy.from_tables


def _numbers(arr: pa.Array | None, col: Column, n: int, file: str,
             offset: Lines) -> np.ndarray:
    if arr is None:
        if col.default is None and not col.empty_is_none:
            raise BundleError(file, "required column is missing", line=1, field=col.name)
        fill = np.nan if col.default is None else float(col.default)
        return np.full(n, fill)
    if pa.types.is_floating(arr.type):
        vals = arr.to_numpy(zero_copy_only=False).astype(float)
        empty = arr.is_null().to_numpy(zero_copy_only=False)
        vals = vals.copy()
        vals[empty] = np.nan
        nan_given = np.isnan(vals) & ~empty
    else:
        s = pc.utf8_trim_whitespace(arr)
        empty = pc.equal(s, "").to_numpy(zero_copy_only=False)
        s2 = pc.if_else(pc.equal(s, ""), pa.scalar("0", pa.string()), s)
        try:
            vals = pc.cast(s2, pa.float64()).to_numpy(zero_copy_only=False).astype(float)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            strs = s2.to_numpy(zero_copy_only=False)
            conv = pd.to_numeric(pd.Series(strs), errors="coerce").to_numpy(dtype=float)
            bad = np.isnan(conv) & ~np.array(
                [str(x).strip().lower() in ("nan", "+nan", "-nan") for x in strs])
            i = int(np.argmax(bad))
            raise BundleError(file, f"not a number: {strs[i]!r}", line=_ln(offset, i),
                              field=col.name) from None
        vals = vals.copy()
        nan_given = np.isnan(vals) & ~empty
        vals[empty] = np.nan
    if nan_given.any():
        i = int(np.argmax(nan_given))
        raise BundleError(file, "NaN is not a number", line=_ln(offset, i), field=col.name)
    inf = np.isinf(vals)
    if inf.any():
        i = int(np.argmax(inf))
        hint = " (leave it empty for no capacity)" if col.empty_is_none else ""
        raise BundleError(file, f"infinite number{hint}", line=_ln(offset, i), field=col.name)
    if empty.any():
        if col.empty_is_none:
            pass  # NaN marks "no limit"
        elif col.default is not None:
            vals[empty] = float(col.default)
        else:
            i = int(np.argmax(empty))
            raise BundleError(file, "empty; a number is required", line=_ln(offset, i),
                              field=col.name)
    if col.minimum is not None:
        with np.errstate(invalid="ignore"):
            bad = (vals <= col.minimum) if col.strict else (vals < col.minimum)
        bad &= ~np.isnan(vals)
        if bad.any():
            i = int(np.argmax(bad))
            rel = "> " if col.strict else "≥ "
            word = "negative" if vals[i] < 0 else "zero"
            raise BundleError(file, f"{word} value {vals[i]:g}; must be {rel}{col.minimum:g}",
                              line=_ln(offset, i), field=col.name)
    return vals


# --------------------------------------------------------------------------- writing


def _fmt_float(x: float) -> str:
    if x != x:  # NaN → empty (capacity: none)
        return ""
    return repr(float(x))


def write_tables(meta: dict, tables: Tables, path: str | Path, format: str = "csv") -> Path:
    """Write ``meta`` and ``tables`` as a bundle folder at ``path`` (atomically)."""
    path = Path(path)
    if format not in ("csv", "parquet"):
        raise ValueError("format must be 'csv' or 'parquet'")
    with atomic_dir(path) as tmp:
        (tmp / "economy.toml").write_text(_toml(meta), encoding="utf-8")
        for name in TABLE_ORDER:
            df = tables[name][TABLES[name].column_names]
            if format == "csv":
                write_csv(df, tmp / f"{name}.csv")
            else:
                pq.write_table(pa.Table.from_pandas(df, preserve_index=False),
                               tmp / f"{name}.parquet")
    return path


def write_bundle(economy: Economy, path: str | Path, format: str = "csv") -> Path:
    """Write ``economy`` as a bundle at ``path``; read → write → read is identical."""
    return write_tables(economy.meta, economy.tables, path, format)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a frame as UTF-8 CSV with round-trip floats (``repr``) and empty for NaN."""
    out = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_float_dtype(col):
            out[c] = [_fmt_float(x) for x in col.to_numpy()]
        else:
            out[c] = col.astype(str).to_numpy()
    pd.DataFrame(out, columns=list(df.columns)).to_csv(path, index=False, lineterminator="\n")


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _toml(meta: dict) -> str:
    lines = []
    for key in ("name", "period", "description", "labour"):
        if key in meta and meta[key] is not None:
            lines.append(f"{key} = {_toml_str(str(meta[key]))}")
    if meta.get("costs"):
        lines.append("\n[costs]")
        for k, v in meta["costs"].items():
            lines.append(f"{_toml_str(str(k))} = {float(v)!r}")
    return "\n".join(lines) + "\n"


class atomic_dir:
    """Context manager: yields a temporary folder beside ``path``; on success it replaces
    ``path`` (a previous folder there is removed only after the new one is in place); on
    error the temporary folder is deleted and ``path`` is left untouched."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        os.chmod(self.tmp, 0o755)
        old = None
        if self.path.exists():
            old = self.path.parent / f".{self.path.name}.old-{os.getpid()}"
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
