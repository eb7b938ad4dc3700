"""Small helpers for testing code that plans economies (econplan's own tests, the fuzzers in
bench/, and anyone checking a tool of theirs against econplan).

:func:`random_economy` draws economies unlike the generator's (``econplan generate``, one
family: two techniques a product, hubs, capacities near a reference plan): several techniques a
product, random inputs, one to three resources, some techniques capped, floors on some needs —
the odd shapes an outside tool may send. Everything is drawn from one seed, so a failing
economy is named by its seed. :func:`with_lacking_added` and :func:`floors_near_optimum` move an
economy to the edge of what it can do (thin feasible sets, tiny t*), where solvers are most
fragile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .model import Economy

__all__ = ["floors_near_optimum", "odd_economy", "random_economy", "with_lacking_added"]


def random_economy(
    seed: int,
    n: int | None = None,
    *,
    n_range: tuple[int, int] = (2, 25),
    techniques: tuple[int, int] = (1, 4),
    capacity_shares: Sequence[float] = (0.3,),
    max_inputs: int = 6,
    floor_shares: Sequence[float] = (0.0, 0.1, 0.3),
    available: tuple[float, float] = (50.0, 500.0),
    available_per_product: float | None = None,
) -> Economy:
    """An economy drawn from ``seed``.

    ``n`` products (else drawn from ``n_range``, high end excluded); per product
    ``techniques`` techniques (a range, high end excluded), each with output 0.5, 1 or 3 units
    and, with probability ``capacity_share`` (drawn once from ``capacity_shares`` when it holds
    several), a capacity of 1–50 activity units; per technique up to ``max_inputs`` inputs
    from distinct products, their total below 0.8 of the output (productive), and a use of
    0.1–5 units of resource ``r0`` (and of each other resource with probability ½); per
    product with probability 0.7 a need of 0.5–20 units, priority 0.5–2, and a floor of the
    target times one of ``floor_shares``. Resources available: uniform in ``available`` (units),
    times ``n · available_per_product`` when that is given.
    """
    rng = np.random.default_rng(seed)
    if n is None:
        n = int(rng.integers(*n_range))
    k_res = int(rng.integers(1, 4))
    cap_share = (float(rng.choice(capacity_shares)) if len(capacity_shares) > 1
                 else float(capacity_shares[0]))
    width = max(2, len(str(n - 1)))
    prods = [f"q{i:0{width}d}" for i in range(n)]
    techs, inputs, use = [], [], []
    for i in range(n):
        for a in range(int(rng.integers(*techniques))):
            tid = f"{prods[i]}-{a}"
            out = float(rng.choice([1.0, 0.5, 3.0]))
            cap = float(rng.uniform(1, 50)) if rng.random() < cap_share else np.nan
            techs.append({"id": tid, "product": prods[i], "output": out, "capacity": cap})
            share = rng.uniform(0.1, 0.8)  # total input per unit of output < 0.8: productive
            picks = rng.choice(n, size=int(rng.integers(0, min(n, max_inputs) + 1)),
                               replace=False)
            weights = rng.dirichlet(np.ones(len(picks))) if len(picks) else []
            for h, w in zip(picks, weights, strict=False):
                if w * share * out > 1e-6:
                    inputs.append({"technique": tid, "product": prods[h],
                                   "amount": w * share * out})
            for r in range(k_res):
                if r == 0 or rng.random() < 0.5:
                    use.append({"technique": tid, "resource": f"r{r}",
                                "amount": float(rng.uniform(0.1, 5))})
    needs = []
    for i in range(n):
        if rng.random() < 0.7:
            target = float(rng.uniform(0.5, 20))
            floor = target * float(rng.choice(floor_shares))
            needs.append({"product": prods[i], "target": target,
                          "priority": float(rng.uniform(0.5, 2)), "floor": floor})
    if not needs:
        needs.append({"product": prods[0], "target": 1.0, "priority": 1.0, "floor": 0.0})
    amounts = rng.uniform(*available, k_res)
    if available_per_product is not None:
        amounts = amounts * n * available_per_product
    tables = {
        "products": pd.DataFrame({"id": prods, "name": prods, "unit": "u"}),
        "techniques": pd.DataFrame(techs),
        "inputs": pd.DataFrame(inputs, columns=["technique", "product", "amount"]),
        "resources": pd.DataFrame({"id": [f"r{r}" for r in range(k_res)], "name": "r",
                                   "unit": "h", "available": amounts}),
        "resource_use": pd.DataFrame(use),
        "needs": pd.DataFrame(needs),
    }
    return Economy.from_tables({"name": f"random {seed}", "period": "p"}, tables)


def odd_economy(seed: int, n: int) -> Economy:
    """The differential fuzzer's economies (bench/fuzz_odd.py): ``n`` products with 1–4
    techniques each, up to 11 inputs a technique, a tenth to 60 % of the techniques capped,
    floors on some needs, resources scaled with n."""
    return random_economy(seed, n, techniques=(1, 5), capacity_shares=(0.1, 0.3, 0.6),
                          max_inputs=11, floor_shares=(0.0, 0.0, 0.02, 0.05),
                          available=(1.0, 4.0), available_per_product=40.0)


def with_lacking_added(economy: Economy, blocking: Sequence[dict]) -> Economy:
    """``economy`` with the amounts an infeasible plan's ``blocking`` list reports lacking
    added to those resources and capacities (times 1 + 1e-6, plus 1e-9): its floors (or
    min-labour's targets) are then only just within reach."""
    res = economy.tables["resources"].set_index("id")
    tech = economy.tables["techniques"].set_index("id")
    for b in blocking:
        table, col = (res, "available") if b["kind"] == "resource" else (tech, "capacity")
        table.loc[b["id"], col] += b["lacking"] * (1 + 1e-6) + 1e-9
    return economy.replace(resources=res.reset_index(), techniques=tech.reset_index())


def floors_near_optimum(economy: Economy, t: float, share: float = 1 - 1e-6) -> Economy:
    """``economy`` with every floor raised to ``floor + share·min(t, 1)·(target − floor)``,
    ``t`` its fulfilment t*: the new t* is tiny (about ``(1 − share)·t*``)."""
    needs = economy.tables["needs"].copy()
    needs["floor"] = needs["floor"] + share * min(t, 1.0) * (needs["target"] - needs["floor"])
    return economy.replace(needs=needs)
