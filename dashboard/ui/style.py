"""The look every view shares: colours, chart size, segment labels, the no-data pane and
safe Markdown text.

One colour per segment value in every chart (:func:`segment_colors`), an explicit "no data
for this selection" instead of empty axes, and data text escaped before any Markdown pane.
"""

from __future__ import annotations

import html

import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import pandas as pd
import panel as pn

from dashboard.vocab import ACTIONS, FLAG_DIMENSIONS

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


ACTION_COLORS = dict(zip(ACTIONS, ("#4c78a8", "#f58518", "#54a24b", "#e45756"), strict=True))


IMMATURE_COLOR = "#9e9e9e"


GAUGE_COLORS = ("#2e7d32", "#f9a825", "#c62828")
"""Green, amber, red."""


HEIGHT = 320


SIZE = {"responsive": True, "height": HEIGHT}
"""Size of every chart: full width, fixed height (given to each hvplot call)."""


NO_DATA = "No data for this selection"


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
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def markdown_text(text: str) -> str:
    """Text from the data made safe for a Markdown/HTML pane: shown as typed, never as markup.

    Chart titles, axes, legends and Tabulator cells already show text as text; Markdown,
    HTML and Alert panes render markup, so every data string goes through this first.
    """
    marked = "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in str(text))
    return html.escape(marked, quote=True)


MARKDOWN_SPECIALS = set("\\`*_{}[]()#+-!|~")


def no_data(message: str = NO_DATA) -> pn.pane.Alert:
    """The pane shown instead of an empty chart."""
    return pn.pane.Alert(f"**{message}.** Widen the filters or the period.", alert_type="warning")


def with_labels(frame: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Add a ``segment`` column of labels in category order."""
    values = frame[dim]
    categories = values.cat.categories if hasattr(values, "cat") else sorted(values.unique())
    labels = segment_labels(dim, categories)
    mapping = dict(zip(categories, labels, strict=True))
    segment = pd.Categorical(values.map(mapping), categories=labels, ordered=True)
    return frame.assign(segment=segment)


def tabulator_formatters(frame: pd.DataFrame) -> dict:
    """Tabulator formatters for columns named with £ or %."""
    formatters = {}
    for column in frame.columns:
        if column.endswith("£"):
            formatters[column] = {"type": "money", "symbol": "£", "thousand": ",", "precision": 2}
        elif column.endswith("%"):
            formatters[column] = {
                "type": "money",
                "symbol": "%",
                "symbolAfter": True,
                "precision": 1,
            }
    return formatters
