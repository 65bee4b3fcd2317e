"""Early-warning features and label, per customer partition, at monthly snapshot days.

A *scoring day* ``t`` is a month-end (training and evaluation) or the as-of day (scoring).
Its snapshot grid is ``t`` and the days one, two, ... calendar months before it (month-ends
for a month-end); the ledger (:func:`dashboard.compute.ledger.month_end_ledger`) is taken
on every snapshot, and each feature of ``t`` reads only snapshots on or before ``t`` and
rows dated on or before ``t`` (a bill's days late count once it is covered, open bills
through the days past due on ``t``).

A :class:`Target` says who is scored and what is predicted:

* the **population** at ``t``: on book (a bill issued, i.e. its period ended, in the
  :data:`ON_BOOK_DAYS` days up to ``t``, or a balance other than nil) and within the
  target's days past due (account level) — **Current** (0 days: every debit due before
  ``t`` covered) for the early-warning score (:data:`EARLY_WARNING`), 1–90 days for the
  worklist's roll risk (:data:`ROLL_RISK`);
* the **label** of a month-end ``t``: the customer is the target's event days or more
  past due (account level) on *some day* in ``(t, t3]``, ``t3`` the third month-end after
  ``t`` (:func:`serious_arrears_ahead`, exact to the day).

Everything is vectorised over the customers of a partition; the only loops run over the
snapshot columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.compute.arrays import day_numbers, grid_positions, is_sorted, sort_order
from dashboard.compute.crossings import LedgerEvents, missed_checks, running_within
from dashboard.compute.ledger import Adjustments, Buckets, Ledger
from dashboard.vocab import ACTIONS

MONTHS_AHEAD = 3
"""The label's horizon: the third month-end after the scoring day."""
SERIOUS_DAYS = 31
"""31+ days past due (account level) is the event the score predicts."""
HISTORY_MONTHS = 12
"""Windowed features look back this many monthly snapshots."""
ON_BOOK_DAYS = 92
"""A customer is on book at ``t`` when a bill was issued in the 92 days up to ``t`` or
their balance is not nil."""
ARRANGEMENT_TERM_DAYS = 90
"""An arrangement is active for 90 days after it is agreed unless a break is recorded."""
DAYS_CAP = 730
""""Days since" features of customers with no such event (and longer gaps) read this."""
DIRECT_DEBIT = "Direct Debit"
BUCKETS = Buckets()


@dataclass(frozen=True)
class Target:
    """Who a score is for and what it predicts.

    Attributes
    ----------
    key : str
        Short name (``score --target``).
    lowest_days, highest_days : int
        The population: customers on book whose days past due (account level) on the
        scoring day lie in ``lowest_days .. highest_days``.
    event_days : int
        The event: ``event_days`` or more days past due on some day within the next
        :data:`MONTHS_AHEAD` month-ends. Above ``highest_days``, which keeps the label
        exact (:func:`serious_arrears_ahead`).
    row_share : float
        About which share of a book's (customer, month-end) rows the population holds, at
        most: training samples rows to keep about the same number whatever the target.
    model : str
        The model kind used unless another is asked for: the one that earned its place
        out of time (README).
    """

    key: str
    lowest_days: int
    highest_days: int
    event_days: int
    row_share: float = 1.0
    model: str = "logistic"

    def __post_init__(self):
        if not 0 <= self.lowest_days <= self.highest_days < self.event_days:
            raise ValueError(f"score target {self.key!r}: need 0 <= lowest <= highest < event days")

    @property
    def population(self) -> str:
        """The scored customers in words."""
        if self.highest_days == 0:
            return "Current (0 days past due)"
        return f"{self.lowest_days}–{self.highest_days} days past due"

    @property
    def text(self) -> str:
        """The target in words."""
        return (
            f"{self.event_days}+ days past due (account level) on some day within the next "
            f"{MONTHS_AHEAD} month-ends, for customers {self.population} at the scoring day"
        )


EARLY_WARNING = Target("early-warning", 0, 0, SERIOUS_DAYS)
"""The early-warning score: customers Current today, 31+ days past due within 3 month-ends."""
ROLL_RISK = Target("roll-risk", 1, 90, 91, row_share=0.1, model="boosting")
"""The worklist's roll risk: customers 1–90 days past due today (the Early queue's range),
91+ days past due within 3 month-ends."""
TARGETS = {target.key: target for target in (EARLY_WARNING, ROLL_RISK)}
"""The targets by key."""

FEATURES = (
    "balance",
    "balance_change_3m",
    "balance_change_12m",
    "in_credit",
    "months_in_arrears_12m",
    "worst_bucket_12m",
    "worst_days_late_ever",
    "max_days_past_due_12m",
    "days_since_late_bill",
    "written_off_ever",
    "billed_12m",
    "paid_to_billed_3m",
    "paid_to_billed_12m",
    "payments_3m",
    "payments_12m",
    "direct_debit_share_12m",
    "days_since_payment",
    "bills_due_12m",
    "late_bills_12m",
    "partial_bills_12m",
    "mean_days_late_12m",
    "reminders_12m",
    "second_reminders_12m",
    "arrangements_agreed",
    "arrangements_broken",
    "actions_ever",
    "days_since_action",
    "arrangement_active",
    "months_on_book",
    "last_bill",
)
"""The behavioural features (money as signed ``log1p`` of pounds), in column order."""


# --- the rows of one partition as arrays ---------------------------------------------------


@dataclass
class Events(LedgerEvents):
    """The bills, payments, actions and adjustments of customers ``0 .. size - 1`` (local
    codes) as arrays of day numbers and integer pence."""

    size: int
    bill_customer: np.ndarray
    bill_issue: np.ndarray
    bill_due: np.ndarray
    bill_pence: np.ndarray
    payment_customer: np.ndarray
    payment_day: np.ndarray
    payment_pence: np.ndarray
    payment_direct_debit: np.ndarray
    action_customer: np.ndarray
    action_day: np.ndarray
    action_kind: np.ndarray
    adjustments: Adjustments

    @classmethod
    def of(cls, tables: dict, codes: dict, low: int, high: int) -> Events:
        """Customers ``low .. high - 1`` of ``tables`` (typed bills, payments, actions and
        adjustments sorted by customer); ``codes`` holds each table's customer codes."""

        def rows(name: str) -> tuple[pd.DataFrame, np.ndarray]:
            table_codes = codes[name]  # searched in their own integer type: no copy
            start, stop = np.searchsorted(table_codes, np.array([low, high], table_codes.dtype))
            return tables[name].iloc[start:stop], table_codes[start:stop].astype(np.int64) - low

        bills, bill_customer = rows("bills")
        payments, payment_customer = rows("payments")
        actions, action_customer = rows("actions")
        adjustments, adjustment_customer = rows("adjustments")
        action = actions["action"].array
        kinds = pd.Index(ACTIONS).get_indexer(action.categories)
        return cls(
            size=high - low,
            bill_customer=bill_customer,
            bill_issue=day_numbers(bills["bill_period_end"]),
            bill_due=day_numbers(bills["due_date"]),
            bill_pence=bills["bill_pence"].to_numpy(np.int64),
            payment_customer=payment_customer,
            payment_day=day_numbers(payments["payment_date"]),
            payment_pence=payments["amount_pence"].to_numpy(np.int64),
            payment_direct_debit=(payments["method"] == DIRECT_DEBIT).to_numpy(bool),
            action_customer=action_customer,
            action_day=day_numbers(actions["action_date"]),
            action_kind=kinds.take(action.codes) if len(kinds) else action.codes.astype(int),
            adjustments=Adjustments.of(adjustments, adjustment_customer),
        )


def table_codes(tables: dict) -> dict[str, np.ndarray]:
    """Each table's customer codes (the categorical's own integers, not copied), for
    :meth:`Events.of`."""
    return {name: frame["customer_id"].cat.codes.to_numpy() for name, frame in tables.items()}


# --- snapshot grids ------------------------------------------------------------------------


def snapshot_grid(end: pd.Timestamp, first: pd.Timestamp) -> np.ndarray:
    """Day numbers of ``end`` and the days whole calendar months before it, back to the
    month of ``first`` (month-ends when ``end`` is a month-end), increasing.

    Parameters
    ----------
    end : Timestamp
        The latest snapshot (a scoring day).
    first : Timestamp
        The data's first date: no snapshot before its month.
    """
    end = pd.Timestamp(end).normalize()
    months = max((end.year - first.year) * 12 + end.month - first.month, 0)
    if end.is_month_end:
        dates = pd.date_range(end=end, periods=months + 1, freq="ME")
    else:
        dates = pd.DatetimeIndex([end - pd.DateOffset(months=k) for k in range(months, -1, -1)])
    return day_numbers(dates)


# --- the label -----------------------------------------------------------------------------


def serious_arrears_ahead(
    events: Events,
    snaps: np.ndarray,
    columns: np.ndarray,
    months: int = MONTHS_AHEAD,
    days: int = SERIOUS_DAYS,
) -> np.ndarray:
    """Whether each customer is ``days`` or more days past due on some day in
    ``(snaps[j], snaps[j + months]]``, for each column ``j`` of ``columns``.

    Returns
    -------
    ndarray of bool, shape (customers, len(columns))

    Notes
    -----
    Credits (payments, write-offs, credits) only grow, so a debit not covered when it is
    ``days`` past due, on ``due + days``, is the one to check: a customer fewer than
    ``days`` past due on ``snaps[j]`` is ``days``+ past due on some day of the window
    exactly when one of their debits is still not covered on its ``due + days`` and that
    day falls in the window (a debit ``days`` past due earlier was covered on ``snaps[j]``,
    hence later too). One credits-to-date query per debit, a count of the missed checks per
    snapshot. Exact for the customers fewer than ``days`` past due on ``snaps[j]`` (every
    target's population).
    """
    customer, check = missed_checks(events.debits(), events.credits(), days)
    # a check day in (snaps[j - 1], snaps[j]] falls in bin j: the window is bins j+1..j+3
    bins = grid_positions(snaps, check, "left")
    flagged = _to_date(customer, bins, None, events.size, len(snaps) + 1)
    columns = np.asarray(columns, dtype=np.int64)
    return flagged[:, columns + months] > flagged[:, columns]


# --- per-bill payment behaviour ------------------------------------------------------------


def bill_lateness(events: Events) -> tuple[np.ndarray, ...]:
    """Per bill (rows of ``events``): days late (0 when covered by its due date, capped at
    :data:`DAYS_CAP`), late (not covered on its due date), part-paid on its due date, and
    the day it was covered.

    Notes
    -----
    A bill is covered on the first day the customer's credits to date reach the running
    total of their debits up to it (oldest first, as the ledger allocates). Days late read
    credits after the due date, so a scoring day counts them only for bills covered by then
    (:meth:`History.of` files them under the later of the due and covered days). Late and
    part-paid read credits up to the due date only: credits to date only grow, so a bill
    is late (its credits by the due date fall short of its running total) exactly when it
    is covered after its due date, and only late bills need their credits by the due date
    (part-paid: more than the debits before it).
    """
    customer, due, pence, row = events.debits()
    running = running_within(customer, pence)
    credits = events.credits()
    covered_day = credits.day_reaching(customer, running)
    late_days = np.clip(covered_day - due, 0, DAYS_CAP)
    late = covered_day > due
    partial = np.zeros(len(late), dtype=bool)
    by_due = credits.to_date(customer[late], due[late])
    partial[late] = by_due > (running - pence)[late]
    return tuple(_bill_rows(row, values) for values in (late_days, late, partial, covered_day))


def _bill_rows(row: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` of the debits (:meth:`LedgerEvents.debits`) put back in bill order,
    adjustments left out (the debits are the bills in their own order when no adjustment
    raised a balance and the bills came sorted: then ``values`` as they are)."""
    if len(row) and row[0] == 0 and row[-1] == len(row) - 1 and is_sorted(row):
        return values
    bills = row >= 0
    out = np.zeros(int(bills.sum()), dtype=values.dtype)
    out[row[bills]] = values[bills]
    return out


# --- features ------------------------------------------------------------------------------


class _OnGrid:
    """Rows of a partition (bills, payments or actions) placed on a snapshot grid: each
    row's customer and snapshot bin as one key, shared by every running total of them.

    Parameters
    ----------
    customer : ndarray of int
        Local customer code of each row (``0 .. n - 1``).
    snap : ndarray of int
        Bin of each row: it counts from snapshot ``snap`` on (``k``: never).
    n, k : int
        Customers and snapshots.
    """

    def __init__(self, customer: np.ndarray, snap: np.ndarray, n: int, k: int):
        self.key = np.asarray(customer, dtype=np.int64) * (k + 1) + snap
        self.n, self.k = n, k

    def to_date(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``weights`` (or a count) per customer over rows counted by each
        snapshot (shape n x k; float64 with weights)."""
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        sums = np.bincount(self.key, weights=w, minlength=self.n * (self.k + 1))
        return np.cumsum(sums.reshape(self.n, self.k + 1)[:, : self.k], axis=1)

    def to_date_by_kind(self, kind: np.ndarray, kinds: int) -> list[np.ndarray]:
        """Counts to date of the rows of each kind ``0 .. kinds - 1`` (one pass; other
        kinds are left out)."""
        known = (kind >= 0) & (kind < kinds)
        key = self.key[known] * kinds + kind[known]
        sums = np.bincount(key, minlength=self.n * (self.k + 1) * kinds)
        counts = np.cumsum(sums.reshape(self.n, self.k + 1, kinds)[:, : self.k], axis=1)
        return [counts[:, :, number] for number in range(kinds)]

    def running_max(self, values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Largest ``values`` per customer over the rows (only ``rows``, a mask, when
        given) counted by each snapshot (shape n x k; -1 when none)."""
        key = self.key if rows is None else self.key[rows]
        values = values if rows is None else values[rows]
        out = np.full(self.n * (self.k + 1), -1, dtype=np.int64)
        np.maximum.at(out, key, np.asarray(values, dtype=np.int64))
        return np.maximum.accumulate(out.reshape(self.n, self.k + 1)[:, : self.k], axis=1)


def _to_date(customer, snap, weights, n: int, k: int) -> np.ndarray:
    """Sum of ``weights`` (or a count) per customer over rows with ``snap <= s``, for each
    snapshot ``s`` (shape n x k)."""
    return _OnGrid(customer, snap, n, k).to_date(weights)


def latest_rows(customer: np.ndarray, day: np.ndarray, snaps: np.ndarray, n: int) -> np.ndarray:
    """Row of each customer's latest event on or before each snapshot day.

    Returns
    -------
    ndarray of int64, shape (n, len(snaps))
        Row in the given arrays (-1 when none yet).

    Notes
    -----
    With the rows sorted by (customer, day), as validated tables are, the latest row is
    the customer's first row plus their count of events to date, minus one; otherwise
    the rows are sorted first.
    """
    customer = np.asarray(customer, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    key = customer * (1 << 32) + (day - day.min(initial=0))
    in_order = is_sorted(key)
    if not in_order:
        order = sort_order(key)
        customer, day = customer.take(order), day.take(order)
    count = _to_date(customer, grid_positions(snaps, day, "left"), None, n, len(snaps))
    first = np.searchsorted(customer, np.arange(n, dtype=np.int64), side="left")
    rows = np.where(count > 0, first[:, None] + count.astype(np.int64) - 1, -1)
    if not in_order and len(order):
        rows = np.where(rows >= 0, order.take(np.maximum(rows, 0)), -1)
    return rows


def _day_of(row: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The day of each row (-1 where the row is -1)."""
    return np.where(row >= 0, day.take(np.maximum(row, 0)) if len(day) else -1, -1)


def _signed_log(pence: np.ndarray) -> np.ndarray:
    pounds = np.asarray(pence, dtype=np.float64) / 100
    return np.sign(pounds) * np.log1p(np.abs(pounds))


def _days_since(latest: np.ndarray, day: int) -> np.ndarray:
    return np.where(latest >= 0, np.minimum(day - latest, DAYS_CAP), DAYS_CAP)


@dataclass
class History:
    """A partition's ledger and event running totals on a snapshot grid (what every
    scoring column reads)."""

    events: Events
    snaps: np.ndarray
    ledger: Ledger
    to_date: dict
    bucket: np.ndarray
    worst_late: np.ndarray
    last_late_cover: np.ndarray
    timelines: dict
    balance: np.ndarray
    first_issue: np.ndarray

    @classmethod
    def of(cls, events: Events, snaps: np.ndarray) -> History:
        """Compute the ledger on ``snaps`` and the running totals of the events."""
        n, k = events.size, len(snaps)
        ledger = events.ledger(snaps)
        on_or_before = grid_positions(snaps, events.payment_day, "left")
        bill_due_snap = grid_positions(snaps, events.bill_due, "right")  # due before
        action_snap = grid_positions(snaps, events.action_day, "left")
        late_days, late, partial, covered_day = bill_lateness(events)
        # a bill's days late are known once it is due and covered
        settled_snap = np.maximum(bill_due_snap, grid_positions(snaps, covered_day, "left"))
        paid = _OnGrid(events.payment_customer, on_or_before, n, k)
        due = _OnGrid(events.bill_customer, bill_due_snap, n, k)
        settled = _OnGrid(events.bill_customer, settled_snap, n, k)
        acted = _OnGrid(events.action_customer, action_snap, n, k)
        to_date = {
            "payments": paid.to_date(),
            "direct_debit": paid.to_date(events.payment_direct_debit),
            "bills_due": due.to_date(),
            "late": due.to_date(late),
            "partial": due.to_date(partial),
            "settled": settled.to_date(),
            "late_days": settled.to_date(late_days),
            "actions": acted.to_date(),
        }
        by_kind = acted.to_date_by_kind(events.action_kind, len(ACTIONS))
        to_date.update(zip(ACTIONS, by_kind, strict=True))
        bucket = BUCKETS.of(ledger.days_past_due)
        pc, ac, bc = events.payment_customer, events.action_customer, events.bill_customer
        kind = events.action_kind
        agreed, broken = kind == 2, kind == 3
        timelines = {
            "bills": latest_rows(bc, events.bill_issue, snaps, n),
            "payments": latest_rows(pc, events.payment_day, snaps, n),
            "actions": latest_rows(ac, events.action_day, snaps, n),
            "agreed": latest_rows(ac[agreed], events.action_day[agreed], snaps, n),
            "broken": latest_rows(ac[broken], events.action_day[broken], snaps, n),
        }
        first_issue = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_issue, bc, events.bill_issue)
        return cls(
            events,
            snaps,
            ledger,
            to_date,
            bucket,
            settled.running_max(late_days),
            settled.running_max(covered_day, late),
            timelines,
            ledger.balance_pence,
            first_issue,
        )

    def window(self, name: str, j: int, months: int = HISTORY_MONTHS) -> np.ndarray:
        """Running total ``name`` over ``(snaps[j - months], snaps[j]]`` (all to date when
        the grid is shorter)."""
        total = self.to_date[name][:, j]
        return total - self.to_date[name][:, j - months] if j >= months else total

    def ledger_window(self, values: np.ndarray, j: int, months: int = HISTORY_MONTHS):
        """The columns ``j - months .. j`` of a ledger array (fewer at the grid's start)."""
        return values[:, max(j - months, 0) : j + 1]

    def population(self, j: int, target: Target) -> np.ndarray:
        """On book and within ``target``'s days past due on ``snaps[j]``."""
        day = int(self.snaps[j])
        events = self.events
        latest_issue = _day_of(self.timelines["bills"][:, j], events.bill_issue)
        billed_lately = (latest_issue >= 0) & (latest_issue > day - ON_BOOK_DAYS)
        owing = self.balance[:, j] != 0
        days_past_due = self.ledger.days_past_due[:, j]
        within = (days_past_due >= target.lowest_days) & (days_past_due <= target.highest_days)
        return (billed_lately | owing) & within

    def _latest_day(self, name: str, j: int, rows: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Day of the latest event ``name`` on or before ``snaps[j]`` of customers ``rows``."""
        return _day_of(self.timelines[name][rows, j], days)

    def features(self, j: int, rows: np.ndarray) -> dict[str, np.ndarray]:
        """:data:`FEATURES` of customers ``rows`` on ``snaps[j]`` (float32)."""
        day = int(self.snaps[j])
        ledger, events = self.ledger, self.events
        take = {}

        def col(values: np.ndarray, at: int) -> np.ndarray:
            return values[rows, at]

        def change(values: np.ndarray, months: int) -> np.ndarray:
            return col(values, j) - (col(values, j - months) if j >= months else 0)

        balance = self.balance
        billed, paid = ledger.billed_pence, ledger.paid_pence
        billed_3, billed_12 = change(billed, 3), change(billed, HISTORY_MONTHS)
        paid_3, paid_12 = change(paid, 3), change(paid, HISTORY_MONTHS)
        payments_12 = self.window("payments", j)[rows]
        bills_due_12 = self.window("bills_due", j)[rows]
        kind = events.action_kind
        agreed = self._latest_day("agreed", j, rows, events.action_day[kind == 2])
        broken = self._latest_day("broken", j, rows, events.action_day[kind == 3])
        first_bill = self.first_issue[rows]
        first_bill = np.where(first_bill <= day, first_bill, -1)
        last_row = self.timelines["bills"][rows, j]
        last_bill = np.where(last_row >= 0, events.bill_pence.take(np.maximum(last_row, 0)), 0)
        last_late = self.last_late_cover[rows, j]
        dpd_12 = self.ledger_window(ledger.days_past_due, j)[rows]
        take["balance"] = _signed_log(col(balance, j))
        take["balance_change_3m"] = _signed_log(change(balance, 3))
        take["balance_change_12m"] = _signed_log(change(balance, HISTORY_MONTHS))
        take["in_credit"] = col(balance, j) < 0
        take["months_in_arrears_12m"] = (dpd_12 > 0).sum(axis=1)
        take["worst_bucket_12m"] = self.ledger_window(self.bucket, j)[rows].max(axis=1)
        open_late = np.minimum(col(ledger.days_past_due, j), DAYS_CAP)
        take["worst_days_late_ever"] = np.maximum(self.worst_late[rows, j], open_late)
        take["max_days_past_due_12m"] = np.minimum(dpd_12.max(axis=1), DAYS_CAP)
        take["days_since_late_bill"] = np.clip(
            np.where(last_late >= 0, day - last_late, DAYS_CAP), 0, DAYS_CAP
        )
        take["written_off_ever"] = col(ledger.written_off_pence, j) > 0
        take["billed_12m"] = _signed_log(billed_12)
        take["paid_to_billed_3m"] = np.clip(paid_3 / np.maximum(billed_3, 1), 0, 3)
        take["paid_to_billed_12m"] = np.clip(paid_12 / np.maximum(billed_12, 1), 0, 3)
        take["payments_3m"] = self.window("payments", j, 3)[rows]
        take["payments_12m"] = payments_12
        dd_12 = self.window("direct_debit", j)[rows]
        take["direct_debit_share_12m"] = dd_12 / np.maximum(payments_12, 1)
        last_paid = self._latest_day("payments", j, rows, events.payment_day)
        take["days_since_payment"] = _days_since(last_paid, day)
        take["bills_due_12m"] = bills_due_12
        take["late_bills_12m"] = self.window("late", j)[rows]
        take["partial_bills_12m"] = self.window("partial", j)[rows]
        late_days = self.window("late_days", j)[rows]
        settled_12 = self.window("settled", j)[rows]
        take["mean_days_late_12m"] = late_days / np.maximum(settled_12, 1)
        take["reminders_12m"] = self.window(ACTIONS[0], j)[rows]
        take["second_reminders_12m"] = self.window(ACTIONS[1], j)[rows]
        take["arrangements_agreed"] = self.to_date[ACTIONS[2]][rows, j]
        take["arrangements_broken"] = self.to_date[ACTIONS[3]][rows, j]
        take["actions_ever"] = self.to_date["actions"][rows, j]
        last_action = self._latest_day("actions", j, rows, events.action_day)
        take["days_since_action"] = _days_since(last_action, day)
        active = (agreed >= 0) & (day - agreed < ARRANGEMENT_TERM_DAYS) & (broken < agreed)
        take["arrangement_active"] = active
        on_book_days = np.where(first_bill >= 0, day - first_bill, 0)
        take["months_on_book"] = np.clip(on_book_days / 30.4375, 0, 240)
        take["last_bill"] = _signed_log(last_bill)
        return {name: np.asarray(take[name]).astype(np.float32) for name in FEATURES}


def partition_rows(
    events: Events,
    snaps: np.ndarray,
    columns: np.ndarray,
    labelled: bool,
    keep_share: float = 1.0,
    seed: int = 0,
    target: Target = EARLY_WARNING,
) -> pd.DataFrame:
    """Feature rows of ``target``'s population on each scoring column of one partition.

    Parameters
    ----------
    events : Events
    snaps : ndarray of int
        The snapshot grid (day numbers, increasing).
    columns : ndarray of int
        Scoring columns (indices into ``snaps``); with ``labelled``, each needs
        :data:`MONTHS_AHEAD` snapshots after it.
    labelled : bool
        Add the ``label`` column (:func:`serious_arrears_ahead`).
    keep_share : float, optional
        Keep each row with this probability (a seeded sample bounding memory).
    seed : int, optional
    target : Target, optional
        Who is scored and what the label is (default :data:`EARLY_WARNING`).

    Returns
    -------
    DataFrame
        ``customer`` (local code), ``day`` (scoring day number), :data:`FEATURES` and,
        with ``labelled``, ``label`` (int8).
    """
    history = History.of(events, snaps)
    label = None
    if labelled:
        label = serious_arrears_ahead(events, snaps, columns, days=target.event_days)
    rng = np.random.default_rng(seed)
    frames = []
    for position, j in enumerate(columns):
        rows = np.flatnonzero(history.population(j, target))
        if keep_share < 1:
            rows = rows[rng.random(len(rows)) < keep_share]
        frame = {"customer": rows, "day": np.full(len(rows), snaps[j], dtype=np.int64)}
        frame.update(history.features(j, rows))
        if labelled:
            frame["label"] = label[rows, position].astype(np.int8)
        frames.append(pd.DataFrame(frame))
    if not frames:
        return pd.DataFrame(columns=["customer", "day", *FEATURES])
    return pd.concat(frames, ignore_index=True)
