"""One BLAS thread while econplan computes (``ECONPLAN_BLAS_THREADS`` to change it).

econplan's solvers are sparse products and long vectors: first-order iterations, Anderson
sweeps, Leontief solves. NumPy hands the vector dot products and norms to OpenBLAS, which
splits each one across every core and lets its threads spin while they wait for the next.
On a machine whose cores are shared (any laptop, CI, the 2-core machines of bench/RESULTS.md)
those spinning threads take the cores from the sparse products. Measured on the 1e5 × 2
capacitated LP with other work on the machine (2 cores, load ~2.5): a PDHG iteration took
66 ms with OpenBLAS's 2 threads and 25 ms with one; a dot product of 2e5 numbers 6 ms instead
of ~0.1 ms; the 1e4 × 2 plan with capacities 92–98 s (its time limit, not certified) against
53 s (certified optimal). Nothing econplan does is a large dense product that a second BLAS
thread would speed up, so one thread is the default; ``ECONPLAN_BLAS_THREADS=N`` sets N
(``0``: leave BLAS alone).

The limit is applied through threadpoolctl (the library scikit-learn uses for the same
purpose) around the solver entry points, and for the whole process by the ``econplan``
command; it is restored on exit, so importing econplan changes nothing in a user's process.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_CONTROLLER: list[Any] = []


def blas_threads() -> int:
    """Threads BLAS may use while econplan computes (0 = no limit): ``ECONPLAN_BLAS_THREADS``,
    default 1."""
    env = os.environ.get("ECONPLAN_BLAS_THREADS", "").strip()
    try:
        return max(int(env), 0) if env else 1
    except ValueError:
        return 1


def _controller() -> Any | None:
    """threadpoolctl's view of the BLAS libraries loaded now (None without threadpoolctl)."""
    if not _CONTROLLER:
        try:
            import numpy  # noqa: F401  - load NumPy's BLAS before looking for it
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            return None
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _limit() -> Any | None:
    """Set the limit now and return threadpoolctl's handle to undo it (None: no limit)."""
    n = blas_threads()
    ctl = _controller() if n else None
    return ctl.limit(limits=n, user_api="blas") if ctl is not None else None


@contextmanager
def limited() -> Iterator[None]:
    """Within the block BLAS uses :func:`blas_threads` threads; the previous setting returns
    afterwards."""
    handle = _limit()
    try:
        yield
    finally:
        if handle is not None:
            handle.restore_original_limits()


def single_threaded(func: F) -> F:
    """Decorator: run ``func`` under :func:`limited`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with limited():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def limit_process() -> None:
    """Limit BLAS for the rest of this process (the ``econplan`` command, solver children)."""
    _limit()
