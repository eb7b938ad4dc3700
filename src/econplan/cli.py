"""The ``econplan`` command.

Exit codes (DESIGN.md): 0 success; 2 bad input (one line on stderr naming file, line, field;
nothing written to ``--out``); 3 infeasible floors (``summary.json`` with ``blocking``);
1 any other failure (one line on stderr; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .errors import BundleError, EconplanError

app = typer.Typer(
    name="econplan",
    help="Plan production so that it meets people's needs.\n\n"
    "Examples:\n\n"
    "  econplan generate eco --products 1000 --seed 1\n\n"
    "  econplan values eco --out eco-values\n\n"
    "  econplan plan eco --out eco-plan\n\n"
    "  econplan verify eco eco-plan\n\n"
    "  econplan explain eco-plan --product P000001\n\n"
    "  econplan import ibge --year 2021 --level 68 --out brazil\n\n"
    "  econplan import pymrio mrio-folder --out eco --resource \"Factor Inputs:Value Added\"\n\n"
    "  econplan demo --out demo-out\n\n"
    "  econplan serve --port 8000",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
import_app = typer.Typer(help="Import real input–output tables as a bundle.",
                         no_args_is_help=True)
app.add_typer(import_app, name="import")

err = Console(stderr=True, highlight=False, soft_wrap=True)
_state = {"quiet": False, "debug": False}


def out_console() -> Console:
    return Console(quiet=_state["quiet"], highlight=False, soft_wrap=True)


def say_line(message: str) -> None:
    """Print ``message`` as exactly one line on stderr."""
    sys.stderr.write(" ".join(str(message).split()) + "\n")
    sys.stderr.flush()


def fail(message: str, code: int) -> None:
    """Print exactly one line on stderr and exit with ``code``."""
    say_line(message)
    raise typer.Exit(code)


@contextmanager
def guarded():
    """Turn econplan's errors into one-line messages and exit codes, never a traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except BrokenPipeError:
        # the reader went away (``econplan explain … | head``): stop quietly, as other
        # command-line tools do on SIGPIPE, and keep Python from complaining at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(141) from None
    except BundleError as e:
        fail(str(e), 2)
    except (EconplanError, ValueError, OSError, RuntimeError, MemoryError, ImportError) as e:
        if _state["debug"]:
            raise
        fail(f"error: {type(e).__name__}: {e}", 1)


@contextmanager
def status(message: str):
    """A spinner on stderr for steps that may take more than a second (not when quiet)."""
    if _state["quiet"] or not sys.stderr.isatty():
        yield
        return
    with err.status(message):
        yield


@app.callback()
def main_options(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    _state["quiet"] = quiet
    _state["debug"] = debug


#: what a folder written by each command holds: an existing --out is replaced only when it is
#: empty or holds that (a previous run's output), never another folder's files
_OUTPUT_MARK = {"plan": "summary.json", "values": "values.csv", "bundle": "economy.toml"}


def check_out(out: Path, kind: str, *inputs: Path | None) -> None:
    """Refuse (exit 2, one line) an ``--out`` whose replacement would lose data: a file, the
    working folder or one above it, an input (bundle, previous plan) or a folder holding one,
    or a folder with other files than a previous output of ``kind`` (a fuzzer's ``--out`` set
    to the bundle, or to its parent, deleted them with exit 0)."""
    target = out.resolve()
    if target.exists() and not target.is_dir():
        fail(f"--out {out}: is a file, not a folder (choose a new or empty folder)", 2)
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        fail(f"--out {out}: is the working folder or above it, which would be replaced "
             "(choose a new or empty folder)", 2)
    for src in inputs:
        if src is None:
            continue
        source = Path(src).resolve()
        if target == source or target in source.parents:
            fail(f"--out {out}: would replace the input {src} (choose another folder)", 2)
        if source in target.parents and kind != "bundle":
            fail(f"--out {out}: is inside the input {src}, which it would change (choose "
                 "another folder)", 2)
    if target.is_dir() and any(target.iterdir()) and not (target / _OUTPUT_MARK[kind]).exists():
        fail(f"--out {out}: holds other files than a previous {kind} output, which would be "
             "deleted (choose a new or empty folder)", 2)


def _load(bundle: Path):
    import econplan

    with status(f"reading {bundle}"):
        return econplan.load(bundle)


@app.command()
def values(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for values.csv.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Labour values and embodied resources per product.

    Example: econplan values examples/small --out small-values
    """
    _state["quiet"] |= quiet
    from .bundle import atomic_dir, write_csv

    with guarded():
        start = time.perf_counter()
        economy = _load(bundle)  # bad input is named first, then a dangerous --out
        check_out(out, "values", bundle)
        with status("computing values"):
            df = economy.values()
        with atomic_dir(out) as tmp:
            write_csv(df, tmp / "values.csv")
        c = out_console()
        lab = economy.labour
        c.print(f"[bold]{economy.name}[/] ({economy.period}): values of {len(df)} products "
                f"in {time.perf_counter() - start:.2f} s → {out / 'values.csv'}")
        top = df.dropna(subset=[lab]).nlargest(5, lab)
        for product, value, technique in zip(top["product"], top[lab], top["technique"],
                                             strict=True):  # ids need not be identifiers
            c.print(f"  {product:<24} {value:>14.6g} {lab}/unit (technique {technique})",
                    markup=False, highlight=False)


@app.command()
def plan(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the plan files.")],
    objective: Annotated[str, typer.Option(
        help="fulfilment | min-labour | harmony (priority-weighted concave fulfilment; "
             "solver highs)")] = "fulfilment",
    solver: Annotated[str | None,
                      typer.Option(help="highs | scipy | fast | pdhg | portfolio (default: by "
                                        "size)")]
    = None,
    report: Annotated[bool, typer.Option(help="Write report.html.")] = True,
    dask: Annotated[str | None, typer.Option(
        help="Run the solver's matrix products on this Dask scheduler "
             "(e.g. tcp://host:8786; solvers fast and pdhg).")] = None,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", help="Seconds the solver may take (default: none for highs/scipy, "
                             "900 for the first-order route). A plan not certified optimal "
                             "by then ends with status time_limit: its best feasible plan "
                             "and proven bound are written, exit 4 (exit 1 and nothing "
                             "written when it has none).")] = None,
    warm_start: Annotated[Path | None, typer.Option(
        "--warm-start", help="Folder of a previous plan (written by econplan plan), matched "
                             "by id, to start from after a small change of needs or "
                             "capacities (solvers highs, fast, pdhg, portfolio; scipy starts "
                             "cold). The plan is certified as a cold one.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Compute the optimal plan with its valuations and certificate.

    Example: econplan plan examples/small --out small-plan
    (again after a change: econplan plan examples/small --out plan2 --warm-start small-plan)
    """
    _state["quiet"] |= quiet
    if objective not in ("fulfilment", "min-labour", "harmony"):
        fail(f"--objective: unknown objective {objective!r} (fulfilment, min-labour or "
             "harmony)", 2)
    _check_solver_objective(solver or ("fast" if dask is not None else None), objective)
    options: dict = {}
    if time_limit is not None:
        if not (time_limit > 0 and time_limit < float("inf")):
            fail(f"--time-limit: {time_limit!r} is not a finite positive number of seconds "
                 "(leave it out for no limit)", 2)
        options["time_limit"] = float(time_limit)
    if warm_start is not None:
        options["warm_start"] = warm_start
    client = None
    if dask is not None:
        solver = solver or "fast"
        if solver not in ("fast", "pdhg"):
            fail(f"--dask: solver {solver!r} runs in one process; use --solver fast or pdhg", 2)
        try:
            from distributed import Client
        except ImportError:
            fail("--dask needs dask[distributed]: pip install 'econplan[dask]'", 2)
        try:
            client = Client(dask, timeout="15s", set_as_default=True)
        except (OSError, TimeoutError, ValueError) as exc:
            fail(f"--dask: cannot reach the Dask scheduler at {dask!r} ({exc})", 2)
        options["engine"] = "dask"
    with guarded():
        economy = _load(bundle)  # bad input is named first, then a dangerous --out
        check_out(out, "plan", bundle, warm_start)
        with status(f"planning {economy.n_products} products, {economy.n_techniques} "
                    "techniques"):
            try:
                p = economy.plan(objective=objective, solver=solver, **options)
            finally:
                if client is not None:
                    client.close()
        if not p.has_plan and p.status != "infeasible":
            fail(f"plan ended with status {p.status} (nothing written)"
                 f"{': ' + p.summary['message'] if p.summary.get('message') else ''}", 1)
        with status("writing the plan"):
            p.write(out, report=report)
        print_plan_summary(p, out)
        if p.status == "infeasible":
            raise typer.Exit(3)
        if not p.ok:  # stopped by a limit: a feasible plan with a proven bound, gap still open
            raise typer.Exit(4)


def _check_solver_objective(solver: str | None, objective: str) -> None:
    """Exit 2 with one line when ``solver`` lacks the capability ``objective`` needs (harmony
    is HiGHS's only); None (the default, chosen by objective and size) always can."""
    from .plan import NEEDS, SOLVERS, Objective

    if solver is None:
        return
    if solver not in SOLVERS:
        fail(f"--solver: unknown solver {solver!r} (choose from {', '.join(sorted(SOLVERS))}, "
             "or leave --solver out)", 2)
    need = NEEDS[Objective(objective)]
    if need not in SOLVERS[solver].capabilities:
        able = sorted(name for name, b in SOLVERS.items() if need in b.capabilities)
        fail(f"--solver: {solver!r} cannot plan objective {objective!r} "
             f"(use --solver {' or '.join(able)}, or leave --solver out)", 2)


def print_plan_summary(p, out: Path) -> None:
    c = out_console()
    s = p.summary
    e = p.economy
    if p.status == "infeasible":
        c.print(f"[bold red]Infeasible[/]: {s.get('message', '')}")
        for b in s.get("blocking", []):
            c.print(f"  {b['kind']:<9} {b['id']:<24} lacking {b['lacking']:.6g} "
                    f"(available {b['available']:.6g})")
        c.print(f"→ {out / 'summary.json'}")
        return
    if not p.has_plan:
        return
    if not p.ok:
        beyond = ("costs less than" if s["objective"] == "min-labour" else "reaches more than")
        c.print(f"[bold yellow]Stopped with status {p.status}[/]: the plan below is feasible "
                f"and its bound proven, but it is not certified optimal "
                f"(gap {s['duality_gap']:.2e}; no plan {beyond} {s['bound']:.6g}).")
        if s.get("message"):
            c.print(f"  {s['message']}", markup=False, highlight=False)
    c.print(f"[bold]{e.name}[/] ({e.period}) — {e.n_products} products, "
            f"{e.n_techniques} techniques, solver {s['solver']} in {s['seconds']:.2f} s"
            + (" (warm start)" if s.get("warm_start") else ""))
    if s["objective"] == "min-labour":
        from .planfiles import cost_weights_text

        what = cost_weights_text(s, e.labour)
        if what is None:
            c.print(f"  targets met at least labour: {s['labour_cost']:.6g} {e.labour}")
        else:  # [costs] weighs other resources: the cost is not hours of labour
            c.print(f"  targets met at least resource cost: {s['labour_cost']:.6g} ({what})")
    elif s["objective"] == "harmony":
        c.print(f"  harmony {'H*' if p.ok else 'H'} = [bold]{s['harmony']:.6f}[/] "
                f"(least fulfilment {s['fulfilment']:.6f})")
    else:
        t = s["fulfilment"]
        verdict = ("every need met in full" if t >= 1 - 1e-9 else "resources bind"
                   if s.get("bottlenecks") else "no resource or capacity binds: a product "
                   "that is needed cannot be made")
        c.print(f"  fulfilment {'t*' if p.ok else 't'} = [bold]{t:.6f}[/] ({verdict})")
    c.print(f"  {e.labour}: {s['labour_used']:.6g} used of {s['labour_available']:.6g}")
    for b in s.get("bottlenecks", [])[:5]:
        what = "resource" if b["kind"] == "resource" else f"capacity of {b['id']}"
        name = b["id"] if b["kind"] == "resource" else b.get("product", "")
        c.print(f"  bottleneck: {what} {name if b['kind'] == 'resource' else ''}".rstrip()
                + f" — +1 % buys {b['gain_per_percent']:.3g} in {b['per']}")
    c.print(f"  certificate: primal {s['primal_residual']:.1e}, dual {s['dual_residual']:.1e},"
            f" gap {s['duality_gap']:.1e}")
    c.print(f"→ {out}/ (summary.json, activities.csv, products.csv, resources.csv"
            f"{', report.html' if (out / 'report.html').exists() else ''})")


#: more products than this would not fit one machine's memory (1e6 × 2 takes ~6 GiB)
MAX_GENERATED_PRODUCTS = 100_000_000


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="Folder for the new bundle.")],
    products: Annotated[int, typer.Option(help="Number of products.")] = 1000,
    techniques_per_product: Annotated[int, typer.Option(
        help="Alternatives per product (1-26).")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    capacities: Annotated[bool, typer.Option(help="Put capacities on techniques.")] = False,
    floors: Annotated[bool, typer.Option(help="Give needs floors.")] = False,
    format: Annotated[str, typer.Option(help="csv | parquet")] = "csv",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Generate a synthetic, productive economy that looks like a real one.

    Example: econplan generate eco --products 10000 --techniques-per-product 2 --capacities
    """
    _state["quiet"] |= quiet
    if format not in ("csv", "parquet"):
        fail(f"--format: unknown format {format!r} (csv or parquet)", 2)
    # the generator's own limits, as bad input (an outside check, session 26: --products 1,
    # --techniques-per-product 27 and --seed -1 ended exit 1 with "ValueError: ...")
    if not 2 <= products <= MAX_GENERATED_PRODUCTS:
        fail(f"--products: {products} is not between 2 and {MAX_GENERATED_PRODUCTS:,}", 2)
    if not 1 <= techniques_per_product <= 26:
        fail(f"--techniques-per-product: {techniques_per_product} is not between 1 and 26", 2)
    if seed < 0:
        fail(f"--seed: {seed} is negative (a seed is a whole number ≥ 0)", 2)
    check_out(out, "bundle")
    from .generate import generate as gen

    with guarded():
        start = time.perf_counter()
        tables = gen(out, products=products, techniques_per_product=techniques_per_product,
                     seed=seed, capacities=capacities, floors=floors, format=format,
                     progress=not _state["quiet"] and sys.stderr.isatty())
        out_console().print(
            f"generated {len(tables['products'])} products, {len(tables['techniques'])} "
            f"techniques, {len(tables['inputs'])} inputs in "
            f"{time.perf_counter() - start:.1f} s → {out}")


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder the plan was made from.")],
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder.")],
    tol: Annotated[float, typer.Option(help="Relative tolerance.")] = 1e-6,
) -> None:
    """Re-check a plan from its files alone: feasibility, dual feasibility, gap. Exit 0 when
    certified optimal, 1 when a check fails, 4 for a plan a limit stopped whose levels are
    feasible and whose bound holds, with the gap it reports still open.

    Example: econplan verify examples/small small-plan
    """
    from .verify import verify as _verify

    if not (0 < tol < 1):  # also refuses nan; inf would certify anything
        fail(f"--tol: {tol!r} is not a relative tolerance between 0 and 1", 2)
    with guarded():
        v = _verify(bundle, plan_dir, tol=tol)
    print(v.line)
    raise typer.Exit(0 if v.ok else 4 if v.bound_only else 1)


@app.command()
def explain(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder.")],
    product: Annotated[str | None, typer.Option(help="Explain this product's cost.")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Bundle (default: from summary.json).")]
    = None,
) -> None:
    """Plain words from the valuations: what blocks fulfilment, what things cost and why.

    Example: econplan explain small-plan --product bread
    """
    from .explain import explain as _explain

    with guarded():
        print(_explain(plan_dir, product=product, bundle=bundle))


@import_app.command("pymrio")
def import_pymrio(
    path: Annotated[Path, typer.Argument(help="Folder written by pymrio IOSystem.save_all.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the bundle.")],
    resource: Annotated[list[str], typer.Option(
        help="EXTENSION:ROW; repeatable; the first is labour.")] = [],  # noqa: B006
) -> None:
    """Import a pymrio IOSystem as a bundle.

    Example: econplan import pymrio mrio-folder --out eco --resource "Factor Inputs:Value Added"
    """
    from .importers.pymrio import import_pymrio_cli

    check_out(out, "bundle", path)
    with guarded():
        import_pymrio_cli(path, out, resource)
        out_console().print(f"imported {path} → {out}")


@import_app.command("ibge")
def import_ibge(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the bundle.")],
    year: Annotated[int, typer.Option(
        help="2010–2021 (levels 12 and 51: also 2000–2009).")] = 2021,
    level: Annotated[int, typer.Option(help="12, 20, 51 or 68 sectors.")] = 68,
) -> None:
    """Import the official IBGE input–output tables of Brazil (shipped by iotbr).

    Example: econplan import ibge --year 2021 --level 68 --out brazil
    """
    from .importers.ibge import import_ibge_cli

    check_out(out, "bundle")
    with guarded():
        import_ibge_cli(year=year, level=level, out=out)
        out_console().print(f"imported IBGE {year} at {level} sectors → {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's plan.")] = Path(
        "demo-out"),
) -> None:
    """Plan Brazil 2021 (IBGE, 68 sectors) with household needs raised 5 %.

    Example: econplan demo --out demo-out
    """
    from .demo import run_demo

    with guarded():
        run_demo(out)


@app.command()
def serve(
    db: Annotated[str | None, typer.Option(help="Database URL (default: SQLite file here).")]
    = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    bundle: Annotated[Path | None, typer.Option(help="Economy loaded at first start.")] = None,
) -> None:
    """Run the participation web service.

    Example: econplan serve --port 8000
    """
    from .service import run

    with guarded():
        run(db_url=db, host=host, port=port, bundle=bundle)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    import warnings

    warnings.simplefilter("ignore")
    from .blas import limit_process

    limit_process()  # econplan's work is sparse and vector code: econplan.blas says why
    # click's exceptions, wherever this Typer keeps click (0.29 vendors its own copy)
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    no_args = getattr(sys.modules[usage_error.__module__], "NoArgsIsHelpError", ())
    try:
        # not click's standalone mode: its usage errors print a usage block of four lines,
        # where every bad input gets one line naming the option (an outside check, session
        # 26: --year abc, a missing --out, an unknown option)
        code = app(standalone_mode=False)
    except no_args as e:  # a bare group: its help, as before
        sys.stdout.write(e.ctx.get_help() + "\n" if e.ctx else "")
        code = 2
    except usage_error as e:
        where = e.ctx.command_path if e.ctx else "econplan"
        say_line(f"{where}: {e.format_message()} (see {where} --help)")
        code = 2
    except (KeyboardInterrupt, typer.Abort):
        say_line("interrupted")
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
