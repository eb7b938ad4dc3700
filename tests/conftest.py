"""Shared fixtures: generated economies (cached per session) and the bundled example."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

import econplan

EXAMPLE = Path(econplan.__file__).parent / "examples" / "small"

# Property tests draw the same examples on every run by default ("ci"), so that a clean
# clone's `make test` passes or fails the same way each time; `make fuzz` ("explore") draws
# new ones on every run to find new cases, which then get pinned with @example.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("ECONPLAN_HYPOTHESIS", "ci"))


@pytest.fixture(scope="session")
def example_bundle() -> Path:
    return EXAMPLE


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """``generated(n, k, seed, capacities, floors, format)`` → path of a generated bundle."""
    cache: dict[tuple, Path] = {}
    root = tmp_path_factory.mktemp("generated")

    def make(n: int, k: int = 1, seed: int = 0, capacities: bool = False,
             floors: bool = False, format: str = "csv") -> Path:
        key = (n, k, seed, capacities, floors, format)
        if key not in cache:
            path = root / ("g-" + "-".join(str(x) for x in key))
            econplan.generate(path, products=n, techniques_per_product=k, seed=seed,
                              capacities=capacities, floors=floors, format=format)
            cache[key] = path
        return cache[key]

    return make
