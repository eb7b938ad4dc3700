"""Economies not made by econplan's generator (odd shapes an outside tool may send): plan
t* against the separately written linprog of test_plan, certificate verified from files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import econplan
from econplan import Economy
from econplan.verify import verify
from test_plan import reference_t


def _random_economy(seed: int) -> Economy:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 25))
    k_res = int(rng.integers(1, 4))
    prods = [f"q{i:02d}" for i in range(n)]
    techs, inputs, use = [], [], []
    for i in range(n):
        for a in range(int(rng.integers(1, 4))):
            tid = f"{prods[i]}-{a}"
            out = float(rng.choice([1.0, 0.5, 3.0]))
            cap = float(rng.uniform(1, 50)) if rng.random() < 0.3 else np.nan
            techs.append({"id": tid, "product": prods[i], "output": out, "capacity": cap})
            share = rng.uniform(0.1, 0.8)  # total input per unit of output < 0.8: productive
            picks = rng.choice(n, size=int(rng.integers(0, min(n, 6) + 1)), replace=False)
            w = rng.dirichlet(np.ones(len(picks))) if len(picks) else []
            for h, wh in zip(picks, w, strict=False):
                if wh * share * out > 1e-6:
                    inputs.append({"technique": tid, "product": prods[h],
                                   "amount": wh * share * out})
            for r in range(k_res):
                if r == 0 or rng.random() < 0.5:
                    use.append({"technique": tid, "resource": f"r{r}",
                                "amount": float(rng.uniform(0.1, 5))})
    needs = []
    for i in range(n):
        if rng.random() < 0.7:
            target = float(rng.uniform(0.5, 20))
            floor = target * float(rng.choice([0.0, 0.1, 0.3]))
            needs.append({"product": prods[i], "target": target,
                          "priority": float(rng.uniform(0.5, 2)), "floor": floor})
    if not needs:
        needs.append({"product": prods[0], "target": 1.0, "priority": 1.0, "floor": 0.0})
    tables = {
        "products": pd.DataFrame({"id": prods, "name": prods, "unit": "u"}),
        "techniques": pd.DataFrame(techs),
        "inputs": pd.DataFrame(inputs, columns=["technique", "product", "amount"]),
        "resources": pd.DataFrame({"id": [f"r{r}" for r in range(k_res)],
                                   "name": "r", "unit": "h",
                                   "available": rng.uniform(50, 500, k_res)}),
        "resource_use": pd.DataFrame(use),
        "needs": pd.DataFrame(needs),
    }
    return Economy.from_tables({"name": f"random {seed}", "period": "p"}, tables)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1))
def test_random_economies_match_linprog_and_verify(tmp_path_factory, seed):
    e = _random_economy(seed)
    plan = e.plan()
    if plan.status == "infeasible":
        # floors out of reach: relaxing the reported amounts must make them feasible
        res = e.resources.set_index("id")
        tech = e.techniques.set_index("id")
        for b in plan.summary["blocking"]:
            if b["kind"] == "resource":
                res.loc[b["id"], "available"] += b["lacking"] * (1 + 1e-6) + 1e-9
            else:
                tech.loc[b["id"], "capacity"] += b["lacking"] * (1 + 1e-6) + 1e-9
        assert e.replace(resources=res.reset_index(), techniques=tech.reset_index()).plan().ok
        return
    assert plan.ok, plan.summary
    t_ref = reference_t(e)
    assert abs(plan.fulfilment - t_ref) <= 1e-7 * max(1.0, abs(t_ref))
    root = tmp_path_factory.mktemp("rnd")
    econplan.write_bundle(e, root / "b")
    plan = econplan.load(root / "b").plan()
    plan.write(root / "p")
    v = verify(root / "b", root / "p")
    assert v.ok, v.line
    assert plan.summary["primal_residual"] <= 1e-9
    assert plan.summary["dual_residual"] <= 1e-9
    assert abs(plan.summary["duality_gap"]) <= 1e-7
