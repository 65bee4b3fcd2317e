"""The ledger of one customer partition: balances, arrears and days past due at each month-end.

Billed to date (bills due before the day) minus cash to date plus adjustments to date
(negative for a write-off or credit, signed for a rebill or transfer) = balance; arrears and
credit are its positive and negative parts; payments and balance-reducing adjustments cover
the oldest bill first, so days past due are those of the oldest bill not yet covered.
:class:`Buckets` maps days past due to ageing buckets; :func:`action_outcomes` follows each
collections action's customer afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from dashboard.compute.arrays import (
    EventIndex,
    customer_codes,
    day_numbers,
    grid_positions,
    is_sorted,
    sort_order,
)

MAX_BUCKET_EDGES = 8
"""The most bucket edges (nine buckets with Current): each adds a dimension's worth of
cells to the ledger tables."""
MAX_BUCKET_DAYS = 730
"""The largest bucket edge, in days past due."""


@dataclass(frozen=True)
class Buckets:
    """Days-past-due buckets: Current, then one bucket per edge, then the rest.

    Attributes
    ----------
    edges : tuple of int
        Upper bounds (days, inclusive) of the buckets after Current; the default
        ``(30, 60, 90)`` gives Current / 1–30 / 31–60 / 61–90 / 91+.
    """

    edges: tuple[int, ...] = (30, 60, 90)

    def __post_init__(self) -> None:
        edges = tuple(int(e) for e in self.edges)
        if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise ValueError("bucket edges must be increasing whole days of 1 or more")
        if len(edges) > MAX_BUCKET_EDGES or edges[-1] > MAX_BUCKET_DAYS:
            raise ValueError(
                f"at most {MAX_BUCKET_EDGES} bucket edges, each at most {MAX_BUCKET_DAYS} days"
            )
        object.__setattr__(self, "edges", edges)

    @classmethod
    def parse(cls, text: str) -> Buckets:
        """Buckets from a comma-separated list of edges, e.g. ``"30,60,90"``."""
        if len(text) > 200:
            raise ValueError("bucket edges: too long a text")
        try:
            return cls(tuple(int(part) for part in text.split(",") if part.strip()))
        except ValueError as exc:
            raise ValueError(f"bucket edges {text!r}: {exc}") from None

    @property
    def labels(self) -> tuple[str, ...]:
        """``("Current", "1–30", "31–60", "61–90", "91+")`` for the default edges."""
        lows = (1, *(e + 1 for e in self.edges[:-1]))
        spans = tuple(f"{low}–{high}" for low, high in zip(lows, self.edges, strict=True))
        return ("Current", *spans, f"{self.edges[-1] + 1}+")

    @property
    def entry(self) -> int:
        """The first bucket past the first edge (31+ days by default): *serious* arrears.
        With one edge it is the last bucket (``31+`` for edge 30), never ``1–30``."""
        return 2

    def of(self, days_past_due: np.ndarray) -> np.ndarray:
        """Bucket number (0 = Current) of each days-past-due value, as int8."""
        days = np.asarray(days_past_due)
        bucket = 1 + np.searchsorted(np.asarray(self.edges), days, side="left")
        return np.where(days > 0, bucket, 0).astype(np.int8)


@dataclass(frozen=True)
class Adjustments:
    """A partition's balance adjustments as arrays (one row per adjustment).

    Attributes
    ----------
    customer : ndarray of int
        Customer numbers (the partition's local codes).
    day : ndarray of int
        Day numbers; an adjustment counts on and after its day, like a payment.
    balance_pence : ndarray of int64
        Effect on the balance: negative for a write-off or credit, signed for a rebill or
        transfer.
    written_off : ndarray of bool
        Which rows are write-offs.
    """

    customer: np.ndarray
    day: np.ndarray
    balance_pence: np.ndarray
    written_off: np.ndarray

    @classmethod
    def of(cls, rows: pd.DataFrame, customer: np.ndarray) -> Adjustments:
        """The arrays of typed adjustment rows (``adjustment_date``, ``balance_pence``,
        ``kind``) whose customer numbers are ``customer``.

        Parameters
        ----------
        rows : DataFrame
            Typed adjustments (:func:`dashboard.schema.validate`).
        customer : ndarray of int
            Each row's customer number (a partition's local code).

        Returns
        -------
        Adjustments
        """
        return cls(
            customer=np.asarray(customer, dtype=np.int64),
            day=day_numbers(rows["adjustment_date"]),
            balance_pence=rows["balance_pence"].to_numpy(np.int64),
            written_off=(rows["kind"] == "write_off").to_numpy(bool),
        )

    @classmethod
    def none(cls) -> Adjustments:
        """No adjustments."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(empty, empty, empty, np.zeros(0, dtype=bool))


@dataclass
class Ledger:
    """Balances of some customers at some snapshot days, arrays of shape (customers, days).

    Attributes
    ----------
    billed_pence : ndarray of int64
        Bills due before the snapshot day.
    paid_pence : ndarray of int64
        Payments (cash) on or before the snapshot day.
    days_past_due : ndarray of int32
        Days since the due date of the oldest bill not fully covered; 0 when none.
    adjusted_pence : ndarray of int64
        Adjustments on or before the snapshot day: their effect on the balance (write-offs
        and credits negative).
    written_off_pence : ndarray of int64
        Write-offs on or before the snapshot day (positive; part of ``-adjusted_pence``).
    """

    billed_pence: np.ndarray
    paid_pence: np.ndarray
    days_past_due: np.ndarray
    adjusted_pence: np.ndarray
    written_off_pence: np.ndarray

    def with_balances(self) -> Ledger:
        """This ledger with its balance, arrears and credit computed: the :meth:`columns`
        taken from it after share them instead of computing their own."""
        for name in DERIVED_COLUMNS:
            getattr(self, name)
        return self

    def columns(self, start: int, stop: int | None = None) -> Ledger:
        """The snapshots ``start .. stop - 1`` (to the last when ``stop`` is None), as views."""
        part = slice(start, stop)
        columns = Ledger(
            billed_pence=self.billed_pence[:, part],
            paid_pence=self.paid_pence[:, part],
            days_past_due=self.days_past_due[:, part],
            adjusted_pence=self.adjusted_pence[:, part],
            written_off_pence=self.written_off_pence[:, part],
        )
        for name in DERIVED_COLUMNS:  # computed already: their columns, not computed again
            if name in self.__dict__:
                columns.__dict__[name] = self.__dict__[name][:, part]
        return columns

    @cached_property
    def balance_pence(self) -> np.ndarray:
        """``billed - paid + adjusted``: what the customer owes (negative when in credit).

        Computed once per ledger, like :attr:`arrears_pence` and :attr:`credit_pence` (a
        partition's tables read them a dozen times; the columns are never changed).
        """
        balance = self.billed_pence - self.paid_pence
        balance += self.adjusted_pence
        return balance

    @cached_property
    def arrears_pence(self) -> np.ndarray:
        """``max(balance, 0)``."""
        return np.maximum(self.balance_pence, 0)

    @cached_property
    def credit_pence(self) -> np.ndarray:
        """``max(-balance, 0)``: overpayments and credits not yet used."""
        return np.maximum(-self.balance_pence, 0)


DERIVED_COLUMNS = ("balance_pence", "arrears_pence", "credit_pence")
"""The :class:`Ledger` arrays computed from its columns (once per ledger)."""


def month_end_ledger(
    bill_customer: np.ndarray,
    bill_due_day: np.ndarray,
    bill_pence: np.ndarray,
    payment_customer: np.ndarray,
    payment_day: np.ndarray,
    payment_pence: np.ndarray,
    n_customers: int,
    snapshot_days: np.ndarray,
    adjustments: Adjustments | None = None,
) -> Ledger:
    """Every customer's balance and days past due at each snapshot day.

    Parameters
    ----------
    bill_customer, payment_customer : ndarray of int
        Customer numbers ``0 .. n_customers - 1`` (one partition's local codes).
    bill_due_day, payment_day : ndarray of int
        Day numbers (:func:`day_numbers`).
    bill_pence, payment_pence : ndarray of int
        Amounts in pence (bills zero or more).
    n_customers : int
    snapshot_days : ndarray of int
        Increasing day numbers (month-ends, or the as-of day).
    adjustments : Adjustments, optional
        Balance adjustments (none when not given).

    Returns
    -------
    Ledger
        Arrays of shape ``(n_customers, len(snapshot_days))``.

    Notes
    -----
    Cumulative amounts per (customer, snapshot) come from one ``bincount`` and a
    cumulative sum along the snapshots. Oldest-first allocation: debits are the bills and
    the positive adjustments (a rebill or transfer that adds to the balance is due the day
    before its date, so it is 1 day past due on it); credits are the payments and the
    negative adjustments (a write-off or credit covers the oldest debit as a payment
    does). Days past due are those of the oldest debit not fully covered
    (:func:`_days_past_due`).
    """
    adjustments = Adjustments.none() if adjustments is None else adjustments
    snaps = np.asarray(snapshot_days, dtype=np.int64)
    shape = (n_customers, len(snaps))
    bill_customer = np.asarray(bill_customer, dtype=np.int64)
    bill_due_day = np.asarray(bill_due_day, dtype=np.int64)
    bill_snap = grid_positions(snaps, bill_due_day, "right")  # first snapshot after due
    billed = _running_totals(bill_customer, bill_snap, bill_pence, shape)
    paid = _running_totals(
        payment_customer, grid_positions(snaps, payment_day, "left"), payment_pence, shape
    )
    adjustment_snap = grid_positions(snaps, adjustments.day, "left")  # on or after
    change = np.asarray(adjustments.balance_pence, dtype=np.int64)
    adjusted = _running_totals(adjustments.customer, adjustment_snap, change, shape)
    off = adjustments.written_off
    written_off = _running_totals(
        adjustments.customer[off], adjustment_snap[off], -change[off], shape
    )
    # Debits: bills, and positive adjustments due the day before their date (so they age
    # from it); credits: payments, and negative adjustments, covering the oldest debit first.
    raised = change > 0
    debit_customer = np.concatenate([bill_customer, adjustments.customer[raised]])
    debit_due = np.concatenate([bill_due_day, adjustments.day[raised] - 1])
    debit_pence = np.concatenate([np.asarray(bill_pence, dtype=np.int64), change[raised]])
    due_debits = _running_totals(
        debit_customer, grid_positions(snaps, debit_due, "right"), None, shape
    )
    reduced = _running_totals(
        adjustments.customer[~raised], adjustment_snap[~raised], -change[~raised], shape
    )
    days = _days_past_due(debit_customer, debit_due, debit_pence, paid + reduced, due_debits, snaps)
    return Ledger(
        billed_pence=billed,
        paid_pence=paid,
        days_past_due=days,
        adjusted_pence=adjusted,
        written_off_pence=written_off,
    )


def _days_past_due(
    customer: np.ndarray,
    due_day: np.ndarray,
    pence: np.ndarray,
    covered: np.ndarray,
    due_count: np.ndarray,
    snaps: np.ndarray,
) -> np.ndarray:
    """Days since the oldest debit not covered by ``covered`` (credits to date per customer
    and snapshot; ``due_count`` debits due by then), 0 when none; int32 like the snapshots.

    With every customer's debits sorted by due date and summed cumulatively, the oldest
    debit not fully covered is the first whose running total exceeds the customer's
    opening total plus their credits: one ``searchsorted``.
    """
    n = len(covered)
    order = sort_order(customer * (1 << 32) + (due_day - due_day.min(initial=0)))
    due_sorted = due_day[order]
    running = np.concatenate([[0], np.cumsum(pence[order])])
    first = np.searchsorted(customer[order], np.arange(n + 1), side="left")
    covered_to = running[first[:-1]][:, None] + covered
    oldest = _debits_covered(running, covered_to, running[first[1:]]).reshape(covered.shape)
    owing = oldest < first[:-1, None] + due_count
    oldest_due = due_sorted[np.minimum(oldest, max(len(due_sorted) - 1, 0))] if len(order) else 0
    return np.where(owing, snaps[None, :] - oldest_due, 0).astype(np.int32)


def _debits_covered(running: np.ndarray, covered_to: np.ndarray, own_total: np.ndarray):
    """``np.searchsorted(running[1:], covered_to.ravel(), "right")``: the debits (their
    running totals, every customer's in turn) covered by each customer's credits to date.

    Credits to date only grow, so once each row is capped at the customer's own debits
    (``own_total``: past it, every debit of theirs is covered either way) the queries are
    in order, and each debit is searched among them instead: a search per debit, not per
    customer and snapshot (a partition has ~30x fewer debits than those). Queries out of
    order (a negative credit) are searched directly.
    """
    capped = np.minimum(covered_to, own_total[:, None]).ravel()
    if not is_sorted(capped):
        return np.searchsorted(running[1:], covered_to.ravel(), side="right")
    reached = np.searchsorted(capped, running[1:], side="left")  # first query covering it
    return np.cumsum(np.bincount(reached, minlength=len(capped) + 1)[:-1])


def _running_totals(
    customer: np.ndarray, snap: np.ndarray, values: np.ndarray | None, shape: tuple[int, int]
) -> np.ndarray:
    """Sum of ``values`` (or a count) per customer with ``snap <= s``, for every s."""
    n, k = shape
    key = np.asarray(customer, dtype=np.int64) * (k + 1) + snap
    weights = None if values is None else np.asarray(values, dtype=np.float64)
    sums = np.bincount(key, weights=weights, minlength=n * (k + 1)).reshape(n, k + 1)
    return np.cumsum(np.rint(sums[:, :k]).astype(np.int64), axis=1)


def balances_at(
    bills: pd.DataFrame, payments: pd.DataFrame, customer: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Billed (due before ``day``) and paid (on or before ``day``) per query, in pence.

    Parameters
    ----------
    bills, payments : DataFrame
        Typed tables (categorical ``customer_id`` of the same categories).
    customer : ndarray of int
        Customer code of each query.
    day : ndarray of int
        Day number of each query.

    Returns
    -------
    (ndarray, ndarray) of int64
        Billed and paid to date; arrears = ``max(billed - paid, 0)``.
    """
    day = np.asarray(day, dtype=np.int64)
    return _bill_index(bills, day).to_date(customer, day - 1), _payment_index(
        payments, day
    ).to_date(customer, day)


class _ToDate(EventIndex):
    def to_date(self, customer: np.ndarray, through_day: np.ndarray) -> np.ndarray:
        """Sum of every event of the customer up to and including ``through_day``."""
        return self.sums(customer, np.full(len(through_day), self.low), through_day)


def _bill_index(bills: pd.DataFrame, *query_days: np.ndarray, of=None) -> _ToDate:
    return _ToDate.covering(*_events(bills, "due_date", "bill_pence", of), *query_days)


def _payment_index(payments: pd.DataFrame, *query_days: np.ndarray, of=None) -> _ToDate:
    return _ToDate.covering(*_events(payments, "payment_date", "amount_pence", of), *query_days)


def _adjustment_index(
    adjustments: pd.DataFrame | None, *query_days: np.ndarray, of=None
) -> _ToDate:
    if adjustments is None:
        none = np.zeros(0, dtype=np.int64)
        return _ToDate.covering(none, none, none, *query_days)
    events = _events(adjustments, "adjustment_date", "balance_pence", of)
    return _ToDate.covering(*events, *query_days)


def _events(
    table: pd.DataFrame, day_column: str, value_column: str, of: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customer codes, day numbers and int64 values of a table's rows; with ``of`` (a
    boolean per customer code), only the rows of those customers."""
    customer = customer_codes(table["customer_id"])
    day = day_numbers(table[day_column])
    value = table[value_column].to_numpy(np.int64)
    if of is None:
        return customer, day, value
    keep = of[customer]
    return customer[keep], day[keep], value[keep]


def action_outcomes(
    actions: pd.DataFrame,
    bills: pd.DataFrame,
    payments: pd.DataFrame,
    as_of: pd.Timestamp,
    pay_days: tuple[int, ...] = (14, 30),
    clear_days: int = 60,
    min_payment_pence: int = 1000,
    adjustments: pd.DataFrame | None = None,
    cleared_max_pence: int = 0,
) -> pd.DataFrame:
    """Did the customer pay, or clear their arrears, after each collections action?

    Parameters
    ----------
    actions, bills, payments : DataFrame
        Typed tables.
    as_of : Timestamp
        Date of knowledge: an outcome over N days is *decided* when
        ``action_date + N <= as_of``; payments after ``as_of`` do not count.
    pay_days : tuple of int, optional
        Horizons of the "paid something" outcome.
    clear_days : int, optional
        Horizon of the "cleared arrears" outcome.
    min_payment_pence : int, optional
        "Paid something" means at least ``min(min_payment_pence, arrears)``.
    adjustments : DataFrame, optional
        Typed adjustments (they change the balance; none when not given).
    cleared_max_pence : int, optional
        Arrears of at most this much count as cleared.

    Returns
    -------
    DataFrame
        Aligned with ``actions``: ``arrears_pence`` on the action day (the ledger's balance:
        bills due before it minus payments on or before it plus adjustments on or before
        it; seen on ``as_of`` for later actions), ``in_arrears``; for each N in
        ``pay_days`` ``decided_N`` and ``paid_N`` (in arrears, decided, and payments in
        ``(day, day + N]`` reach the threshold); ``decided_<clear_days>`` and
        ``cleared_<clear_days>`` (the ledger's arrears on ``day + clear_days``, new bills
        and adjustments included, are at most ``cleared_max_pence``). Outcomes count only
        customers in arrears.
    """
    as_of_day = int(day_numbers(pd.DatetimeIndex([as_of]))[0])
    customer = customer_codes(actions["customer_id"])
    day = day_numbers(actions["action_date"])
    seen = np.minimum(day, as_of_day)
    # Only the acted-on customers' bills and payments are indexed (a third of them at scale).
    acted_on = np.bincount(customer, minlength=len(actions["customer_id"].cat.categories)) > 0
    cleared_on = day + clear_days
    paid_index = _payment_index(payments, day, day + max(*pay_days, clear_days), of=acted_on)
    bill_index = _bill_index(bills, seen, cleared_on, of=acted_on)
    adjustment_index = _adjustment_index(adjustments, seen, cleared_on, of=acted_on)

    def arrears_on(on_day: np.ndarray) -> np.ndarray:
        balance = bill_index.to_date(customer, on_day - 1) - paid_index.to_date(customer, on_day)
        return np.maximum(balance + adjustment_index.to_date(customer, on_day), 0)

    arrears = arrears_on(seen)
    in_arrears = arrears > 0
    frame = {"arrears_pence": arrears, "in_arrears": in_arrears}
    paid_by = {
        days: paid_index.sums(customer, day, np.minimum(day + days, as_of_day)) for days in pay_days
    }
    for days in pay_days:
        decided = in_arrears & (day + days <= as_of_day)
        frame[f"decided_{days}"] = decided
        frame[f"paid_{days}"] = decided & (paid_by[days] >= np.minimum(min_payment_pence, arrears))
    decided = in_arrears & (day + clear_days <= as_of_day)
    frame[f"decided_{clear_days}"] = decided
    frame[f"cleared_{clear_days}"] = decided & (arrears_on(cleared_on) <= cleared_max_pence)
    return pd.DataFrame(frame, index=actions.index)
