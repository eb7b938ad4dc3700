"""Bad input: every case is a real ``econplan`` run in a subprocess (issue 3, "Validation").

For each defect, planted in a copy of the small example bundle, the CLI must exit with code 2,
print exactly one non-empty line on stderr (no traceback) naming the file, the line number
(header = line 1, first data row = line 2) where there is one, the field and the problem, and
leave ``--out`` untouched: a pre-existing ``--out`` keeps exactly its sentinel file, a missing
one is not created, and no temporary folder is left beside it.

All runs of the module happen once, concurrently (module fixture ``cli_runs``), each in its own
process: most through a fork server that has already imported econplan's dependencies and
executes ``python -m econplan.cli ...`` in a forked child (see FRESH for why and for the fresh
interpreters that must agree with it); each parametrized test then checks one run. The
Python API (``econplan.load``) must raise :class:`econplan.BundleError` with the very same
message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import econplan
from econplan import BundleError

EXAMPLE = Path(econplan.__file__).parent / "examples" / "small"
SENTINEL = "sentinel.txt"
SENTINEL_TEXT = "left by the test; must survive a failed run\n"

Mutation = Callable[[Path], None]


# --------------------------------------------------------------------------- mutations
# Each returns a function that plants one defect in a bundle folder (a copy of EXAMPLE).


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def set_cell(file: str, line: int, field: str, value: str) -> Mutation:
    """Set the cell in column ``field`` of line ``line`` (1 = header) of a CSV file."""

    def mutate(bundle: Path) -> None:
        lines = _lines(bundle / file)
        header = lines[0].split(",")
        cells = lines[line - 1].split(",")
        cells[header.index(field)] = value
        lines[line - 1] = ",".join(cells)
        _write_lines(bundle / file, lines)

    return mutate


def replace_line(file: str, line: int, text: str) -> Mutation:
    def mutate(bundle: Path) -> None:
        lines = _lines(bundle / file)
        lines[line - 1] = text
        _write_lines(bundle / file, lines)

    return mutate


def insert_line(file: str, line: int, text: str) -> Mutation:
    """Insert ``text`` so that it becomes line ``line`` of the file."""

    def mutate(bundle: Path) -> None:
        lines = _lines(bundle / file)
        lines.insert(line - 1, text)
        _write_lines(bundle / file, lines)

    return mutate


def append_line(file: str, text: str) -> Mutation:
    def mutate(bundle: Path) -> None:
        _write_lines(bundle / file, [*_lines(bundle / file), text])

    return mutate


def delete_lines(file: str, *texts: str) -> Mutation:
    """Delete the lines of a file that start with any of ``texts``."""

    def mutate(bundle: Path) -> None:
        lines = [ln for ln in _lines(bundle / file) if not ln.startswith(texts)]
        _write_lines(bundle / file, lines)

    return mutate


def drop_column(file: str, field: str) -> Mutation:
    def mutate(bundle: Path) -> None:
        rows = [ln.split(",") for ln in _lines(bundle / file)]
        k = rows[0].index(field)
        _write_lines(bundle / file, [",".join(r[:k] + r[k + 1:]) for r in rows])

    return mutate


def remove(file: str) -> Mutation:
    def mutate(bundle: Path) -> None:
        (bundle / file).unlink()

    return mutate


def write_bytes(file: str, data: bytes) -> Mutation:
    def mutate(bundle: Path) -> None:
        (bundle / file).write_bytes(data)

    return mutate


def to_parquet(bundle: Path) -> None:
    """Turn every CSV table of the bundle into Parquet with the same columns (numbers as
    float64, ids and text as strings, empty capacity as null)."""
    for csv_path in sorted(bundle.glob("*.csv")):
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        for col in ("output", "capacity", "amount", "available", "target", "priority", "floor"):
            if col in df.columns:
                df[col] = pd.to_numeric(df[col].replace("", None)).astype("float64")
        df.to_parquet(csv_path.with_suffix(".parquet"), index=False)
        csv_path.unlink()


def parquet_cell(table: str, row: int, field: str, value: object,
                 as_string: bool = False) -> Mutation:
    """Convert the bundle to Parquet, then set data row ``row`` (0-based) of ``field``;
    ``as_string`` stores the whole column as strings."""

    def mutate(bundle: Path) -> None:
        to_parquet(bundle)
        path = bundle / f"{table}.parquet"
        df = pd.read_parquet(path)
        if as_string:
            df[field] = df[field].map(repr).astype(object)
        df.loc[row, field] = value
        df.to_parquet(path, index=False)

    return mutate


def parquet_drop(table: str, field: str) -> Mutation:
    def mutate(bundle: Path) -> None:
        to_parquet(bundle)
        path = bundle / f"{table}.parquet"
        pd.read_parquet(path).drop(columns=[field]).to_parquet(path, index=False)

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(bundle: Path) -> None:
        for m in mutations:
            m(bundle)

    return mutate


TOML = (EXAMPLE / "economy.toml").read_text(encoding="utf-8")


def toml_line(extra: str, text: str) -> int:
    """The line of ``text`` in the example's economy.toml with ``extra`` appended (the line
    its errors must name: an outside check found none named, session 26)."""
    return (TOML + extra).splitlines().index(text) + 1
PRODUCTS = (EXAMPLE / "products.csv").read_text(encoding="utf-8")

# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One defect and what the single stderr line must say about it.

    ``file``: basename the message names; ``line``: line number it names (None: it names
    none); ``field``: the field it names (None: it names none); ``words``: further substrings
    the message must contain (compared in lower case).
    """

    id: str
    mutate: Mutation
    file: str
    line: int | None
    field: str | None
    words: tuple[str, ...] = ()


CASES: list[Case] = [
    # missing required file
    Case("missing-economy.toml", remove("economy.toml"), "economy.toml", None, None,
         ("required file is missing",)),
    Case("missing-products.csv", remove("products.csv"), "products.csv", None, None,
         ("required file is missing",)),
    Case("missing-techniques.csv", remove("techniques.csv"), "techniques.csv", None, None,
         ("required file is missing",)),
    Case("missing-resources.csv", remove("resources.csv"), "resources.csv", None, None,
         ("required file is missing",)),
    # missing column
    Case("missing-column-inputs-amount", drop_column("inputs.csv", "amount"), "inputs.csv",
         1, "amount", ("missing",)),
    Case("missing-column-techniques-product", drop_column("techniques.csv", "product"),
         "techniques.csv", 1, "product", ("missing",)),
    Case("missing-column-resources-available", drop_column("resources.csv", "available"),
         "resources.csv", 1, "available", ("missing",)),
    Case("missing-column-needs-target", drop_column("needs.csv", "target"), "needs.csv", 1,
         "target", ("missing",)),
    Case("missing-column-resource_use-resource", drop_column("resource_use.csv", "resource"),
         "resource_use.csv", 1, "resource", ("missing",)),
    Case("missing-column-products-id", drop_column("products.csv", "id"), "products.csv", 1,
         "id", ("missing",)),
    # non-numeric
    Case("non-numeric-inputs-amount", set_cell("inputs.csv", 4, "amount", "abc"),
         "inputs.csv", 4, "amount", ("not a number", "abc")),
    Case("non-numeric-techniques-output", set_cell("techniques.csv", 6, "output", "one"),
         "techniques.csv", 6, "output", ("not a number", "one")),
    Case("non-numeric-resources-available", set_cell("resources.csv", 3, "available", "4k"),
         "resources.csv", 3, "available", ("not a number", "4k")),
    Case("non-numeric-needs-target", set_cell("needs.csv", 5, "target", "lots"), "needs.csv",
         5, "target", ("not a number", "lots")),
    Case("non-numeric-techniques-capacity", set_cell("techniques.csv", 5, "capacity", "6e3x"),
         "techniques.csv", 5, "capacity", ("not a number",)),
    # NaN
    Case("nan-inputs-amount", set_cell("inputs.csv", 7, "amount", "nan"), "inputs.csv", 7,
         "amount", ("nan",)),
    Case("nan-needs-target", set_cell("needs.csv", 3, "target", "NaN"), "needs.csv", 3,
         "target", ("nan",)),
    Case("nan-resource_use-amount", set_cell("resource_use.csv", 9, "amount", "NAN"),
         "resource_use.csv", 9, "amount", ("nan",)),
    # infinite
    Case("inf-inputs-amount", set_cell("inputs.csv", 10, "amount", "inf"), "inputs.csv", 10,
         "amount", ("infinite",)),
    Case("minus-inf-needs-floor", set_cell("needs.csv", 4, "floor", "-inf"), "needs.csv", 4,
         "floor", ("infinite",)),
    Case("overflow-1e999-resources-available",
         set_cell("resources.csv", 4, "available", "1e999"), "resources.csv", 4, "available",
         ("infinite",)),
    Case("inf-techniques-capacity", set_cell("techniques.csv", 5, "capacity", "Infinity"),
         "techniques.csv", 5, "capacity", ("infinite",)),
    # negative / zero numbers
    Case("negative-inputs-amount", set_cell("inputs.csv", 12, "amount", "-0.5"), "inputs.csv",
         12, "amount", ("negative", "-0.5")),
    Case("zero-inputs-amount", set_cell("inputs.csv", 12, "amount", "0"), "inputs.csv", 12,
         "amount", ("zero",)),
    Case("negative-resource_use-amount", set_cell("resource_use.csv", 8, "amount", "-4"),
         "resource_use.csv", 8, "amount", ("negative", "-4")),
    Case("negative-techniques-output", set_cell("techniques.csv", 7, "output", "-10"),
         "techniques.csv", 7, "output", ("negative", "-10")),
    Case("zero-techniques-output", set_cell("techniques.csv", 7, "output", "0"),
         "techniques.csv", 7, "output", ("zero",)),
    Case("negative-techniques-capacity", set_cell("techniques.csv", 5, "capacity", "-6000"),
         "techniques.csv", 5, "capacity", ("negative", "-6000")),
    Case("negative-resources-available", set_cell("resources.csv", 3, "available", "-1"),
         "resources.csv", 3, "available", ("negative",)),
    Case("negative-needs-target", set_cell("needs.csv", 4, "target", "-800"), "needs.csv", 4,
         "target", ("negative", "-800")),
    Case("negative-needs-floor", set_cell("needs.csv", 5, "floor", "-1"), "needs.csv", 5,
         "floor", ("negative",)),
    Case("zero-needs-priority", set_cell("needs.csv", 5, "priority", "0"), "needs.csv", 5,
         "priority", ("zero",)),
    # unknown references
    Case("unknown-product-in-techniques", set_cell("techniques.csv", 3, "product", "bred"),
         "techniques.csv", 3, "product", ("unknown product", "bred")),
    Case("unknown-product-in-inputs", set_cell("inputs.csv", 14, "product", "steal"),
         "inputs.csv", 14, "product", ("unknown product", "steal")),
    Case("unknown-product-in-needs", set_cell("needs.csv", 5, "product", "transit"),
         "needs.csv", 5, "product", ("unknown product", "transit")),
    Case("unknown-technique-in-inputs", set_cell("inputs.csv", 16, "technique", "trucking"),
         "inputs.csv", 16, "technique", ("unknown technique", "trucking")),
    Case("unknown-technique-in-resource_use",
         set_cell("resource_use.csv", 11, "technique", "trucking"), "resource_use.csv", 11,
         "technique", ("unknown technique", "trucking")),
    Case("unknown-resource-in-resource_use",
         set_cell("resource_use.csv", 12, "resource", "co2e"), "resource_use.csv", 12,
         "resource", ("unknown resource", "co2e")),
    Case("unknown-labour-in-economy.toml",
         write_bytes("economy.toml", (TOML + 'labour = "work"\n').encode()), "economy.toml",
         toml_line('labour = "work"\n', 'labour = "work"'), "labour",
         ("unknown resource", "work")),
    Case("costs-weight-not-a-number",
         write_bytes("economy.toml", (TOML + '\n[costs]\nland = "x"\n').encode()),
         "economy.toml", toml_line('\n[costs]\nland = "x"\n', 'land = "x"'), "costs",
         ("land", "finite number")),
    Case("costs-weight-negative",
         write_bytes("economy.toml", (TOML + "\n[costs]\nco2 = -1.5\n").encode()),
         "economy.toml", toml_line("\n[costs]\nco2 = -1.5\n", "co2 = -1.5"), "costs",
         ("co2", "-1.5")),
    Case("costs-weight-nan",
         write_bytes("economy.toml", (TOML + "\n[costs]\nco2 = nan\n").encode()),
         "economy.toml", toml_line("\n[costs]\nco2 = nan\n", "co2 = nan"), "costs",
         ("co2", "nan")),
    # duplicates
    Case("duplicate-product-id", insert_line("products.csv", 5, "bread,Bread again,tonnes"),
         "products.csv", 5, "id", ("duplicate", "bread", "first at line 3")),
    Case("duplicate-technique-id", append_line("techniques.csv", "bakery,bread,2,"),
         "techniques.csv", 10, "id", ("duplicate", "bakery", "first at line 3")),
    Case("duplicate-resource-id", append_line("resources.csv", "land,More land,hectares,10"),
         "resources.csv", 5, "id", ("duplicate", "land", "first at line 3")),
    Case("duplicate-product-in-needs", insert_line("needs.csv", 4, "bread,10,1,0"),
         "needs.csv", 4, "product", ("duplicate", "bread", "first at line 2")),
    Case("duplicate-input-entry", append_line("inputs.csv", " farm , tools ,0.3"),
         "inputs.csv", 20, "technique/product", ("duplicate entry", "farm, tools",
                                                   "first at line 3")),
    Case("duplicate-input-entry-earlier", insert_line("inputs.csv", 4, "bakery,grain,0.9"),
         "inputs.csv", 6, "technique/product", ("duplicate entry", "bakery, grain",
                                                "first at line 4")),
    Case("duplicate-resource-use", insert_line("resource_use.csv", 3, "bakery,labour,1"),
         "resource_use.csv", 5, "technique/resource", ("duplicate entry", "bakery, labour",
                                                       "first at line 3")),
    # floor above target
    Case("floor-above-target", set_cell("needs.csv", 3, "floor", "20000"), "needs.csv", 3,
         "floor", ("above target", "electricity")),
    # no rows
    Case("products-header-only", write_bytes("products.csv", b"id,name,unit\n"),
         "products.csv", 2, None, ("no rows",)),
    Case("resources-header-only", write_bytes("resources.csv", b"id,name,unit,available\n"),
         "resources.csv", 2, None, ("no rows",)),
    Case("products-empty-file", write_bytes("products.csv", b""), "products.csv", 1, None,
         ("empty",)),
    # invalid UTF-8
    Case("invalid-utf8-products-name",
         write_bytes("products.csv",
                     PRODUCTS.replace("Electricity,", "Electr\udce9city,")
                     .encode("utf-8", "surrogateescape")),
         "products.csv", 4, "name", ("utf-8", "0xe9")),
    Case("invalid-utf8-inputs-product",
         write_bytes("inputs.csv", (EXAMPLE / "inputs.csv").read_bytes()
                     .replace(b"coal_plant,transport", b"coal_plant,tr\xe0nsport")),
         "inputs.csv", 9, "product", ("utf-8",)),
    Case("invalid-utf8-economy.toml",
         write_bytes("economy.toml", b'name = "Sm\xe4ll"\nperiod = "2027"\n'),
         "economy.toml", 1, None, ("utf-8",)),
    # malformed economy.toml
    Case("malformed-toml-unterminated-string",
         write_bytes("economy.toml", b'period = "2027"\nname = "Small\n'), "economy.toml", 2,
         None, ("not valid toml",)),
    Case("malformed-toml-no-value",
         write_bytes("economy.toml", b'name = "Small"\nperiod = "2027"\ndescription =\n'),
         "economy.toml", 3, None, ("not valid toml",)),
    Case("toml-missing-name", write_bytes("economy.toml", b'period = "2027"\n'),
         "economy.toml", None, "name", ("missing",)),
    Case("toml-missing-period", write_bytes("economy.toml", b'name = "Small"\n'),
         "economy.toml", None, "period", ("missing",)),
    # a needed product nothing makes (needs.csv is sorted internally: the line must be the
    # file's, 6, not the sorted position)
    Case("target-without-technique",
         both(delete_lines("techniques.csv", "care_home,"),
              delete_lines("inputs.csv", "care_home,"),
              delete_lines("resource_use.csv", "care_home,")),
         "needs.csv", 6, "product", ("care", "no technique")),
    # not productive (the line: the group's largest input per unit of output, the row most
    # likely at fault; session 16, before: no line)
    Case("not-productive-self-loop", append_line("inputs.csv", "steel_mill,steel,1.2"),
         "inputs.csv", 20, "amount", ("not productive", "steel")),
    Case("not-productive-two-product-loop",
         both(replace_line("inputs.csv", 5, "bakery,grain,0.5"),
              append_line("inputs.csv", "farm,grain,0.6"),
              append_line("inputs.csv", "farm,bread,0.5"),
              append_line("inputs.csv", "bakery,bread,0.6")),
         "inputs.csv", 20, "amount", ("not productive", "grain", "bread")),
    # an amount whose products overflow double precision is not a loop (session 26: it was
    # called "not productive", naming another line)
    Case("amount-overflows", set_cell("inputs.csv", 6, "amount", "1e308"),
         "inputs.csv", 6, "amount", ("too large to compute", "larger units")),
    Case("resource-use-overflows", set_cell("resource_use.csv", 4, "amount", "1e101"),
         "resource_use.csv", 4, "amount", ("too large to compute", "1e+101")),
    # wrong number of fields
    Case("too-many-fields", replace_line("inputs.csv", 6, "bakery,electricity,0.3,7"),
         "inputs.csv", 6, None, ("expected 3 fields", "found 4", "quote values")),
    Case("too-few-fields", replace_line("resources.csv", 3, "land,Farm land,hectares"),
         "resources.csv", 3, "available", ("expected 4 fields", "found 3")),
    # Parquet bundles (line = data row + 1, as for CSV)
    Case("parquet-negative-amount", parquet_cell("inputs", 2, "amount", -1.0),
         "inputs.parquet", 4, "amount", ("negative",)),
    Case("parquet-nan-target", parquet_cell("needs", 1, "target", float("nan")),
         "needs.parquet", 3, "target", ("nan",)),
    Case("parquet-inf-available", parquet_cell("resources", 2, "available", float("inf")),
         "resources.parquet", 4, "available", ("infinite",)),
    Case("parquet-non-numeric-string", parquet_cell("techniques", 5, "output", "ten", True),
         "techniques.parquet", 7, "output", ("not a number", "ten")),
    Case("parquet-unknown-product", parquet_cell("inputs", 12, "product", "steal"),
         "inputs.parquet", 14, "product", ("unknown product", "steal")),
    Case("parquet-missing-column", parquet_drop("techniques", "product"),
         "techniques.parquet", 1, "product", ("missing",)),
    # line numbers stay those of the file when blank lines, CRLF or quoted line breaks occur
    Case("blank-line-before-bad-number",
         both(insert_line("inputs.csv", 3, ""), set_cell("inputs.csv", 13, "amount", "-2")),
         "inputs.csv", 13, "amount", ("negative",)),
    Case("blank-lines-before-unknown-reference",
         both(insert_line("needs.csv", 3, ""), insert_line("needs.csv", 5, ""),
              set_cell("needs.csv", 7, "product", "transit")),
         "needs.csv", 7, "product", ("unknown product", "transit")),
    Case("crlf-line-endings",
         both(set_cell("inputs.csv", 8, "amount", "x"),
              lambda b: (b / "inputs.csv").write_bytes(
                  (b / "inputs.csv").read_bytes().replace(b"\n", b"\r\n"))),
         "inputs.csv", 8, "amount", ("not a number",)),
    Case("quoted-line-break-before-duplicate",
         both(replace_line("products.csv", 3, 'bread,"Bread\nloaf",tonnes'),
              append_line("products.csv", "tools,Tools,pieces")),
         "products.csv", 10, "id", ("duplicate", "tools", "first at line 7")),
    Case("bundle-folder-missing", lambda b: shutil.rmtree(b), "bundle", None, None,
         ("does not exist",)),
    Case("parquet-not-parquet", both(to_parquet, write_bytes("needs.parquet", b"PAR1 junk")),
         "needs.parquet", None, None, ("parquet",)),
    # found by a fuzzer (session 14): tracebacks or silent damage before
    Case("cr-only-line-endings",
         lambda b: (b / "inputs.csv").write_bytes(
             (b / "inputs.csv").read_bytes().replace(b"\n", b"\r")),
         "inputs.csv", 1, None, ("carriage return",)),
    Case("resource-id-reserved", set_cell("resources.csv", 3, "id", "product"),
         "resources.csv", 3, "id", ("reserved",)),
    Case("parquet-list-amount",
         both(to_parquet, lambda b: pd.read_parquet(b / "inputs.parquet").assign(
             amount=lambda df: [[float(a)] for a in df["amount"]]).to_parquet(
             b / "inputs.parquet", index=False)),
         "inputs.parquet", None, "amount", ("cannot be read",)),
]

CASE_BY_ID = {c.id: c for c in CASES}
assert len(CASE_BY_ID) == len(CASES), "case ids must be unique"

# Every other case runs with an --out that does not exist (nor does its parent): it must not
# appear. The others run with an --out that exists and holds a sentinel: it must stay as it is.
OUT_MODE = {c.id: ("existing", "missing")[i % 2] for i, c in enumerate(CASES)}
# Runs go through a fork server (one interpreter that has imported econplan.cli forks a child
# per run, which executes ``python -m econplan.cli ...`` exactly as the interpreter would, via
# runpy, with its own stdin/stdout/stderr and exit code): a fresh interpreter costs ~1 s of CPU
# in imports alone, too slow for ~70 runs on a small machine. These cases also run in a fresh
# ``python -m econplan.cli`` each, which must agree with the fork server; set
# ECONPLAN_TEST_FRESH=1 (or lack os.fork) to run every case in a fresh interpreter.
FRESH = [
    "missing-economy.toml", "nan-needs-target", "unknown-technique-in-resource_use",
    "invalid-utf8-products-name", "target-without-technique",
    "not-productive-two-product-loop", "parquet-negative-amount",
]
# These also run through ``econplan values`` (fresh interpreters; same message as ``plan``).
VALUES = ["missing-techniques.csv", "nan-inputs-amount", "not-productive-self-loop"]
USE_FORK = (hasattr(os, "fork") and sys.platform.startswith("linux")
            and not os.environ.get("ECONPLAN_TEST_FRESH"))
# (engine, command, case id, out mode)
RUNS = ([("fork" if USE_FORK else "fresh", "plan", c.id, OUT_MODE[c.id]) for c in CASES]
        + ([("fresh", "plan", cid, OUT_MODE[cid]) for cid in FRESH] if USE_FORK else [])
        + [("fresh", "values", cid, "existing") for cid in VALUES])


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    engine: str
    command: str
    case: Case
    mode: str
    bundle: Path
    out_parent: Path
    out: Path
    before: dict[str, tuple[bytes, int]]  # bundle file → (content, mtime_ns)
    rc: int = -1
    stdout: str = ""
    stderr: str = ""

    @property
    def argv(self) -> list[str]:
        return [self.command, str(self.bundle), "--out", str(self.out)]


def make_bundle(case: Case, where: Path) -> Path:
    bundle = where / "bundle"
    shutil.copytree(EXAMPLE, bundle)
    case.mutate(bundle)
    return bundle


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    if not folder.exists():
        return {}
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _prepare(engine: str, command: str, case: Case, mode: str, root: Path) -> Run:
    where = root / f"{engine}-{command}-{mode}-{case.id}"
    where.mkdir()
    bundle = make_bundle(case, where)
    out_parent = where / "outs"
    out_parent.mkdir()
    if mode == "existing":
        out = out_parent / "out"
        out.mkdir()
        (out / SENTINEL).write_text(SENTINEL_TEXT, encoding="utf-8")
    else:
        out = out_parent / "new" / "deeper" / "out"
    return Run(engine, command, case, mode, bundle, out_parent, out, _snapshot(bundle))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return env


def _run_fresh(run: Run) -> Run:
    """``python -m econplan.cli ...`` in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-m", "econplan.cli", *run.argv], capture_output=True, text=True,
        errors="replace", timeout=180, env=_env(), stdin=subprocess.DEVNULL,
    )
    run.rc, run.stdout, run.stderr = proc.returncode, proc.stdout, proc.stderr
    return run


FORK_SERVER = r"""
import json, os, runpy, sys, traceback
import econplan.bundle, econplan.cli, econplan.values  # imports every run needs, done once

jobs = json.load(sys.stdin)
width = int(sys.argv[1])
running, codes = {}, {}


def child(job):
    # what `python -m econplan.cli ARGS < /dev/null > stdout 2> stderr` does
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        os.dup2(os.open(path, flags, 0o644), fd)
    sys.argv = [econplan.cli.__file__, *job["argv"]]
    del sys.modules["econplan.cli"]  # as in a fresh `-m` run: only its imports are warm
    code = 0
    try:
        runpy.run_module("econplan.cli", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


for i, job in enumerate(jobs):
    while len(running) >= width:
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        child(job)
    running[pid] = i
while running:
    pid, status = os.wait()
    codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
json.dump([codes[i] for i in range(len(jobs))], sys.stdout)
"""


def _run_forked(runs: list[Run], root: Path, width: int) -> None:
    jobs = []
    for k, run in enumerate(runs):
        jobs.append({"argv": run.argv, "stdout": str(root / f"fork-{k}.out"),
                     "stderr": str(root / f"fork-{k}.err")})
    proc = subprocess.run([sys.executable, "-c", FORK_SERVER, str(width)],
                          input=json.dumps(jobs), capture_output=True, text=True, timeout=300,
                          env=_env())
    assert proc.returncode == 0, proc.stderr
    for run, job, rc in zip(runs, jobs, json.loads(proc.stdout), strict=True):
        run.rc = rc
        run.stdout = Path(job["stdout"]).read_text(encoding="utf-8", errors="replace")
        run.stderr = Path(job["stderr"]).read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str, str], Run]:
    """Every (engine, command, case, out mode) of RUNS, run once, concurrently."""
    root = tmp_path_factory.mktemp("validation")
    runs = [_prepare(eng, cmd, CASE_BY_ID[cid], mode, root) for eng, cmd, cid, mode in RUNS]
    width = max(2, min(4, os.cpu_count() or 1))
    forked = [r for r in runs if r.engine == "fork"]
    with ThreadPoolExecutor(max_workers=width) as pool:
        fresh = pool.map(_run_fresh, [r for r in runs if r.engine == "fresh"])
        if forked:
            _run_forked(forked, root, width)
        list(fresh)
    return {(r.engine, r.command, r.case.id, r.mode): r for r in runs}


def plan_run(cli_runs: dict, case_id: str) -> Run:
    """The run of ``econplan plan`` on the case's bundle."""
    return cli_runs[("fork" if USE_FORK else "fresh", "plan", case_id, OUT_MODE[case_id])]


def same_message(a: Run, b: Run) -> bool:
    return (a.stderr.strip().replace(str(a.bundle), "<bundle>")
            == b.stderr.strip().replace(str(b.bundle), "<bundle>"))


def check_message(message: str, case: Case) -> None:
    """The one line names the file, the line (or none), the field (or none), the problem."""
    assert re.search(rf"(^|[/\\]){re.escape(case.file)}\b", message), (
        f"does not name {case.file}: {message!r}")
    where = message.split(": ", 1)[0] if ": " in message else message
    if case.line is None:
        assert not re.search(r", line \d+", where), f"names a line: {message!r}"
    else:
        assert f", line {case.line}" in where and not re.search(
            rf", line {case.line}\d", where), f"does not name line {case.line}: {message!r}"
    if case.field is None:
        assert ", field '" not in where, f"names a field: {message!r}"
    else:
        assert f", field '{case.field}'" in where, (
            f"does not name field {case.field!r}: {message!r}")
    for word in case.words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"


def check_run(run: Run) -> str:
    """Exit code 2, exactly one stderr line, nothing on stdout, --out and bundle untouched;
    return the line."""
    assert "Traceback" not in run.stderr, run.stderr
    assert run.rc == 2, f"exit code {run.rc}; stderr: {run.stderr!r}"
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"not exactly one line: {run.stderr!r}"
    assert run.stderr.endswith("\n")
    assert run.stdout.strip() == "", f"stdout: {run.stdout!r}"
    if run.mode == "existing":
        assert sorted(os.listdir(run.out_parent)) == ["out"], os.listdir(run.out_parent)
        assert sorted(os.listdir(run.out)) == [SENTINEL], os.listdir(run.out)
        assert (run.out / SENTINEL).read_text(encoding="utf-8") == SENTINEL_TEXT
    else:
        assert not run.out.exists()
        assert os.listdir(run.out_parent) == [], os.listdir(run.out_parent)
    assert _snapshot(run.bundle) == run.before, "the bundle itself was changed"
    return lines[0]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.id}[out-{OUT_MODE[c.id]}]")
def test_plan_rejects_bad_input(cli_runs: dict, case: Case) -> None:
    run = plan_run(cli_runs, case.id)
    check_message(check_run(run), case)


def test_both_out_modes_are_exercised() -> None:
    assert set(OUT_MODE.values()) == {"existing", "missing"}


@pytest.mark.parametrize("case_id", VALUES)
def test_values_rejects_bad_input(cli_runs: dict, case_id: str) -> None:
    run = cli_runs[("fresh", "values", case_id, "existing")]
    check_message(check_run(run), CASE_BY_ID[case_id])
    # the same defect gives the same message whatever the command
    assert same_message(run, plan_run(cli_runs, case_id))


@pytest.mark.skipif(not USE_FORK, reason="every case already runs in a fresh interpreter")
@pytest.mark.parametrize("case_id", FRESH)
def test_fresh_interpreter_agrees(cli_runs: dict, case_id: str) -> None:
    """A fresh ``python -m econplan.cli`` behaves exactly as the fork server's run."""
    run = cli_runs[("fresh", "plan", case_id, OUT_MODE[case_id])]
    check_message(check_run(run), CASE_BY_ID[case_id])
    forked = plan_run(cli_runs, case_id)
    assert (run.rc, run.stdout) == (forked.rc, forked.stdout)
    assert same_message(run, forked)


def test_not_productive_names_only_the_loop(cli_runs: dict) -> None:
    """The two-product loop (A = [[0.6, 0.5], [0.5, 0.6]]) is named, nothing else."""
    line = plan_run(cli_runs, "not-productive-two-product-loop").stderr
    named = line.split("products", 1)[1].split("use up", 1)[0]
    assert {p.strip() for p in named.split(",")} == {"bread", "grain"}, line


@pytest.mark.parametrize("case_id", [
    "missing-products.csv", "missing-column-inputs-amount", "non-numeric-needs-target",
    "unknown-resource-in-resource_use", "duplicate-product-in-needs", "floor-above-target",
    "invalid-utf8-products-name", "toml-missing-name", "target-without-technique",
    "not-productive-two-product-loop", "too-many-fields", "parquet-negative-amount",
])
def test_python_api_raises_same_message(tmp_path: Path, cli_runs: dict, case_id: str) -> None:
    case = CASE_BY_ID[case_id]
    bundle = make_bundle(case, tmp_path)
    with pytest.raises(BundleError) as info:
        econplan.load(bundle)
    message = str(info.value)
    assert "\n" not in message
    check_message(message, case)
    cli = plan_run(cli_runs, case_id)
    assert message.replace(str(bundle), "<bundle>") == cli.stderr.strip().replace(
        str(cli.bundle), "<bundle>")
    assert Path(info.value.file).name == case.file
    assert info.value.line == case.line
    assert info.value.field == case.field


def test_valid_example_passes_validation() -> None:
    """The unmodified example loads: the defects above are the only reason for exit 2."""
    economy = econplan.load(EXAMPLE)
    assert economy.n_products == 7 and economy.n_techniques == 8


def test_parquet_example_passes_validation(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE, bundle)
    to_parquet(bundle)
    assert econplan.load(bundle).sha256 == econplan.load(EXAMPLE).sha256


def test_bundle_hash_is_the_same_piece_by_piece(monkeypatch) -> None:
    """The hash of the canonical bundle (plans' ``inputs_sha256``) is fed string columns in
    pieces (memory at 1e6 products): the digest is that of the whole columns joined, as
    written by earlier versions, whatever the piece size."""
    import hashlib

    import econplan.model as model

    economy = econplan.load(EXAMPLE)
    whole = hashlib.sha256()
    for key in ("name", "period", "description"):
        whole.update(f"{key}={economy.meta.get(key, '')}\n".encode())
    whole.update(f"labour={economy.labour}\n".encode())
    for rid, w in sorted((economy.meta.get("costs") or {}).items()):
        whole.update(f"cost {rid}={float(w)!r}\n".encode())
    for name, df in economy.tables.items():
        whole.update(f"[{name}]\n".encode())
        for col in model.TABLES[name].column_names:
            s = df[col]
            if s.dtype.kind == "f":
                whole.update(s.to_numpy(float).tobytes())
            else:
                whole.update("\x1f".join(s.astype(str)).encode())
            whole.update(b"\x1e")
    assert economy.sha256 == whole.hexdigest()
    for piece in (1, 2, 3):
        monkeypatch.setattr(model, "HASH_CHUNK", piece)
        assert econplan.load(EXAMPLE).sha256 == whole.hexdigest()


@pytest.mark.parametrize("dtype", [object, "string[pyarrow]"])
def test_a_string_column_hashes_as_its_python_join(monkeypatch, dtype) -> None:
    """Arrow joins the pieces of a string column for the hash: the bytes are those of
    Python's ``"\\x1f".join`` (UTF-8), with empty strings and accents, at any piece size."""
    import hashlib

    import econplan.model as model

    s = pd.Series(["", "ração", "a b", "", "Ünïcode ✓", "x"] * 3, dtype=dtype)
    want = hashlib.sha256("\x1f".join(s.astype(str)).encode()).hexdigest()
    for piece in (1, 4, 1 << 20):
        monkeypatch.setattr(model, "HASH_CHUNK", piece)
        h = hashlib.sha256()
        model._hash_joined(h, s)
        assert h.hexdigest() == want


def test_load_frees_the_tables_as_read_before_the_productivity_check(monkeypatch) -> None:
    """``load`` drops the tables as read (the Economy keeps its own validated copies) and
    hands the freed memory back before the productivity check, the loading's peak: at 1e6
    × 2 the read inputs alone are 1.5 GiB."""
    import gc
    import weakref

    import econplan.bundle as bundle
    import econplan.memory as memory
    import econplan.values as values

    refs: list[weakref.ref] = []
    read = bundle.read_tables

    def reading(folder):
        meta, tables = read(folder)
        refs.extend(weakref.ref(df) for df in tables.values())
        return meta, tables

    seen: list[int] = []
    check = values.check_productive

    def checking(economy):
        gc.collect()
        seen.append(sum(r() is not None for r in refs))
        return check(economy)

    released: list[int] = []
    monkeypatch.setattr(bundle, "read_tables", reading)
    monkeypatch.setattr(values, "check_productive", checking)
    monkeypatch.setattr(memory, "release_freed_memory", lambda: released.append(len(seen)))
    economy = econplan.load(EXAMPLE)
    assert refs and seen == [0]
    assert economy.n_products > 0
    assert released == []  # a small bundle: not worth a collection and a trim
    monkeypatch.setattr(econplan, "RELEASE_ABOVE_ROWS", 10)
    econplan.load(EXAMPLE)
    assert released == [1]  # before the second load's check
    if sys.platform.startswith("linux"):
        assert memory._malloc_trim()  # glibc: the freed pages go back to the OS


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inputs_table_rebuilt_from_the_matrix_is_the_table_read(tmp_path: Path, seed) -> None:
    """An economy keeps its inputs as the matrix A, not as a table too (memory at 1e6): the
    table it gives back is the canonical table read from the files (rows in any order), row
    for row, and written back it makes the same bundle (same hash)."""
    import numpy as np

    from econplan.bundle import read_tables

    econplan.generate(tmp_path / "b", 300, 2, seed=seed, capacities=True)
    meta, tables = read_tables(tmp_path / "b")
    inputs = tables["inputs"].sample(frac=1.0, random_state=seed)  # rows in any order
    inputs.to_csv(tmp_path / "b" / "inputs.csv", index=False)
    e = econplan.load(tmp_path / "b")
    assert e._inputs is None  # held as A only
    meta, tables = read_tables(tmp_path / "b")
    want = econplan.Economy.from_tables(meta, tables, check_productive=False)
    ref = tables["inputs"].astype({"technique": str, "product": str})
    ref = ref.assign(technique=ref["technique"].str.strip(), product=ref["product"].str.strip())
    ref = ref.sort_values(["technique", "product"], kind="stable")  # by the ids, as strings
    got = e.inputs
    assert list(got["technique"]) == list(ref["technique"])
    assert list(got["product"]) == list(ref["product"])
    assert np.array_equal(got["amount"].to_numpy(), ref["amount"].astype(float).to_numpy())
    econplan.write_bundle(e, tmp_path / "again")
    assert econplan.load(tmp_path / "again").sha256 == e.sha256 == want.sha256


def test_row_lines_ride_along_without_copies(tmp_path):
    """The file lines kept for error messages (per needs row, and per row when blank lines
    shift them) are shared by every frame pandas derives, not deep-copied into each (that copy
    was 30 s of a 2e5-product plan); the messages still name the right line."""
    import copy

    from econplan.schema import Shared, attr

    src = Path(econplan.__file__).parent / "examples" / "small"
    e = econplan.load(src)
    lines = e.needs.attrs["lines"]
    assert isinstance(lines, Shared) and len(attr(e.needs, "lines")) == len(e.needs)
    assert copy.deepcopy(e.needs.attrs)["lines"] is lines
    assert e.needs["product"].attrs["lines"] is lines  # a column access: no copy
    b = tmp_path / "b"
    shutil.copytree(src, b)
    needs = _lines(b / "needs.csv")
    cols = needs[0].split(",")
    ghost = ",".join({"product": "ghost", "target": "5"}.get(c, "") for c in cols)
    _write_lines(b / "needs.csv", [needs[0], "", *needs[1:], ghost])  # blank line: rows shift
    products = _lines(b / "products.csv")
    _write_lines(b / "products.csv", [*products, "ghost,Ghost,u"])
    with pytest.raises(BundleError) as err:
        econplan.load(b)
    assert f"needs.csv, line {len(needs) + 2}," in str(err.value)
    assert "no technique makes it" in str(err.value)


def test_out_never_replaces_inputs_or_other_files(tmp_path, monkeypatch):
    """--out set to the bundle, a folder holding it, a file, the working folder, or a folder
    of other files replaced them with exit 0 (a fuzzer). Each is now refused with one line,
    exit 2, and everything is left as it was; a previous output of the same command is
    still replaced."""
    b = tmp_path / "par" / "b"
    shutil.copytree(EXAMPLE, b)
    (tmp_path / "par" / "notes.txt").write_text("precious")
    (tmp_path / "f.txt").write_text("data")
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("keep")
    monkeypatch.chdir(tmp_path / "par")

    from typer.testing import CliRunner

    from econplan.cli import app

    runner = CliRunner()  # in process: 13 runs, no interpreter start-up each

    @dataclass
    class Done:
        returncode: int
        stderr: str

    def run(*args: str) -> Done:
        r = runner.invoke(app, list(args))
        return Done(r.exit_code, r.output)

    for cmd in ("values", "plan"):
        for out in (b, tmp_path / "par", tmp_path / "f.txt", Path("."), other):
            proc = run(cmd, str(b), "--out", str(out))
            assert proc.returncode == 2, (cmd, out, proc.stderr)
            assert proc.stderr.strip().count("\n") == 0 and "--out" in proc.stderr
    assert sorted(p.name for p in b.iterdir()) == sorted(p.name for p in EXAMPLE.iterdir())
    assert (tmp_path / "par" / "notes.txt").read_text() == "precious"
    assert (tmp_path / "f.txt").read_text() == "data" and (other / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt", "other", "par"]
    plan = tmp_path / "plan"
    assert run("plan", str(b), "--out", str(plan), "--no-report").returncode == 0
    assert run("plan", str(b), "--out", str(plan), "--no-report").returncode == 0  # replaced
    assert run("values", str(b), "--out", str(plan)).returncode == 2  # not a values folder


def test_odd_but_valid_headers_and_ids(tmp_path):
    """Spaces around header names (pyarrow was told the stripped names and read a padded
    column as numbers: exit 1) and a labour id that is not a Python name (`values` printed
    its summary with getattr: a traceback after writing) both work."""
    b = tmp_path / "b"
    shutil.copytree(EXAMPLE, b)
    head, *rest = _lines(b / "inputs.csv")
    _write_lines(b / "inputs.csv", [",".join(f" {h} " for h in head.split(",")), *rest])
    for name in ("resources.csv", "resource_use.csv"):
        (b / name).write_text((b / name).read_text().replace("labour", "labour-hours"))
    proc = subprocess.run([sys.executable, "-m", "econplan.cli", "values", str(b), "--out",
                           str(tmp_path / "v")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    v = pd.read_csv(tmp_path / "v" / "values.csv")
    ref = econplan.load(EXAMPLE).values()
    assert list(v.columns)[:2] == ["product", "labour-hours"]
    assert np.allclose(v["labour-hours"], ref["labour"], rtol=1e-12)


@pytest.mark.parametrize("line,period", [("period = 2027-01-01", "2027-01-01"),
                                         ("period = 2027", "2027"),
                                         ("period = 2027-01-01T06:00:00", "2027-01-01T06:00:00")])
def test_economy_toml_takes_a_bare_number_or_date_as_text(tmp_path, line, period):
    """name and period are free text: a bare TOML number was taken as its text but a TOML
    date refused ("must be a string"; session-16 fuzzer); both are text now. A boolean is
    still refused."""
    bundle = tmp_path / "b"
    shutil.copytree(EXAMPLE, bundle)
    (bundle / "economy.toml").write_text(f'name = "Small"\n{line}\n')
    assert econplan.load(bundle).period == period
    (bundle / "economy.toml").write_text('name = true\nperiod = "2027"\n')
    with pytest.raises(BundleError, match="must be a string") as info:
        econplan.load(bundle)
    assert info.value.field == "name"
