"""The build, in one direction: read a source -> validate -> bill outcomes -> ledger -> the
small built tables (:class:`dashboard.cube.tables.Cube`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.compute.arrays import months_since
from dashboard.compute.engine import Engine
from dashboard.compute.ledger import Buckets
from dashboard.compute.memory import reuses_freed_memory
from dashboard.compute.outcomes import Window, latest_payment_date
from dashboard.cube.bills import (
    action_table,
    arrangement_table,
    bill_table,
    customer_reach,
    partitioned_outcomes,
    segment_table,
)
from dashboard.cube.ledger import build_arrears
from dashboard.cube.tables import Cube
from dashboard.schema import Portfolio, validate
from dashboard.sources import Source, open_source


@reuses_freed_memory
def build_cube(
    portfolio: Portfolio,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
    buckets: Buckets = Buckets(),
    engine: Engine | None = None,
) -> Cube:
    """Compute bill outcomes and the ledger, and aggregate everything the dashboard shows.

    Parameters
    ----------
    portfolio : Portfolio
        Validated tables.
    window : Window, optional
        Payment window and tolerance.
    as_of : Timestamp, optional
        Date of knowledge; defaults to the latest payment date.
    buckets : Buckets, optional
        Days-past-due bucket edges of the ageing tables.
    engine : Engine, optional
        Where the per-customer-partition work runs (outcomes, ledger); the result does not
        depend on it. Default: :meth:`Engine.from_env` (``pandas`` unless configured).

    Returns
    -------
    Cube

    Notes
    -----
    The as-of date is a hard horizon: bills issued (period end) after it and payments,
    actions and adjustments dated after it are left out before anything is computed
    (:func:`known_on`). The cube's months run from the first month holding a bill,
    payment or action to the as-of month.
    """
    engine = Engine.from_env() if engine is None else engine
    as_of = latest_payment_date(portfolio.payments) if as_of is None else as_of
    as_of = pd.Timestamp(as_of).normalize()
    check_as_of(portfolio, as_of)
    portfolio = known_on(portfolio, as_of)
    segments, customer_segment = segment_table(portfolio.customers)
    bills = portfolio.bills
    outcomes = partitioned_outcomes(
        bills, portfolio.payments, window, as_of, engine, engine.customers_per_partition
    )
    months = cube_months(portfolio, as_of)
    first = months[0]
    bill_month = months_since(bills["bill_period_end"], first)
    bill_segment = customer_segment[bills["customer_id"].cat.codes.to_numpy()]
    payments = portfolio.payments
    payment_key = months_since(payments["payment_date"], first) * len(segments)
    payment_key += customer_segment[payments["customer_id"].cat.codes.to_numpy()]
    bill_sums = bill_table(
        bills,
        outcomes,
        bill_month,
        bill_segment,
        months,
        len(segments),
        payment_key,
        payments["amount_pence"].to_numpy(np.int64),
    )
    del payment_key
    del bill_segment  # 8 bytes a bill: freed before the ledger's peak
    return Cube(
        months=months,
        segments=segments,
        bills=bill_sums,
        actions=action_table(portfolio.actions, customer_segment),
        arrangements=arrangement_table(portfolio.actions, customer_segment, as_of),
        n_customers=len(customer_segment),
        reach=customer_reach(
            bills, outcomes, bill_month, customer_segment, len(months), len(segments)
        ),
        as_of=as_of,
        window=window,
        warnings=tuple(portfolio.warnings),
        excluded={table: int(rows) for table, rows in portfolio.excluded.items() if rows},
        arrears=build_arrears(
            portfolio,
            outcomes,
            bill_month,
            customer_segment,
            len(segments),
            months,
            as_of,
            buckets,
            chunk=engine.customers_per_partition,
            engine=engine,
        ),
    )


HORIZON_COLUMNS = {
    "bills": "bill_period_end",
    "payments": "payment_date",
    "actions": "action_date",
    "adjustments": "adjustment_date",
}
"""The date of each table that must be on or before the as-of date (a bill is known from
the end of its period)."""


def known_on(portfolio: Portfolio, as_of: pd.Timestamp) -> Portfolio:
    """The portfolio as it was known on ``as_of``: rows dated after it are left out.

    Parameters
    ----------
    portfolio : Portfolio
    as_of : Timestamp

    Returns
    -------
    Portfolio
        The same object when nothing is dated after ``as_of`` (no copy); otherwise a
        portfolio whose later rows are dropped (tables stay sorted by customer, date).
    """
    later = {}
    for table, column in HORIZON_COLUMNS.items():
        dates = getattr(portfolio, table)[column]
        if len(dates) and dates.max() > as_of:
            later[table] = getattr(portfolio, table).loc[(dates <= as_of).to_numpy()]
    if not later:
        return portfolio
    return dataclasses.replace(
        portfolio, **{t: frame.reset_index(drop=True) for t, frame in later.items()}
    )


def cube_months(portfolio: Portfolio, as_of: pd.Timestamp) -> pd.DatetimeIndex:
    """Month starts from the first month holding a bill, payment or action to the as-of
    month (the period every figure's "all months" means).

    Parameters
    ----------
    portfolio : Portfolio
        Tables already cut at ``as_of`` (:func:`known_on`).
    as_of : Timestamp

    Returns
    -------
    DatetimeIndex
    """
    firsts = [
        portfolio.bills["bill_period_end"].min(),
        portfolio.payments["payment_date"].min(),
        portfolio.actions["action_date"].min(),
    ]
    present = [pd.Timestamp(d) for d in firsts if pd.notna(d)]
    first = min([*present, as_of])
    return pd.date_range(
        first.to_period("M").start_time, as_of.to_period("M").start_time, freq="MS"
    )


@reuses_freed_memory
def validated(source: str | Path | Source) -> Portfolio:
    """Read a source and validate its tables.

    Parameters
    ----------
    source : str, Path or Source
        A source spec (:func:`dashboard.sources.open_source`).

    Returns
    -------
    Portfolio

    Raises
    ------
    SourceError
        When the source cannot be read or fails validation.
    """
    return validate(open_source(source).tables())


AS_OF_MARGIN_DAYS = 366
"""How far outside the data's dates an as-of date may be: a year before its first date
(nothing billed yet) or after its last (an extract a while old)."""


def check_as_of(portfolio: Portfolio, as_of: pd.Timestamp) -> None:
    """Refuse an as-of date more than :data:`AS_OF_MARGIN_DAYS` days outside the data's
    dates (every distinct as-of date is a build: the range of them is bounded).

    Raises
    ------
    ValueError
        One line naming the as-of date and the data's dates.
    """
    dates = [
        portfolio.bills["bill_period_end"],
        portfolio.bills["due_date"],
        portfolio.payments["payment_date"],
        portfolio.actions["action_date"],
    ]
    present = [column for column in dates if len(column)]
    if not present:
        return
    first = min(column.min() for column in present)
    last = max(column.max() for column in present)
    margin = pd.Timedelta(days=AS_OF_MARGIN_DAYS)
    earliest, latest = first - margin, last + margin
    if not earliest <= as_of <= latest:
        raise ValueError(
            f"as-of {as_of:%Y-%m-%d} is too far outside the data's dates: choose a date from "
            f"{earliest:%Y-%m-%d} to {latest:%Y-%m-%d}"
        )
