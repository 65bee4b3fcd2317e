"""The early-warning rows of a whole book: customer partitions run through
:func:`dashboard.score.features.partition_rows` on the build engine's threads.

Memory is bounded by a partition (``Engine.customers_per_partition`` customers) plus the
rows kept; training samples customers (and rows) with a fixed seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.compute.engine import Engine, customer_ranges, threaded_map
from dashboard.compute.memory import reuses_freed_memory
from dashboard.schema import Portfolio
from dashboard.score.features import (
    EARLY_WARNING,
    Events,
    Target,
    partition_rows,
    snapshot_grid,
    table_codes,
)

DIMENSIONS = ("region", "income_band", "tariff", "tenure_band")
"""Customer dimensions used as categorical features."""
FLAGS = ("has_meter", "is_vulnerable", "prefers_direct_debit")
"""0/1 customer dimensions used as features."""


def first_date(portfolio: Portfolio) -> pd.Timestamp:
    """The earliest bill period end, payment or action date (the snapshot grids' start)."""
    firsts = [
        portfolio.bills["bill_period_end"].min(),
        portfolio.payments["payment_date"].min(),
        portfolio.actions["action_date"].min(),
    ]
    present = [pd.Timestamp(d) for d in firsts if pd.notna(d)]
    if not present:
        raise ValueError("score: no bill, payment or action is dated on or before the as-of day")
    return min(present)


def month_end_grid(portfolio: Portfolio, as_of: pd.Timestamp) -> np.ndarray:
    """Month-end day numbers from the data's first month to the last month-end on or
    before ``as_of``."""
    as_of = pd.Timestamp(as_of).normalize()
    last = as_of if as_of.is_month_end else as_of - pd.offsets.MonthEnd(1)
    return snapshot_grid(last, first_date(portfolio))


def _tables(portfolio: Portfolio, keep: np.ndarray | None) -> tuple[dict, dict, int]:
    """The tables (only customers ``keep``, a boolean per customer code, when given),
    their customer codes (renumbered ``0 .. kept - 1``) and the number of customers."""
    tables = {
        "bills": portfolio.bills,
        "payments": portfolio.payments,
        "actions": portfolio.actions,
        "adjustments": portfolio.adjustments,
    }
    codes = table_codes(tables)
    if keep is None:
        return tables, codes, len(portfolio.customers)
    renumber = np.cumsum(keep) - 1
    for name in list(tables):
        rows = keep[codes[name]]
        tables[name] = tables[name].loc[rows]
        codes[name] = renumber[codes[name][rows]]
    return tables, codes, int(keep.sum())


@reuses_freed_memory  # as a build: freed arrays reused, not faulted in again
def feature_rows(
    portfolio: Portfolio,
    snaps: np.ndarray,
    columns: np.ndarray,
    labelled: bool,
    keep: np.ndarray | None = None,
    keep_share: float = 1.0,
    seed: int = 0,
    engine: Engine | None = None,
    target: Target = EARLY_WARNING,
) -> pd.DataFrame:
    """Feature rows (and labels) of ``target``'s population on each scoring column.

    Parameters
    ----------
    portfolio : Portfolio
        Typed tables; rows dated after a scoring day never reach its features.
    snaps : ndarray of int
        Snapshot grid (increasing day numbers).
    columns : ndarray of int
        Scoring columns (indices into ``snaps``).
    labelled : bool
        Add the 3-month label (each column needs three snapshots after it).
    keep : ndarray of bool, optional
        Only these customers (a boolean per customer code): a training sample.
    keep_share : float, optional
        Keep each row with this probability (seeded per partition).
    seed : int, optional
    engine : Engine, optional
        Partition size and threads (default :meth:`Engine.from_env`).
    target : Target, optional
        Who is scored and the label (default: the early-warning score's).

    Returns
    -------
    DataFrame
        ``customer`` (code in ``portfolio.customers``), ``day``, the features and
        ``label`` when asked, plus the customer dimensions.
    """
    engine = Engine.from_env() if engine is None else engine
    tables, codes, n = _tables(portfolio, keep)
    original = np.flatnonzero(keep) if keep is not None else None
    ranges = customer_ranges(n, engine.customers_per_partition)

    def run(bounds: tuple[int, int]) -> pd.DataFrame:
        low, high = bounds
        events = Events.of(tables, codes, low, high)
        rows = partition_rows(events, snaps, columns, labelled, keep_share, seed + low, target)
        rows["customer"] += low
        return rows

    frames = list(threaded_map(run, ranges))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if original is not None and len(rows):
        rows["customer"] = original[rows["customer"].to_numpy()]
    return with_dimensions(rows, portfolio.customers)


def with_dimensions(rows: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Add the customer dimensions (categoricals and 0/1 flags) to feature rows."""
    code = rows["customer"].to_numpy(np.int64) if len(rows) else np.zeros(0, dtype=np.int64)
    for name in DIMENSIONS:
        column = customers[name]
        rows[name] = pd.Categorical.from_codes(
            column.cat.codes.to_numpy()[code], categories=column.cat.categories
        )
    for name in FLAGS:
        rows[name] = customers[name].to_numpy()[code].astype(np.float32)
    return rows
