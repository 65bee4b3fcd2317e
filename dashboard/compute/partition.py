"""The ledger tables of one customer partition, ready to be added up across partitions.

:class:`Partition` holds a partition's bills, payments and actions as arrays;
:func:`partition_tables` turns it into the additive ageing, transition, vintage, entry and
action-outcome tables and its worklist rows. The measures and rule constants (cure horizons,
payment days) are defined here, below every module that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from dashboard.compute.arrays import (
    SparseSums,
    count_type,
    day_numbers,
    grid_positions,
    group_matrix,
    integer_sums,
    measure_sums,
    months_since,
    sort_order,
    stacked_sums,
)
from dashboard.compute.crossings import LedgerEvents, missed_checks, running_within
from dashboard.compute.ledger import (
    Adjustments,
    Buckets,
    Ledger,
    action_outcomes,
)
from dashboard.compute.matched import ARREARS_BANDS_PENCE, MATCHED_MEASURES, matched_counts
from dashboard.compute.outcomes import ARRANGEMENT_STATES  # noqa: F401 (re-exported)
from dashboard.compute.reach import ReachTable
from dashboard.vocab import ACTIONS, HELD_OUT

NEVER = np.iinfo(np.int32).max
"""A month index after every month: "no such month" (no bill yet, no end of billing)."""

CURE_AFTER = (1, 2, 3, 6)
"""Months after entering serious arrears at which cures are counted."""


PAY_DAYS = (14, 30)


CLEAR_DAYS = 60


CLEARED_MAX_PENCE = 0
"""Cleared = the ledger's arrears on the 60th day after the action are nil."""


MIN_PAYMENT_PENCE = 1000
"""Action effectiveness: pay at least min(£10, arrears) within 14/30 days, clear in 60."""


CHUNK_CUSTOMERS = 50_000
"""Customers per partition: a running partition's ledger holds about 15 arrays of
customers x months int64 (50,000 x 48 x 8 bytes = 19 MB each)."""


AGEING_MEASURES = ("customers", "arrears_pence", "credit_pence", "billed_pence", "paid_pence")


TRANSITION_MEASURES = ("customers", "arrears_pence", "owed_pence")
"""Per (month, segment, bucket before, bucket now): customers, their arrears at the month-end
before, and what they owed then including bills issued and not yet due (the £ roll rates'
weight: a Current customer owes an issued bill, so Current -> 1–30 exists in £)."""


BILL_AGEING_MEASURES = ("arrears_pence", "customers")
"""Per (month-end, segment, bucket): the unpaid part of every debit past due, in the bucket
of its own days past due (bill-level ageing), and the customers with such an amount."""


VINTAGE_MEASURES = ("customers", "defaulted", "in_arrears")
VINTAGE_MONTHS = 60
"""Months on book a vintage curve follows (five years): the vintage table's size then grows
with the book's months, not with their square (cohorts x months on book x segments: a
30-year history made it 4.2 GB on the demo's 1,500 customers)."""


def vintage_months(months: int) -> int:
    """Months on book of the vintage table of a cube of ``months`` month-ends."""
    return min(months, VINTAGE_MONTHS)


MOVEMENT_MEASURES = (
    "opening_arrears_pence",
    "opening_credit_pence",
    "due_pence",
    "cash_pence",
    "written_off_pence",
    "other_adjustments_pence",
    "arrears_pence",
    "credit_pence",
)
"""How the book moved in a month, over every customer: opening and closing arrears and
credit, bills falling due, cash received, write-offs and other adjustments (their effect on
the balance). Closing arrears - closing credit = opening arrears - opening credit + due -
cash - written off + other adjustments, exactly."""


WRITE_OFF_HORIZONS = (6, 12, 24)
"""Month-ends after a month-end over which write-offs of its arrears are counted (the
provision matrix's write-off horizons)."""


WRITE_OFF_MEASURES = tuple(
    f"written_off_{h}_{what}" for h in WRITE_OFF_HORIZONS for what in ("pence", "customers")
)
"""Per month-end, segment and bucket, for each horizon h: the pence of the month-end's
arrears written off in the next h months (each customer's write-offs after the month-end
and on or before the h-th month-end after it, capped at their arrears at the month-end)
and the customers with such a write-off; 0 where the h-th month-end is not complete."""


SEVERE_DAYS = 91
"""More than 90 days past due: the credit-style default (the 90 days past due of Basel
and IFRS 9), whatever the ageing buckets."""


EVER_SEVERE_MEASURES = ("on_book", "ever")
"""Per (month-end, segment): customers on book, and those of them :data:`SEVERE_DAYS`+
days past due on some day since the data began, up to the month-end."""


AT_RISK_MEASURES = ("at_risk", "reached_next")
"""Per (month-end, segment): customers *at risk* (on book and under :data:`SEVERE_DAYS`
days past due), and those of them first :data:`SEVERE_DAYS`+ days past due after it in
the next month."""


ENTRY_MEASURES = (
    "entered",
    *(f"observed_{h}" for h in CURE_AFTER),
    *(f"cured_{h}" for h in CURE_AFTER),
)


ACTION_MEASURES = (
    "actions",
    "in_arrears",
    *(f"{kind}_{days}" for days in PAY_DAYS for kind in ("decided", "paid")),
    f"decided_{CLEAR_DAYS}",
    f"cleared_{CLEAR_DAYS}",
)


@dataclass(frozen=True)
class LedgerSettings:
    """What every chunk of customers shares in :func:`partition_tables`."""

    snaps: np.ndarray
    buckets: Buckets
    shape: Shapes
    quarter_offset: int
    as_of_day: int
    months: pd.DatetimeIndex
    as_of: pd.Timestamp
    last_bill_month: int = NEVER
    """The book's last bill month: a customer billed in it is still on book after it."""

    @property
    def as_of_month(self) -> int:
        """Index of the as-of day's month among the cube months."""
        return len(self.months) - 1

    @property
    def opening_day(self) -> int:
        """The day before the first cube month starts: the book's opening balances."""
        return day_of(self.months[0]) - 1 if len(self.months) else self.as_of_day


def partition_tables(chunk: tuple, settings: LedgerSettings) -> tuple[dict, pd.DataFrame]:
    """The ledger tables of one chunk of customers (to be added up) and its worklist rows.

    The large, mostly empty ``matched`` comes as
    :class:`~dashboard.compute.arrays.SparseSums`, ``reach_after`` as a
    :class:`~dashboard.compute.reach.ReachTable`, the others dense.

    Parameters
    ----------
    chunk : (Partition, ndarray, ndarray)
        The chunk's bills and payments, each customer's segment and first default month.
    settings : LedgerSettings

    Returns
    -------
    (dict of str to ndarray, DataFrame)
    """
    part, segment, defaulted = chunk
    shape = settings.shape
    # one ledger pass for the opening day, the month-ends and the as-of day (each pass sorts
    # the partition's debits: one sort, not three)
    k = len(settings.snaps)
    days = np.concatenate([[settings.opening_day], settings.snaps, [settings.as_of_day]])
    every = part.ledger(days).with_balances()
    ledger, now = every.columns(1, k + 1), every.columns(k + 1)
    by_segment = group_matrix(segment, shape.segments)
    bucket = settings.buckets.of(ledger.days_past_due)
    on_book = part.on_book(ledger, shape.months, last_bill_month=settings.last_bill_month)
    now_bucket = settings.buckets.of(now.days_past_due)
    on_book_now = part.on_book(now, 1, settings.as_of_month, settings.last_bill_month)
    today_shape = Shapes(1, shape.segments, shape.buckets, shape.cohorts)
    sums = {
        "ageing": _ageing(ledger, bucket, on_book, segment, shape),
        "transitions": _transitions(
            ledger, bucket, on_book, segment, shape, _owed(part, ledger, settings.snaps)
        ),
        "bill_ageing": _bill_ageing(part, segment, settings),
        "vintage": _vintage(
            bucket, part.first_month, defaulted, segment, settings.quarter_offset, shape
        ),
        "entries": _entries(bucket, segment, settings.buckets.entry, shape),
        "actions": _action_outcomes(part, segment, settings.months, settings.as_of, shape),
        "movement": _movement(every.columns(0, k + 1), by_segment, shape),
        "today": _ageing(now, now_bucket, on_book_now, segment, today_shape),
        "write_offs": _write_offs(ledger, bucket, segment, shape),
        **_severe(part, ledger, on_book, segment, by_segment, settings.snaps, shape),
        "matched": _matched(part, ledger, bucket, segment, settings),
    }
    return sums, part.worklist(now, settings.as_of_day)


@dataclass(frozen=True)
class Shapes:
    months: int
    segments: int
    buckets: int
    cohorts: int


PARTITION_COLUMNS = {
    "bills": ("customer_id", "due_date", "bill_pence"),
    "payments": ("customer_id", "payment_date", "amount_pence"),
    "actions": ("customer_id", "action_date", "action"),
    "adjustments": ("customer_id", "adjustment_date", "balance_pence", "kind"),
}
"""The columns a partition carries (what a Dask worker is sent), no more."""


@dataclass
class Partition(LedgerEvents):
    """The bills and payments of customers ``low .. high - 1`` as arrays (local codes)."""

    low: int
    size: int
    bill_customer: np.ndarray
    bill_due: np.ndarray
    bill_pence: np.ndarray
    bill_month: np.ndarray
    payment_customer: np.ndarray
    payment_day: np.ndarray
    payment_pence: np.ndarray
    adjustments: Adjustments
    adjustment_rows: pd.DataFrame
    bills: pd.DataFrame
    payments: pd.DataFrame
    actions: pd.DataFrame

    @classmethod
    def of(cls, tables: dict, codes: dict, bill_month, low: int, high: int) -> Partition:
        """Customers ``low .. high - 1`` of ``tables`` (bills, payments, actions sorted by
        customer, with :data:`PARTITION_COLUMNS`); ``codes`` holds their customer codes."""
        b0, b1 = np.searchsorted(codes["bills"], [low, high])
        p0, p1 = np.searchsorted(codes["payments"], [low, high])
        a0, a1 = np.searchsorted(codes["actions"], [low, high])
        j0, j1 = np.searchsorted(codes["adjustments"], [low, high])
        bills, payments = tables["bills"].iloc[b0:b1], tables["payments"].iloc[p0:p1]
        adjustments = tables["adjustments"].iloc[j0:j1]
        return cls(
            low=low,
            size=high - low,
            bill_customer=codes["bills"][b0:b1].astype(np.int64) - low,
            bill_due=day_numbers(bills["due_date"]),
            bill_pence=bills["bill_pence"].to_numpy(np.int64),
            bill_month=bill_month[b0:b1],
            payment_customer=codes["payments"][p0:p1].astype(np.int64) - low,
            payment_day=day_numbers(payments["payment_date"]),
            payment_pence=payments["amount_pence"].to_numpy(np.int64),
            adjustments=Adjustments.of(
                adjustments, codes["adjustments"][j0:j1].astype(np.int64) - low
            ),
            adjustment_rows=adjustments,
            bills=bills,
            payments=payments,
            actions=tables["actions"].iloc[a0:a1],
        )

    @cached_property
    def first_month(self) -> np.ndarray:
        """Month index of each customer's first bill (a large number when none); computed
        once (a sort of the partition's bills)."""
        return _first_per_customer(self.bill_customer, self.bill_month, self.size, NEVER)

    @cached_property
    def last_month(self) -> np.ndarray:
        """Month index of each customer's last bill (-1 when none); computed once."""
        return -_first_per_customer(self.bill_customer, -self.bill_month, self.size, 1)

    def on_book(
        self, ledger: Ledger, k: int, first: int = 0, last_bill_month: int = NEVER
    ) -> np.ndarray:
        """Billed in this month's range of their bills (open-ended for a customer billed in
        the book's last bill month, ``last_bill_month``: no final bill yet), or owing or
        owed money (months ``first .. first + k - 1``: the ledger's snapshot columns)."""
        month = np.arange(first, first + k)[None, :]
        last = self.last_month
        last = np.where(last >= last_bill_month, NEVER, last)  # still billed: no end yet
        billed = (month >= self.first_month[:, None]) & (month <= last[:, None])
        return billed | (ledger.balance_pence != 0)

    def worklist(self, ledger: Ledger, as_of_day: int) -> pd.DataFrame:
        """Customers in arrears on the as-of day (``ledger`` on that day): balance, age,
        last payment."""
        arrears = ledger.arrears_pence[:, 0]
        owing = np.flatnonzero(arrears > 0)
        last_day, last_pence = _last_payment(
            self.payment_customer, self.payment_day, self.payment_pence, self.size, as_of_day
        )
        return pd.DataFrame(
            {
                "customer": owing + self.low,
                "arrears_pence": arrears[owing],
                "days_past_due": ledger.days_past_due[owing, 0],
                "last_payment_day": last_day[owing],
                "last_payment_pence": last_pence[owing],
            }
        )


def day_of(when: pd.Timestamp) -> int:
    return int(day_numbers(pd.DatetimeIndex([pd.Timestamp(when)]))[0])


def _first_per_customer(customer: np.ndarray, value: np.ndarray, n: int, none: int) -> np.ndarray:
    """Smallest ``value`` per customer ``0 .. n - 1`` (``none`` when they have no row)."""
    smallest = np.full(n, none, dtype=np.int64)
    if len(customer):
        order = sort_order(customer * (1 << 32) + (value - value.min()))
        sorted_customer = customer[order]
        starts = np.flatnonzero(np.r_[True, sorted_customer[1:] != sorted_customer[:-1]])
        smallest[sorted_customer[starts]] = value[order][starts]
    return smallest


def first_default_month(
    bill_codes: np.ndarray, outcomes: pd.DataFrame, bill_month: np.ndarray, n: int
) -> np.ndarray:
    """Per customer, the month of their first mature defaulted bill (``NEVER`` when none)."""
    counted = (outcomes["is_default"] & outcomes["is_mature"]).to_numpy()
    customer = bill_codes[counted].astype(np.int64)
    return _first_per_customer(customer, bill_month[counted], n, NEVER)


def _last_payment(
    customer: np.ndarray, day: np.ndarray, pence: np.ndarray, n: int, through: int
) -> tuple[np.ndarray, np.ndarray]:
    """Day (-1 when none) of each customer's latest payment up to ``through``, and the
    total paid that day (0 when none)."""
    keep = np.flatnonzero(day <= through)
    last = last_of(customer[keep], day[keep], n)
    row = keep[np.maximum(last, 0)] if len(keep) else np.zeros(n, dtype=np.int64)
    has = last >= 0
    last_day = np.where(has, day[row] if len(keep) else 0, -1)
    on_last_day = keep[day[keep] == last_day[customer[keep]]]
    total = np.bincount(customer[on_last_day], weights=pence[on_last_day], minlength=n)
    return last_day, np.rint(total).astype(np.int64)


def _ageing(ledger, bucket, on_book, segment, shape: Shapes) -> np.ndarray:
    month = np.broadcast_to(np.arange(shape.months)[None, :], bucket.shape)[on_book]
    seg = np.broadcast_to(segment[:, None], bucket.shape)[on_book]
    key = (month * shape.segments + seg) * shape.buckets + bucket[on_book]
    size = shape.months * shape.segments * shape.buckets
    values = (
        None,
        ledger.arrears_pence[on_book],
        ledger.credit_pence[on_book],
        ledger.billed_pence[on_book],
        ledger.paid_pence[on_book],
    )
    sums = measure_sums(key, values, size)
    return sums.reshape(shape.months, shape.segments, shape.buckets, len(AGEING_MEASURES))


def _movement(ledger: Ledger, by_segment, shape: Shapes) -> np.ndarray:
    """Per (month, segment) :data:`MOVEMENT_MEASURES`, over every customer (those off book
    hold no balance, and their flows still count).

    ``ledger`` holds the opening day and then the month-ends; ``by_segment`` is the
    customers' :func:`~dashboard.compute.arrays.group_matrix`. A flow's sum over customers
    is the change of their summed balances, so the columns are summed by segment first and
    differenced after (exact in int64).
    """
    k = shape.months
    if k == 0:
        return np.zeros((0, shape.segments, len(MOVEMENT_MEASURES)), dtype=np.int64)

    def summed(values: np.ndarray) -> np.ndarray:
        return by_segment @ values  # (segments, opening + months)

    arrears, credit = summed(ledger.arrears_pence), summed(ledger.credit_pence)
    written_off = summed(ledger.written_off_pence)
    other = summed(ledger.adjusted_pence) + written_off
    columns = (
        arrears[:, :-1],
        credit[:, :-1],
        np.diff(summed(ledger.billed_pence), axis=1),
        np.diff(summed(ledger.paid_pence), axis=1),
        np.diff(written_off, axis=1),
        np.diff(other, axis=1),
        arrears[:, 1:],
        credit[:, 1:],
    )
    return _months_first(np.stack(columns, axis=-1))


def _write_offs(ledger: Ledger, bucket, segment, shape: Shapes) -> np.ndarray:
    """Per (month-end, segment, bucket) :data:`WRITE_OFF_MEASURES`: the write-offs that
    follow each customer's arrears at a month-end, linked to the bucket they were in."""
    k = shape.months
    out_shape = (k, shape.segments, shape.buckets, len(WRITE_OFF_MEASURES))
    size = k * shape.segments * shape.buckets
    written = ledger.written_off_pence
    rows = np.flatnonzero((written != written[:, :1]).any(axis=1))  # written off in the range
    arrears, written, bucket, segment = (
        ledger.arrears_pence[rows],
        written[rows],
        bucket[rows],
        segment[rows],
    )
    columns = []
    for h in WRITE_OFF_HORIZONS:
        if h >= k:  # no month-end has h months after it: nil sums
            columns += [(np.zeros(0, dtype=np.int64), None)] * 2
            continue
        later = np.maximum(written[:, h:] - written[:, :-h], 0)  # in (month-end, h later]
        owing = arrears[:, :-h]
        linked = np.minimum(later, owing)
        hit = linked > 0
        month = np.broadcast_to(np.arange(k - h)[None, :], hit.shape)[hit]
        seg = np.broadcast_to(segment[:, None], hit.shape)[hit]
        key = (month * shape.segments + seg) * shape.buckets + bucket[:, :-h][hit]
        columns += [(key, linked[hit].astype(np.float64)), (key, None)]
    return stacked_sums(columns, size).reshape(out_shape)


def _severe(
    part: Partition, ledger: Ledger, on_book, segment, by_segment, snaps, shape: Shapes
) -> dict:
    """Customers reaching :data:`SEVERE_DAYS`+ days past due, exact to the day.

    Returns
    -------
    dict
        ``at_risk``, shape (months, segments, 2): the customers *at risk* at each month-end
        (on book and under 91 days past due), and those of them first 91+ days past due
        after it in the next month (:data:`AT_RISK_MEASURES`); ``reach_after``, a
        :class:`~dashboard.compute.reach.ReachTable` with one entry ``(s, s, m, segment)``
        per customer at risk at month-end ``s`` whose first day 91+ days past due after it
        falls in month ``m`` (its size follows the customers who reach 91+ days, not the
        square of the months); ``ever_severe``, shape (months, segments, 2): customers on
        book at each month-end, and those 91+ days past due on some day up to it
        (:data:`EVER_SEVERE_MEASURES`).

    Notes
    -----
    A customer reaches 91+ days past due on the check day of a debit missed on it
    (:func:`dashboard.compute.crossings.missed_checks`). At risk at ``s``, every debit
    due 91 days before ``s`` is covered, so the first missed check after ``s`` is the first
    day they are 91+ days past due after it.
    """
    k, n, n_s = shape.months, part.size, shape.segments
    customer, check = missed_checks(part.debits(), part.credits(), SEVERE_DAYS)
    month = grid_positions(snaps, check, "left")  # (snaps[m-1], snaps[m]] -> m
    reached = np.zeros((n, k + 1), dtype=bool)  # column k: after the last month-end
    reached[customer, month] = True
    column = np.arange(k + 1, dtype=np.int32)
    next_month = np.where(reached, column, k + 1).astype(np.int32)
    next_month = np.minimum.accumulate(next_month[:, ::-1], axis=1)[:, ::-1]
    # at risk at s: on book and under 91 days; their next reach is in month next_month[s+1]
    at_risk = on_book & (ledger.days_past_due < SEVERE_DAYS)
    after = next_month[:, 1:]  # first month with a reach after month-end s, per s
    start = np.broadcast_to(np.arange(k)[None, :], at_risk.shape)
    seg = np.broadcast_to(segment[:, None], at_risk.shape)
    reach = at_risk & (after < k)
    next_one = reach & (after == start + 1)
    risk_table = _month_counts(by_segment, at_risk, next_one)
    reach_after = ReachTable.of(start[reach], start[reach], after[reach], seg[reach], k, n_s)
    ever = on_book & (next_month[:, :1] <= column[None, :k])  # first reach by month-end m
    ever_severe = _month_counts(by_segment, on_book, ever)
    return {"at_risk": risk_table, "reach_after": reach_after, "ever_severe": ever_severe}


def _month_counts(by_segment, *flags: np.ndarray) -> np.ndarray:
    """Per (month-end, segment), the customers flagged in each ``(customers, months)``
    array: shape (months, segments, len(flags))."""
    return _months_first(np.stack([by_segment @ flag for flag in flags], axis=-1))


def _months_first(sums: np.ndarray) -> np.ndarray:
    """A (segments, months, measures) table as (months, segments, measures), contiguous."""
    return np.ascontiguousarray(sums.transpose(1, 0, 2))


def matched_shape(actions: pd.DataFrame, shape: Shapes) -> tuple[int, ...]:
    """Shape of the matched-comparison table (:func:`dashboard.compute.matched.matched_counts`):
    (months, segments, strata, action types + no action, measures)."""
    strata = (shape.buckets - 1) * (len(ARREARS_BANDS_PENCE) + 1)
    groups = len(action_types(actions)) + 1
    return (shape.months, shape.segments, strata, groups, len(MATCHED_MEASURES))


def _matched(part: Partition, ledger: Ledger, bucket, segment, settings) -> SparseSums:
    """The partition's matched-comparison counts (holdouts count as no action)."""
    shape, actions = settings.shape, part.actions
    types = action_types(actions)
    kind = action_kinds(actions, types)
    kind = np.where(types.take(np.maximum(kind, 0)) == HELD_OUT, -1, kind) if len(kind) else kind
    month = months_since(actions["action_date"], settings.months[0]) if len(actions) else kind
    customer = actions["customer_id"].cat.codes.to_numpy(np.int64) - part.low
    payments = (part.payment_customer, part.payment_day, part.payment_pence)
    return matched_counts(
        ledger.arrears_pence,
        bucket,
        segment,
        settings.snaps,
        settings.as_of_day,
        payments,
        (customer, np.asarray(month, dtype=np.int64), kind),
        (shape.months, shape.segments, shape.buckets, len(types)),
        MIN_PAYMENT_PENCE,
    )


def _owed(part: Partition, ledger: Ledger, snaps: np.ndarray) -> np.ndarray:
    """What each customer owes at each month-end including bills issued (their period
    ended) and not yet due, floored at nil: (customers, months)."""
    k = len(snaps)
    due_at = grid_positions(snaps, part.bill_due, "right")  # first month-end past due
    issued = np.clip(np.asarray(part.bill_month, dtype=np.int64), 0, k)
    pending = issued < due_at  # issued at a month-end before it falls due
    customer = part.bill_customer[pending].astype(np.int64) * (k + 1)
    pence = part.bill_pence[pending].astype(np.float64)
    key = np.concatenate([customer + issued[pending], customer + np.minimum(due_at[pending], k)])
    change = integer_sums(key, np.concatenate([pence, -pence]), part.size * (k + 1))
    not_yet_due = np.cumsum(change.reshape(part.size, k + 1)[:, :k], axis=1)
    return np.maximum(ledger.balance_pence + not_yet_due, 0)


def _bill_ageing(part: Partition, segment, settings) -> np.ndarray:
    """Bill-level ageing (:data:`BILL_AGEING_MEASURES`): each debit's unpaid part in the
    bucket of its own days past due, at every month-end it is past due and not covered.

    Debits are covered oldest first (as the ledger allocates), so a debit is unpaid from
    the first month-end after its due day until the first month-end on or after the day
    the customer's credits reach the running total through it; only those (debit,
    month-end) pairs are expanded.
    """
    shape, snaps = settings.shape, settings.snaps
    k, n_s, n_b = shape.months, shape.segments, shape.buckets
    out_shape = (k, n_s, n_b, len(BILL_AGEING_MEASURES))
    customer, due, pence, _ = part.debits()
    if not k or not len(due):
        return np.zeros(out_shape, dtype=np.int64)
    running = running_within(customer, pence)
    credits = part.credits()
    first = grid_positions(snaps, due, "right")
    last = grid_positions(snaps, credits.day_reaching(customer, running), "left")
    length = np.maximum(np.minimum(last, k) - first, 0)
    debit = np.repeat(np.arange(len(due)), length)
    step = np.arange(len(debit)) - np.repeat(np.cumsum(length) - length, length)
    snap = first[debit] + step
    who = customer[debit]
    unpaid = np.minimum(running[debit] - credits.to_date(who, snaps[snap]), pence[debit])
    owing = unpaid > 0  # a nil bill behind an unpaid one owes nothing
    snap, who, unpaid, debit = snap[owing], who[owing], unpaid[owing], debit[owing]
    bucket = settings.buckets.of(snaps[snap] - due[debit]).astype(np.int64)
    key = (snap * n_s + segment[who]) * n_b + bucket
    size = k * n_s * n_b
    cell = np.unique(who * size + key)  # one count per customer and cell
    columns = [(key, unpaid.astype(np.float64)), (cell % size, None)]
    return stacked_sums(columns, size).reshape(out_shape)


def _transitions(ledger, bucket, on_book, segment, shape: Shapes, owed: np.ndarray) -> np.ndarray:
    size = shape.months * shape.segments * shape.buckets * shape.buckets
    out_shape = (shape.months, shape.segments, shape.buckets, shape.buckets)
    if shape.months < 2:
        return np.zeros((*out_shape, len(TRANSITION_MEASURES)), np.int64)
    # on book at the first month-end: a customer who pays off and leaves (off book at the
    # second, owing nothing) moves to Current, as the entry cohorts count them cured
    both = on_book[:, :-1]
    month = np.broadcast_to(np.arange(1, shape.months)[None, :], both.shape)[both]
    seg = np.broadcast_to(segment[:, None], both.shape)[both]
    key = ((month * shape.segments + seg) * shape.buckets + bucket[:, :-1][both]) * shape.buckets
    key += bucket[:, 1:][both]
    arrears = ledger.arrears_pence[:, :-1][both]
    before = owed[:, :-1][both].astype(np.float64)
    sums = measure_sums(key, [None, arrears, before], size)
    return sums.reshape(*out_shape, len(TRANSITION_MEASURES))


def _vintage(
    bucket, first_month, defaulted_month, segment, quarter_offset, shape: Shapes
) -> np.ndarray:
    """Per (cohort, months on book, segment): customers, defaulted so far, in arrears.

    Cohort 0 is the back book (first bill in the first cube month: on book when the data
    begins); cohort ``q + 1`` holds customers first billed in quarter ``q`` after it. Months
    on book from :data:`VINTAGE_MONTHS` on are left out.

    Each customer's months are lined up from their first bill (one row of months on book)
    and summed per (cohort, segment) by one sparse product a measure (exact int64).
    """
    k, on_book_k, n_s = shape.months, vintage_months(shape.months), shape.segments
    rows = np.flatnonzero(first_month < k)
    first = first_month[rows].astype(np.int64)
    cohort = np.where(first == 0, 0, (first + quarter_offset) // 3 + 1)
    dtype = count_type(len(rows))  # exact counts, faster than int64
    by_cohort = group_matrix(cohort * n_s + segment[rows], shape.cohorts * n_s, dtype)
    month = first[:, None] + np.arange(on_book_k)[None, :]  # (customers, months on book)
    seen = (month >= 0) & (month < k)
    in_arrears = np.take_along_axis(bucket[rows], np.clip(month, 0, max(k - 1, 0)), axis=1) > 0
    measures = (
        seen,
        seen & (month >= defaulted_month[rows, None]),
        seen & in_arrears,
    )
    sums = np.empty((shape.cohorts, on_book_k, n_s, len(measures)), dtype=np.int64)
    for j, flags in enumerate(measures):  # (cohort and segment, months on book) each
        counts = by_cohort @ flags.astype(dtype)
        sums[..., j] = counts.reshape(shape.cohorts, n_s, on_book_k).transpose(0, 2, 1)
    return sums


def _entries(bucket, segment, entry_bucket: int, shape: Shapes) -> np.ndarray:
    """Per (entry month, segment): customers entering serious arrears, observed and cured."""
    k = shape.months
    if k == 0:
        return np.zeros((0, shape.segments, len(ENTRY_MEASURES)), dtype=np.int64)
    serious = bucket >= entry_bucket
    entered = serious.any(axis=1)
    entry = np.argmax(serious, axis=1)[entered]
    rows = np.flatnonzero(entered)
    key = entry * shape.segments + segment[rows]
    size = k * shape.segments
    observed, cured = [], []
    for h in CURE_AFTER:
        later = entry + h
        seen = later < k
        current = np.zeros(len(rows), dtype=bool)
        current[seen] = bucket[rows[seen], later[seen]] == 0
        observed.append(seen.astype(np.float64))
        cured.append(current.astype(np.float64))
    sums = measure_sums(key, [None, *observed, *cured], size)
    return sums.reshape(k, shape.segments, len(ENTRY_MEASURES))


def action_types(actions: pd.DataFrame) -> pd.Index:
    present = list(actions["action"].cat.categories)
    return pd.Index([a for a in ACTIONS if a in present] + [a for a in present if a not in ACTIONS])


def action_kinds(actions: pd.DataFrame, types: pd.Index) -> np.ndarray:
    """Position in ``types`` of each action's type (by its categorical code, no strings)."""
    action = actions["action"].array
    return types.get_indexer(action.categories).take(action.codes)


def action_shape(actions: pd.DataFrame, n_months: int, n_segments: int) -> tuple[int, ...]:
    return (n_months, n_segments, len(action_types(actions)), len(ACTION_MEASURES))


def _action_outcomes(
    part: Partition, segment: np.ndarray, months: pd.DatetimeIndex, as_of, shape: Shapes
) -> np.ndarray:
    """Action outcome sums of one partition's customers by (month, segment, type, measure)."""
    actions = part.actions
    out_shape = action_shape(actions, len(months), shape.segments)
    if actions.empty:
        return np.zeros(out_shape, dtype=np.int64)
    outcome = action_outcomes(
        actions,
        part.bills,
        part.payments,
        as_of,
        PAY_DAYS,
        CLEAR_DAYS,
        MIN_PAYMENT_PENCE,
        adjustments=part.adjustment_rows,
        cleared_max_pence=CLEARED_MAX_PENCE,
    )
    month = months_since(actions["action_date"], months[0])
    inside = (month >= 0) & (month < len(months))
    seg = segment[actions["customer_id"].cat.codes.to_numpy(np.int64) - part.low]
    kind = action_kinds(actions, action_types(actions))
    key = ((month * shape.segments + seg) * out_shape[2] + kind)[inside]
    size = int(np.prod(out_shape[:3]))
    weights = [outcome[name].to_numpy()[inside].astype(np.float64) for name in ACTION_MEASURES[1:]]
    return measure_sums(key, [None, *weights], size).reshape(out_shape)


def dates_of(day_numbers) -> pd.Series:
    days = np.asarray(day_numbers, dtype=np.int64)
    dates = days.astype("datetime64[D]").astype("datetime64[ns]")
    return pd.Series(np.where(days >= 0, dates, np.datetime64("NaT")))


def last_of(customer: np.ndarray, day: np.ndarray, n: int) -> np.ndarray:
    """Row (in the given arrays) of each customer's latest event, -1 when none."""
    if not len(customer):
        return np.full(n, -1, dtype=np.int64)
    order = sort_order(customer * (1 << 32) + (day - day.min()))
    last = np.searchsorted(customer[order], np.arange(n), side="right") - 1
    has = (last >= 0) & (customer[order][np.maximum(last, 0)] == np.arange(n))
    return np.where(has, order[np.maximum(last, 0)], -1)


def last_day_of(actions: pd.DataFrame, name: str, through: int, n: int) -> np.ndarray:
    """Day of each customer's latest action ``name`` up to ``through`` (-1 when none)."""
    chosen = actions.loc[actions["action"] == name]
    days = day_numbers(chosen["action_date"])
    keep = days <= through
    codes = chosen["customer_id"].cat.codes.to_numpy(np.int64)[keep]
    return -_first_per_customer(codes, -days[keep], n, 1)
