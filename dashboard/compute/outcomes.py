"""Bill outcomes: what each bill was paid within its payment window, and whether it was missed.

``paid_in_window(bill)`` is the customer's payments dated in ``(due - before, due + after]``;
a bill is missed when ``paid_in_window < bill - tolerance`` and mature when
``due + after <= as_of`` (:class:`Window`). Pure, vectorised functions of one customer
partition, plus the arrangement outcomes (Kept, Broken, Active).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.compute.arrays import EventIndex, customer_codes, day_numbers

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
        if self.before > MAX_BEFORE_DAYS:
            raise ValueError(f"window: days before due must be at most {MAX_BEFORE_DAYS}")
        if self.after > MAX_AFTER_DAYS:
            raise ValueError(f"window: days after due must be at most {MAX_AFTER_DAYS}")
        if self.tolerance_pence > MAX_TOLERANCE_PENCE:
            raise ValueError(f"tolerance must be at most £{MAX_TOLERANCE_PENCE // 100:,}")


MAX_BEFORE_DAYS = 90
"""The most days before the due date a payment window may start."""
MAX_AFTER_DAYS = 365
"""The most days after the due date a payment window may end."""
MAX_TOLERANCE_PENCE = 100_000
"""The largest tolerance: £1,000."""


AS_OF_SUPPORT_DAYS = 31
"""The default as-of date needs other payments in the days up to it, this many days back."""


AS_OF_SUPPORT_SHARE = 1_000
"""... at least one in this many of all payments, and at least two
(:func:`latest_payment_date`)."""


AS_OF_BUSY_BOOK = 50
"""Payments in those days that make a book busy enough to tell a stray payment from its
last real day; in a quieter book the latest payment date is the default as-of date."""


def latest_payment_date(payments: pd.DataFrame) -> pd.Timestamp:
    """The default ``as_of``: the latest payment date, never pushed by a stray payment.

    The latest payment date ``d`` that other payments support: at least
    ``max(2, ceil(n / 1000))`` of the ``n`` payments are dated in the
    :data:`AS_OF_SUPPORT_DAYS` (31) days up to it, ``(d - 31, d]``. Later payments, a few
    stray ones (at most one in a thousand) after a month with no payments, are left out,
    provided the book is busy at ``d`` (at least :data:`AS_OF_BUSY_BOOK` payments in those
    31 days); a quieter book cannot tell a stray payment from its sparse last months, and
    its latest payment date is used. Validation already refuses payments after today.

    Parameters
    ----------
    payments : DataFrame
        Typed payments (``payment_date``).

    Returns
    -------
    Timestamp
        NaT when there are no payments.

    Notes
    -----
    One pass over the payments when the latest date is supported (the usual case), else a
    count per day over the payments' date range, which validation bounds (1900-01-01 to
    today: under 50,000 days), whatever the dates.
    """
    days = day_numbers(payments["payment_date"])
    if not len(days):
        return pd.NaT
    latest = int(days.max())
    needed = max(2, -(-len(days) // AS_OF_SUPPORT_SHARE))
    if np.count_nonzero(days > latest - AS_OF_SUPPORT_DAYS) < needed:
        low = int(days.min())
        running = np.concatenate([[0], np.cumsum(np.bincount(days - low))])
        end = np.arange(1, len(running))  # day low + end - 1 closes each window
        in_window = running[end] - running[np.maximum(end - AS_OF_SUPPORT_DAYS, 0)]
        paid = running[end] > running[end - 1]
        supported = np.flatnonzero(paid & (in_window >= needed))
        if len(supported) and in_window[supported[-1]] >= AS_OF_BUSY_BOOK:
            latest = low + int(supported[-1])
    return pd.Timestamp(np.datetime64(latest, "D"))


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
        "bill_customer": customer_codes(bills["customer_id"]),
        "due_day": day_numbers(bills["due_date"]),
        "bill_pence": bills["bill_pence"].to_numpy(np.int64),
        "payment_customer": customer_codes(payments["customer_id"]),
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


ARRANGEMENT_TERM_DAYS = 90
"""An arrangement's term: Active until it ends, Broken if a break is recorded within it,
Kept if it ends without one (:func:`arrangement_states`, the one rule)."""

ARRANGEMENT_STATES = ("None", "Active", "Kept", "Broken")
"""State codes of :func:`arrangement_states` (0 = no arrangement)."""


def arrangement_states(
    agreed_customer: np.ndarray,
    agreed_day: np.ndarray,
    broken: pd.DataFrame,
    as_of_day: int,
    term: int = ARRANGEMENT_TERM_DAYS,
) -> np.ndarray:
    """The state of each agreed arrangement on ``as_of_day``: the one rule every figure
    (kept rate, worklist, queues) uses.

    Parameters
    ----------
    agreed_customer, agreed_day : ndarray of int
        Customer code and day of each ``Arrangement Agreed``.
    broken : DataFrame
        The ``Arrangement Broken`` actions (typed ``customer_id``, ``action_date``).
    as_of_day : int
        Date of knowledge: breaks after it are unknown.
    term : int, optional
        Days an arrangement runs.

    Returns
    -------
    ndarray of int8
        Index into :data:`ARRANGEMENT_STATES`: Broken (3) if a break is recorded in
        ``(agreed, min(agreed + term, as_of)]``; otherwise Active (1) while
        ``as_of - agreed < term``, Kept (2) once the term is over.
    """
    agreed_day = np.asarray(agreed_day, dtype=np.int64)
    breaks = window_sums(
        customer_codes(broken["customer_id"]),
        day_numbers(broken["action_date"]),
        np.ones(len(broken), dtype=np.int64),
        np.asarray(agreed_customer, dtype=np.int64),
        agreed_day,
        np.minimum(agreed_day + term, as_of_day),
    )
    over = agreed_day + term <= as_of_day
    return np.select([breaks > 0, over], [3, 2], 1).astype(np.int8)


def arrangement_outcomes(
    actions: pd.DataFrame, as_of: pd.Timestamp, days: int = ARRANGEMENT_TERM_DAYS
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
    state = arrangement_states(
        customer_codes(agreed["customer_id"]), agreed_day, broken, as_of_day, days
    )
    is_decided = agreed_day + days <= as_of_day
    return pd.DataFrame(
        {
            "customer_id": agreed["customer_id"],
            "action_date": agreed["action_date"],
            "is_decided": is_decided,
            "is_kept": is_decided & (state == ARRANGEMENT_STATES.index("Kept")),
        },
        index=agreed.index,
    )


def _as_of(payments: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Timestamp:
    return latest_payment_date(payments) if as_of is None else pd.Timestamp(as_of).normalize()
