"""The built tables as plain data: :class:`Cube` (bill, action and arrangement aggregates and
customer month bitmasks) and :class:`ArrearsTables` (the aggregated ledger).

No query code lives here: :mod:`dashboard.query` reads these tables, :mod:`dashboard.store`
persists them and :mod:`dashboard.cube.pipeline` makes them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from dashboard.compute.arrays import SparseSums, months_since
from dashboard.compute.ledger import Buckets
from dashboard.compute.outcomes import Window
from dashboard.compute.reach import ReachTable

BILL_MEASURES = (
    "bills",
    "mature_bills",
    "defaults",
    "mature_defaults",
    "billed_pence",
    "paid_pence",
    "mature_billed_pence",
    "mature_paid_pence",
    "covered_pence",
    "mature_covered_pence",
    "cash_pence",
)
"""Additive measures of :attr:`Cube.bills` (``cash_pence``: payments received in the month,
by payment date; the others by bill month)."""


@dataclass(eq=False)  # compared and hashed by identity: query memos key on it
class Cube:
    """Pre-aggregated tables of one portfolio under one window and as-of date.

    Attributes
    ----------
    months : DatetimeIndex
        Every bill month (month start) from the first to the last bill.
    segments : DataFrame
        One row per segment (index = segment id), a categorical column per dimension.
    bills : DataFrame
        ``month``, ``segment`` and :data:`BILL_MEASURES` (counts and integer pence).
    actions : DataFrame
        ``month`` (of the action date), ``segment``, ``action``, ``count``.
    arrangements : DataFrame
        ``month`` (agreed), ``segment``, ``agreed``, ``decided``, ``kept``.
    n_customers : int
        Customers of the book (the cube holds nothing per customer but the worklist's
        rows, one per customer in arrears).
    reach : dict of str to ReachTable
        Per segment, the customers with a bill (``billed``, ``mature``) or a defaulted bill
        (``defaulted``, ``mature_defaulted``) in any month range
        (:mod:`dashboard.compute.reach`: their size does not grow with customers).
    as_of : Timestamp
        Date of knowledge.
    window : Window
        Window and tolerance used for outcomes.
    arrears : ArrearsTables
        The aggregated ledger (:mod:`dashboard.cube.ledger`): ageing, roll and cure,
        cohorts, action outcomes, worklist.
    warnings : tuple of str
        The data-quality warnings of the source the cube was built from (rows excluded,
        a fallback text encoding): every command and the page repeat them.
    excluded : dict of str to int
        Rows excluded per table by validation.
    """

    months: pd.DatetimeIndex
    segments: pd.DataFrame
    bills: pd.DataFrame
    actions: pd.DataFrame
    arrangements: pd.DataFrame
    n_customers: int
    reach: dict[str, ReachTable]
    as_of: pd.Timestamp
    window: Window
    arrears: ArrearsTables
    warnings: tuple[str, ...] = ()
    excluded: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, TableArrays] = field(default_factory=dict)

    def __post_init__(self) -> None:
        first = self.months[0]
        self.arrays = {
            "bills": TableArrays.of(self.bills, first, BILL_MEASURES),
            "actions": TableArrays.of(self.actions, first, ("count",), code="action"),
            "arrangements": TableArrays.of(self.arrangements, first, ARRANGEMENT_MEASURES),
        }


@dataclass
class TableArrays:
    """A cube table as NumPy arrays, what the queries below run on.

    Attributes
    ----------
    month : ndarray of int64
        Month index relative to the cube's first bill month.
    segment : ndarray of int64
        Segment id.
    values : ndarray of int64, shape (rows, measures)
        The additive measures.
    code : ndarray of int64 or None
        Category codes of an extra key column (the action type).
    """

    month: np.ndarray
    segment: np.ndarray
    values: np.ndarray
    code: np.ndarray | None = None

    @classmethod
    def of(
        cls, table: pd.DataFrame, first: pd.Timestamp, measures: Sequence[str], code: str = ""
    ) -> TableArrays:
        """Arrays of a cube table (month, segment, measures and an optional coded column)."""
        month = months_since(table["month"], first) if len(table) else np.zeros(0, np.int64)
        return cls(
            month=np.asarray(month, dtype=np.int64),
            segment=table["segment"].to_numpy(np.int64),
            values=table[list(measures)].to_numpy(np.int64).reshape(len(table), len(measures)),
            code=table[code].cat.codes.to_numpy(np.int64) if code else None,
        )

    @cached_property
    def weights(self) -> np.ndarray:
        """``values`` as float64, one contiguous row per measure: what ``np.bincount``
        weighs with (a strided int64 column costs it a conversion per query; sums of
        integers stay exact below 2**53)."""
        return np.ascontiguousarray(self.values.T, dtype=np.float64)


ARRANGEMENT_MEASURES = ("agreed", "decided", "kept")


MONTH_RANGE_TABLES = ("transitions", "actions", "matched")
"""Tables whose month-range totals are read from a running total over months
(:meth:`ArrearsTables.month_total`)."""


@dataclass(eq=False)  # compared and hashed by identity: query memos key on it
class ArrearsTables:
    """Pre-aggregated ledger tables of one cube (integer arrays, dense where small).

    Attributes
    ----------
    buckets : Buckets
    snapshot_days : ndarray of int64
        The month-end of each complete cube month (ending on or before as-of).
    ageing : ndarray, shape (months, segments, buckets, len(AGEING_MEASURES))
        Customers on book and their money per bucket at each month-end.
    transitions : ndarray, shape (months, segments, buckets, buckets, 3)
        Customers (and their arrears the month before, and what they owed then including
        bills not yet due) moving from bucket i at month m-1 to bucket j at month m; month
        0 is empty.
    bill_ageing : ndarray, shape (months, segments, buckets, 2)
        Bill-level ageing: each debit's unpaid part in the bucket of its own days past due,
        and the customers with an amount in the bucket.
    vintage : ndarray, shape (cohorts, months on book, segments, len(VINTAGE_MEASURES))
        Cohort 0 = the back book (first bill in the first cube month: on book when the
        data begins, months on book counted from then); cohort ``q + 1`` = customers first
        billed in quarter ``q`` after it (from the first cube month's quarter). Months on
        book ``0 .. VINTAGE_MONTHS - 1`` (five years) at most.
    entries : ndarray, shape (months, segments, len(ENTRY_MEASURES))
        Customers first reaching serious arrears in a month, and their cures.
    actions : ndarray, shape (months, segments, action types, len(ACTION_MEASURES))
        Outcomes of the actions of each month (:func:`action_outcomes`).
    movement : ndarray, shape (months, segments, len(MOVEMENT_MEASURES))
        How the balance moved in each month: opening, fell due, cash, write-offs, other
        adjustments, closing (:data:`dashboard.compute.partition.MOVEMENT_MEASURES`).
    today : ndarray, shape (1, segments, buckets, len(AGEING_MEASURES))
        As ``ageing``, on the as-of day (the headline figures and the worklist's day).
    write_offs : ndarray, shape (months, segments, buckets, len(WRITE_OFF_MEASURES))
        Of each bucket's arrears at a month-end, the pence written off within 6, 12 and
        24 months and the customers concerned
        (:data:`dashboard.compute.partition.WRITE_OFF_MEASURES`).
    at_risk : ndarray, shape (months, segments, 2)
        Customers at risk at each month-end (on book, under 91 days past due), and those
        of them first 91+ days past due after it in the next month
        (:data:`dashboard.compute.partition.AT_RISK_MEASURES`).
    reach_after : ReachTable
        One entry ``(s, s, m, segment)`` per customer at risk at month-end ``s`` whose
        first day 91+ days past due after it falls in month ``m``: the customers at risk at
        ``s`` who reach 91+ days by month ``e`` are ``reach_after.per_segment(s, e)``
        (:func:`dashboard.compute.partition._severe`). Its size follows the customers who
        reach 91+ days, not the square of the months (:meth:`reach_after_dense` lays it
        out as a (months, months, segments) array, for small books).
    ever_severe : ndarray, shape (months, segments, 2)
        Customers on book at each month-end, and those of them 91+ days past due on some
        day up to it.
    matched : ndarray, shape (months, segments, strata, action types + 1, 2)
        Customers in arrears at the month-end before each month, by stratum (bucket and
        arrears band then), acted on with each type in the month or given no action (last
        group), and those who paid (:func:`dashboard.compute.matched.matched_counts`).
    funnel : list of ReachTable
        One per stage of :data:`dashboard.vocab.ACTIONS`: the customers reaching it in
        order in any month range (:func:`dashboard.compute.reach.stage_reach`).
    worklist : DataFrame
        One row per customer in arrears on the as-of date.
    """

    buckets: Buckets
    snapshot_days: np.ndarray
    sums: dict[str, np.ndarray]
    funnel: list[ReachTable]
    worklist: pd.DataFrame
    reach_after: ReachTable

    @classmethod
    def of(cls, tables: dict[str, np.ndarray | ReachTable], **fields) -> ArrearsTables:
        """Store integer tables (documented layout) as float64 with the segment axis last:
        a filter is then one matrix product over contiguous memory (exact: every sum stays
        far below 2**53); ``tables["reach_after"]`` is kept as it is, a
        :class:`~dashboard.compute.arrays.SparseSums` laid out densely."""
        sums = {
            name: np.ascontiguousarray(np.moveaxis(_dense(table), _SEGMENT_AXIS[name], -1), float)
            for name, table in tables.items()
            if name != "reach_after"
        }
        return cls(sums=sums, reach_after=tables["reach_after"], **fields)

    def __post_init__(self) -> None:
        self._running: dict[str, np.ndarray] = {}  # running totals over months, by table
        self._running_locks: dict[str, threading.Lock] = {}  # one a table: made one at a time
        self._locks_lock = threading.Lock()

    def month_total(self, name: str, months: np.ndarray) -> np.ndarray:
        """``sums[name]`` added up over consecutive month indexes (its first axis).

        Two reads of the table's running total over months (made the first time a table
        is asked for, then kept), not a pass over every month of the range: a filter change
        on a long period reads two month slices of a large table instead of all of them.
        Exact: every running total is an integer far below 2**53.

        Parameters
        ----------
        name : str
            A table of :attr:`sums` whose first axis is the months (the queries read
            :data:`MONTH_RANGE_TABLES`).
        months : ndarray of int
            Consecutive month indexes (empty: zeros).

        Returns
        -------
        ndarray of float64
            ``sums[name]``'s shape without its first axis (segments last).
        """
        if not len(months):
            return np.zeros(self.sums[name].shape[1:])
        running = self._running_total(name)
        return running[int(months[-1]) + 1] - running[int(months[0])]

    def warm(self) -> None:
        """Make the running totals of :data:`MONTH_RANGE_TABLES` now (a served page does
        it in the background once its cube is loaded), so that the first session to open
        a tab reading them does not wait for them (0.7–1.2 s at 1 M customers)."""
        for name in MONTH_RANGE_TABLES:
            self._running_total(name)

    def _running_total(self, name: str) -> np.ndarray:
        """``sums[name]``'s running total over months, zeros first (made once)."""
        with self._locks_lock:
            lock = self._running_locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._running:
                table = self.sums[name]
                running = np.empty((table.shape[0] + 1, *table.shape[1:]))
                running[0] = 0
                np.cumsum(table, axis=0, out=running[1:])
                self._running[name] = running
            return self._running[name]

    def _documented(self, name: str) -> np.ndarray:
        return np.moveaxis(self.sums[name], -1, _SEGMENT_AXIS[name])

    ageing = property(lambda self: self._documented("ageing"))
    transitions = property(lambda self: self._documented("transitions"))
    vintage = property(lambda self: self._documented("vintage"))
    entries = property(lambda self: self._documented("entries"))
    actions = property(lambda self: self._documented("actions"))
    movement = property(lambda self: self._documented("movement"))
    today = property(lambda self: self._documented("today"))
    write_offs = property(lambda self: self._documented("write_offs"))
    at_risk = property(lambda self: self._documented("at_risk"))
    ever_severe = property(lambda self: self._documented("ever_severe"))
    matched = property(lambda self: self._documented("matched"))
    bill_ageing = property(lambda self: self._documented("bill_ageing"))

    def reach_after_dense(self) -> np.ndarray:
        """``reach_after`` laid out densely, shape (months, months, segments), int64: at
        ``[s, 0]`` the customers at risk at month-end ``s``, at ``[s, d]`` those of them
        first 91+ days past due after it in month ``s + d``. Its size is the square of the
        months: for small books and tests."""
        k, n_s = self.sums["at_risk"].shape[0], self.reach_after.n_segments
        dense = np.zeros((k, k, n_s), dtype=np.int64)
        if not k:
            return dense
        dense[:, 0] = np.rint(self.at_risk[..., 0]).astype(np.int64)
        table = self.reach_after
        first, month = table.first.astype(np.int64), table.month.astype(np.int64)
        np.add.at(dense, (first, month - first, table.segment.astype(np.int64)), table.count)
        return dense

    @property
    def bucket_labels(self) -> tuple[str, ...]:
        """Labels of the buckets, Current first."""
        return self.buckets.labels


def _dense(table: np.ndarray | SparseSums) -> np.ndarray:
    """A table's values, dense."""
    return table.dense() if isinstance(table, SparseSums) else table


_SEGMENT_AXIS = {
    "ageing": 1,
    "transitions": 1,
    "vintage": 2,
    "entries": 1,
    "actions": 1,
    "movement": 1,
    "today": 1,
    "write_offs": 1,
    "at_risk": 1,
    "ever_severe": 1,
    "matched": 1,
    "bill_ageing": 1,
}
"""Where the segment axis sits in the documented layout of each table."""
