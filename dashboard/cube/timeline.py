"""One customer's story: every bill, payment, action and adjustment in date order, and the
balance with days past due on every day, computed by the same ledger as the book's figures
(:func:`dashboard.compute.ledger.month_end_ledger`, one customer, one snapshot a day).

What the customer view shows; the rows come from
:func:`dashboard.sources.rows.customer_rows`, validated like the whole book.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.compute.arrays import day_numbers
from dashboard.compute.ledger import Adjustments, Buckets, month_end_ledger
from dashboard.compute.outcomes import ARRANGEMENT_STATES, ARRANGEMENT_TERM_DAYS, arrangement_states
from dashboard.schema import Portfolio

AGREED, BROKEN = "Arrangement Agreed", "Arrangement Broken"
"""The actions that start and break an arrangement."""

EVENT_ORDER = {"Bill": 0, "Adjustment": 1, "Payment": 2, "Action": 3}
"""How events of the same day are listed (a bill first, its payment after it)."""


@dataclass(frozen=True)
class Timeline:
    """One customer's ledger over time.

    Attributes
    ----------
    customer_id : str
    details : dict
        The customer's dimensions (region, tariff, income band, flags).
    daily : DataFrame
        One row per day from the first bill's due date (or first event) to the as-of date:
        ``date``, ``balance`` (£, negative in credit), ``arrears`` (£), ``days_past_due``
        and ``bucket`` (account-level, the oldest unpaid bill's age).
    events : DataFrame
        ``date``, ``event`` (Bill, Payment, Action, Adjustment), ``detail``, ``amount`` (£:
        positive adds to the balance, negative reduces it; empty for an action) and
        ``balance_after`` (£, the balance at the end of that day: a bill counts in the
        balance from the day after its due date, as in every figure).
    arrangements : DataFrame
        ``agreed``, ``term_ends`` and ``state`` (the one rule:
        :func:`dashboard.compute.outcomes.arrangement_states`) of each arrangement.
    as_of : Timestamp
    """

    customer_id: str
    details: dict
    daily: pd.DataFrame
    events: pd.DataFrame
    arrangements: pd.DataFrame
    as_of: pd.Timestamp

    @property
    def today(self) -> pd.Series:
        """The last row of :attr:`daily`: balance and age on the as-of date."""
        return self.daily.iloc[-1]


def customer_timeline(
    portfolio: Portfolio, as_of: pd.Timestamp, buckets: Buckets = Buckets()
) -> Timeline:
    """The timeline of the one customer of ``portfolio`` as known on ``as_of``.

    Parameters
    ----------
    portfolio : Portfolio
        Validated tables of exactly one customer, already cut at ``as_of``
        (:func:`dashboard.cube.pipeline.known_on`).
    as_of : Timestamp
        Date of knowledge: the last day of :attr:`Timeline.daily`.
    buckets : Buckets, optional
        Days-past-due buckets.

    Returns
    -------
    Timeline

    Raises
    ------
    ValueError
        When ``portfolio`` does not hold exactly one customer.
    """
    if len(portfolio.customers) != 1:
        raise ValueError(f"a timeline is of one customer, not {len(portfolio.customers)}")
    as_of = pd.Timestamp(as_of).normalize()
    days = _days(portfolio, as_of)
    ledger = _ledger(portfolio, days)
    balance = ledger.balance_pence[0]
    dpd = ledger.days_past_due[0]
    daily = pd.DataFrame(
        {
            "date": pd.to_datetime(days, unit="D"),
            "balance": balance / 100,
            "arrears": np.maximum(balance, 0) / 100,
            "days_past_due": dpd,
            "bucket": pd.Categorical.from_codes(
                buckets.of(dpd), categories=list(buckets.labels), ordered=True
            ),
        }
    )
    events = _events(portfolio)
    # the running total after the day's last event: the balance at the end of the day
    running = pd.Series(np.cumsum(events.pop("pence").to_numpy()))
    events["balance_after"] = running.groupby(events["date"].to_numpy()).transform("last") / 100
    row = portfolio.customers.iloc[0]
    return Timeline(
        customer_id=str(row["customer_id"]),
        details={k: row[k] for k in portfolio.customers.columns if k != "customer_id"},
        daily=daily,
        events=events,
        arrangements=_arrangements(portfolio, as_of),
        as_of=as_of,
    )


def one_customer(portfolio: Portfolio, customer_id: str) -> Portfolio:
    """The rows of one customer of a loaded portfolio (their customer ids a one-category
    categorical, as validating that customer's rows alone gives).

    Parameters
    ----------
    portfolio : Portfolio
    customer_id : str

    Returns
    -------
    Portfolio
        No customer row when the id is not in the data.
    """
    ids = pd.CategoricalDtype([customer_id])

    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        mine = (frame["customer_id"].astype(str) == customer_id).to_numpy(bool)
        return frame.loc[mine].astype({"customer_id": ids}).reset_index(drop=True)

    customers = portfolio.customers
    return dataclasses.replace(
        portfolio,
        customers=customers.loc[(customers["customer_id"] == customer_id).to_numpy(bool)],
        bills=rows(portfolio.bills),
        payments=rows(portfolio.payments),
        actions=rows(portfolio.actions),
        adjustments=rows(portfolio.adjustments),
    )


def _days(portfolio: Portfolio, as_of: pd.Timestamp) -> np.ndarray:
    """Every day from the first dated row to the as-of date, as day numbers."""
    firsts = [
        portfolio.bills["due_date"].min(),
        portfolio.payments["payment_date"].min(),
        portfolio.actions["action_date"].min(),
        portfolio.adjustments["adjustment_date"].min(),
    ]
    present = [pd.Timestamp(d) for d in firsts if pd.notna(d)]
    first = min([*present, as_of])
    return np.arange(day_numbers(pd.DatetimeIndex([first]))[0], _day(as_of) + 1)


def _day(when: pd.Timestamp) -> int:
    return int(day_numbers(pd.DatetimeIndex([when]))[0])


def _ledger(portfolio: Portfolio, days: np.ndarray):
    bills, payments, adjustments = portfolio.bills, portfolio.payments, portfolio.adjustments
    return month_end_ledger(
        np.zeros(len(bills), dtype=np.int64),
        day_numbers(bills["due_date"]),
        bills["bill_pence"].to_numpy(np.int64),
        np.zeros(len(payments), dtype=np.int64),
        day_numbers(payments["payment_date"]),
        payments["amount_pence"].to_numpy(np.int64),
        1,
        days,
        Adjustments.of(adjustments, np.zeros(len(adjustments), dtype=np.int64)),
    )


def _events(portfolio: Portfolio) -> pd.DataFrame:
    """Bills (on their due date), payments, adjustments and actions, in date order, with
    ``pence`` (the change in balance) and ``amount`` (£, empty for an action)."""
    bills, payments = portfolio.bills, portfolio.payments
    adjustments, actions = portfolio.adjustments, portfolio.actions
    parts = [
        pd.DataFrame(
            {
                "date": bills["due_date"].to_numpy(),
                "event": "Bill",
                "detail": "period to " + bills["bill_period_end"].dt.strftime("%Y-%m-%d"),
                "pence": bills["bill_pence"].to_numpy(np.int64),
            }
        ),
        pd.DataFrame(
            {
                "date": payments["payment_date"].to_numpy(),
                "event": "Payment",
                "detail": payments["method"].astype(str).to_numpy(),
                "pence": -payments["amount_pence"].to_numpy(np.int64),
            }
        ),
        pd.DataFrame(
            {
                "date": adjustments["adjustment_date"].to_numpy(),
                "event": "Adjustment",
                "detail": adjustments["kind"].astype(str).str.replace("_", "-").to_numpy(),
                "pence": adjustments["balance_pence"].to_numpy(np.int64),
            }
        ),
        pd.DataFrame(
            {
                "date": actions["action_date"].to_numpy(),
                "event": "Action",
                "detail": actions["action"].astype(str).to_numpy(),
                "pence": np.zeros(len(actions), dtype=np.int64),
            }
        ),
    ]
    events = pd.concat([p for p in parts if len(p)], ignore_index=True)
    if events.empty:
        events = pd.DataFrame({"date": [], "event": [], "detail": [], "pence": []})
    order = np.lexsort((events["event"].map(EVENT_ORDER).to_numpy(), events["date"].to_numpy()))
    events = events.iloc[order].reset_index(drop=True)
    events["date"] = pd.to_datetime(events["date"])
    events["amount"] = events["pence"].where(events["event"] != "Action") / 100
    return events


def _arrangements(portfolio: Portfolio, as_of: pd.Timestamp) -> pd.DataFrame:
    actions = portfolio.actions
    agreed = actions.loc[(actions["action"] == AGREED).to_numpy(bool), "action_date"]
    broken = actions.loc[(actions["action"] == BROKEN).to_numpy(bool)]
    states = arrangement_states(
        np.zeros(len(agreed), dtype=np.int64),
        day_numbers(agreed),
        broken.assign(customer_id=pd.Categorical(np.zeros(len(broken), dtype=np.int64))),
        _day(as_of),
    )
    return pd.DataFrame(
        {
            "agreed": agreed.to_numpy(),
            "term_ends": (agreed + pd.Timedelta(days=ARRANGEMENT_TERM_DAYS)).to_numpy(),
            "state": np.asarray(ARRANGEMENT_STATES, dtype=object)[states],
        }
    )
