"""econplan: plan production so that it meets people's needs.

Quick start::

    import econplan
    economy = econplan.load("examples/small")      # a bundle folder (DESIGN.md)
    values = economy.values()                       # labour values, DataFrame
    plan = economy.plan()                           # optimal plan with valuations
    plan.write("out/plan")                          # the plan-output contract + report.html
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import BundleError, EconplanError, InfeasibleError
from .generate import generate  # noqa: E402  (the function shadows its module on purpose)
from .model import Economy

__version__ = "0.1.0"

__all__ = [
    "BundleError", "EconplanError", "Economy", "InfeasibleError", "load", "generate",
    "from_pymrio", "write_bundle", "__version__",
]


#: bundles with more table rows than this hand the memory their reading freed back to the OS
#: (:func:`econplan.memory.release_freed_memory`) before the productivity check
RELEASE_ABOVE_ROWS = 1_000_000


def load(path: str | Path) -> Economy:
    """Read a bundle folder (CSV or Parquet) into a validated :class:`Economy`.

    Raises :class:`BundleError` (file, line, field, problem) on bad input.
    """
    from .bundle import read_tables
    from .memory import release_freed_memory
    from .schema import TABLE_ORDER
    from .values import check_productive

    folder = Path(path)
    meta, tables = read_tables(folder)
    files = {}
    for name in TABLE_ORDER:
        for ext in (".csv", ".parquet"):
            if (folder / f"{name}{ext}").is_file():
                files[name] = str(folder / f"{name}{ext}")
                break
        else:
            files[name] = str(folder / f"{name}.csv")
    files["economy"] = str(folder / "economy.toml")
    economy = Economy.from_tables(meta, tables, source=str(folder), files=files,
                                  check_productive=False)
    # the tables as read (1.5 GiB of inputs at 1e6 × 2) go before the productivity check,
    # the loading's peak: the Economy holds its own validated copies
    rows = sum(len(df) for df in tables.values())
    del tables
    if rows > RELEASE_ABOVE_ROWS:  # ~0.05 s or more: not for every small bundle a service reads
        release_freed_memory()
    check_productive(economy)
    economy.source = str(folder.resolve())
    return economy


def write_bundle(economy: Economy, path: str | Path, format: str = "csv") -> Path:
    """Write ``economy`` as a bundle folder (atomically); see :mod:`econplan.bundle`."""
    from .bundle import write_bundle as _write

    return _write(economy, path, format)


def from_pymrio(*args: Any, **kwargs: Any) -> Economy:
    """Build an Economy from a pymrio ``IOSystem``; see :mod:`econplan.importers.pymrio`."""
    from .importers.pymrio import from_pymrio as _from

    return _from(*args, **kwargs)
