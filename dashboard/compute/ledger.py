"""The ledger of one customer partition: balances, arrears and days past due at each month-end.

Billed to date (bills due before the day) minus cash to date = balance; arrears and credit
are its positive and negative parts; payments cover the oldest bill first, so days past due
are those of the oldest bill not yet covered. :class:`Buckets` maps days past due to ageing
buckets; :func:`action_outcomes` follows each collections action's customer afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.compute.arrays import EventIndex, customer_codes, day_numbers, sort_order

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
        """The first bucket past the first edge (31+ days by default): *serious* arrears."""
        return 2 if len(self.edges) > 1 else 1

    def of(self, days_past_due: np.ndarray) -> np.ndarray:
        """Bucket number (0 = Current) of each days-past-due value, as int8."""
        days = np.asarray(days_past_due)
        bucket = 1 + np.searchsorted(np.asarray(self.edges), days, side="left")
        return np.where(days > 0, bucket, 0).astype(np.int8)


@dataclass
class Ledger:
    """Balances of some customers at some snapshot days, arrays of shape (customers, days).

    Attributes
    ----------
    billed_pence : ndarray of int64
        Bills due before the snapshot day.
    paid_pence : ndarray of int64
        Payments on or before the snapshot day.
    days_past_due : ndarray of int32
        Days since the due date of the oldest bill not fully covered; 0 when none.
    """

    billed_pence: np.ndarray
    paid_pence: np.ndarray
    days_past_due: np.ndarray

    @property
    def arrears_pence(self) -> np.ndarray:
        """``max(billed - paid, 0)``."""
        return np.maximum(self.billed_pence - self.paid_pence, 0)

    @property
    def credit_pence(self) -> np.ndarray:
        """``max(paid - billed, 0)``: overpayments."""
        return np.maximum(self.paid_pence - self.billed_pence, 0)


def month_end_ledger(
    bill_customer: np.ndarray,
    bill_due_day: np.ndarray,
    bill_pence: np.ndarray,
    payment_customer: np.ndarray,
    payment_day: np.ndarray,
    payment_pence: np.ndarray,
    n_customers: int,
    snapshot_days: np.ndarray,
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

    Returns
    -------
    Ledger
        Arrays of shape ``(n_customers, len(snapshot_days))``.

    Notes
    -----
    Cumulative amounts per (customer, snapshot) come from one ``bincount`` and a
    cumulative sum along the snapshots. Oldest-first allocation: with the bills of all
    customers sorted by (customer, due date) and summed cumulatively, the oldest bill
    not fully covered is the first whose running total exceeds the customer's opening
    total plus their payments, one ``searchsorted`` of already sorted needles.
    """
    snaps = np.asarray(snapshot_days, dtype=np.int64)
    bill_customer = np.asarray(bill_customer, dtype=np.int64)
    bill_due_day = np.asarray(bill_due_day, dtype=np.int64)
    bill_pence = np.asarray(bill_pence, dtype=np.int64)
    bill_snap = np.searchsorted(snaps, bill_due_day, side="right")  # first snapshot after due
    payment_snap = np.searchsorted(snaps, payment_day, side="left")  # first on or after
    shape = (n_customers, len(snaps))
    billed = _running_totals(bill_customer, bill_snap, bill_pence, shape)
    due_bills = _running_totals(bill_customer, bill_snap, None, shape)
    paid = _running_totals(payment_customer, payment_snap, payment_pence, shape)
    order = sort_order(bill_customer * (1 << 32) + (bill_due_day - bill_due_day.min(initial=0)))
    due_sorted = bill_due_day[order]
    running = np.concatenate([[0], np.cumsum(bill_pence[order])])
    first = np.searchsorted(bill_customer[order], np.arange(n_customers), side="left")
    covered_to = running[first][:, None] + paid
    oldest = np.searchsorted(running[1:], covered_to.ravel(), side="right").reshape(shape)
    owing = oldest < first[:, None] + due_bills
    oldest_due = due_sorted[np.minimum(oldest, max(len(due_sorted) - 1, 0))] if len(order) else 0
    days = np.where(owing, snaps[None, :] - oldest_due, 0).astype(np.int32)
    return Ledger(billed_pence=billed, paid_pence=paid, days_past_due=days)


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

    Returns
    -------
    DataFrame
        Aligned with ``actions``: ``arrears_pence`` on the action day (bills due before it
        minus payments on or before it; seen on ``as_of`` for later actions), ``in_arrears``;
        for each N in ``pay_days``
        ``decided_N`` and ``paid_N`` (in arrears, decided, and payments in
        ``(day, day + N]`` reach the threshold); ``decided_<clear_days>`` and
        ``cleared_<clear_days>`` (payments in ``(day, day + clear_days]`` cover the
        arrears of the action day). Outcomes count only customers in arrears.
    """
    as_of_day = int(day_numbers(pd.DatetimeIndex([as_of]))[0])
    customer = customer_codes(actions["customer_id"])
    day = day_numbers(actions["action_date"])
    seen = np.minimum(day, as_of_day)
    # Only the acted-on customers' bills and payments are indexed (a third of them at scale).
    acted_on = np.bincount(customer, minlength=len(actions["customer_id"].cat.categories)) > 0
    paid_index = _payment_index(payments, day, day + max(*pay_days, clear_days), of=acted_on)
    billed = _bill_index(bills, seen, of=acted_on).to_date(customer, seen - 1)
    arrears = np.maximum(billed - paid_index.to_date(customer, seen), 0)
    in_arrears = arrears > 0
    frame = {"arrears_pence": arrears, "in_arrears": in_arrears}
    paid_by = {
        days: paid_index.sums(customer, day, np.minimum(day + days, as_of_day))
        for days in sorted({*pay_days, clear_days})
    }
    for days in pay_days:
        decided = in_arrears & (day + days <= as_of_day)
        frame[f"decided_{days}"] = decided
        frame[f"paid_{days}"] = decided & (paid_by[days] >= np.minimum(min_payment_pence, arrears))
    decided = in_arrears & (day + clear_days <= as_of_day)
    frame[f"decided_{clear_days}"] = decided
    frame[f"cleared_{clear_days}"] = decided & (paid_by[clear_days] >= arrears)
    return pd.DataFrame(frame, index=actions.index)
