"""The first screen: headline tiles, the debt movement bridge and the aged-debt table.

Pure views of the model's ``headline`` output (:mod:`dashboard.query.headline`): a frame in,
HTML text, a HoloViews object or a table frame out. Tiles are plain HTML (a value, its change
since the month-end before, a 12-month sparkline in SVG and a status word as well as a
colour), so they are light to update and read by screen readers.
"""

from __future__ import annotations

import html
import math

import holoviews as hv
import numpy as np
import pandas as pd

from dashboard.catalog import HEADLINES, Headline
from dashboard.ui.style import (
    FLOW_COLORS,
    SIZE,
    STATUS_STYLES,
    blank_missing,
    chart_options,
    no_data,
    pounds_formatter,
)

STEP_LABELS = {
    "opening": "Opening",
    "fell_due": "Fell due",
    "cash": "Cash",
    "written_off": "Written off",
    "other_adjustments": "Other",
    "closing": "Closing",
}
"""Axis label of each bridge step."""

TILE_CSS = """
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(114px, 1fr));
  gap: 5px; width: 100%; }
.caption { margin: 0 0 4px 0; font-size: 13px; color: #1f2328; }
.tile { position: relative; border: 1px solid #d0d7de; border-left: 6px solid var(--status);
  border-radius: 6px; padding: 4px 6px 3px 6px; background: #fff; color: #1f2328;
  font-family: inherit; box-sizing: border-box; min-width: 0; }
.tile h3 { font-size: 12px; font-weight: 600; margin: 0 18px 2px 0; color: #1f2328;
  line-height: 1.2; }
.tile .value { font-size: 19px; font-weight: 700; line-height: 1.15; }
.tile .sub, .tile .change { font-size: 11px; color: #424a53; line-height: 1.3; }
.tile .badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 0 5px;
  border-radius: 8px; background: var(--badge-bg); color: var(--badge-fg); }
.tile svg { display: block; margin-top: 2px; width: 100%; height: 24px; }
.tile details { position: absolute; top: 4px; right: 4px; }
.tile summary { list-style: none; cursor: pointer; width: 18px; height: 18px;
  border-radius: 50%; border: 1px solid #57606a; color: #1f2328; text-align: center;
  font-size: 12px; line-height: 16px; }
.tile summary::-webkit-details-marker { display: none; }
.tile summary:focus-visible { outline: 3px solid #0b5394; outline-offset: 2px; }
.tile details[open] p { position: absolute; right: 0; top: 22px; z-index: 10; width: 240px;
  background: #fff; border: 1px solid #57606a; border-radius: 4px; padding: 6px;
  font-size: 12px; color: #1f2328; box-shadow: 0 2px 6px rgba(0,0,0,.2); margin: 0; }
"""
"""Stylesheet of the tiles pane (its shadow root)."""


# --- tiles ---------------------------------------------------------------------------------


def format_value(value: float, unit: str) -> str:
    """A figure as the page writes it: ``£78,228``, ``1,234`` or ``97.5%`` (``–`` for NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "pounds":
        return f"£{value:,.0f}"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value * 100:.1f}%"


def format_change(change: float, unit: str) -> str:
    """A signed change: ``+£2,529``, ``−4`` or ``+0.4 pts`` (``no change``; ``–`` for NaN)."""
    if change is None or math.isnan(change):
        return "–"
    if unit == "rate":
        points = change * 100
        if round(points, 1) == 0:
            return "no change"
        return f"{'+' if points > 0 else '−'}{abs(points):.1f} pts"
    if round(change) == 0:
        return "no change"
    sign = "+" if change > 0 else "−"
    return f"{sign}£{abs(change):,.0f}" if unit == "pounds" else f"{sign}{abs(change):,.0f}"


def tile_status(headline: Headline, trend: pd.DataFrame, thresholds: tuple) -> str:
    """``"good"``, ``"watch"``, ``"act"`` or ``"no data"`` for a tile at the last month-end.

    Parameters
    ----------
    headline : Headline
    trend : DataFrame
        The model's ``headline["trend"]``.
    thresholds : (float, float)
        The user's band edges (fractions; of the relative change for ``judged="change"``).

    Returns
    -------
    str
    """
    values = trend[headline.status].to_numpy(dtype=np.float64)
    if not len(values) or np.isnan(values[-1]):
        return "no data"
    value = values[-1]
    if headline.judged == "change":
        if len(values) < 2 or np.isnan(values[-2]) or values[-2] == 0:
            return "no data"
        value = values[-1] / values[-2] - 1
    low, high = sorted(thresholds)
    if headline.better == "higher":
        return "act" if value < low else "watch" if value < high else "good"
    return "good" if value < low else "watch" if value < high else "act"


def sparkline(values, months, unit: str, label: str, width: int = 130, height: int = 26) -> str:
    """A small SVG line of the month-end values, described for screen readers.

    Parameters
    ----------
    values : sequence of float
        One value per month-end (NaN where unknown).
    months : sequence of Timestamp
    unit : str
        For the description's numbers.
    label : str
        What the line shows.
    width, height : int
        Size in pixels.

    Returns
    -------
    str
        An ``<svg role="img">`` element.
    """
    values = np.asarray(values, dtype=np.float64)
    known = np.flatnonzero(~np.isnan(values))
    if len(known) < 2:
        return ""
    low, high = np.nanmin(values), np.nanmax(values)
    span = (high - low) or 1.0
    x = 2 + known * (width - 6) / max(len(values) - 1, 1)
    y = height - 3 - (values[known] - low) / span * (height - 6)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
    first, last = known[0], known[-1]
    description = (
        f"{label}, {len(known)} month-ends: {format_value(values[first], unit)} in "
        f"{months[first]:%b %Y}, {format_value(values[last], unit)} in {months[last]:%b %Y}; "
        f"low {format_value(low, unit)}, high {format_value(high, unit)}"
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="{html.escape(description)}"><title>{html.escape(description)}</title>'
        f'<polyline points="{points}" fill="none" stroke="#0b5394" stroke-width="1.6" '
        f'vector-effect="non-scaling-stroke"/>'
        f'<circle cx="{x[-1]:.1f}" cy="{y[-1]:.1f}" r="2.5" fill="#0b5394"/></svg>'
    )


def _subline(headline: Headline, row: pd.Series) -> str:
    if headline.name == "in_arrears":
        return (
            f"{format_value(row['share_in_arrears'], 'rate')} of "
            f"{format_value(row['customers'], 'count')} on book"
        )
    if headline.name == "new_in_arrears":
        return f"{format_value(row['first_bucket_arrears'], 'pounds')} now in the first bucket"
    if headline.name == "cash_to_billed":
        return f"{format_value(row['cash'], 'pounds')} of {format_value(row['fell_due'], 'pounds')}"
    if headline.name == "oldest_share":
        return f"{format_value(row['oldest_arrears'], 'pounds')} in the oldest bucket"
    return ""


def tile_html(headline: Headline, trend: pd.DataFrame, thresholds: tuple) -> str:
    """One headline tile as HTML (value, change, sparkline, status, help).

    Parameters
    ----------
    headline : Headline
    trend : DataFrame
        The model's ``headline["trend"]`` (month-ends oldest first).
    thresholds : (float, float)

    Returns
    -------
    str
    """
    status = tile_status(headline, trend, thresholds)
    color, background, foreground, word = STATUS_STYLES[status]
    style = f"--status:{color};--badge-bg:{background};--badge-fg:{foreground}"
    row = trend.iloc[-1] if len(trend) else None
    value = row[headline.name] if row is not None else float("nan")
    change = value - trend[headline.name].iloc[-2] if len(trend) > 1 else float("nan")
    since = " on the month" if len(trend) > 1 else ""
    sub = _subline(headline, row) if row is not None else ""
    help_id = f"help-{headline.name}"
    history = trend.iloc[1:] if len(trend) > 1 else trend
    spark = sparkline(history[headline.name], list(history["month"]), headline.unit, headline.label)
    return (
        f'<section class="tile" style="{style}" aria-label="{html.escape(headline.label)}">'
        f"<h3>{html.escape(headline.label)}</h3>"
        f'<details><summary aria-label="What is {html.escape(headline.label)}?" '
        f'aria-describedby="{help_id}">?</summary>'
        f'<p id="{help_id}">{html.escape(headline.help)}</p></details>'
        f'<div class="value">{format_value(value, headline.unit)}</div>'
        f'<div class="change">{format_change(change, headline.unit)}{since} '
        f'<span class="badge">{word}</span></div>'
        + (f'<div class="sub">{html.escape(sub)}</div>' if sub else "")
        + spark
        + "</section>"
    )


def tiles_html(trend: pd.DataFrame | None, thresholds: dict) -> str:
    """Every headline tile of :data:`dashboard.catalog.HEADLINES` in a responsive grid.

    Parameters
    ----------
    trend : DataFrame or None
        The model's ``headline["trend"]``.
    thresholds : dict of str to (float, float)
        The user's band edges per headline name.

    Returns
    -------
    str
    """
    if trend is None or trend.empty:
        return '<div class="tiles"><p>No month-end in this selection.</p></div>'
    tiles = "".join(tile_html(h, trend, thresholds[h.name]) for h in HEADLINES)
    last = trend["month"].iloc[-1]
    before = f"; change since the end of {trend['month'].iloc[-2]:%b %Y}" if len(trend) > 1 else ""
    caption = (
        f'<p class="caption">At the end of <b>{last:%b %Y}</b> (the period\'s last '
        f"month-end){before}; lines: the last {len(trend) - 1 or 1} month-ends.</p>"
    )
    return f'{caption}<div class="tiles">{tiles}</div>'


# --- the debt movement bridge --------------------------------------------------------------


def compact_pounds(value: float) -> str:
    """A short signed amount for a bar label: ``£75.7k``, ``−£2.61m``, ``£0``."""
    sign = "−" if value < 0 else ""
    size = abs(value)
    if size >= 1e6:
        return f"{sign}£{size / 1e6:.2f}m"
    if size >= 1e3:
        return f"{sign}£{size / 1e3:.1f}k"
    return f"{sign}£{size:,.0f}"


def bridge_chart(bridge: pd.DataFrame, months: str, selection: str):
    """Waterfall of the period: opening + fell due − cash − written off ± other = closing.

    The steps run down the chart, one row each, their bars across it, each amount just
    right of its bar: the amounts never meet however narrow the screen (upright bars put
    six amounts and six step names side by side, which overlapped on a phone).

    Parameters
    ----------
    bridge : DataFrame
        The model's ``headline["bridge"]`` (:func:`dashboard.query.headline.bridge`).
    months : str
        The months it covers, for the title.
    selection : str
        The customer filters in words, under the chart.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if bridge.empty or not np.isfinite(bridge["end"]).all():
        return no_data()
    rows = np.arange(len(bridge))
    frame = bridge.assign(
        y0=rows - 0.36,
        y1=rows + 0.36,
        low=bridge[["start", "end"]].min(axis=1),
        high=bridge[["start", "end"]].max(axis=1),
        label=bridge["step"].map(STEP_LABELS),
        color=bridge["step"].map(FLOW_COLORS),
        text=bridge["amount"].map(compact_pounds),
    )
    rects = hv.Rectangles(
        frame, kdims=["low", "y0", "high", "y1"], vdims=["label", "amount", "color", "text"]
    ).opts(
        color="color",
        line_color=None,
        hover_tooltips=[("Step", "@label"), ("Amount", "@amount{£0,0}")],
        tools=["hover"],
    )
    top = max(frame["high"].max(), 0.0)
    bottom = min(frame["low"].min(), 0.0)
    span = (top - bottom) or 1.0
    labels = hv.Labels(
        pd.DataFrame({"x": frame["high"] + span * 0.01, "y": rows, "text": frame["text"]}),
        kdims=["x", "y"], vdims=["text"],
    ).opts(
        text_font_size="9pt", text_align="left", text_baseline="middle", text_color="#1f2328"
    )  # fmt: skip
    return (rects * labels).opts(
        **chart_options(
            title=f"Debt movement, {months}",
            xlabel=f"arrears net of credit £\n{selection}",  # two lines: a phone's width
            ylabel="",
            xformatter=pounds_formatter(),
            yticks=list(enumerate(frame["label"])),
            invert_yaxis=True,  # opening at the top, closing at the bottom
            # room right of the longest bar for its amount (about 7 characters), on a phone
            xlim=(bottom, top + span * 0.3),
            ylim=(-0.6, len(frame) - 0.4),
        ),
        **SIZE,
    )


def movement_by_month_chart(movement: pd.DataFrame, selection: str):
    """Net change in arrears per month (fell due − cash − written off ± other), with every
    flow in the hover: cooler bars where arrears fell, warmer where they grew.

    Parameters
    ----------
    movement : DataFrame
        The model's ``headline["movement"]``.
    selection : str

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    if movement.empty:
        return no_data()
    frame = movement.assign(
        change=(movement["closing_arrears"] - movement["closing_credit"])
        - (movement["opening_arrears"] - movement["opening_credit"]),
    )
    frame["direction"] = np.where(frame["change"] > 0, "grew", "fell")
    frame["color"] = np.where(frame["change"] > 0, FLOW_COLORS["fell_due"], FLOW_COLORS["cash"])
    tooltips = [
        ("Month", "@month{%b %Y}"),
        ("Change", "@change{£0,0}"),
        ("Fell due", "@fell_due{£0,0}"),
        ("Cash received", "@cash{£0,0}"),
        ("Written off", "@written_off{£0,0}"),
        ("Other adjustments", "@other_adjustments{£0,0}"),
        ("Closing arrears", "@closing_arrears{£0,0}"),
    ]
    bars = hv.Spikes(
        frame,
        kdims=["month"],
        vdims=["change", "fell_due", "cash", "written_off", "other_adjustments",
               "closing_arrears", "color"],
    )  # fmt: skip
    return bars.opts(
        color="color",
        line_width=8,
        tools=["hover"],
        hover_tooltips=tooltips,
        hover_formatters={"@month": "datetime"},
        **chart_options(
            title=f"Change in arrears by month (fell due − cash − written off ± other) · "
            f"{selection}",
            ylabel="change in arrears £",
            xlabel="month (cooler: arrears fell; warmer: arrears grew)",
            yformatter=pounds_formatter(),
        ),
        **SIZE,
    )


# --- the aged-debt table -------------------------------------------------------------------


def aged_debt_table(aged: pd.DataFrame) -> pd.DataFrame:
    """The aged-debt table as shown: £, customers, share and change per bucket.

    Parameters
    ----------
    aged : DataFrame
        The model's ``headline["aged"]`` (:func:`dashboard.query.headline.aged_debt`).

    Returns
    -------
    DataFrame
        Readable columns; money in £, shares in %.
    """
    return pd.DataFrame(
        {
            "Days past due": aged["bucket"].astype(str).to_numpy(),
            "Arrears £": aged["arrears"].round(2).to_numpy(),
            "Customers": aged["customers"].astype(int).to_numpy(),
            "Share of arrears %": (aged["share"] * 100).round(1).to_numpy(),
            "Change since last month £": blank_missing(aged["arrears_change"].round(2)),
            # whole customers (a float column wrote 3.0); blank with no month before
            "Change in customers": blank_missing(aged["customers_change"].round().astype("Int64")),
        }
    )


def movement_table(movement: pd.DataFrame) -> pd.DataFrame:
    """The monthly movement as a table (the text alternative of the bridge)."""
    return pd.DataFrame(
        {
            "Month": movement["month"].dt.strftime("%b %Y").to_numpy(),
            "Opening £": (movement["opening_arrears"] - movement["opening_credit"]).to_numpy(),
            "Fell due £": movement["fell_due"].to_numpy(),
            "Cash £": movement["cash"].to_numpy(),
            "Written off £": movement["written_off"].to_numpy(),
            "Other adjustments £": movement["other_adjustments"].to_numpy(),
            "Closing £": (movement["closing_arrears"] - movement["closing_credit"]).to_numpy(),
        }
    ).round(2)
