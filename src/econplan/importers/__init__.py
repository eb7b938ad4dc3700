"""Importers that turn published input–output data into an econplan :class:`Economy`.

Each importer builds the bundle tables of DESIGN.md (products, techniques, inputs, resources,
resource_use, needs) as pandas DataFrames and hands them to ``Economy.from_tables``, so every
imported economy passes the same validation as a bundle read from disk.

- :mod:`econplan.importers.pymrio` — any pymrio ``IOSystem`` (EXIOBASE, WIOD, OECD, test system).
- :mod:`econplan.importers.ibge` — Brazil's official IBGE supply–use tables shipped by ``iotbr``.
"""

from __future__ import annotations


class DataWarning(UserWarning):
    """A published table needed an adjustment on import (zero output, negative entries, …).

    The same text is also recorded in the economy's ``description`` so it travels with the
    bundle.
    """


__all__ = ["DataWarning"]
