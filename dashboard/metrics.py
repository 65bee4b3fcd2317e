"""Pure, vectorised metrics on one partition of customers.

Every function takes frames holding all rows of some set of customers (the whole
portfolio, or one Dask partition) and returns arrays aligned with its input rows. No
Python loop runs per customer, bill or payment: windows are answered with one
``searchsorted`` over payments sorted by (customer, day) and a cumulative sum.

Definitions (``../shared/DESIGN.md``):

* ``paid_in_window(bill)`` = sum of that customer's payments dated in
  ``(due_date - before, min(due_date + after, as_of)]``;
* ``default(bill)`` = ``paid_in_window < bill - tolerance``, compared in integer pence;
* ``as_of`` = the latest payment date unless given; a bill is *mature* when
  ``due_date + after <= as_of``.
* an arrangement (``Arrangement Agreed``) is *kept* when no ``Arrangement Broken`` of the
  same customer follows it within 90 days (``agreed < broken <= agreed + 90``); it is
  *decided* once those 90 days are over by ``as_of``.

The ledger (:func:`month_end_ledger`, :func:`balances_at`) on a snapshot day ``d``:

* *billed* = bills whose due date is before ``d`` (a bill is in arrears the day after it
  is due); *paid* = payments dated on or before ``d``;
* *arrears* = ``max(billed - paid, 0)``; *credit* = ``max(paid - billed, 0)`` (an
  overpayment is a credit, never negative arrears);
* payments cover the oldest bill first; *days past due* = ``d`` - the due date of the
  oldest bill not fully covered (0 when nothing is owed);
* the *bucket* of a customer is that of its days past due (:class:`Buckets`), and the
  customer's whole arrears sit in it (account-level ageing, as roll rates need).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ARRANGEMENT_AGREED = "Arrangement Agreed"
ARRANGEMENT_BROKEN = "Arrangement Broken"


@dataclass(frozen=True)
class Window:
    """The payment window and tolerance that decide a bill's outcome.

    Attributes
    ----------
    before : int
        Payments more than ``before`` days before the due date do not count.
    after : int
        Payments up to ``after`` days after the due date count.
    tolerance_pence : int
        A bill defaults when paid in window < bill - tolerance.
    """

    before: int = 3
    after: int = 60
    tolerance_pence: int = 100

    def __post_init__(self) -> None:
        if self.before < 0 or self.after < 0:
            raise ValueError("window before/after must be zero or more days")
        if self.tolerance_pence < 0:
            raise ValueError("tolerance must be zero or more")


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
        object.__setattr__(self, "edges", edges)

    @classmethod
    def parse(cls, text: str) -> Buckets:
        """Buckets from a comma-separated list of edges, e.g. ``"30,60,90"``."""
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


def day_numbers(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Days since 1970-01-01 as int64 (vectorised, no time of day).

    Parameters
    ----------
    dates : Series or DatetimeIndex
        datetime64 values.

    Returns
    -------
    ndarray of int64

    Notes
    -----
    Integer floor division of the raw values: NumPy's datetime unit casts check every
    element and cost ~10x more at tens of millions of rows. NaT gives a very negative day.
    """
    values = np.asarray(dates)
    if values.dtype.kind != "M":
        values = values.astype("datetime64[s]")
    per_day = np.timedelta64(1, "D") // np.timedelta64(1, np.datetime_data(values.dtype)[0])
    return values.view(np.int64) // per_day


def month_numbers(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Months since January 1970 as int64 (vectorised: no per-row ``.dt`` fields).

    Parameters
    ----------
    dates : Series or DatetimeIndex
        datetime64 values.

    Returns
    -------
    ndarray of int64

    Notes
    -----
    Each date's day number looks up a table of the month of every day in the data's range
    (a few thousand entries), cheaper than NumPy's month cast of every element.
    """
    days = day_numbers(dates)
    if not len(days):
        return days
    low = int(days.min())
    every_day = np.arange(low, int(days.max()) + 1).astype("datetime64[D]")
    month_of_day = every_day.astype("datetime64[M]").astype(np.int64)
    return month_of_day.take(days - low)


def months_since(dates: pd.Series | pd.DatetimeIndex, first: pd.Timestamp) -> np.ndarray:
    """Whole calendar months from ``first``'s month to each date's month (int64)."""
    return month_numbers(dates) - month_numbers(pd.DatetimeIndex([first]))[0]


def to_pence(pounds: float) -> int:
    """Round an amount in pounds to integer pence (half away from zero, like money)."""
    return int(np.sign(pounds) * np.floor(abs(pounds) * 100 + 0.5 + 1e-9))


def latest_payment_date(payments: pd.DataFrame) -> pd.Timestamp:
    """The default ``as_of``: the latest payment date in the data.

    Parameters
    ----------
    payments : DataFrame
        Typed payments (``payment_date``).

    Returns
    -------
    Timestamp
    """
    return pd.Timestamp(payments["payment_date"].max()).normalize()


def integer_sums(key: np.ndarray, weights: np.ndarray | None, size: int) -> np.ndarray:
    """Exact integer sums of ``weights`` (or counts) per key in ``0 .. size - 1``.

    ``np.bincount`` adds in float64, exact for integers below 2**53 (pence of £90 trillion),
    so the rounded result is the integer sum.
    """
    return np.rint(np.bincount(key, weights=weights, minlength=size)).astype(np.int64)


def is_sorted(keys: np.ndarray) -> bool:
    """Whether ``keys`` never decrease (one vectorised pass)."""
    return len(keys) < 2 or bool(np.all(keys[1:] >= keys[:-1]))


def sort_order(keys: np.ndarray) -> np.ndarray:
    """A stable argsort of integer keys, fast for tens of millions of rows.

    Already sorted keys cost one pass. Keys made of a few long sorted runs (files appended
    month by month) go to NumPy's timsort, which merges runs in near-linear time. Otherwise,
    when key range and row count fit in 63 bits together, each row's index is packed below
    its key and the packed values are sorted (an in-place value sort is several times
    faster than ``np.argsort``).

    Parameters
    ----------
    keys : ndarray of int64

    Returns
    -------
    ndarray of int64
        Row order that sorts ``keys`` (ties keep their input order).
    """
    n = len(keys)
    descents = int(np.count_nonzero(keys[1:] < keys[:-1])) if n > 1 else 0
    if descents == 0:
        return np.arange(n, dtype=np.int64)
    if descents * MIN_RUN < n:
        return np.argsort(keys, kind="stable").astype(np.int64, copy=False)
    shifted = keys - keys.min()
    index_bits = int(n - 1).bit_length()
    if int(shifted.max()).bit_length() + index_bits > 63:
        return np.argsort(keys, kind="stable").astype(np.int64)
    packed = (shifted << index_bits) | np.arange(n, dtype=np.int64)
    packed.sort()
    return packed & ((1 << index_bits) - 1)


MIN_RUN = 10_000
"""Sorted runs this long on average make timsort the faster sort (measured: 43 M bills in
48 monthly runs sort in 0.9 s by timsort, 3.8 s by the packed sort)."""


class EventIndex:
    """Events (payments, bills) of customers sorted by (customer, day) with running sums:
    any number of window sums then cost two binary searches each.

    Parameters
    ----------
    customer, day, value : ndarray
        Integer customer codes, day numbers and int64 values of the events.
    low, high : int
        Day bounds of every event and query (a key packs customer and day).
    """

    def __init__(self, customer, day, value, low: int, high: int):
        self.low, self.span = low, high - low + 1
        key = np.array(customer, dtype=np.int64)  # a copy, then in place: one allocation
        key *= self.span
        key += day
        key -= low
        value = np.asarray(value, dtype=np.int64)
        if not is_sorted(key):  # validated tables are already sorted: no copies then
            order = sort_order(key)
            key, value = key.take(order), value.take(order)
        self.sorted_key = key
        self.cumulative = np.empty(len(value) + 1, dtype=np.int64)
        self.cumulative[0] = 0
        np.cumsum(value, out=self.cumulative[1:])

    @classmethod
    def covering(cls, customer, day, value, *query_days: np.ndarray) -> EventIndex:
        """An index whose day bounds hold the events and the given query days."""
        low = int(min(np.min(day, initial=0), *(np.min(q, initial=0) for q in query_days))) - 1
        high = int(max(np.max(day, initial=0), *(np.max(q, initial=0) for q in query_days))) + 1
        return cls(customer, day, value, low, high)

    def sums(self, customer: np.ndarray, after_day: np.ndarray, through_day: np.ndarray):
        """Sum of the customer's events with ``after_day < day <= through_day`` per query.

        Queries are searched in sorted order (binary searches on random needles in a large
        array are cache-bound: ~20x slower at 40 M rows).
        """
        opens = np.array(customer, dtype=np.int64)  # a copy, then in place
        opens *= self.span
        opens -= self.low
        closes = opens + np.maximum(through_day, after_day)
        opens += after_day
        if is_sorted(opens):  # queries of sorted tables come sorted: search them directly
            start = np.searchsorted(self.sorted_key, opens, side="right")
            end = np.searchsorted(self.sorted_key, closes, side="right")
        else:
            query_order = sort_order(opens)  # closes follow nearly the same order
            start = np.empty(len(opens), dtype=np.int64)
            end = np.empty(len(opens), dtype=np.int64)
            start[query_order] = np.searchsorted(
                self.sorted_key, opens.take(query_order), side="right"
            )
            end[query_order] = np.searchsorted(
                self.sorted_key, closes.take(query_order), side="right"
            )
        return self.cumulative.take(end) - self.cumulative.take(start)


def window_sums(
    event_customer: np.ndarray,
    event_day: np.ndarray,
    event_value: np.ndarray,
    query_customer: np.ndarray,
    after_day: np.ndarray,
    through_day: np.ndarray,
) -> np.ndarray:
    """Sum event values of the same customer with ``after_day < day <= through_day``.

    Parameters
    ----------
    event_customer, event_day, event_value : ndarray
        Integer customer codes, day numbers and int64 values of the events.
    query_customer, after_day, through_day : ndarray
        One query per row: customer code and the open/closed day bounds.

    Returns
    -------
    ndarray of int64
        The sum per query (0 where the window is empty).

    Notes
    -----
    Events are sorted by (customer, day) and summed cumulatively (:class:`EventIndex`);
    each query is two binary searches.
    """
    index = EventIndex.covering(event_customer, event_day, event_value, after_day, through_day)
    return index.sums(query_customer, after_day, through_day)


def bill_outcomes(
    bills: pd.DataFrame,
    payments: pd.DataFrame,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Decide each bill's outcome: paid in window, default and maturity.

    Parameters
    ----------
    bills : DataFrame
        Typed bills (``customer_id`` categorical, ``due_date``, ``bill_pence``).
    payments : DataFrame
        Typed payments of the same customers (``customer_id`` with the same categories,
        ``payment_date``, ``amount_pence``).
    window : Window, optional
        Window and tolerance (defaults 3, 60 days, 100 pence).
    as_of : Timestamp, optional
        Date of knowledge; defaults to :func:`latest_payment_date`. Payments after it
        do not count.

    Returns
    -------
    DataFrame
        Aligned with ``bills``: ``paid_in_window_pence`` (int64), ``is_default`` (bool,
        also for immature bills: their outcome so far), ``is_mature`` (bool).
    """
    as_of_day = int(day_numbers(pd.DatetimeIndex([_as_of(payments, as_of)]))[0])
    columns = outcome_columns(outcome_inputs(bills, payments), window, as_of_day)
    return pd.DataFrame(columns, index=bills.index)


def outcome_inputs(bills: pd.DataFrame, payments: pd.DataFrame) -> dict[str, np.ndarray]:
    """The arrays :func:`outcome_columns` needs, taken from typed bills and payments.

    Returns
    -------
    dict of str to ndarray
        ``bill_customer``, ``due_day``, ``bill_pence``, ``payment_customer``,
        ``payment_day``, ``payment_pence`` (customer codes, day numbers, int64 pence).
    """
    return {
        "bill_customer": _codes(bills["customer_id"]),
        "due_day": day_numbers(bills["due_date"]),
        "bill_pence": bills["bill_pence"].to_numpy(np.int64),
        "payment_customer": _codes(payments["customer_id"]),
        "payment_day": day_numbers(payments["payment_date"]),
        "payment_pence": payments["amount_pence"].to_numpy(np.int64),
    }


def outcome_columns(
    inputs: dict[str, np.ndarray], window: Window, as_of_day: int
) -> dict[str, np.ndarray]:
    """Each bill's paid-in-window pence, default and maturity, from :func:`outcome_inputs`.

    Only a bill's own customer's payments count, so any partition of the customers (with
    all the bills and payments of each) gives each bill the same answer.

    Parameters
    ----------
    inputs : dict of str to ndarray
        From :func:`outcome_inputs` (or a slice of it holding whole customers).
    window : Window
    as_of_day : int
        Day number of the date of knowledge.

    Returns
    -------
    dict of str to ndarray
        ``paid_in_window_pence``, ``is_default``, ``is_mature``, aligned with the bills.
    """
    due = inputs["due_day"]
    paid = window_sums(
        inputs["payment_customer"],
        inputs["payment_day"],
        inputs["payment_pence"],
        inputs["bill_customer"],
        due - window.before,
        np.minimum(due + window.after, as_of_day),
    )
    return {
        "paid_in_window_pence": paid,
        "is_default": paid < inputs["bill_pence"] - window.tolerance_pence,
        "is_mature": due + window.after <= as_of_day,
    }


def arrangement_outcomes(
    actions: pd.DataFrame, as_of: pd.Timestamp, days: int = 90
) -> pd.DataFrame:
    """Decide whether each agreed arrangement was kept.

    Parameters
    ----------
    actions : DataFrame
        Typed collections actions (``customer_id``, ``action_date``, ``action``).
    as_of : Timestamp
        Date of knowledge: an arrangement is *decided* when ``agreed + days <= as_of``;
        breaks after ``as_of`` are unknown.
    days : int, optional
        How long an arrangement must last without an ``Arrangement Broken``.

    Returns
    -------
    DataFrame
        One row per ``Arrangement Agreed`` action (its index): ``customer_id``,
        ``action_date``, ``is_decided`` (its 90 days are over by ``as_of``), ``is_kept``
        (decided and not broken). Undecided arrangements count in neither, so recent
        months are not biased towards broken ones.
    """
    agreed = actions.loc[actions["action"] == ARRANGEMENT_AGREED]
    broken = actions.loc[actions["action"] == ARRANGEMENT_BROKEN]
    as_of_day = int(day_numbers(pd.DatetimeIndex([as_of]))[0])
    agreed_day = day_numbers(agreed["action_date"])
    breaks = window_sums(
        _codes(broken["customer_id"]),
        day_numbers(broken["action_date"]),
        np.ones(len(broken), dtype=np.int64),
        _codes(agreed["customer_id"]),
        agreed_day,
        np.minimum(agreed_day + days, as_of_day),
    )
    is_decided = agreed_day + days <= as_of_day
    return pd.DataFrame(
        {
            "customer_id": agreed["customer_id"],
            "action_date": agreed["action_date"],
            "is_decided": is_decided,
            "is_kept": is_decided & (breaks == 0),
        },
        index=agreed.index,
    )


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
    customer = _codes(table["customer_id"])
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
    customer = _codes(actions["customer_id"])
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


def _as_of(payments: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Timestamp:
    return latest_payment_date(payments) if as_of is None else pd.Timestamp(as_of).normalize()


def _codes(customer_id: pd.Series) -> np.ndarray:
    return customer_id.cat.codes.to_numpy(np.int64)
