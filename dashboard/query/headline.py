"""Headline figures of the first screen: the state of the book at a month-end, the month
before, and the twelve month-ends up to it (sparklines).

Pure functions of a cube and a segment selection, built on :mod:`dashboard.query.ledger`
(ageing, movement, roll rates). Every figure is per month-end; "this month" is the last
month of the selected period, and its change is against the month-end before.

Definitions
-----------
total arrears
    Money past due at the month-end (every bucket past Current).
customers in arrears
    Customers on book past due at the month-end; their share of the customers on book.
oldest-bucket share
    Arrears £ in the last bucket (91+ days with the default edges) / total arrears £.
cash against billed
    Payments received in the month / bills falling due in the month.
collection effectiveness index (CEI)
    (opening receivables + billed − closing receivables) / (opening receivables + billed −
    closing current receivables), the standard definition, over the month. Receivables are
    the arrears of the ledger (money due and unpaid, credits on account not netted),
    billed is the money falling due in the month, and current receivables are the arrears of
    the Current bucket (0 days past due) at the month-end — nil in this ledger, where a bill
    is past due the day after its due date.
cure rate
    Customers past due at the previous month-end who are Current at this one / customers past
    due at the previous month-end.
new arrears
    Customers Current at the previous month-end and past due at this one (on book at both),
    their share of the Current customers, and the arrears £ now in the first past-due bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.compute.partition import BILL_AGEING_MEASURES
from dashboard.query import ledger
from dashboard.query.ledger import ratio
from dashboard.query.selection import month_bounds, month_indexes, month_span, segment_sums

HISTORY_MONTHS = 12
"""Month-ends shown in a headline sparkline."""

BRIDGE_STEPS = ("opening", "fell_due", "cash", "written_off", "other_adjustments", "closing")
"""The steps of the debt movement bridge, in order."""


def history_range(cube, end=None, months: int = HISTORY_MONTHS) -> tuple:
    """The month range of a sparkline: ``months`` month-ends up to ``end``, and one before.

    Parameters
    ----------
    cube : Cube
    end : Timestamp or None
        Last month (a month start); None for the cube's last month-end.
    months : int
        Month-ends shown.

    Returns
    -------
    (Timestamp, Timestamp)
        First and last month start (the first one gives the change of the second).
    """
    known = cube.months[: len(cube.arrears.snapshot_days)]
    last = known[-1] if end is None else min(pd.Timestamp(end), known[-1])
    return last - pd.DateOffset(months=months), last


@dataclass(frozen=True)
class Aged:
    """The ageing sums of consecutive month-ends, selected once per change and shared by
    every headline figure: per month-end and bucket, the account level's
    :data:`~dashboard.compute.partition.AGEING_MEASURES` and the chosen level's customers
    and arrears pence (the account level's own when the level is "account")."""

    indexes: np.ndarray
    """Month indexes of the cube (consecutive)."""
    account: np.ndarray
    """``(months, buckets, AGEING_MEASURES)`` int64."""
    level: np.ndarray
    """``(months, buckets, [customers, arrears_pence])`` int64."""

    @classmethod
    def of(cls, cube, segments: np.ndarray, start=None, end=None, level: str = "bill") -> Aged:
        """The ageing of ``[start, end]`` (inclusive; None = open) at both levels."""
        if level not in ledger.AGEING_LEVELS:
            raise ValueError(f"ageing level {level!r}: one of {ledger.AGEING_LEVELS}")
        indexes = month_indexes(cube, start, end)
        account = _summed(cube, "ageing", segments, indexes)
        chosen = account[:, :, :2].copy()
        if level == "bill":  # past-due buckets: the unpaid bills' customers and pence
            bills = _summed(cube, "bill_ageing", segments, indexes)
            chosen[:, 1:, 0] = bills[:, 1:, BILL_AGEING_MEASURES.index("customers")]
            chosen[:, 1:, 1] = bills[:, 1:, BILL_AGEING_MEASURES.index("arrears_pence")]
        return cls(indexes, account, chosen)

    def within(self, cube, start=None, end=None) -> Aged:
        """The month-ends of ``[start, end]`` only (inclusive; None = open)."""
        low, high = month_bounds(cube, start, end)
        keep = (self.indexes >= low) & (self.indexes <= high)
        return Aged(self.indexes[keep], self.account[keep], self.level[keep])


def _summed(cube, name: str, segments: np.ndarray, indexes: np.ndarray) -> np.ndarray:
    """The selected segments' sum of built table ``name`` at consecutive month indexes."""
    return segment_sums(cube.arrears.sums[name][month_span(indexes)], segments)


def _at(indexes: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` (one per consecutive month index of ``indexes``) at the ``wanted`` month
    indexes: float64, NaN where a wanted month has no value."""
    out = np.full(len(wanted), np.nan)
    where = wanted - (indexes[0] if len(indexes) else 0)
    known = (where >= 0) & (where < len(values))
    out[known] = values[where[known]]
    return out


def position(cube, segments: np.ndarray, start=None, end=None, level: str = "bill") -> pd.DataFrame:
    """Where the book stands at each month-end: customers and arrears, by age.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
        Selected segments.
    start, end : Timestamp or None
        Month range (inclusive; None = open).
    level : {"bill", "account"}, optional
        How the £ per bucket are aged.

    Returns
    -------
    DataFrame
        ``month``, ``customers`` (on book), ``in_arrears``, ``share_in_arrears``,
        ``arrears`` (£ past due), ``current_arrears`` (£ in the Current bucket),
        ``first_bucket_arrears`` (£ in the first past-due bucket), ``oldest_arrears`` (£ in
        the last bucket) and ``oldest_share`` (of the arrears £). The £ per bucket are
        aged at ``level`` (bill level by default: each unpaid bill in its own bucket);
        customer counts are the account level's (each customer once).
    """
    return pd.DataFrame(_position(cube, Aged.of(cube, segments, start, end, level)))


def _position(cube, aged: Aged) -> dict[str, np.ndarray]:
    """The columns of :func:`position` from the ageing sums."""
    account, chosen = aged.account, aged.level
    last = account.shape[1] - 1
    nothing = np.zeros(len(aged.indexes))
    columns = {
        "month": cube.months[aged.indexes],
        "customers": account[:, :, 0].sum(axis=1),
        "in_arrears": account[:, 1:, 0].sum(axis=1),
        "arrears": account[:, 1:, 1].sum(axis=1) / 100,
        "current_arrears": account[:, 0, 1] / 100,
        "first_bucket_arrears": chosen[:, 1, 1] / 100 if last >= 1 else nothing,
        "oldest_arrears": chosen[:, last, 1] / 100 if last >= 1 else nothing,
    }
    columns["share_in_arrears"] = ratio(columns["in_arrears"], columns["customers"])
    columns["oldest_share"] = ratio(columns["oldest_arrears"], columns["arrears"])
    return columns


def flows(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """Money in and out in each month: billed, cash, cash against billed and the CEI.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Month range (inclusive; None = open).

    Returns
    -------
    DataFrame
        The columns of :func:`dashboard.query.ledger.movement`, plus ``cash_to_billed``
        (cash / fell due), ``collected`` (opening + fell due − closing receivables),
        ``collectable`` (opening + fell due − closing current receivables) and ``cei``
        (collected / collectable), NaN where a denominator is 0.
    """
    aged = Aged.of(cube, segments, start, end, level="account")
    return pd.DataFrame(_flows(cube, segments, aged.indexes, aged))


def _flows(cube, segments: np.ndarray, indexes: np.ndarray, aged: Aged) -> dict[str, np.ndarray]:
    """The columns of :func:`flows` at consecutive month ``indexes``, their closing current
    receivables from ``aged`` (which holds every one of them)."""
    columns = ledger.movement_columns(cube, segments, indexes)
    closing_current = _at(aged.indexes, aged.account[:, 0, 1] / 100, indexes)
    due = columns["opening_arrears"] + columns["fell_due"]
    columns["cash_to_billed"] = ratio(columns["cash"], columns["fell_due"])
    columns["collected"] = due - columns["closing_arrears"]
    columns["collectable"] = due - closing_current
    columns["cei"] = ratio(columns["collected"], columns["collectable"])
    return columns


def cures(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """Customers leaving and entering arrears in each month (on book at the first month-end:
    :func:`dashboard.query.ledger.roll_rates`).

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Month range (inclusive; None = open).

    Returns
    -------
    DataFrame
        ``month``, ``in_arrears_before``, ``cured`` and ``cure_rate``; ``current_before``,
        ``new_in_arrears`` (Current -> past due) and ``new_arrears_rate`` (their share of
        ``current_before``). The cube's first month has no month before: it is left out.
    """
    indexes = month_indexes(cube, start, end)
    return pd.DataFrame(_cures(cube, segments, indexes[indexes >= 1]))


def _cures(cube, segments: np.ndarray, indexes: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of :func:`cures` at consecutive month indexes, none of them 0."""
    rates = ledger.roll_columns(cube, segments, indexes)
    kept = ("month", "in_arrears_before", "cured", "cure_rate", "current_before", "new_in_arrears")
    columns = {name: rates[name] for name in kept}
    columns["new_arrears_rate"] = ratio(rates["new_in_arrears"], rates["current_before"])
    return columns


def headline_trend(
    cube, segments: np.ndarray, end=None, months: int = HISTORY_MONTHS, level: str = "bill"
):
    """Every headline figure at each month-end of a sparkline's range.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    end : Timestamp or None
        The month shown as "this month" (the period's last month).
    months : int
        Month-ends of the sparkline (one more is computed for the first change).
    level : {"bill", "account"}, optional
        How the £ per bucket are aged (:func:`position`).

    Returns
    -------
    DataFrame
        One row per month-end (oldest first): the columns of :func:`position`,
        :func:`flows` and :func:`cures` (those of :func:`cures` NaN at the cube's first
        month, which has no month before).
    """
    start, last = history_range(cube, end, months)
    return _headline_trend(cube, segments, Aged.of(cube, segments, start, last, level))


def _headline_trend(cube, segments: np.ndarray, aged: Aged) -> pd.DataFrame:
    """:func:`headline_trend` over the month-ends of ``aged``."""
    indexes = aged.indexes
    columns = _position(cube, aged)
    money = _flows(cube, segments, indexes, aged)
    del money["month"], money["closing_arrears"]
    columns.update(money)
    later = indexes[indexes >= 1]
    moves = _cures(cube, segments, later)
    del moves["month"]
    if len(later) < len(indexes):  # the cube's first month: no month before it
        moves = {name: _at(later, values, indexes) for name, values in moves.items()}
    columns.update(moves)
    return pd.DataFrame(columns)


def aged_debt(cube, segments: np.ndarray, end=None, level: str = "bill") -> pd.DataFrame:
    """The aged-debt table at a month-end, with the change since the month-end before.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    end : Timestamp or None
        The month-end (a month start; None: the cube's last).
    level : {"bill", "account"}, optional
        Each unpaid bill aged on its own (finance's view, the default) or each customer's
        whole arrears in their oldest bucket (:func:`dashboard.query.ledger.ageing`).

    Returns
    -------
    DataFrame
        One row per past-due bucket, then ``Total``: ``bucket``, ``arrears`` (£),
        ``customers`` (at bill level, those with an amount in the bucket; the total counts
        each customer in arrears once), ``share`` (of the arrears £), ``arrears_change``
        and ``customers_change`` (since the month-end before; NaN without one).
    """
    start, last = history_range(cube, end, 1)
    return _aged_debt(cube, Aged.of(cube, segments, start, last, level), last)


def _aged_debt(cube, aged: Aged, last) -> pd.DataFrame:
    """:func:`aged_debt` at month-end ``last`` (a month of ``aged``) against the one before."""
    now = int(month_bounds(cube, last, None)[0]) - (
        int(aged.indexes[0]) if len(aged.indexes) else 0
    )
    labels = [str(label) for label in cube.arrears.bucket_labels[1:]]
    buckets = aged.level[now, 1:] if 0 <= now < len(aged.indexes) else np.zeros((0, 2), np.int64)
    owing = aged.account[:, 1:, 0].sum(axis=1)  # customers in arrears, each once
    arrears = np.r_[buckets[:, 1], buckets[:, 1].sum()] / 100
    customers = np.r_[buckets[:, 0], owing[now] if len(buckets) else 0]
    table = pd.DataFrame(
        {"bucket": [*labels[: len(buckets)], "Total"], "arrears": arrears, "customers": customers}
    )
    table["share"] = ratio(arrears, arrears[-1])
    if len(buckets) and now >= 1:
        before = aged.level[now - 1, 1:]
        table["arrears_change"] = arrears - np.r_[before[:, 1], before[:, 1].sum()] / 100
        table["customers_change"] = (customers - np.r_[before[:, 0], owing[now - 1]]).astype(
            np.float64
        )
    else:
        table["arrears_change"] = table["customers_change"] = np.nan
    return table


def bridge(movement: pd.DataFrame) -> pd.DataFrame:
    """The debt movement over a period, step by step (arrears net of credit on account).

    Parameters
    ----------
    movement : DataFrame
        From :func:`dashboard.query.ledger.movement`, one row per month of the period.

    Returns
    -------
    DataFrame
        One row per step of :data:`BRIDGE_STEPS`: ``step``, ``amount`` (its signed effect
        on the balance: cash and write-offs negative; the balance itself for opening and
        closing), ``start`` and ``end`` (the running balance before and after the step).
        Opening + fell due − cash − written off + other adjustments = closing, exactly.
    """
    if movement.empty:
        return pd.DataFrame(columns=["step", "amount", "start", "end"])

    def column(name: str) -> np.ndarray:
        return movement[name].to_numpy(dtype=np.float64)

    opening = column("opening_arrears")[0] - column("opening_credit")[0]
    closing = column("closing_arrears")[-1] - column("closing_credit")[-1]
    changes = [
        column("fell_due").sum(),
        -column("cash").sum(),
        -column("written_off").sum(),
        column("other_adjustments").sum(),
    ]
    ends = opening + np.cumsum(changes)
    return pd.DataFrame(
        {
            "step": list(BRIDGE_STEPS),
            "amount": [opening, *changes, closing],
            "start": [0.0, opening, *ends[:-1], 0.0],
            "end": [opening, *ends, closing],
        }
    )


def headline(cube, segments: np.ndarray, start=None, end=None, level: str = "bill") -> dict:
    """Everything the first screen shows: headline trend, aged debt and the movement.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        The selected period (its last month is "this month").
    level : {"bill", "account"}, optional
        How debt is aged in the tiles and the aged-debt table (bill level by default).

    Returns
    -------
    dict
        ``trend`` (:func:`headline_trend` up to ``end``), ``aged`` (:func:`aged_debt` at
        ``end``), ``movement`` (:func:`flows` over the period), ``bridge`` (:func:`bridge`
        of that movement) and ``month_bridge`` (of its last month).
    """
    history_start, last = history_range(cube, end)
    first = None if start is None else min(pd.Timestamp(start), history_start)
    aged = Aged.of(cube, segments, first, last, level)  # once, for every figure below
    period = month_indexes(cube, start, end)
    movement = pd.DataFrame(_flows(cube, segments, period, aged))
    return {
        "trend": _headline_trend(cube, segments, aged.within(cube, history_start, last)),
        "aged": _aged_debt(cube, aged, last),
        "movement": movement,
        "bridge": bridge(movement),
        "month_bridge": bridge(movement.tail(1)),
    }
