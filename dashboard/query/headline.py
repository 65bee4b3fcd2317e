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

from dashboard.query import ledger
from dashboard.query.ledger import ratio

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
    """The ageing of a month range at account level and at the chosen level, selected once
    and shared by every headline figure of a change (the bill-level frame is the account
    one when the level is "account")."""

    account: pd.DataFrame
    level: pd.DataFrame

    @classmethod
    def of(cls, cube, segments: np.ndarray, start=None, end=None, level: str = "bill") -> Aged:
        """:func:`dashboard.query.ledger.ageing` of ``[start, end]`` at both levels."""
        account = ledger.ageing(cube, segments, start, end)
        if level == "account":
            return cls(account, account)
        return cls(account, ledger.ageing(cube, segments, start, end, level=level))

    def within(self, start=None, end=None) -> Aged:
        """The month-ends of ``[start, end]`` only (inclusive; None = open)."""
        return Aged(*(_months_within(frame, start, end) for frame in (self.account, self.level)))


def _months_within(frame: pd.DataFrame, start, end) -> pd.DataFrame:
    month = frame["month"]
    keep = np.ones(len(frame), dtype=bool)
    if start is not None:
        keep &= (month >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        keep &= (month <= pd.Timestamp(end)).to_numpy()
    return frame.loc[keep].reset_index(drop=True)


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
    return _position(Aged.of(cube, segments, start, end, level))


def _position(aged: Aged) -> pd.DataFrame:
    frame = aged.account
    code = frame["bucket"].cat.codes.to_numpy()
    last = len(frame["bucket"].cat.categories) - 1
    frame = frame.assign(
        in_arrears=np.where(code > 0, frame["customers"], 0),
        past_due=np.where(code > 0, frame["arrears"], 0.0),
        current_arrears=np.where(code == 0, frame["arrears"], 0.0),
        first_bucket_arrears=np.where(code == 1, aged.level["arrears"], 0.0),
        oldest_arrears=np.where((code == last) & (last > 0), aged.level["arrears"], 0.0),
    )
    columns = ["customers", "in_arrears", "past_due", "current_arrears"]
    columns += ["first_bucket_arrears", "oldest_arrears"]
    total = frame.groupby("month", sort=True)[columns].sum().reset_index()
    total = total.rename(columns={"past_due": "arrears"})
    total["share_in_arrears"] = ratio(total["in_arrears"], total["customers"])
    total["oldest_share"] = ratio(total["oldest_arrears"], total["arrears"])
    return total


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
    movement = ledger.movement(cube, segments, start, end)
    return _flows(movement, position(cube, segments, start, end, level="account"))


def _flows(movement: pd.DataFrame, position: pd.DataFrame) -> pd.DataFrame:
    """:func:`flows` of a movement frame, with the Current arrears of :func:`position`."""
    frame = movement.copy()
    current = position.set_index("month")["current_arrears"]
    closing_current = current.reindex(frame["month"]).fillna(0.0).to_numpy()
    due = frame["opening_arrears"] + frame["fell_due"]
    frame["cash_to_billed"] = ratio(frame["cash"], frame["fell_due"])
    frame["collected"] = due - frame["closing_arrears"]
    frame["collectable"] = due - closing_current
    frame["cei"] = ratio(frame["collected"], frame["collectable"])
    return frame


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
    rates = ledger.roll_rates(cube, segments, start, end)
    columns = ["month", "in_arrears_before", "cured", "cure_rate", "current_before"]
    return rates[[*columns, "new_in_arrears"]].assign(
        new_arrears_rate=ratio(rates["new_in_arrears"], rates["current_before"])
    )


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
        :func:`flows` and :func:`cures`.
    """
    start, last = history_range(cube, end, months)
    return _headline_trend(cube, segments, _position(Aged.of(cube, segments, start, last, level)))


def _headline_trend(cube, segments: np.ndarray, position: pd.DataFrame) -> pd.DataFrame:
    """:func:`headline_trend` over the month-ends of ``position`` (:func:`position`)."""
    months = position["month"]
    start, last = (months.min(), months.max()) if len(months) else (None, None)
    frame = position
    movement = ledger.movement(cube, segments, start, last)
    money = _flows(movement, frame).drop(columns=["closing_arrears"])
    frame = frame.merge(money, on="month", how="left")
    frame = frame.merge(cures(cube, segments, start, last), on="month", how="left")
    return frame.sort_values("month").reset_index(drop=True)


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
    return _aged_debt(Aged.of(cube, segments, start, last, level), start, last)


def _aged_debt(aged: Aged, start, last) -> pd.DataFrame:
    """:func:`aged_debt` at month-end ``last`` against ``start`` (the month-end before)."""
    aged = aged.within(start, last)
    frame = aged.level.loc[aged.level["bucket"].cat.codes > 0]
    account = aged.account
    owing = account.loc[account["bucket"].cat.codes > 0].groupby("month")["customers"].sum()
    now = frame.loc[frame["month"] == last].set_index("bucket")
    before = frame.loc[frame["month"] == start].set_index("bucket")
    table = pd.DataFrame(
        {
            "bucket": [str(b) for b in now.index],
            "arrears": now["arrears"].to_numpy(),
            "customers": now["customers"].to_numpy(),
        }
    )
    previous = before.reindex(now.index) if len(before) else None
    total = pd.DataFrame(
        {"bucket": ["Total"], "arrears": [table["arrears"].sum()],
         "customers": [owing.get(last, 0)]}
    )  # fmt: skip
    table = pd.concat([table, total], ignore_index=True)
    table["share"] = ratio(table["arrears"], table["arrears"].iloc[-1])
    for column in ("arrears", "customers"):
        if previous is None:
            table[f"{column}_change"] = np.nan
            continue
        old = previous[column].to_numpy(dtype=np.float64)
        old_total = old.sum() if column == "arrears" else owing.get(start, 0)
        table[f"{column}_change"] = table[column].to_numpy() - np.r_[old, old_total]
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
    first, last = movement.iloc[0], movement.iloc[-1]
    opening = first["opening_arrears"] - first["opening_credit"]
    closing = last["closing_arrears"] - last["closing_credit"]
    changes = [
        movement["fell_due"].sum(),
        -movement["cash"].sum(),
        -movement["written_off"].sum(),
        movement["other_adjustments"].sum(),
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
    first = history_start if start is None else min(pd.Timestamp(start), history_start)
    aged = Aged.of(cube, segments, first, last, level)  # once, for every figure below
    where = _position(aged)
    movement = _flows(ledger.movement(cube, segments, start, end), where)
    return {
        "trend": _headline_trend(cube, segments, _months_within(where, history_start, last)),
        "aged": _aged_debt(aged, *history_range(cube, end, 1)),
        "movement": movement,
        "bridge": bridge(movement),
        "month_bridge": bridge(movement.tail(1)),
    }
