"""Bill queries: the built bill, action and arrangement tables -> the frames a view shows
(missed-payment and collection rates by month and segment, customers with a missed payment,
actions, arrangements).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dashboard.compute.arrays import integer_sums
from dashboard.cube.tables import ARRANGEMENT_MEASURES, BILL_MEASURES, Cube, TableArrays
from dashboard.query.selection import month_bounds, month_range


def _selected(arrays: TableArrays, segments: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    low, high = bounds
    return segments[arrays.segment] & (arrays.month >= low) & (arrays.month <= high)


def _group_sums(
    arrays: TableArrays, rows: np.ndarray, keys: list[tuple[np.ndarray, int]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sum ``arrays.values`` of ``rows`` by the combination of integer keys.

    Returns the sums, shape (groups, measures), and each key's code per group.
    """
    sizes = [size for _, size in keys]
    combined = np.zeros(int(rows.sum()), dtype=np.int64)
    for codes, size in keys:
        combined = combined * size + codes[rows]
    groups = int(np.prod(sizes)) if sizes else 1
    weights = np.compress(rows, arrays.weights, axis=1)
    columns = [integer_sums(combined, w, groups) for w in weights]
    sums = np.column_stack(columns).reshape(groups, len(weights))
    codes_per_group = []
    remainder = np.arange(groups)
    for size in reversed(sizes):
        codes_per_group.insert(0, remainder % size)
        remainder = remainder // size
    return sums, codes_per_group


def _key(cube: Cube, table: str, name: str, bounds: tuple[int, int]):
    """Integer codes per row, group count and group labels of one grouping column.

    Months span the selected range within the cube's bill months (for bills) or within the
    months the table holds (actions, arrangements), so months without rows show as zeros.
    """
    arrays = cube.arrays[table]
    if name == "month":
        if table == "bills":
            span = (0, len(cube.months) - 1)
        else:
            span = (int(arrays.month.min(initial=0)), int(arrays.month.max(initial=0)))
        low, high = max(bounds[0], span[0]), min(bounds[1], span[1])
        size = max(high - low + 1, 0)
        labels = pd.date_range(cube.months[0] + pd.DateOffset(months=low), periods=size, freq="MS")
        return arrays.month - low, size, labels
    if name == "action":
        categories = cube.actions["action"].cat.categories
        return arrays.code, len(categories), pd.Categorical(categories, categories=categories)
    values = cube.segments[name]
    codes = values.cat.codes.to_numpy(np.int64)[arrays.segment]
    size = len(values.cat.categories)
    return codes, size, pd.Categorical.from_codes(np.arange(size), dtype=values.dtype)


def _grouped(
    cube: Cube,
    table: str,
    segments: np.ndarray,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    by: Sequence[str],
    measures: Sequence[str],
) -> pd.DataFrame:
    """Sums of a cube table's measures over the selection, one row per group of ``by``."""
    arrays = cube.arrays[table]
    bounds = month_bounds(cube, start, end)
    rows = _selected(arrays, segments, bounds)
    keys, labels = [], []
    for name in by:
        codes, size, values = _key(cube, table, name, bounds)
        if name == "month":
            rows = rows & (codes >= 0) & (codes < size)
        keys.append((codes, size))
        labels.append(values)
    sums, group_codes = _group_sums(arrays, rows, keys)
    columns = {
        name: np.asarray(values)[codes] if name == "month" else values[codes]
        for name, values, codes in zip(by, labels, group_codes, strict=True)
    }
    columns.update({measure: sums[:, j] for j, measure in enumerate(measures)})
    return pd.DataFrame(columns)


def aggregate_bills(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    by: Sequence[str] = (),
    include_immature: bool = False,
) -> pd.DataFrame:
    """Sum bill measures of the selection by ``month`` and/or dimensions, with rates.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
        From :func:`segment_selection`.
    start, end : Timestamp or None
        Month range (inclusive).
    by : sequence of str
        Grouping columns: ``"month"`` and/or dimension names; empty for one total row.
    include_immature : bool, optional
        Count immature bills in ``bills``, ``defaults``, ``default_rate`` and
        ``collection_rate``.

    Returns
    -------
    DataFrame
        The grouping columns, :data:`BILL_MEASURES` and the columns of :func:`bill_rates`.
        Grouping by ``month`` alone lists every selected month (zeros where none billed);
        other groupings list the groups with at least one bill.
    """
    by = list(by)
    frame = _grouped(cube, "bills", segments, start, end, by, BILL_MEASURES)
    if by and by != ["month"]:
        frame = frame.loc[frame["bills"] > 0].reset_index(drop=True)
    return bill_rates(frame, include_immature)


def customers_with_default(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    include_immature: bool = False,
) -> tuple[int, int]:
    """Count selected customers with a counted bill, and those with a default, in a range.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
        From :func:`segment_selection`.
    start, end : Timestamp or None
        Month range (inclusive).
    include_immature : bool, optional
        Count immature bills too (otherwise mature ones only).

    Returns
    -------
    (int, int)
        Customers with at least one counted bill; of them, with at least one default.
    """
    with_bill, with_default = _customers_per_segment(cube, start, end, include_immature)
    return int(with_bill[segments].sum()), int(with_default[segments].sum())


def customers_by(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    dim: str,
    include_immature: bool = False,
) -> pd.DataFrame:
    """:func:`customers_with_default` per value of one dimension, in one pass.

    Returns
    -------
    DataFrame
        ``dim``, ``customers`` and ``customers_with_default``, one row per value.
    """
    with_bill, with_default = _customers_per_segment(cube, start, end, include_immature)
    values = cube.segments[dim]
    codes = values.cat.codes.to_numpy()  # each segment's value of ``dim``
    size = len(values.cat.categories)
    return pd.DataFrame(
        {
            dim: pd.Categorical.from_codes(np.arange(size), dtype=values.dtype),
            "customers": integer_sums(codes, np.where(segments, with_bill, 0), size),
            "customers_with_default": integer_sums(
                codes, np.where(segments, with_default, 0), size
            ),
        }
    )


def _customers_per_segment(
    cube: Cube,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    include_immature: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment: customers with a counted bill in the range, and those with a default.

    Each customer is in one segment, so the customers of any selection of segments are the
    sum of these counts. They are read from the cube's reach tables
    (:mod:`dashboard.compute.reach`), whose size does not grow with customers.
    """
    first, last = month_range(cube, start, end)
    counted = cube.reach["billed" if include_immature else "mature"]
    defaulted = cube.reach["defaulted" if include_immature else "mature_defaulted"]
    return counted.per_segment(first, last), defaulted.per_segment(first, last)


def bill_rates(measures: pd.DataFrame, include_immature: bool = False) -> pd.DataFrame:
    """Add the counted bills, defaults, rates and pounds to summed bill measures.

    Parameters
    ----------
    measures : DataFrame
        Holding :data:`BILL_MEASURES`.
    include_immature : bool, optional
        Whether immature bills are counted in defaults and rates.

    Returns
    -------
    DataFrame
        With ``counted_bills``, ``counted_defaults``, ``default_rate`` (NaN with no
        counted bill), ``billed`` and ``paid_in_window`` (pounds, every bill; windows
        overlap, so ``paid_in_window`` double-counts: kept for ``summary --json`` only),
        ``cash_received`` (pounds received in the row's month, by payment date),
        ``collection_rate`` and ``mature`` (every bill of the row is mature).

    Notes
    -----
    ``collection_rate`` = sum over counted bills of ``min(paid_in_window, bill)`` / their
    billed pence. Windows of consecutive monthly bills overlap (a 63-day window holds about
    two monthly payments), so the raw ratio paid in window / billed is about 200% and says
    nothing; capping each bill at its amount gives the share of billed money covered
    within the window (100% when every bill is paid in time).
    """
    prefix = "" if include_immature else "mature_"
    counted = measures[f"{prefix}bills"].to_numpy(np.int64)
    defaults = measures[f"{prefix}defaults"].to_numpy(np.int64)
    billed = measures[f"{prefix}billed_pence"].to_numpy(np.int64)
    covered = measures[f"{prefix}covered_pence"].to_numpy(np.int64)
    bills = measures["bills"].to_numpy(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        default_rate = np.where(counted > 0, defaults / counted, np.nan)
        collection_rate = np.where(billed > 0, covered / billed, np.nan)
    rates = pd.DataFrame(
        {
            "counted_bills": counted,
            "counted_defaults": defaults,
            "default_rate": default_rate,
            "billed": measures["billed_pence"].to_numpy() / 100,
            "paid_in_window": measures["paid_pence"].to_numpy() / 100,
            "cash_received": measures["cash_pence"].to_numpy() / 100,
            "collection_rate": collection_rate,
            "mature": (measures["mature_bills"].to_numpy() == bills) & (bills > 0),
        },
        index=measures.index,
    )
    return pd.concat([measures, rates], axis=1)


def count_actions(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    by: Sequence[str] = ("action",),
) -> pd.DataFrame:
    """Count collections actions of the selection by ``action``, ``month`` or a dimension.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Range of action months (inclusive); None = open.
    by : sequence of str
        Grouping columns.

    Returns
    -------
    DataFrame
        Grouping columns and ``count``; every action type appears (zero when none).
    """
    return _grouped(cube, "actions", segments, start, end, list(by), ("count",))


def arrangement_summary(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> dict[str, float | int]:
    """Arrangements agreed in the selection, how many are decided and kept.

    Returns
    -------
    dict
        ``agreed``, ``decided``, ``kept`` and ``kept_rate`` (kept / decided; NaN when
        none is decided).
    """
    total = _grouped(cube, "arrangements", segments, start, end, [], ARRANGEMENT_MEASURES)
    agreed, decided, kept = (int(total[c].iloc[0]) for c in ARRANGEMENT_MEASURES)
    return {
        "agreed": agreed,
        "decided": decided,
        "kept": kept,
        "kept_rate": kept / decided if decided else float("nan"),
    }
