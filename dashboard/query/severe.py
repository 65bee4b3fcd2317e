"""Customers reaching more than 90 days past due: the credit-style default.

The bill-level *default rate* (the original notebook's) counts a missed payment within 60
days of a bill. A collections or finance reader means something else by default: the
customer reached 90+ days past due (:data:`dashboard.compute.partition.SEVERE_DAYS`, 91
days or more), exact to the day, whatever the ageing buckets. Three readings, each a sum
of the built tables ``at_risk``, ``reach_after`` and ``ever_severe`` over the selected
segments:

* **per month** m: of the customers *at risk* at the previous month-end (on book and under
  91 days past due), the share who reached 91+ days on some day of month m;
* **in the period**: of the customers at risk at the month-end before the period (its
  first month-end when the period starts with the data), the share who reached 91+ days on
  some day of the period's months after it;
* **ever**: of the customers on book at a month-end, the share 91+ days past due on some day
  since the data began, up to that month-end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.compute.partition import SEVERE_DAYS
from dashboard.query.ledger import ratio, segment_groups
from dashboard.query.selection import month_indexes, segment_sums


def severe_monthly(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """Per month-end of the period: reaching 91+ days past due in the month, and ever.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
        Selected segments.
    start, end : Timestamp or None
        Month range (inclusive; None = open).

    Returns
    -------
    DataFrame
        ``month``; ``at_risk`` (on book and under 91 days past due at the previous
        month-end; 0 for the first month-end), ``reached`` (of them, 91+ days past due on
        some day of the month), ``reach_rate``; ``on_book``, ``ever`` (91+ days on some day
        up to the month-end), ``ever_share``. Rates are NaN without a denominator.
    """
    months = month_indexes(cube, start, end)
    risk = segment_sums(cube.arrears.sums["at_risk"], segments)  # (month-end, measure)
    ever = segment_sums(cube.arrears.sums["ever_severe"], segments)  # (month, measure)
    at_risk = np.zeros(len(months), dtype=np.int64)  # none before the first month-end
    reached = np.zeros(len(months), dtype=np.int64)
    later = months[months >= 1]
    if len(later):
        at_risk[months >= 1] = risk[later - 1, 0]
        reached[months >= 1] = risk[later - 1, 1]
    on_book, ever_by = ever[months, 0], ever[months, 1]
    return pd.DataFrame(
        {
            "month": cube.months[months],
            "at_risk": at_risk,
            "reached": reached,
            "reach_rate": ratio(reached, at_risk),
            "on_book": on_book,
            "ever": ever_by,
            "ever_share": ratio(ever_by, on_book),
        }
    )


def severe_period(
    cube, segments: np.ndarray, start=None, end=None, by: str | None = None
) -> pd.DataFrame:
    """Over the period: the share of customers at risk at its start who reached 91+ days
    past due within it, and the share ever 91+ days at its end; per value of ``by``.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Month range (inclusive; None = open).
    by : str, optional
        A customer dimension to split by (one row for the selection when None).

    Returns
    -------
    DataFrame
        ``by`` (when given), ``from_month`` (the month-end the period is measured from) and
        ``to_month``, ``at_risk``, ``reached``, ``period_rate``, ``on_book`` (at the
        period's last month-end), ``ever``, ``ever_share``; empty without a month-end.
    """
    months = month_indexes(cube, start, end)
    matrix, labels = segment_groups(cube, segments, by)
    groups = matrix.shape[1]
    columns = ["at_risk", "reached", "period_rate", "on_book", "ever", "ever_share"]
    if not len(months):
        return pd.DataFrame(columns=[*([by] if by else []), "from_month", "to_month", *columns])
    origin = max(int(months[0]) - 1, 0)  # the month-end before the period, or its first
    last = int(months[-1])
    at_risk = segment_sums(cube.arrears.sums["at_risk"][origin, 0], matrix)  # (groups,)
    by_segment = cube.arrears.reach_after.per_segment(origin, last)  # reached by month last
    reached = segment_sums(by_segment.astype(np.float64), matrix)
    ever = segment_sums(cube.arrears.sums["ever_severe"][last], matrix)  # (measure, groups)
    frame = {} if by is None else {by: labels}
    frame |= {
        "from_month": np.repeat(cube.months[origin], groups),
        "to_month": np.repeat(cube.months[last], groups),
        "at_risk": at_risk,
        "reached": reached,
        "period_rate": ratio(reached, at_risk),
        "on_book": ever[0],
        "ever": ever[1],
        "ever_share": ratio(ever[1], ever[0]),
    }
    return pd.DataFrame(frame)


def run_in(months: pd.Series, first_day) -> pd.Series:
    """Whether each month (a month start) is in the data's run-in: up to the month in which
    the data's first day is :data:`SEVERE_DAYS` days old. Balances carried in from before
    the data all age from its first day and reach 91 days together then, so the months
    until then are not comparable with later ones.

    Parameters
    ----------
    months : Series of Timestamp
        Month starts.
    first_day : Timestamp
        The data's first day.

    Returns
    -------
    Series of bool
    """
    return months <= pd.Timestamp(first_day) + pd.Timedelta(days=SEVERE_DAYS)
