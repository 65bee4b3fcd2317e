"""Filters -> the selected segments and months of a cube (and the month bitmasks that count
customers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dashboard.cube.tables import Cube


def segment_selection(cube: Cube, filters: Mapping[str, Sequence] | None = None) -> np.ndarray:
    """Boolean mask over :attr:`Cube.segments` for the chosen dimension values.

    Parameters
    ----------
    cube : Cube
    filters : mapping of dimension to values, optional
        Values of one dimension are ORed, dimensions ANDed; an empty or missing entry
        selects everything.

    Returns
    -------
    ndarray of bool
    """
    selected = np.ones(len(cube.segments), dtype=bool)
    for dim, values in (filters or {}).items():
        if values:
            selected &= cube.segments[dim].isin(list(values)).to_numpy()
    return selected


def month_selection(
    months: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> np.ndarray:
    """Boolean mask of ``months`` within ``[start, end]`` (month starts; None = open)."""
    selected = np.ones(len(months), dtype=bool)
    if start is not None:
        selected &= (months >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        selected &= (months <= pd.Timestamp(end)).to_numpy()
    return selected


def month_bounds(
    cube: Cube, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[int, int]:
    """Month indexes (relative to the first bill month) of an inclusive range; None = open."""
    first = cube.months[0]
    low = -(10**6) if start is None else _month_number(start) - _month_number(first)
    high = 10**6 if end is None else _month_number(end) - _month_number(first)
    return low, high


def month_indexes(cube: Cube, start=None, end=None, count: int | None = None) -> np.ndarray:
    """Indexes ``0 .. count - 1`` of the cube's months within ``[start, end]``.

    Parameters
    ----------
    cube : Cube
    start, end : Timestamp or None
        Month starts (inclusive; None = open).
    count : int, optional
        Months the table indexed has (default: the complete month-ends, one per
        ``cube.arrears.snapshot_days``).

    Returns
    -------
    ndarray of int
        Consecutive indexes, possibly empty.
    """
    count = len(cube.arrears.snapshot_days) if count is None else count
    low, high = month_bounds(cube, start, end)
    return np.arange(max(low, 0), min(high, count - 1) + 1)


def month_span(indexes: np.ndarray) -> slice:
    """Consecutive month indexes (:func:`month_indexes`) as a slice: a view, no copy."""
    return slice(int(indexes[0]), int(indexes[-1]) + 1) if len(indexes) else slice(0, 0)


def segment_sums(table: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum a segment-last built table over segments with 0/1 ``weights``, as int64.

    Parameters
    ----------
    table : ndarray
        Any shape whose last axis is the cube's segments.
    weights : ndarray
        ``(segments,)`` (one selection) or ``(segments, groups)`` (one column per group).

    Returns
    -------
    ndarray of int64
        One BLAS product, rounded back to the exact integer sums.
    """
    return np.rint(table @ weights.astype(np.float64)).astype(np.int64)


def _month_number(when: pd.Timestamp) -> int:
    when = pd.Timestamp(when)
    return when.year * 12 + when.month


def month_range(
    cube: Cube, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[int, int]:
    """The first and last index of the cube's months within ``[start, end]`` (None = open;
    no month in it: ``(0, -1)``, an empty range)."""
    selected = np.flatnonzero(month_selection(pd.Series(cube.months), start, end))
    return (int(selected[0]), int(selected[-1])) if len(selected) else (0, -1)
