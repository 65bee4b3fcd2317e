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


def day_numbers(dates: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Days since 1970-01-01 as int64 (vectorised, no time of day).

    Parameters
    ----------
    dates : Series or DatetimeIndex
        datetime64 values.

    Returns
    -------
    ndarray of int64
    """
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


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


def sort_order(keys: np.ndarray) -> np.ndarray:
    """A stable argsort of integer keys, fast for tens of millions of rows.

    Already sorted keys cost one pass. Otherwise, when key range and row count fit in 63
    bits together, each row's index is packed below its key and the packed values are
    sorted (an in-place value sort is several times faster than ``np.argsort``).

    Parameters
    ----------
    keys : ndarray of int64

    Returns
    -------
    ndarray of int64
        Row order that sorts ``keys`` (ties keep their input order).
    """
    n = len(keys)
    if n < 2 or bool(np.all(keys[1:] >= keys[:-1])):
        return np.arange(n, dtype=np.int64)
    shifted = keys - keys.min()
    index_bits = int(n - 1).bit_length()
    if int(shifted.max()).bit_length() + index_bits > 63:
        return np.argsort(keys, kind="stable").astype(np.int64)
    packed = (shifted << index_bits) | np.arange(n, dtype=np.int64)
    packed.sort()
    return packed & ((1 << index_bits) - 1)


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
    Events are sorted by (customer, day) and summed cumulatively; each query is two
    binary searches. Queries are searched in sorted order (binary searches on random
    needles in a large array are cache-bound: ~20x slower at 40 M rows).
    """
    low = int(min(event_day.min(initial=0), after_day.min(initial=0))) - 1
    high = int(max(event_day.max(initial=0), through_day.max(initial=0))) + 1
    span = high - low + 1
    event_key = event_customer.astype(np.int64) * span + (event_day - low)
    order = sort_order(event_key)
    sorted_key = event_key[order]
    cumulative = np.concatenate([[0], np.cumsum(event_value[order].astype(np.int64))])
    query_base = query_customer.astype(np.int64) * span - low
    opens = query_base + after_day
    closes = query_base + np.maximum(through_day, after_day)
    query_order = sort_order(opens)  # closes follow nearly the same order
    start = np.empty(len(opens), dtype=np.int64)
    end = np.empty(len(opens), dtype=np.int64)
    start[query_order] = np.searchsorted(sorted_key, opens[query_order], side="right")
    end[query_order] = np.searchsorted(sorted_key, closes[query_order], side="right")
    return cumulative[end] - cumulative[start]


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
    due = day_numbers(bills["due_date"])
    paid = window_sums(
        _codes(payments["customer_id"]),
        day_numbers(payments["payment_date"]),
        payments["amount_pence"].to_numpy(np.int64),
        _codes(bills["customer_id"]),
        due - window.before,
        np.minimum(due + window.after, as_of_day),
    )
    bill_pence = bills["bill_pence"].to_numpy(np.int64)
    return pd.DataFrame(
        {
            "paid_in_window_pence": paid,
            "is_default": paid < bill_pence - window.tolerance_pence,
            "is_mature": due + window.after <= as_of_day,
        },
        index=bills.index,
    )


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


def _as_of(payments: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Timestamp:
    return latest_payment_date(payments) if as_of is None else pd.Timestamp(as_of).normalize()


def _codes(customer_id: pd.Series) -> np.ndarray:
    return customer_id.cat.codes.to_numpy(np.int64)
