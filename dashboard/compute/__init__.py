"""Pure, vectorised functions of one customer partition (``arrays``, ``outcomes``, ``ledger``,
``partition``), and where the partitions run (``engine``, ``memory``).

The names below are the package's public face, for notebooks and tests.
"""

from __future__ import annotations

from dashboard.compute.arrays import (
    day_numbers,
    grid_positions,
    integer_sums,
    is_sorted,
    month_numbers,
    months_since,
    sort_order,
    to_pence,
)
from dashboard.compute.ledger import (
    Adjustments,
    Buckets,
    Ledger,
    action_outcomes,
    month_end_ledger,
)
from dashboard.compute.outcomes import (
    ARRANGEMENT_AGREED,
    ARRANGEMENT_BROKEN,
    Window,
    arrangement_outcomes,
    bill_outcomes,
    latest_payment_date,
)

__all__ = [
    "ARRANGEMENT_AGREED",
    "ARRANGEMENT_BROKEN",
    "Buckets",
    "Ledger",
    "Window",
    "action_outcomes",
    "arrangement_outcomes",
    "bill_outcomes",
    "day_numbers",
    "grid_positions",
    "integer_sums",
    "is_sorted",
    "latest_payment_date",
    "month_end_ledger",
    "Adjustments",
    "month_numbers",
    "months_since",
    "sort_order",
    "to_pence",
]
