"""Usage errors (a bad option value, a missing argument or option, an unknown option or
command) through the console entry point: exit 2 and one line on stderr naming the option,
as for every other bad input (click's usage block was four lines: an outside check, session
26). Help still prints in full, with exit 0."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "econplan.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("args,words", [
    (["generate", "g", "--products", "abc"], "'--products'"),
    (["import", "ibge", "--year", "abc", "--out", "x"], "'--year'"),
    (["import", "pymrio"], "Missing argument 'path'"),
    (["import", "pymrio", "somewhere"], "Missing option '--out'"),
    (["import", "foo"], "No such command 'foo'"),
    (["values", "--bogus"], "No such option: --bogus"),
])
def test_usage_errors_are_one_line(tmp_path, args, words):
    r = _run(*args, cwd=tmp_path)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and words in lines[0], r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x").exists()


def test_help_still_prints():
    r = _run("plan", "--help")
    assert r.returncode == 0 and "--solver" in r.stdout and not r.stderr.strip()
