"""Errors econplan raises, each carrying what a person needs to fix the input.

A :class:`BundleError` names the file, the line number (1 = header row, so the first data row
is line 2), the field and what is wrong; the CLI prints ``str(error)`` as a single line on
stderr and exits with code 2.
"""

from __future__ import annotations


class EconplanError(Exception):
    """Base class of every error econplan raises on purpose."""


class BundleError(EconplanError):
    """Bad input in an economy bundle: one line naming file, line, field and the problem."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        where = file
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        text = f"{where}: {message}"
        super().__init__(" ".join(text.split()))


class InfeasibleError(EconplanError):
    """The floors of the needs cannot be met with the resources and capacities available."""
