"""Hand-made economies whose plans are known by hand (used by the report and explain tests).

Bread economy: power (0.2 h labour → 1 kWh), farm (0.1 kWh, 0.5 h, 0.1 ha → 1 kg grain),
bakery (2 kg grain, 0.5 kWh, 1 h → 1 loaf). Needs: 40 loaves, 10 kWh. Labour 100 h, land 10 ha.

Labour values: power 0.2, grain 0.5 + 0.1·0.2 = 0.52, bread 1 + 2·0.52 + 0.5·0.2 = 2.14 h.
Per unit of t the plan needs 40 loaves, 80 kg grain, 38 kWh (10 + 0.5·40 + 0.1·80):
labour 0.5·80 + 40 + 0.2·38 = 87.6 h, land 8 ha. So labour binds: t* = 100/87.6, and one more
hour buys 1/87.6 of t. With a bakery capacity of 45 loaves the capacity binds first:
t* = 45/40 = 1.125, one more loaf of capacity buys 1/40 of t, labour is not used up.
"""

from __future__ import annotations

import pandas as pd

LABOUR_T = 100 / 87.6
CAPACITY_T = 45 / 40
VALUES = {"energy": 0.2, "grain": 0.52, "bread": 2.14}


def bread_tables(bakery_capacity: float | None = None) -> tuple[dict, dict[str, pd.DataFrame]]:
    meta = {"name": "Bread village", "period": "2026", "description": "hand-made test"}
    tables = {
        "products": pd.DataFrame({
            "id": ["bread", "grain", "energy"],
            "name": ["Bread", "Grain", "Electricity"],
            "unit": ["loaf", "kg", "kWh"],
        }),
        "techniques": pd.DataFrame({
            "id": ["bakery", "farm", "power"],
            "product": ["bread", "grain", "energy"],
            "output": [1.0, 1.0, 1.0],
            "capacity": [bakery_capacity, None, None],
        }),
        "inputs": pd.DataFrame({
            "technique": ["bakery", "bakery", "farm"],
            "product": ["grain", "energy", "energy"],
            "amount": [2.0, 0.5, 0.1],
        }),
        "resources": pd.DataFrame({
            "id": ["labour", "land"],
            "name": ["Labour", "Land"],
            "unit": ["hours", "ha"],
            "available": [100.0, 10.0],
        }),
        "resource_use": pd.DataFrame({
            "technique": ["bakery", "farm", "farm", "power"],
            "resource": ["labour", "labour", "land", "labour"],
            "amount": [1.0, 0.5, 0.1, 0.2],
        }),
        "needs": pd.DataFrame({
            "product": ["bread", "energy"],
            "target": [40.0, 10.0],
            "priority": [1.0, 1.0],
            "floor": [0.0, 0.0],
        }),
    }
    return meta, tables
