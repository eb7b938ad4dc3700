"""SIGKILL the server during a stream of writes, restart, repeat: no acknowledged write lost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from svc_helpers import TINY, write_bundle

from econplan.service.loadtest import kill_cycles

CYCLES = int(os.environ.get("ECONPLAN_KILL_CYCLES", "50"))


def test_sigkill_during_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", TINY)
    rep = kill_cycles(f"sqlite:///{tmp_path / 'kill.db'}", bundle, cycles=CYCLES, seed=1)
    assert rep.cycles == CYCLES
    assert rep.acknowledged > CYCLES  # writes really were acknowledged between kills
    assert rep.unacknowledged > 0  # and some were in flight when the server died
    assert rep.ok, (rep.missing[:5], rep.duplicated[:5], rep.wrong[:5])


@pytest.mark.postgres
def test_sigkill_during_writes_postgres(pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bundle = write_bundle(tmp_path / "b", TINY)
    rep = kill_cycles(pg_server.new_database(), bundle, cycles=5, seed=2)
    assert rep.cycles == 5 and rep.acknowledged > 5
    assert rep.ok, (rep.missing[:5], rep.duplicated[:5], rep.wrong[:5])
