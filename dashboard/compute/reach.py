"""Distinct customers over any month range, in tables that do not grow with customers.

A customer *reaches* a series (billed, defaulted, a collections stage...) in a month range
``[a, b]`` when the month they reach it from ``a`` on, ``m(a)``, is at most ``b``. For a
month flag (a bill that month, a default that month), ``m(a)`` is the first flagged month
at or after ``a``; for a stage of an ordered funnel, it is the first month of the stage's
action at or after the month the stage before was reached.

``m(a)`` is a step function of ``a``: it is the same month for every start in a run
``lo..hi`` (for a month flag: from the month after the previous flagged month up to the
flagged month itself). So a customer adds one *entry* ``(lo, hi, m, segment)`` per step,
and entries with the same key are added up into a count. The customers of a segment
reaching the series in ``[a, b]`` are then the counts of the entries with
``lo <= a <= hi`` and ``m <= b``: exact for every range, and the table holds at most one
entry per (lo, hi, m, segment), whatever the number of customers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from dashboard.compute.arrays import count_type, group_matrix

COLUMNS = ("first", "last", "month", "segment", "count")
"""The stored columns of a :class:`ReachTable`, in :meth:`ReachTable.as_array` order."""


@dataclass(eq=False)
class ReachTable:
    """Counts of customers per (first start, last start, month reached, segment).

    Entries are sorted by ``first`` (a range's start reads a prefix), with the narrowest
    integer types that hold them (int16 months and segments, int32 counts: 14 bytes an
    entry).

    Attributes
    ----------
    first, last : ndarray of int
        The run of start months ``first..last`` for which the month reached is ``month``.
    month : ndarray of int
        The month reached (an index into the cube's months).
    segment : ndarray of int
    count : ndarray of int
        Customers with that entry.
    n_months, n_segments : int
        The key space (the cube's months and segments).
    """

    first: np.ndarray
    last: np.ndarray
    month: np.ndarray
    segment: np.ndarray
    count: np.ndarray
    n_months: int
    n_segments: int

    def __post_init__(self) -> None:
        self._answers: dict[tuple[int, int], np.ndarray] = {}  # the last few ranges'
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Pickled (a Dask worker's result) without its kept answers and lock."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_answers", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    @classmethod
    def of(
        cls,
        first: np.ndarray,
        last: np.ndarray,
        month: np.ndarray,
        segment: np.ndarray,
        n_months: int,
        n_segments: int,
        count: np.ndarray | None = None,
        grid: np.ndarray | None = None,
    ) -> ReachTable:
        """The entries added up by key (``count`` None: one customer each).

        ``grid``, optional: counts of entries ``(m, m, m, segment)`` at ``[m, segment]``, an
        ``(n_months, n_segments)`` array (a customer flagged in month m and the month
        before it reaches it from m only: the commonest entry, a bill every month).
        """
        size = n_months * n_segments
        first, last, month = (np.asarray(v, dtype=np.int64) for v in (first, last, month))
        segment = np.asarray(segment, dtype=np.int64)
        weights = np.ones(len(first), dtype=np.int64) if count is None else np.asarray(count)
        single = (first == month) & (last == month)  # added on the dense grid
        grid = np.bincount(
            month[single] * n_segments + segment[single], weights[single], minlength=size
        ) + (0 if grid is None else np.asarray(grid, dtype=np.float64).reshape(-1))
        on_grid = np.flatnonzero(grid)
        key = (first[~single] * n_months + last[~single]) * n_months + month[~single]
        key = key * n_segments + segment[~single]
        cells, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights[~single], minlength=len(cells))
        rest_segment = cells % n_segments
        rest = cells // n_segments
        rest_month, rest = rest % n_months, rest // n_months
        rest_last, rest_first = rest % n_months, rest // n_months
        grid_month = on_grid // n_segments
        columns = {
            "first": np.concatenate([grid_month, rest_first]),
            "last": np.concatenate([grid_month, rest_last]),
            "month": np.concatenate([grid_month, rest_month]),
            "segment": np.concatenate([on_grid % n_segments, rest_segment]),
            "count": np.rint(np.concatenate([grid[on_grid], sums])).astype(np.int64),
        }
        order = np.argsort(columns["first"], kind="stable")
        return cls(
            **{name: _narrow(values[order]) for name, values in columns.items()},
            n_months=n_months,
            n_segments=n_segments,
        )

    @classmethod
    def empty(cls, n_months: int, n_segments: int) -> ReachTable:
        nothing = np.zeros(0, dtype=np.int64)
        return cls.of(nothing, nothing, nothing, nothing, n_months, n_segments)

    @classmethod
    def combined(cls, tables: list[ReachTable], n_months: int, n_segments: int) -> ReachTable:
        """The tables' entries added up (partitions of one book)."""
        if not tables:
            return cls.empty(n_months, n_segments)
        columns = {name: np.concatenate([getattr(t, name) for t in tables]) for name in COLUMNS}
        return cls.of(**columns, n_months=n_months, n_segments=n_segments)

    @staticmethod
    def keep(kept: list[ReachTable], table: ReachTable) -> None:
        """Keep a partition's table in ``kept``; every :data:`COMBINE_EVERY`, combine those
        kept into one (memory bounded by the months and segments, not by the partitions)."""
        kept.append(table)
        if len(kept) >= COMBINE_EVERY:
            kept[:] = [ReachTable.combined(kept, table.n_months, table.n_segments)]

    def __len__(self) -> int:
        return len(self.count)

    def per_segment(self, start: int, end: int) -> np.ndarray:
        """Customers of each segment reaching the series in months ``start..end``.

        Parameters
        ----------
        start, end : int
            Month indexes, inclusive (``start > end``: an empty range, nobody).

        Returns
        -------
        ndarray of int64, shape (segments,)
            Read-only: the last few ranges' answers are kept (a filter change asks the
            same range again).
        """
        key = (int(start), int(end))
        with self._lock:
            if key in self._answers:
                return self._answers[key]
        counts = np.zeros(self.n_segments, dtype=np.int64)
        if start <= end:
            stop = int(np.searchsorted(self.first, start, side="right"))  # first <= start
            hit = (self.last[:stop] >= start) & (self.month[:stop] <= end)
            counts = np.bincount(
                self.segment[:stop][hit], self.count[:stop][hit], minlength=self.n_segments
            )
            counts = np.rint(counts).astype(np.int64)
        counts.flags.writeable = False
        with self._lock:
            self._answers[key] = counts
            while len(self._answers) > KEPT_ANSWERS:
                self._answers.pop(next(iter(self._answers)))
        return counts

    def as_array(self) -> np.ndarray:
        """The entries as one structured array (fields :data:`COLUMNS`), to store."""
        array = np.empty(len(self), dtype=[(name, getattr(self, name).dtype) for name in COLUMNS])
        for name in COLUMNS:
            array[name] = getattr(self, name)
        return array

    @classmethod
    def from_array(cls, array: np.ndarray, n_months: int, n_segments: int) -> ReachTable:
        """The table :meth:`as_array` stored (checked: a foreign array raises ValueError)."""
        array = np.asarray(array)
        names = array.dtype.names or ()
        if array.ndim != 1 or names != COLUMNS:
            raise ValueError("not a reach table")
        if any(array.dtype[name].kind != "i" for name in COLUMNS):
            raise ValueError("reach table columns are not integers")
        columns = {name: np.ascontiguousarray(array[name]) for name in COLUMNS}
        months_ok = all(
            ((columns[name] >= 0) & (columns[name] < max(n_months, 1))).all()
            for name in ("first", "last", "month")
        )
        segments_ok = ((columns["segment"] >= 0) & (columns["segment"] < n_segments)).all()
        if not (months_ok and segments_ok and (columns["count"] > 0).all()):
            raise ValueError("reach table entries outside the cube's months or segments")
        if (np.diff(columns["first"]) < 0).any():
            raise ValueError("reach table entries out of order")
        return cls(**columns, n_months=n_months, n_segments=n_segments)


COMBINE_EVERY = 8
"""Partitions' tables kept before they are combined into one (:meth:`ReachTable.keep`)."""


KEPT_ANSWERS = 8
"""Month ranges whose per-segment answers a :class:`ReachTable` keeps."""


def _narrow(values: np.ndarray) -> np.ndarray:
    """Non-negative int64 values in the narrowest of int16, int32 and int64 that holds them."""
    top = int(values.max()) if len(values) else 0
    for dtype in (np.int16, np.int32):
        if top <= np.iinfo(dtype).max:
            return values.astype(dtype)
    return values


def next_flagged(flags: np.ndarray) -> np.ndarray:
    """Per row and start month, the first flagged month at or after it (``n_months``: none).

    Returns an ``(rows, n_months + 1)`` array: the last column, a start past the end, is
    always ``n_months``, so a chain of lookups can start from "not reached".
    """
    rows, n_months = flags.shape
    dtype = np.int16 if n_months < 2**15 - 1 else np.int32
    position = np.where(flags, np.arange(n_months, dtype=dtype), dtype(n_months))
    padded = np.concatenate([position, np.full((rows, 1), n_months, dtype=dtype)], axis=1)
    return np.minimum.accumulate(padded[:, ::-1], axis=1)[:, ::-1]


def stage_reach(stages: list[np.ndarray], segment: np.ndarray, n_segments: int) -> list[ReachTable]:
    """Reach tables of ordered stages: a customer reaches stage k in the first month of its
    flag at or after the month they reached stage k - 1 (stage 1: from the range's start).

    Parameters
    ----------
    stages : list of ndarray of bool, each (customers, months)
        Per stage, the months each customer had its flag.
    segment : ndarray of int
        Segment of each customer.
    n_segments : int

    Returns
    -------
    list of ReachTable
        One per stage. With one stage, the customers with a flagged month in a range.
    """
    if not stages:
        return []
    n_months = stages[0].shape[1]
    tables = [flag_reach(stages[0], segment, n_segments)]
    if len(stages) == 1:
        return tables
    who = np.flatnonzero(stages[0].any(axis=1))  # nobody else reaches any stage
    stages, segment = [flags[who] for flags in stages], np.asarray(segment)[who]
    rows, reached = np.nonzero(stages[0])  # one step of m(a) per flagged month, row-major
    previous = np.r_[-1, reached[:-1]]
    previous[np.r_[True, rows[1:] != rows[:-1]]] = -1  # a row's first flag: from month 0
    first, last = previous + 1, reached
    seg = segment[rows]
    for flags in stages[1:]:
        reached = next_flagged(flags)[rows, reached]  # n_months stays n_months (padding)
        kept = reached < n_months
        rows, first, last, seg, reached = (v[kept] for v in (rows, first, last, seg, reached))
        tables.append(ReachTable.of(first, last, reached, seg, n_months, n_segments))
    return tables


def flag_reach(flags: np.ndarray, segment: np.ndarray, n_segments: int) -> ReachTable:
    """The reach table of one month flag: per segment, the customers flagged in a range.

    A flagged month m is reached from the starts after the previous flagged month; when
    that is the month before (or m is the first month), from m alone: those entries are
    counted per month and segment on a dense grid (a column sum per segment), the others
    one by one (few: gaps in a dense flag, or the flags of a sparse one).
    """
    n_months = flags.shape[1]
    segment = np.asarray(segment, dtype=np.int64)
    single = flags.copy()
    single[:, 1:] &= flags[:, :-1]
    grid = _single_grid(single, segment, n_segments)
    rows, month = np.nonzero(flags & ~single)  # month >= 1: month 0 is always single
    first = np.zeros(len(rows), dtype=np.int64)
    if len(rows):  # the last flagged month before each, on the rows holding one only
        starts = np.r_[True, rows[1:] != rows[:-1]]
        held = rows[starts]
        dtype = np.int16 if n_months < 2**15 - 1 else np.int32
        seen = np.maximum.accumulate(
            np.where(flags[held], np.arange(n_months, dtype=dtype), dtype(-1)), axis=1
        )
        first = seen[np.cumsum(starts) - 1, month - 1].astype(np.int64) + 1
    return ReachTable.of(first, month, month, segment[rows], n_months, n_segments, grid=grid)


def _single_grid(single: np.ndarray, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """Per month and segment, the customers flagged in ``single``: one sparse product of
    the customers' segments (one-hot) with the flags (float32 sums of 0/1 are exact below
    2**24 customers; float64 beyond: :func:`~dashboard.compute.arrays.count_type`)."""
    dtype = count_type(len(segment))
    one_hot = group_matrix(segment, n_segments, dtype)
    return np.rint(one_hot @ single.astype(dtype)).astype(np.int64).T


def month_flags(rows: np.ndarray, months: np.ndarray, n_rows: int, n_months: int) -> np.ndarray:
    """A ``(n_rows, n_months)`` bool array, True at each (row, month) pair given."""
    flags = np.zeros((n_rows, n_months), dtype=bool)
    flags[rows, months] = True
    return flags


def month_reach(
    rows: np.ndarray,
    months: np.ndarray,
    segment: np.ndarray,
    n_months: int,
    n_segments: int,
    chunk: int = 200_000,
) -> ReachTable:
    """The reach table of (customer, month) pairs (a customer flagged in a month when a pair
    has it), ``chunk`` customers at a time (memory bounded by a chunk's flags).

    Parameters
    ----------
    rows, months : ndarray of int
        Customer positions (into ``segment``) and month indexes (``0 .. n_months - 1``).
    segment : ndarray of int
        Segment of each customer.
    n_months, n_segments : int

    Returns
    -------
    ReachTable
    """
    rows, months = np.asarray(rows, dtype=np.int64), np.asarray(months, dtype=np.int64)
    n = len(segment)
    if n <= chunk:
        return flag_reach(month_flags(rows, months, n, n_months), segment, n_segments)
    parts = []
    for low in range(0, n, chunk):
        high = min(low + chunk, n)
        inside = (rows >= low) & (rows < high)
        flags = month_flags(rows[inside] - low, months[inside], high - low, n_months)
        parts.append(flag_reach(flags, segment[low:high], n_segments))
    return ReachTable.combined(parts, n_months, n_segments)
