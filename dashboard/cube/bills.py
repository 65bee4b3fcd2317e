"""Build the bill-side tables of a cube: outcomes per customer partition, then bill, action
and arrangement aggregates by month and segment, and per-customer month bitmasks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.compute.arrays import day_numbers, integer_sums, is_sorted
from dashboard.compute.engine import Engine, customer_ranges
from dashboard.compute.outcomes import (
    Window,
    arrangement_outcomes,
    outcome_columns,
    outcome_inputs,
)
from dashboard.compute.partition import CHUNK_CUSTOMERS
from dashboard.compute.reach import ReachTable, month_reach
from dashboard.cube.tables import BILL_MEASURES
from dashboard.vocab import DIMENSIONS


def month_start(dates: pd.Series) -> pd.Series:
    """The first day of each date's month (vectorised), as ``datetime64[us]``."""
    months = np.asarray(dates, dtype="datetime64[M]").astype("datetime64[us]")
    return pd.Series(months, index=dates.index, name=dates.name)


def partitioned_outcomes(
    bills: pd.DataFrame,
    payments: pd.DataFrame,
    window: Window,
    as_of: pd.Timestamp,
    engine: Engine,
    customers_per_partition: int = CHUNK_CUSTOMERS,
) -> pd.DataFrame:
    """:func:`bill_outcomes`, computed per partition of customers by ``engine``.

    Partitions hold whole customers (their bills and payments are contiguous, the tables
    being sorted by customer): the ``pandas`` engine computes them on one thread per core,
    the ``dask`` engine sends each partition's arrays to a worker. Tables not sorted by
    customer are computed in one partition by the ``pandas`` engine. Each bill gets the
    same answer either way, as only its own customer's payments count.

    Parameters
    ----------
    bills, payments : DataFrame
        Typed tables sorted by customer (as :func:`dashboard.schema.validate` returns them).
    window : Window
    as_of : Timestamp
    engine : Engine
    customers_per_partition : int, optional

    Returns
    -------
    DataFrame
        As :func:`bill_outcomes`.
    """
    as_of_day = int(day_numbers(pd.DatetimeIndex([as_of]))[0])
    inputs = outcome_inputs(bills, payments)
    n_customers = len(bills["customer_id"].cat.categories)
    sorted_by_customer = all(
        is_sorted(inputs[f"{table}_customer"]) for table in ("bill", "payment")
    )
    if sorted_by_customer and n_customers:
        # Partitions also for the pandas engine: each one's index and queries are small,
        # so the build's transient memory is a partition's, not the whole table's.
        ranges = customer_ranges(n_customers, customers_per_partition)
        parts = (_customers_slice(inputs, low, high) for low, high in ranges)
    elif engine.name == "pandas" or n_customers == 0:
        parts = [inputs]
    else:
        raise ValueError("bills or payments are not sorted by customer: cannot partition them")
    columns = engine.map(outcome_columns, parts, window, as_of_day)
    joined = {name: np.concatenate([c.pop(name) for c in columns]) for name in list(columns[0])}
    return pd.DataFrame(joined, index=bills.index, copy=False)


_OUTCOME_INPUTS = {
    "bill_customer": ("bill_customer", "due_day", "bill_pence"),
    "payment_customer": ("payment_customer", "payment_day", "payment_pence"),
}
"""The arrays of :func:`outcome_inputs`, by the customer codes they are sorted by."""


def _customers_slice(inputs: dict[str, np.ndarray], low: int, high: int) -> dict:
    """The rows of customers ``low .. high - 1`` in each array of ``inputs``."""
    part = {}
    for codes_name, names in _OUTCOME_INPUTS.items():
        first, last = np.searchsorted(inputs[codes_name], [low, high])
        part.update({name: inputs[name][first:last] for name in names})
    return part


def segment_table(customers: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Number every combination of dimensions present; return it and each customer's id."""
    codes = np.zeros(len(customers), dtype=np.int64)
    columns = {}
    for dim in DIMENSIONS:
        values = customers[dim]
        categorical = (
            values
            if isinstance(values.dtype, pd.CategoricalDtype)
            else values.astype(pd.CategoricalDtype([0, 1]))
        )
        columns[dim] = categorical.cat
        codes = codes * len(categorical.cat.categories) + categorical.cat.codes.to_numpy()
    present, customer_segment = np.unique(codes, return_inverse=True)
    segments = {}
    for dim in reversed(DIMENSIONS):
        size = len(columns[dim].categories)
        segments[dim] = pd.Categorical.from_codes(
            present % size, dtype=pd.CategoricalDtype(columns[dim].categories, columns[dim].ordered)
        )
        present = present // size
    frame = pd.DataFrame({dim: segments[dim] for dim in DIMENSIONS})
    return frame, customer_segment.astype(np.int64)


def bill_table(
    bills: pd.DataFrame,
    outcomes: pd.DataFrame,
    bill_month: np.ndarray,
    bill_segment: np.ndarray,
    months: pd.DatetimeIndex,
    n_segments: int,
    payment_key: np.ndarray | None = None,
    payment_pence: np.ndarray | None = None,
) -> pd.DataFrame:
    """Bill measures per (bill month, segment), and cash received per (payment month,
    segment) when ``payment_key`` (``month * n_segments + segment`` of each payment) and
    ``payment_pence`` are given; rows where neither a bill nor a payment falls."""
    sums = bill_sums(
        bills, outcomes, bill_month, bill_segment, months, n_segments, payment_key, payment_pence
    )
    return bill_frame(sums, months, n_segments)


def bill_sums(
    bills: pd.DataFrame,
    outcomes: pd.DataFrame,
    bill_month: np.ndarray,
    bill_segment: np.ndarray,
    months: pd.DatetimeIndex,
    n_segments: int,
    payment_key: np.ndarray | None = None,
    payment_pence: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The measures of :func:`bill_table` as dense int64 arrays over every (month,
    segment): additive, so partitions of customers can be summed (:func:`bill_frame`).

    Returns
    -------
    dict of str to ndarray
        One array of ``len(months) * n_segments`` per :data:`BILL_MEASURES` name.
    """
    size = len(months) * n_segments
    mature = outcomes["is_mature"].to_numpy()
    # Immature bills go to a second block of keys: one bincount gives a measure over the
    # mature bills (first block) and over all bills (both blocks), with no masked copies.
    key = bill_month * n_segments + bill_segment
    key[~mature] += size
    billed = bills["bill_pence"].to_numpy(np.int64)
    paid = outcomes["paid_in_window_pence"].to_numpy(np.int64)
    weights = {
        "bills": None,
        "defaults": outcomes["is_default"].to_numpy(),
        "billed_pence": billed,
        "paid_pence": paid,
        "covered_pence": np.minimum(paid, billed),
    }
    sums = {}
    for name, weight in weights.items():
        both = integer_sums(key, weight, 2 * size)
        sums[name] = both[:size] + both[size:]
        sums[f"mature_{name}"] = both[:size]
    no_payments = np.zeros(0, dtype=np.int64)
    sums["cash_pence"] = integer_sums(
        no_payments if payment_key is None else payment_key,
        None if payment_pence is None else payment_pence.astype(np.float64),
        size,
    )
    return {name: sums[name] for name in BILL_MEASURES}


def bill_frame(
    sums: dict[str, np.ndarray], months: pd.DatetimeIndex, n_segments: int
) -> pd.DataFrame:
    """The rows of :func:`bill_sums` where a bill or a payment falls, as the cube's table.

    Parameters
    ----------
    sums : dict of str to ndarray
        From :func:`bill_sums` (or the sum of several partitions').
    months : DatetimeIndex
    n_segments : int

    Returns
    -------
    DataFrame
        ``month``, ``segment`` and :data:`BILL_MEASURES`.
    """
    present = np.flatnonzero((sums["bills"] > 0) | (sums["cash_pence"] != 0))
    table = pd.DataFrame(
        {
            "month": months[present // n_segments],
            "segment": present % n_segments,
            **{name: values[present] for name, values in sums.items()},
        }
    )
    return table


def action_table(actions: pd.DataFrame, customer_segment: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "month": month_start(actions["action_date"]),
            "segment": customer_segment[actions["customer_id"].cat.codes.to_numpy()],
            "action": actions["action"],
        }
    )
    counts = table.groupby(["month", "segment", "action"], observed=True).size()
    return counts.rename("count").reset_index()


def arrangement_table(
    actions: pd.DataFrame, customer_segment: np.ndarray, as_of: pd.Timestamp
) -> pd.DataFrame:
    outcomes = arrangement_outcomes(actions, as_of)
    table = pd.DataFrame(
        {
            "month": month_start(outcomes["action_date"]),
            "segment": customer_segment[outcomes["customer_id"].cat.codes.to_numpy()],
            "agreed": 1,
            "decided": outcomes["is_decided"].astype(np.int64),
            "kept": outcomes["is_kept"].astype(np.int64),
        }
    )
    return table.groupby(["month", "segment"], as_index=False).sum()


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: one pass when already sorted (bills sorted by customer
    and period end give sorted cells), else a sort."""
    if not is_sorted(values):
        return np.unique(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


REACH_SERIES = ("billed", "mature", "defaulted", "mature_defaulted")
"""The customers' bill-month series: a bill, a mature bill, a default, a mature default."""


def customer_reach(
    bills: pd.DataFrame,
    outcomes: pd.DataFrame,
    bill_month: np.ndarray,
    customer_segment: np.ndarray,
    n_months: int,
    n_segments: int,
) -> dict[str, ReachTable]:
    """Reach tables of the customers' bill months (:mod:`dashboard.compute.reach`).

    Parameters
    ----------
    bills, outcomes : DataFrame
        The bills (``customer_id`` categorical, codes in ``customer_segment`` order) and
        their :func:`bill_outcomes`.
    bill_month : ndarray of int
        Each bill's month index.
    customer_segment : ndarray of int
        Segment of each customer.
    n_months, n_segments : int
        The cube's months and segments.

    Returns
    -------
    dict of str to ReachTable
        ``billed``, ``mature``, ``defaulted``, ``mature_defaulted``: per segment, the
        customers with such a bill in any month range (a default: a defaulted bill).
    """
    customer = bills["customer_id"].cat.codes.to_numpy(np.int64)
    month = np.asarray(bill_month, dtype=np.int64)
    mature = outcomes["is_mature"].to_numpy()
    default = outcomes["is_default"].to_numpy()
    flags = dict(zip(REACH_SERIES, (None, mature, default, default & mature), strict=True))
    return {
        name: month_reach(
            customer if flag is None else customer[flag],
            month if flag is None else month[flag],
            customer_segment,
            n_months,
            n_segments,
        )
        for name, flag in flags.items()
    }
