"""Read and write economy bundles (DESIGN.md, "The economy bundle").

A bundle is a folder: ``economy.toml`` plus one CSV (or Parquet) file per table of
:data:`econplan.schema.TABLES`. Reading turns every cell into a typed column and reports the
first bad one as a :class:`~econplan.errors.BundleError` naming the file, its line number
(the header is line 1), the field and the problem. Writing goes through a temporary folder
renamed into place, so a reader never sees half a bundle.
"""

from __future__ import annotations

import csv
import datetime
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
from .schema import TABLE_ORDER, TABLES, Column, Shared, Table

if TYPE_CHECKING:
    from .model import Economy

Tables = dict[str, pd.DataFrame]


# --------------------------------------------------------------------------- reading


def meta_line(file: str, key: str, entry: str | None = None) -> int | None:
    """The line of ``file`` (economy.toml) that sets top-level ``key``, or with ``entry`` the
    line of that entry of table ``key`` (``[costs]`` then ``co2 = 2``; an inline table's own
    line); None when the file cannot be read or no such line is found (errors name it)."""
    try:
        lines = Path(file).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None

    def sets(text: str, name: str) -> bool:
        q = re.escape(name)
        return re.match(rf"""\s*(?:{q}|"{q}"|'{q}')\s*=""", text) is not None

    table = None
    for i, text in enumerate(lines, start=1):
        header = re.match(r"\s*\[\s*([^\]]+?)\s*\]", text)
        if header:
            table = header.group(1)
            continue
        if table is None and sets(text, key):
            return i
        if entry is not None and table == key and sets(text, entry):
            return i
    return None


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
        # free text: a bare number or a TOML date (period = 2027-01-01) is taken as its text
        value = meta[key]
        if isinstance(value, bool) or not isinstance(
                value, str | int | float | datetime.date | datetime.time):
            raise BundleError(str(path), "must be a string", field=key,
                              line=meta_line(str(path), key))
        meta[key] = value.isoformat() if isinstance(value, datetime.date | datetime.time) \
            else str(value)
    for key in ("description", "labour"):
        if key in meta and not isinstance(meta[key], str):
            raise BundleError(str(path), "must be a string", field=key,
                              line=meta_line(str(path), key))
    if "costs" in meta and not isinstance(meta["costs"], dict):
        raise BundleError(str(path), "must be a table of resource id = weight", field="costs",
                          line=meta_line(str(path), "costs"))
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
        df.attrs["lines"] = Shared(offset)  # rows are not on consecutive lines (blank lines, ...)
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
    if b"\r" in first_line.rstrip(b"\r"):
        raise BundleError(file, "lines end in a bare carriage return (old Mac format); save "
                          "the file with LF or CRLF line endings", line=1)
    try:
        raw_header = next(csv.reader([first_line.decode("utf-8-sig").rstrip("\r")]))
    except (UnicodeDecodeError, StopIteration):
        raw_header = []
    except csv.Error as e:
        raise BundleError(file, f"malformed CSV header: {e}", line=1) from None
    header = [h.strip() for h in raw_header]
    _check_header(header, spec, file)
    if _has_inner_blank_line(path):
        return _read_csv_slow(path, spec, header)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in raw_header},  # names as written
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
                    f"expected {len(header)} fields as in the header, found {len(row)}"
                    + ("" if len(row) < len(header) else " (a value beyond the last field; "
                       "quote values that contain commas)"),
                    line=row_start,
                    # a short row: the first field it lacks
                    field=header[len(row)].strip() if len(row) < len(header) else None,
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
            try:
                out[c.strip()] = pc.fill_null(arr.cast(pa.string()), "")
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise BundleError(file, f"column of type {arr.type} cannot be read as "
                                  f"{'a number' if col.kind == 'number' else 'text'} "
                                  f"({str(e).splitlines()[0][:80]})", field=c.strip()) from None
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
    if col.maximum is not None:
        with np.errstate(invalid="ignore"):
            bad = vals > col.maximum
        if bad.any():
            i = int(np.argmax(bad))
            raise BundleError(file, f"value {vals[i]:g} is too large to compute with (at most "
                              f"{col.maximum:g}: values and plans multiply such amounts beyond "
                              "double precision); choose larger units", line=_ln(offset, i),
                              field=col.name)
    return vals


# --------------------------------------------------------------------------- writing


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
                df = df.copy(deep=False)
                df.attrs = {}  # the rows' file lines as read are not part of the bundle
                pq.write_table(pa.Table.from_pandas(df, preserve_index=False),
                               tmp / f"{name}.parquet")
    return path


def write_bundle(economy: Economy, path: str | Path, format: str = "csv") -> Path:
    """Write ``economy`` as a bundle at ``path``; read → write → read is identical."""
    return write_tables(economy.meta, economy.tables, path, format)


_CSV_CHUNK_ROWS = 1 << 20  # rows formatted and written per pass (bounds memory)
_NEEDS_QUOTES = b',"\r\n'  # a field containing any of these is quoted


def _ls(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _cat(*parts: pa.Array | pa.Scalar) -> pa.Array:
    """Element-wise concatenation of large_string arrays/scalars."""
    return pc.binary_join_element_wise(*parts, _ls(""))


def _replace(out: pa.Array, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``out`` with the entries where ``mask`` is set replaced by ``values`` (in order)."""
    return pc.replace_with_mask(out, pa.array(mask, pa.bool_()), values)


def _float_fields(x: np.ndarray) -> pa.Array:
    """Python ``repr`` of every float64 as a large_string array, ``""`` where NaN.

    Arrow's float→string cast gives the same shortest round-trip digits as ``repr`` but
    its own choice of notation (``1`` for ``1.0``, ``1e+15``, ``0.00001``, ``1e-7``); the
    entries whose notation differs are rewritten into ``repr``'s (fixed point for
    1e-4 ≤ |x| < 1e16, with at least one decimal; else ``d[.ddd]e±XX``).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    nan = np.isnan(x)
    s = pc.cast(pa.array(x, mask=nan), pa.large_string())
    a = np.abs(x)
    zero = a == 0
    with np.errstate(invalid="ignore"):
        fixed = (a >= 1e-4) & (a < 1e16)  # repr's fixed-point range (NaN: False)
        integral = x == np.trunc(x)
    has_e = _contains(s, b"e")
    add_dot = fixed & ~has_e & integral & ~zero  # Arrow's '12' → '12.0'
    redo = np.isfinite(x) & ~zero & (has_e | ~fixed)
    groups = []  # (mask, replacement text for the entries of mask, in order)
    if nan.any():
        groups.append((nan, pa.repeat(_ls(""), int(nan.sum()))))
    if zero.any():  # '0.0' / '-0.0', whatever Arrow wrote
        groups.append((zero, pc.if_else(pa.array(np.signbit(x[zero])), _ls("-0.0"),
                                        _ls("0.0"))))
    if add_dot.any():
        groups.append((add_dot, _cat(s.filter(pa.array(add_dot)), _ls(".0"))))
    if redo.any():
        groups.append((redo, _rewrite_repr(s.filter(pa.array(redo)), fixed[redo])))
    if not groups:
        return s
    if len(groups) == 1:
        mask, values = groups[0]
    else:  # one pass over the column: merge the (disjoint) groups in row order
        mask = np.logical_or.reduce([m for m, _ in groups])
        rows = np.concatenate([np.flatnonzero(m) for m, _ in groups])
        values = pa.concat_arrays([v for _, v in groups]).take(np.argsort(rows, kind="stable"))
    return _replace(s, mask, values)


def _string_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a large_string array as numpy views; ``data[offsets[i]:
    offsets[i + 1]]`` are the UTF-8 bytes of entry ``i`` (empty for null)."""
    _, offsets, data = arr.buffers()
    off = np.frombuffer(offsets, dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return off, raw


def _contains(arr: pa.Array, chars: bytes) -> np.ndarray:
    """Boolean mask: which entries of a large_string array contain any of the ASCII
    ``chars`` (a byte scan; much faster than a regex over many short strings)."""
    off, raw = _string_bytes(arr)
    data = raw[int(off[0]):int(off[-1])]
    hit = data == chars[0]
    for c in chars[1:]:
        hit |= data == c
    mask = np.zeros(len(arr), dtype=bool)
    pos = np.flatnonzero(hit)
    if len(pos):
        mask[np.searchsorted(off, pos + off[0], side="right") - 1] = True
    return mask


def _string_matrix(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A large_string array as a left-aligned, zero-padded byte matrix, and the lengths."""
    off, raw = _string_bytes(arr)
    n = np.diff(off)
    width = int(n.max()) if len(n) else 0
    mat = np.zeros((len(n), width), dtype=np.uint8)
    mat[np.arange(width) < n[:, None]] = raw[int(off[0]):int(off[-1])]  # row-major order
    return mat, n


def _rewrite_repr(s: pa.Array, fixed: np.ndarray) -> pa.Array:
    """Rewrite finite non-zero numbers written as ``[-]digits[.digits][e±N]`` in ``repr``
    notation: fixed point where ``fixed`` is set, else ``d[.ddd]e±XX``.

    Vectorised over a byte matrix: per row find the sign, the first and last significant
    digit, the '.' and the exponent; rows alike in all of these share one layout and are
    rewritten together by column slicing.
    """
    mat, n = _string_matrix(s)
    m, width = mat.shape
    col = np.arange(width)
    is_e = mat == ord("e")
    epos = np.where(is_e.any(1), is_e.argmax(1), n).astype(np.int32)  # end of mantissa
    is_dot = (mat == ord(".")) & (col < epos[:, None])
    dpos = np.where(is_dot.any(1), is_dot.argmax(1), epos)  # end of the integer part
    sig = (mat >= ord("1")) & (mat <= ord("9")) & (col < epos[:, None])
    first = sig.argmax(1)
    last = width - 1 - sig[:, ::-1].argmax(1)
    # exponent after 'e': [+-] and up to 3 digits (0 if no 'e')
    exp = np.zeros(m, dtype=np.int64)
    if is_e.any():
        take = np.minimum(epos[:, None] + np.arange(1, 6, dtype=np.int32), width - 1)
        tail = np.take_along_axis(mat, take, axis=1).astype(np.int64)
        for k in range(1, 5):
            exp = np.where(epos + 1 + k < n, exp * 10 + tail[:, k] - ord("0"), exp)
        exp = np.where(tail[:, 0] == ord("-"), -exp, exp)
    e10 = np.where(first < dpos, dpos - 1 - first, dpos - first) + exp
    neg = mat[:, 0] == ord("-")
    # one layout per distinct (sign, first, '.', last, exponent, notation)
    # (positions < 64: Arrow writes at most 24 characters for a float64)
    key = ((((neg * 64 + first) * 64 + dpos) * 64 + last) * 1024 + (e10 + 512)) * 2 + fixed
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))
    out = np.zeros((m, width + 24), dtype=np.uint8)
    size = np.zeros(m, dtype=np.int64)
    for a, b in zip(starts, [*starts[1:], m], strict=True):
        rows = order[a:b]
        r = rows[0]
        f, d, la, e = int(first[r]), int(dpos[r]), int(last[r]), int(e10[r])
        sub = mat[rows]
        digits = (np.concatenate([sub[:, f:d], sub[:, d + 1:la + 1]], axis=1)
                  if f < d < la else sub[:, f:la + 1])
        nd = digits.shape[1]
        parts: list = [b"-"] if neg[r] else []
        if fixed[r] and e < 0:
            parts += [b"0." + b"0" * (-e - 1), digits]
        elif fixed[r]:
            parts += [digits[:, :e + 1], b"0" * (e + 1 - nd), b".",
                      digits[:, e + 1:] if nd > e + 1 else b"0"]
        else:
            parts += [digits[:, :1], b"." if nd > 1 else b"", digits[:, 1:],
                      b"e%+03d" % e]
        parts = [np.frombuffer(q, np.uint8) if isinstance(q, bytes) else q for q in parts]
        text = np.empty((len(rows), sum(q.shape[-1] for q in parts)), dtype=np.uint8)
        p = 0
        for q in parts:
            text[:, p:p + q.shape[-1]] = q
            p += q.shape[-1]
        out[rows, :p] = text
        size[rows] = p
    data = out[np.arange(out.shape[1]) < size[:, None]]
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(m, pa.py_buffer(offsets), pa.py_buffer(data))


def _csv_fields(col: pd.Series) -> pa.Array:
    """One column as CSV field text (large_string, no nulls, quoted where needed)."""
    dtype = col.dtype
    if pd.api.types.is_float_dtype(dtype):
        x = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return _float_fields(x)
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return pc.if_else(pa.array(col.to_numpy()), _ls("True"), _ls("False"))
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pc.cast(pa.array(col.to_numpy()), pa.large_string())
    arr = pa.array(col.astype(str), from_pandas=True)  # as before: str(value), missing → empty
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.cast(arr, pa.large_string()).fill_null(_ls(""))
    quote = _contains(arr, _NEEDS_QUOTES)
    if quote.any():
        sub = arr.filter(pa.array(quote))
        sub = _cat(_ls('"'), pc.replace_substring(sub, '"', '""'), _ls('"'))
        arr = _replace(arr, quote, sub)
    return arr


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write a frame as CSV: UTF-8, header row, ``,`` and ``\\n``, no index.

    Floats are written as Python ``repr`` (round-trip exact; ``inf``/``-inf``), NaN as an
    empty field; bools as ``True``/``False``; anything else as ``str`` of the value, missing
    as empty. Fields containing ``,``, ``"``, ``\\n`` or ``\\r`` are quoted (``"`` doubled).
    """
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(list(df.columns))
    n, ncols = df.shape
    with open(path, "wb") as fh:
        fh.write(header.getvalue().encode("utf-8"))
        if ncols == 0:  # as before: no columns, no rows
            return
        for start in range(0, n, _CSV_CHUNK_ROWS):
            part = df.iloc[start:start + _CSV_CHUNK_ROWS]
            cols = [_csv_fields(part.iloc[:, j]) for j in range(ncols)]
            if ncols == 1:  # an empty line would read as no row: write "" instead
                cols[0] = pc.if_else(pc.equal(cols[0], _ls("")), _ls('""'), cols[0])
            rows = pc.binary_join_element_wise(*cols, _ls(",")) if ncols > 1 else cols[0]
            text = pc.binary_join(pa.LargeListArray.from_arrays(
                pa.array([0, len(rows)], pa.int64()), rows), _ls("\n"))[0]
            fh.write(text.as_buffer())  # as model._hash_joined reads its join
            fh.write(b"\n")


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
