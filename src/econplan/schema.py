"""The bundle's tables as data: one row per column with its type, default, unit and meaning.

Every reader, writer and check works from :data:`TABLES`, so the contract of DESIGN.md lives
in exactly one place (after PyPSA's component attribute tables).
"""

from __future__ import annotations

from dataclasses import dataclass

#: the largest input or resource use per unit of activity a bundle may give: values and plans
#: multiply such amounts along input chains, and 1e100² already nears the largest double
#: (an outside check, session 26: 1e15 made HiGHS fail, 1e308 was called "not productive")
LARGEST_AMOUNT = 1e100


@dataclass(frozen=True)
class Column:
    """One column of a bundle table.

    ``kind``: ``id`` (unique string key), ``ref:<table>`` (must name a row of that table),
    ``text`` (free string) or ``number`` (finite float). ``default`` is used for empty cells and
    for an absent optional column; ``None`` with ``required`` means the value must be given.
    ``minimum``/``strict`` bound numbers (``strict``: must be > minimum), ``maximum`` from
    above (per-unit amounts: :data:`LARGEST_AMOUNT`). ``empty_is_none``: an
    empty cell means "no limit" (capacity).
    """

    name: str
    kind: str
    required: bool = True
    default: float | str | None = None
    minimum: float | None = None
    strict: bool = False
    maximum: float | None = None
    empty_is_none: bool = False
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class Table:
    """One file of the bundle: its name (without extension), columns and key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True
    min_rows: int = 0

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "products",
            (
                Column("id", "id", description="product id (no commas)"),
                Column("name", "text", description="human-readable name"),
                Column("unit", "text", description="physical unit: tonnes, kWh, hours of care"),
            ),
            key=("id",),
            min_rows=1,
        ),
        Table(
            "techniques",
            (
                Column("id", "id", description="technique id"),
                Column("product", "ref:products", description="the product it makes"),
                Column(
                    "output", "number", required=False, default=1.0, minimum=0.0, strict=True,
                    unit="product unit per unit of activity",
                    description="units of its product made per unit of activity",
                ),
                Column(
                    "capacity", "number", required=False, default=None, minimum=0.0,
                    empty_is_none=True, unit="units of activity per period",
                    description="upper bound on activity; empty = none",
                ),
            ),
            key=("id",),
        ),
        Table(
            "inputs",
            (
                Column("technique", "ref:techniques"),
                Column("product", "ref:products"),
                Column(
                    "amount", "number", minimum=0.0, strict=True, maximum=LARGEST_AMOUNT,
                    unit="product unit per unit of activity",
                    description="units of the product consumed per unit of activity",
                ),
            ),
            key=("technique", "product"),
            required=False,
        ),
        Table(
            "resources",
            (
                Column("id", "id"),
                Column("name", "text"),
                Column("unit", "text"),
                Column(
                    "available", "number", minimum=0.0, unit="resource unit per period",
                    description="availability b_k for the plan period",
                ),
            ),
            key=("id",),
            min_rows=1,
        ),
        Table(
            "resource_use",
            (
                Column("technique", "ref:techniques"),
                Column("resource", "ref:resources"),
                Column(
                    "amount", "number", minimum=0.0, maximum=LARGEST_AMOUNT,
                    unit="resource unit per unit of activity",
                ),
            ),
            key=("technique", "resource"),
            required=False,
        ),
        Table(
            "needs",
            (
                Column("product", "ref:products"),
                Column("target", "number", minimum=0.0, unit="product unit",
                       description="target y_i of final (net) output"),
                Column("priority", "number", required=False, default=1.0, minimum=0.0,
                       strict=True, description="priority weight w_i > 0"),
                Column("floor", "number", required=False, default=0.0, minimum=0.0,
                       unit="product unit", description="floor y_min_i met in any plan"),
            ),
            key=("product",),
            required=False,
        ),
    )
}

#: Order in which tables are read, checked, hashed and written.
TABLE_ORDER: tuple[str, ...] = (
    "products", "techniques", "inputs", "resources", "resource_use", "needs",
)


#: Plan statuses of a solve a limit stopped. Such a plan is written whole when its levels are
#: feasible and its duals valid (DESIGN.md, "Plan output"): ``econplan plan`` and ``econplan
#: verify`` exit 4, the report and ``explain`` say it is not proven optimal.
LIMITED_STATUSES = ("time_limit", "iteration_limit")


class Shared:
    """A value kept in ``DataFrame.attrs`` (file line numbers of the rows as read) that pandas
    shares instead of copying. pandas deep-copies ``attrs`` into every frame or column it
    derives: with a line per row (or a product → line map) that was a full copy per column
    access, measured 30 s of a 2e5-product plan's 137 s. The value is never mutated."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __deepcopy__(self, memo: dict) -> Shared:
        return self

    def __copy__(self) -> Shared:
        return self


def attr(df: object, key: str, default: object = None) -> object:
    """``df.attrs[key]`` unwrapped from :class:`Shared` (``default`` when absent)."""
    value = getattr(df, "attrs", {}).get(key, default)
    return value.value if isinstance(value, Shared) else value

