"""The look every view shares: colours, chart size, segment labels, the no-data pane and
safe Markdown text.

One colour per segment value in every chart (:func:`segment_colors`), an explicit "no data
for this selection" instead of empty axes, and data text escaped before any Markdown pane.
"""

from __future__ import annotations

import html
from typing import ClassVar

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import CustomJSTickFormatter, NumeralTickFormatter

from dashboard.vocab import ACTIONS, FLAG_DIMENSIONS

# Charts paint on a canvas, not WebGL (HoloViews' default): a few dozen points per chart
# gain nothing from the GPU, each WebGL chart is painted then copied onto a canvas, and
# without a GPU (a virtual desktop, a locked-down laptop) Chromium's software WebGL made
# the first change of a page take 1.6 s in the browser, 0.5 s of it copying images.
hv.renderer("bokeh").webgl = False

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


ACTION_COLORS = dict(zip(ACTIONS, ("#b8a7d9", "#7b5ea7", "#3f2a6b", "#c51b7d"), strict=True))
"""Actions: purples, darker for a later stage; a broken arrangement in magenta. No other
concept uses purples."""

ORDERED_COLORS = ("#b35806", "#e08214", "#4393c3", "#2166ac", "#053061")
"""Ordered segments (income band, tenure band), worst to best: warm to cool."""

ORDERED_DIMENSIONS = ("income_band", "tenure_band")
"""Dimensions whose values run from less to more favourable (lowest income, shortest
tenure first)."""

NOMINAL_COLORS = (
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#882255",
)  # fmt: skip
"""Other segments (region, tariff, flags): Okabe-Ito, told apart by colour-blind readers,
without its yellow (too light on white) and with Paul Tol's wine in its place, so that eight
values (the demo book's regions) get eight colours; "Other" (the values beyond the top ones)
is grey."""

OTHER_COLOR = "#9e9e9e"

STATUS_STYLES = {
    "good": ("#2e7d32", "#e8f5e9", "#1b5e20", "On target"),
    "watch": ("#f9a825", "#fff8e1", "#6d4c00", "Watch"),
    "act": ("#c62828", "#ffebee", "#b71c1c", "Act"),
    "no data": ("#9e9e9e", "#f5f5f5", "#424242", "No data"),
}
"""Tile status -> (border colour, badge background, badge text colour, word): green, amber
and red mean the user's thresholds and nothing else."""

FLOW_COLORS = {
    "opening": "#546e7a",
    "closing": "#546e7a",
    "fell_due": "#d55e00",
    "cash": "#0072b2",
    "written_off": "#6a6a6a",
    "other_adjustments": "#a0a0a0",
}
"""Debt movement: balances slate, money falling due (debt grows) warm, cash (debt falls) cool."""


IMMATURE_COLOR = "#9e9e9e"


GAUGE_COLORS = ("#2e7d32", "#f9a825", "#c62828")
"""Green, amber, red."""


HEIGHT = 320


SIZE = {"responsive": True, "height": HEIGHT}
"""Size of every chart: full width, fixed height (given to each hvplot call)."""


NO_DATA = "No data for this selection"


MIN_SAMPLE = 30
"""Rates of fewer customers than this are drawn faded and kept out of colour scales (the
model's ``min_sample``)."""

SMALL_SAMPLE_COLOR = "#eeeeee"
"""The fill of a heatmap cell whose rate rests on too few customers (out of the colour scale)."""

SMALL_SAMPLE_TEXT = "#8a8a8a"
"""The label colour of such a cell."""


def segment_labels(dim: str, values) -> list[str]:
    """Human labels of a dimension's values (flags read No/Yes)."""
    if dim in FLAG_DIMENSIONS:
        return ["Yes" if int(v) == 1 else "No" for v in values]
    return [str(v) for v in values]


def segment_colors(dim: str, categories) -> dict[str, str]:
    """The fixed colour of each value of a dimension, by its position in the categories.

    Parameters
    ----------
    dim : str
        Dimension name.
    categories : sequence
        All values of the dimension in the data (not only the selected ones), so that a
        value keeps its colour whatever the filters.

    Returns
    -------
    dict of str to str
        Label -> hex colour.
    """
    labels = segment_labels(dim, categories)
    if dim in ORDERED_DIMENSIONS:
        ramp = _ramp(len(labels))
        return dict(zip(labels, ramp, strict=True))
    colors = {label: NOMINAL_COLORS[i % len(NOMINAL_COLORS)] for i, label in enumerate(labels)}
    colors[OTHER_LABEL] = OTHER_COLOR
    return colors


OTHER_LABEL = "Other"
"""The label of the segment values beyond the top ones in a chart by segment."""


def _ramp(n: int) -> list[str]:
    """``n`` colours from warm (worst) to cool (best) out of :data:`ORDERED_COLORS`."""
    if n <= 1:
        return list(ORDERED_COLORS[-2:-1])
    positions = [round(i * (len(ORDERED_COLORS) - 1) / (n - 1)) for i in range(n)]
    return [ORDERED_COLORS[p] for p in positions]


def pounds_formatter() -> CustomJSTickFormatter:
    """A tick formatter writing £ on money axes: £950, £12k, £1.2m (new per chart: a Bokeh
    model belongs to one document)."""
    return CustomJSTickFormatter(code=POUNDS_JS)


POUNDS_JS = """
const a = Math.abs(tick), s = tick < 0 ? '−' : '';
if (a >= 1e6) return s + '£' + (a / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'm';
if (a >= 1e4) return s + '£' + (a / 1e3).toFixed(0) + 'k';
if (a >= 1e3) return s + '£' + (a / 1e3).toFixed(1) + 'k';
return s + '£' + a.toFixed(0);
"""


def rate_formatter() -> NumeralTickFormatter:
    """A tick formatter for shares (0.0%)."""
    return NumeralTickFormatter(format="0.0%")


def chart_options(**options) -> dict:
    """Options every chart shares (independent axes, no toolbar: hover only), plus
    ``options``; a ``title`` is wrapped to fit a phone (:func:`wrap_title`)."""
    if options.get("title"):
        options["title"] = wrap_title(options["title"])
    return {"shared_axes": False, "toolbar": None, "default_tools": [], **options}


def monthly_line(
    frame: pd.DataFrame,
    y: str,
    *,
    color: str,
    title: str,
    yformatter,
    ylabel: str,
    tooltips: list[tuple[str, str]],
    hover_cols: tuple[str, ...] = (),
):
    """One measure of ``frame`` by month-end as a line: its axis from 0, its title wrapped
    for a phone, the month named on hover.

    Parameters
    ----------
    frame : DataFrame
        ``month`` and ``y`` (and ``hover_cols``), one row per month-end.
    y : str
    color, title, ylabel : str
    yformatter : bokeh TickFormatter
    tooltips : list of (str, str)
        Bokeh hover tooltips (``@month`` is a date).
    hover_cols : tuple of str, optional
        Further columns the tooltips read.

    Returns
    -------
    holoviews.Curve
    """
    line = frame.hvplot.line(
        **SIZE, x="month", y=y, color=color, line_width=2, hover_cols=list(hover_cols)
    )
    return line.opts(
        title=wrap_title(title),
        yformatter=yformatter,
        ylim=(0, None),
        ylabel=ylabel,
        xlabel="month-end",
        shared_axes=False,
        hover_tooltips=tooltips,
        hover_formatters={"@month": "datetime"},
    )


def legend_below(columns: int) -> dict:
    """Options that put a chart's legend under its plot, in ``columns`` columns: on the
    right it squeezed a phone's plot to about 130 px, its month ticks running together."""
    return {"legend_position": "bottom", "legend_cols": columns}


TITLE_WIDTH = 56
"""Characters per line of a chart title (:func:`wrap_title`): two lines for the longest
titles on a laptop, where the chart keeps its height. Bokeh starts a title at the left edge
of the plot frame, right of the y axis: on a phone (390 px wide) that leaves about 250 px,
some 31 characters of the 12pt bold title font, so a long line is still cut there (30
characters fit a phone but stacked four or five lines on a laptop, squeezing the plot to a
third of its height); the full title is the chart's text alternative."""


def wrap_title(text: str, width: int = TITLE_WIDTH) -> str:
    """A chart title on lines of at most ``width`` characters, so that it fits a phone
    (Bokeh draws each line of a title; one long line runs off the chart's right edge).

    A line ends preferably after a `` · `` separator (the ``·`` stays at the end of the
    line), when that keeps the line at least :data:`SEPARATOR_FILL` of ``width`` long; else
    at the last space that fits. A line never starts with a word without letters (a lone
    ``·``, ``–``, ``±`` or a number such as a year). A word longer than ``width`` (or words
    held together that way) gets a line of its own, longer than ``width``.

    Each break replaces one space by ``"\\n"``, so ``wrapped.replace("\\n", " ")`` gives
    back ``text`` exactly. A text that already holds a line break, or fits, is returned as
    it is.

    Parameters
    ----------
    text : str
        The title on one line.
    width : int
        Longest line wanted, in characters.

    Returns
    -------
    str
    """
    text = str(text)
    if "\n" in text or len(text) <= width:
        return text
    spaces = [i for i, c in enumerate(text) if c == " " and _may_break(text, i)]
    breaks, start = [], 0
    while len(text) - start > width:
        fitting = [i for i in spaces if start < i <= start + width]
        after_separator = [
            i for i in fitting if text[i - 1] == "·" and i - start >= SEPARATOR_FILL * width
        ]
        if after_separator:
            cut = after_separator[-1]
        elif fitting:
            cut = fitting[-1]
        else:  # one word longer than the width: break after it
            cut = next((i for i in spaces if i > start), None)
            if cut is None:
                break
        breaks.append(cut)
        start = cut + 1
    chars = list(text)
    for i in breaks:
        chars[i] = "\n"
    return "".join(chars)


SEPARATOR_FILL = 0.4
"""A line may end at a `` · `` separator when at least this share of the width is used
(shorter lines would waste the width; longer titles, more lines)."""


def _may_break(text: str, i: int) -> bool:
    """Whether the space at ``i`` may become a line break: text on both sides, and the next
    line would not start with a word without letters (a lone ``·``, ``–`` or ``±``, or a
    number: "Jan 2026" and "12 month-ends" stay on one line)."""
    if i == 0 or i == len(text) - 1 or text[i - 1] == " " or text[i + 1] == " ":
        return False
    word = text[i + 1 :].split(" ", 1)[0]
    return any(c.isalpha() for c in word)


def markdown_text(text: str) -> str:
    """Text from the data made safe for a Markdown/HTML pane: shown as typed, never as markup.

    Chart titles, axes, legends and Tabulator cells already show text as text; Markdown,
    HTML and Alert panes render markup, so every data string goes through this first.
    """
    marked = "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in str(text))
    return html.escape(marked, quote=True)


MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-!|~")


class _KeepsItsStylesheets:
    """A text pane whose new text leaves its stylesheets as they were drawn.

    Panel sends a text pane's every property again when its text changes, stylesheets
    included, worked out as for a pane standing alone: a pane drawn inside the page's
    template got the theme's stylesheet added on its first new text. On a served page
    that was every updated pane at the first change after the page loaded: the page's model
    graph walked again and each pane styled anew in the browser — that first change took
    430 ms where the next took 220 (1 M customers, Chromium). For panes whose stylesheets
    are given when they are made; not for streamed text.
    """

    priority: ClassVar[float] = 0  # never chosen by pn.panel() for a bare string

    def _update(self, ref: str, model) -> None:
        properties = self._get_properties(model.document)
        properties.pop("stylesheets", None)
        model.update(**properties)


class SteadyHTML(_KeepsItsStylesheets, pn.pane.HTML):
    """An HTML pane whose new text keeps its stylesheets (:class:`_KeepsItsStylesheets`)."""


class SteadyMarkdown(_KeepsItsStylesheets, pn.pane.Markdown):
    """A Markdown pane whose new text keeps its stylesheets."""


class SteadyAlert(_KeepsItsStylesheets, pn.pane.Alert):
    """An Alert pane whose new text keeps its stylesheets."""


def no_data(message: str = NO_DATA) -> pn.pane.Alert:
    """The pane shown instead of an empty chart (grey: Bootstrap's warning yellow fails
    WCAG contrast)."""
    return pn.pane.Alert(f"**{message}.** Widen the filters or the period.", alert_type="secondary")


def with_labels(frame: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Add a ``segment`` column of labels in category order."""
    values = frame[dim]
    categories = values.cat.categories if hasattr(values, "cat") else sorted(values.unique())
    labels = segment_labels(dim, categories)
    mapping = dict(zip(categories, labels, strict=True))
    segment = pd.Categorical(values.map(mapping), categories=labels, ordered=True)
    return frame.assign(segment=segment)


def blank_missing(column: pd.Series) -> pd.Series:
    """A number column whose missing values a table shows blank: None (sent as null, which
    Tabulator's money formatter leaves empty) instead of NaN (shown as "NaN"); a CSV
    download still reads the column back as numbers."""
    return column.astype(object).where(column.notna(), None)


def tabulator_widths(frame: pd.DataFrame) -> dict[str, int]:
    """A width in pixels for every column of a table, from its header and its longest
    value as shown (£ and % columns formatted as :func:`tabulator_formatters` does).

    With every width given, Tabulator lays a table out without measuring its cells: each
    measurement re-lays out the whole page, and a tab's tables took 50–260 ms of the
    browser's time to draw (Chromium's profiler, 1 M customers). Text columns are measured
    on their first :data:`WIDTH_SAMPLE_ROWS` rows (a worklist holds many more).
    """
    widths = {}
    for column in frame.columns:
        header = len(str(column)) * HEADER_CHAR_PX + SORTER_PX
        widths[str(column)] = int(
            min(MAX_COLUMN_PX, max(header, _longest_shown(frame[column]) * CHAR_PX) + PADDING_PX)
        )
    return widths


def steady_widths(shown: dict[str, int], wanted: dict[str, int]) -> dict[str, int]:
    """Column widths for a table's new data: ``wanted`` (:func:`tabulator_widths`), each no
    narrower than ``shown`` while the table keeps the same columns.

    A table whose widths change gets new column models (Panel remakes Tabulator's columns):
    the page's model graph walked again and the columns sent and laid out again, on every
    filter change that adds or drops a digit somewhere; and a column that narrows and
    widens as the filters move makes the table jump. New columns take their own widths.

    Parameters
    ----------
    shown : dict
        Column -> width of the table as shown now (empty before its first data).
    wanted : dict
        Column -> width its new data asks for.

    Returns
    -------
    dict
        Column -> width.
    """
    if set(shown) != set(wanted):
        return dict(wanted)
    return {column: max(width, shown[column]) for column, width in wanted.items()}


CHAR_PX, HEADER_CHAR_PX, SORTER_PX, PADDING_PX = 8, 8.5, 26, 16
"""A character of a cell and of a header (bold), the header's sort arrow, a cell's
padding, in pixels (the page's 14 px font)."""
MAX_COLUMN_PX = 420
"""The widest a column is made (longer text ends in an ellipsis)."""
WIDTH_SAMPLE_ROWS = 2000
"""Rows whose text sets a text column's width."""


def _longest_shown(values: pd.Series) -> int:
    """Characters of the longest value of a column as the table shows it."""
    unit = _formatted_unit(values.name)
    if not len(values):
        return 0
    if values.dtype.kind in "iuf" and unit:
        largest = float(np.nanmax(np.abs(values.to_numpy(dtype=float)), initial=0.0))
        shown = f"£{largest:,.2f}" if unit == "£" else f"{largest:.1f}%"
        return len(shown) + 1  # a minus sign
    if values.dtype.kind in "iu":
        return max(len(str(values.min())), len(str(values.max())))
    if isinstance(values.dtype, pd.CategoricalDtype):
        return max(map(len, map(str, values.cat.categories)), default=0)
    return max(map(len, map(str, values.iloc[:WIDTH_SAMPLE_ROWS])), default=0)


def _formatted_unit(column) -> str | None:
    """The unit, £ or %, of a column a table formats as pounds or as a percentage (its name
    ends with it), else None."""
    name = str(column)
    return name[-1] if name.endswith(("£", "%")) else None


def tabulator_formatters(frame: pd.DataFrame) -> dict:
    """Tabulator formatters for columns named with £ or %."""
    formatters = {}
    for column in frame.columns:
        unit = _formatted_unit(column)
        if unit == "£":
            formatters[column] = {"type": "money", "symbol": "£", "thousand": ",", "precision": 2}
        elif unit == "%":
            formatters[column] = {
                "type": "money",
                "symbol": "%",
                "symbolAfter": True,
                "precision": 1,
            }
    return formatters


def shaded_months(first, last) -> hv.VSpans:
    """A shading of the months ``first`` to ``last`` (month starts; None: nothing shaded).

    One glyph whose column data changes with the months (a ``VSpans``), not a Bokeh box
    annotation (``VSpan``): HoloViews gives a box new models for its top and bottom on every
    update, and a new model makes the server walk the whole page's model graph (35 ms).

    Parameters
    ----------
    first, last : Timestamp or None

    Returns
    -------
    holoviews.VSpans
    """
    half_month = pd.Timedelta(days=15)
    spans = pd.DataFrame(
        {"x0": pd.to_datetime([]), "x1": pd.to_datetime([])}
        if first is None
        else {"x0": [first - half_month], "x1": [last + half_month]}
    )
    # apply_ranges=False: the chart's axis spans its data, not the shading's half months
    return hv.VSpans(spans, kdims=["x0", "x1"]).opts(
        color=IMMATURE_COLOR, alpha=0.15, apply_ranges=False
    )
