"""Views of customers reaching more than 90 days past due (:mod:`dashboard.query.severe`):
the monthly rate and the share ever there, and a table per segment value for the period."""

from __future__ import annotations

import pandas as pd
from bokeh.models import NumeralTickFormatter

from dashboard.query import severe
from dashboard.ui.style import (
    MIN_SAMPLE,
    PALETTE,
    SIZE,
    no_data,
    segment_labels,
    shaded_months,
    wrap_title,
)
from dashboard.vocab import DIMENSION_LABELS

SEVERE_NOTE = (
    "**Reaching 90+ days past due** — the credit-style default, counted to the day "
    "whatever the ageing buckets: a customer reaches it on the first day an unpaid bill is "
    "91 days past due. *Monthly*: of the customers on book and under 91 days at the "
    "previous month-end, the share who reached it during the month. *Ever*: of the "
    "customers on book at a month-end, the share who have been there since the data began. "
    "Not the bill-level *default rate* (a missed payment within 60 days of a bill)."
)


def _rate_line(frame: pd.DataFrame, y: str, denominator: str, color: str, min_sample: int):
    """A monthly rate as a line, with months of fewer customers than ``min_sample`` left
    out of the line and drawn as faded points."""
    small = frame[denominator] < min_sample
    hover = [
        ("Month", "@month{%b %Y}"),
        ("Rate", f"@{y}{{0.00%}}"),
        ("Customers", f"@{denominator}{{0,0}}"),
    ]
    cols = [denominator, *(c for c in ("reached", "ever") if c in frame)]
    line = frame.assign(**{y: frame[y].where(~small)}).hvplot.line(
        **SIZE, x="month", y=y, color=color, line_width=2, hover_cols=cols
    )
    line = line.opts(hover_tooltips=hover, hover_formatters={"@month": "datetime"})
    few = frame.loc[small & frame[y].notna()]
    if few.empty:
        return line
    return line * few.hvplot.scatter(
        x="month", y=y, color=color, alpha=0.35, size=40, hover_cols=cols
    ).opts(hover_tooltips=hover, hover_formatters={"@month": "datetime"})


RUN_IN_NOTE = "shaded: the data's first 91 days, carried-in debt still ageing, no rate drawn"
"""Said under the monthly rate when its first months are shaded (:func:`severe_rate_chart`)."""


def severe_rate_chart(
    monthly: pd.DataFrame,
    selection: str,
    min_sample: int = MIN_SAMPLE,
    first_day: pd.Timestamp | None = None,
):
    """The monthly rate of reaching 91+ days past due.

    Parameters
    ----------
    monthly : DataFrame
        ``CollectionsModel.severe_monthly``.
    selection : str
        The selection's description (chart title).
    min_sample : int, optional
        A month of fewer customers at risk is a faded point off the line.
    first_day : Timestamp, optional
        The data's first day: the months up to the one in which it is 91 days old are
        shaded and their rate is not drawn (balances carried in from before the data all
        age from that day, so they reach 91 days together: a run-in, not a spike of the
        book; drawn, its 6.8% on the demo set the axis and flattened every later month's
        0.2-1.6%).

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if monthly.empty or monthly["on_book"].sum() == 0:
        return no_data()
    in_run_in = None if first_day is None else severe.run_in(monthly["month"], first_day)
    if in_run_in is not None:  # the run-in's rate is not the book's: not drawn, shaded
        monthly = monthly.assign(reach_rate=monthly["reach_rate"].where(~in_run_in))
    rate = _rate_chart(
        monthly, ("reach_rate", "at_risk"), PALETTE[3], min_sample,
        "Reaching 90+ days past due in the month, of those under 91 days a month before",
        selection, ("0.0%", "reached / at risk"),
    )  # fmt: skip
    return rate if in_run_in is None else _shade_run_in(rate, monthly["month"][in_run_in])


def severe_ever_chart(monthly: pd.DataFrame, selection: str, min_sample: int = MIN_SAMPLE):
    """The share of the customers on book at each month-end ever 91+ days past due.

    Parameters
    ----------
    monthly : DataFrame
        ``CollectionsModel.severe_monthly``.
    selection : str
        The selection's description (chart title).
    min_sample : int, optional
        A month of fewer customers on book is a faded point off the line.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if monthly.empty or monthly["on_book"].sum() == 0:
        return no_data()
    return _rate_chart(
        monthly, ("ever_share", "on_book"), PALETTE[4], min_sample,
        "Customers on book ever 90+ days past due", selection, ("0%", "ever 90+ / on book"),
    )  # fmt: skip


def _rate_chart(monthly, columns, color, min_sample, what, selection, axis):
    """One rate line titled ``what · selection``; ``columns`` = (rate, its denominator),
    ``axis`` = (tick format, y label)."""
    y, denominator = columns
    small = (monthly[denominator] < min_sample) & monthly[y].notna()
    faded = f" (faded: fewer than {min_sample} customers)" if small.any() else ""
    return _rate_line(monthly, y, denominator, color, min_sample).opts(
        title=wrap_title(f"{what}{faded} · {selection}"),
        yformatter=NumeralTickFormatter(format=axis[0]),
        ylim=(0, None),
        ylabel=axis[1],
        xlabel="month-end",
        shared_axes=False,
    )


def _shade_run_in(chart, run_in: pd.Series):
    """``chart`` with the run-in's months shaded (month starts, :func:`severe.run_in`), and
    the x label saying why."""
    if run_in.empty:
        return chart
    return (chart * shaded_months(run_in.min(), run_in.max())).opts(
        xlabel=f"month-end ({RUN_IN_NOTE})"
    )


def severe_table(by_segment: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Per segment value over the period: customers at risk at its start, those who reached
    91+ days past due within it and the rate; on book at its end, ever 91+ and the share.

    Parameters
    ----------
    by_segment : DataFrame
        ``CollectionsModel.severe_by_segment``.
    dim : str
        Its segment dimension.

    Returns
    -------
    DataFrame
        Readable columns, rates in %.
    """
    if by_segment.empty:
        return pd.DataFrame(columns=[DIMENSION_LABELS[dim], "At risk at start"])
    start = by_segment["from_month"].iloc[0].strftime("%b %Y")
    end = by_segment["to_month"].iloc[0].strftime("%b %Y")
    return pd.DataFrame(
        {
            DIMENSION_LABELS[dim]: segment_labels(dim, by_segment[dim]),
            f"At risk, end {start}": by_segment["at_risk"].to_numpy(),
            "Reached 90+ in the period": by_segment["reached"].to_numpy(),
            "Period rate %": (by_segment["period_rate"] * 100).round(2).to_numpy(),
            f"On book, end {end}": by_segment["on_book"].to_numpy(),
            "Ever 90+": by_segment["ever"].to_numpy(),
            "Ever 90+ %": (by_segment["ever_share"] * 100).round(2).to_numpy(),
        }
    )
