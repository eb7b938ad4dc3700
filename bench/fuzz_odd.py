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
from econplan.testing import odd_economy  # noqa: E402


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
    args = ap.parse_args()
    solvers = args.solvers.split(",")
    lo, hi = _span(args.products)
    disagree, slow = [], []
    for seed in range(*_span(args.seeds)):
        n = int(np.random.default_rng(1000 + seed).integers(lo, hi))
        economy = odd_economy(seed, n)
        if args.objective == "min-labour":
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
                row["rel"] = abs(a["t"] - b["t"]) / max(abs(b["t"]), 1e-12)
            if a["status"] != b["status"] or row.get("rel", 0.0) > 1e-6:
                disagree.append(seed)
            if a["seconds"] > 3 * b["seconds"] + 5:
                slow.append(seed)
        print(json.dumps(row), flush=True)
    print(json.dumps({"disagree": disagree, "slow": slow}))


if __name__ == "__main__":
    main()
