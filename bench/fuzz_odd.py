"""Differential fuzzer: econplan's backends against each other on economies unlike the generator's.

The generator (``econplan generate``) makes one family of economies: two techniques a product,
hubs, capacities near a reference plan. Outside tools send others. This script draws economies
with 1-4 techniques a product, 0-11 inputs a technique, 1-3 resources, a tenth to 60 % of the
techniques capped and floors on some needs, plans each with every backend named, and prints one
JSON line per economy: status, t* (``--objective min-labour``: the least labour cost),
certified gap and seconds per backend, and ``rel``, the relative difference of those between
the first two. A last line sums up disagreements (status, or t* beyond 1e-6) and the economies
where the first backend took over three times the second's time (plus 5 s).

    python bench/fuzz_odd.py --seeds 100:160                       # fast vs highs, 150-900 products
    python bench/fuzz_odd.py --seeds 0:5 --products 1800:3200 --solvers fast
    python bench/fuzz_odd.py --seeds 0:40 --edge          # each economy at the edge of reach

Session 20 ran ``--seeds 100:160`` (the same t* and status in all 60; DESIGN.md, "Restricted-LP
tries on economies that are not the generator's").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from econplan import Economy  # noqa: E402
from econplan.testing import floors_near_optimum, odd_economy, with_lacking_added  # noqa: E402


def within_reach(economy: Economy, share: float = 0.97) -> Economy | None:
    """The economy with its targets moved to ``floor + share · t* · (target − floor)`` (t* by
    HiGHS), which min-labour can meet; None when the floors are out of reach (t* < 0 or no
    optimum): the drawn targets are mostly beyond the resources, which min-labour only
    reports as infeasible."""
    plan = economy.plan(solver="highs", time_limit=300)
    t = plan.summary.get("fulfilment")
    if plan.status != "optimal" or t is None or t < 0:
        return None
    needs = economy.tables["needs"].copy()
    needs["target"] = needs["floor"] + share * min(t, 1.0) * (needs["target"] - needs["floor"])
    return economy.replace(needs=needs)


def only_just(economy: Economy, objective: str) -> Economy | None:
    """The economy moved to the edge of what it can do (``--edge``): fulfilment with floors
    out of reach gets the resources and capacities HiGHS says lack (times 1 + 1e-6, plus
    1e-9), and with floors within reach has them raised to ``floor + (1 − 1e-6)·t*·(target −
    floor)``, so t* becomes tiny; min-labour's targets go to ``(1 − 1e-9)`` of what t*
    allows. Thin feasible sets, where session 25's sweeps found three plans left
    uncertified. None when HiGHS gives no plan to start from."""
    if objective == "min-labour":
        return within_reach(economy, share=1 - 1e-9)
    plan = economy.plan(solver="highs", time_limit=300)
    if plan.status == "infeasible":
        return with_lacking_added(economy, plan.summary.get("blocking", []))
    t = plan.summary.get("fulfilment")
    if plan.status != "optimal" or t is None:
        return None
    return floors_near_optimum(economy, t)


def _span(text: str) -> tuple[int, int]:
    lo, hi = text.split(":")
    return int(lo), int(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="100:160", help="LO:HI, one economy per seed")
    ap.add_argument("--products", default="150:900", help="LO:HI products, drawn per seed")
    ap.add_argument("--solvers", default="fast,highs", help="backends, comma-separated")
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per plan")
    ap.add_argument("--objective", default="fulfilment", choices=["fulfilment", "min-labour"],
                    help="compared: t* (fulfilment) or the least labour cost (min-labour)")
    ap.add_argument("--edge", action="store_true",
                    help="move each economy to the edge of reach first (only_just)")
    args = ap.parse_args()
    solvers = args.solvers.split(",")
    lo, hi = _span(args.products)
    disagree, slow = [], []
    for seed in range(*_span(args.seeds)):
        n = int(np.random.default_rng(1000 + seed).integers(lo, hi))
        economy = odd_economy(seed, n)
        if args.edge:
            economy = only_just(economy, args.objective)
        elif args.objective == "min-labour":
            economy = within_reach(economy)
        if economy is None:
            continue
        row: dict = {"seed": seed, "products": n, "techniques": economy.n_techniques}
        for solver in solvers:
            t0 = time.perf_counter()
            plan = economy.plan(args.objective, solver=solver, time_limit=args.time_limit)
            s = plan.summary
            value = s.get("fulfilment" if args.objective == "fulfilment" else "labour_cost")
            row[solver] = {"status": plan.status, "t": value,
                           "gap": s.get("duality_gap"),
                           "seconds": round(time.perf_counter() - t0, 1)}
        if len(solvers) > 1:
            a, b = (row[x] for x in solvers[:2])
            if a["t"] is not None and b["t"] is not None:
                # t on the certificate's scale max(1, |t|) (a tiny t* at the edge of reach
                # differs by 1e-13 absolutely); the least cost relative to itself
                scale = max(abs(b["t"]), 1.0 if args.objective == "fulfilment" else 1e-12)
                row["rel"] = abs(a["t"] - b["t"]) / scale
            if a["status"] != b["status"] or row.get("rel", 0.0) > 1e-6:
                disagree.append(seed)
            if a["seconds"] > 3 * b["seconds"] + 5:
                slow.append(seed)
        print(json.dumps(row), flush=True)
    print(json.dumps({"disagree": disagree, "slow": slow}))


if __name__ == "__main__":
    main()
