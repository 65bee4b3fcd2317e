"""Views of the early-warning score: how well it ranks (out of time), its calibration, and
the customers Current today most likely to fall behind.

Pure functions like the other chart modules: the model's ``early_warning`` and
``watchlist`` outputs in, Markdown, a HoloViews object or a DataFrame out.
"""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import NumeralTickFormatter

from dashboard.score import ROLL_RISK, TARGET
from dashboard.ui.style import SIZE, markdown_text, no_data, wrap_title
from dashboard.vocab import DIMENSION_LABELS

SCORE_COLOR = "#7b3294"
MODEL_WORDS = {
    "logistic": "A logistic regression",
    "boosting": "Histogram gradient boosting (scikit-learn)",
}
"""Each model kind in words."""


def evaluation_note(warning: dict | None) -> str:
    """What the score predicts and how well it did on the latest month-ends it could be
    checked on, as Markdown.

    Parameters
    ----------
    warning : dict or None
        ``CollectionsModel.early_warning``.

    Returns
    -------
    str
    """
    if not warning:
        return "**Early-warning score** — computed when this tab is opened."
    if "evaluation" not in warning:
        return f"**Early-warning score** — {markdown_text(warning.get('message', ''))}"
    evaluation = warning["evaluation"]
    return (
        f"**Early-warning score**: the probability of being {markdown_text(TARGET)}. "
        f"{_checked(evaluation, 'fell behind')} Scores below are on "
        f"{evaluation.as_of:%d %b %Y}, for the selection; customers already in arrears are in "
        "the *Worklist*."
    )


def roll_risk_note(roll_risk: dict | None) -> str:
    """What the worklist's roll risk predicts and how well it did out of time, as Markdown
    (empty when the worklist neither shows nor ranks by it).

    Parameters
    ----------
    roll_risk : dict or None
        ``CollectionsModel.roll_risk``.

    Returns
    -------
    str
    """
    if not roll_risk:
        return ""
    if "evaluation" not in roll_risk:
        return f"**Roll risk** — {markdown_text(roll_risk.get('message', ''))}"
    return (
        f"**Roll risk %**: the probability of being {markdown_text(ROLL_RISK.text)}, so the "
        "Early queue can be worked from who is most likely to reach 91+ days. "
        f"{_checked(roll_risk['evaluation'], 'reached 91+ days')} Customers 91+ days past "
        "due have none (they are past the event) and come last when ranked by it."
    )


def _checked(evaluation, happened: str) -> str:
    """How a score was made and how well it ranked out of time, in one paragraph."""
    row = evaluation.metrics.iloc[0]
    trained, tested = evaluation.train_month_ends, evaluation.test_month_ends
    model = MODEL_WORDS.get(str(evaluation.metrics.index[0]), str(evaluation.metrics.index[0]))
    return (
        f"{model} on features known at the scoring day only (ledger history, "
        "payment behaviour, actions and arrangements so far, customer dimensions), trained on "
        f"month-ends {trained[0]:%b %Y} – {trained[-1]:%b %Y} and checked **out of time** on "
        f"{tested[0]:%b %Y} – {tested[-1]:%b %Y} ({int(row['test_rows']):,} customer-months, "
        f"{row['base_rate']:.1%} of them {happened}): **AUC {row['auc']:.3f}**, Brier score "
        f"{row['brier']:.4f}; the highest-scoring tenth held **{row['top_decile_capture']:.0%} "
        f"of those who {happened}** ({row['top_decile_rate']:.1%} of them did, against "
        f"{row['base_rate']:.1%} overall)."
    )


def not_scored(scores: dict) -> pn.pane.Alert:
    """The pane in place of a score's chart while the score is being computed, or when the
    dashboard does not compute it (the note above the charts says why)."""
    if scores.get("pending"):
        text = "**Being computed.** The chart appears here by itself when the score is ready."
    else:
        text = "**No score in the dashboard.** The note above says why and how to compute it."
    return pn.pane.Alert(text, alert_type="secondary")


def calibration_chart(warning: dict | None):
    """Mean score against the observed rate per score decile, out of time.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if warning and "evaluation" not in warning:
        return not_scored(warning)
    if not warning:
        return no_data("No score for this book")
    calibration = warning["evaluation"].calibration
    if calibration.empty:
        return no_data("Too few month-ends to check the score")
    frame = calibration.assign(bin=calibration["bin"].astype(int))
    top = float(max(frame["mean_score"].max(), frame["observed_rate"].max(), 0.01)) * 1.05
    diagonal = hv.Curve([(0, 0), (top, top)], "mean_score", "observed_rate").opts(
        color="#9e9e9e", line_dash="dashed"
    )
    points = frame.hvplot.line(
        x="mean_score",
        y="observed_rate",
        color=SCORE_COLOR,
        line_width=2,
        hover_cols=["bin", "rows"],
        label="score deciles",
        **SIZE,
    ) * frame.hvplot.scatter(
        x="mean_score", y="observed_rate", color=SCORE_COLOR, size=60, hover_cols=["bin", "rows"]
    )
    return (diagonal * points).opts(
        title=wrap_title(
            "Calibration out of time: predicted (mean score per decile) against observed "
            "(dashed: perfect)"
        ),
        xlabel="mean score of the decile",
        ylabel="share who fell 31+ days behind",
        xformatter=NumeralTickFormatter(format="0%"),
        yformatter=NumeralTickFormatter(format="0%"),
        xlim=(0, top),
        ylim=(0, top),
        legend_position="top_left",
        shared_axes=False,
    )


SCORE_BANDS = (0.0, 0.02, 0.05, 0.10, 0.20, 0.50, 1.0)
"""Score bands of the distribution chart (their edges)."""


def score_distribution_chart(watchlist: pd.DataFrame | None, warning: dict | None = None):
    """How many of the selection's Current customers fall in each score band.

    Parameters
    ----------
    watchlist : DataFrame or None
        ``CollectionsModel.watchlist``.
    warning : dict, optional
        ``CollectionsModel.early_warning``: while it has no score (being computed, or not
        computed in the dashboard) the chart says so instead of "no customer".

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    if warning and "evaluation" not in warning:
        return not_scored(warning)
    if watchlist is None or watchlist.empty:
        return no_data("No customer Current in this selection")
    edges = np.asarray(SCORE_BANDS)
    band = np.clip(np.searchsorted(edges, watchlist["score"].to_numpy(), side="right") - 1, 0, 5)
    labels = [f"{lo:.0%}–{hi:.0%}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    frame = pd.DataFrame({"band": labels, "customers": np.bincount(band, minlength=len(labels))})
    frame["share"] = frame["customers"] / frame["customers"].sum()
    return hv.Bars(frame, kdims=["band"], vdims=["customers", "share"]).opts(
        color=SCORE_COLOR,
        responsive=True,
        height=260,
        title=wrap_title(f"Customers Current today, by early-warning score ({len(watchlist):,})"),
        xlabel="score (chance of falling 31+ days behind within three month-ends)",
        ylabel="customers",
        tools=["hover"],
        hover_tooltips=[
            ("Score", "@band"),
            ("Customers", "@customers{0,0}"),
            ("Share", "@share{0.0%}"),
        ],
        shared_axes=False,
    )


WATCH_COLUMNS = {
    "customer_id": "Customer",
    "score": "Score %",
    "region": "Region",
    "tariff": "Tariff",
    "income_band": "Income band",
    "is_vulnerable": "Vulnerable",
    "prefers_direct_debit": "Direct debit",
}


def watchlist_table(watchlist: pd.DataFrame | None) -> pd.DataFrame:
    """The watch list with readable columns, highest score first.

    Returns
    -------
    DataFrame
    """
    if watchlist is None:
        return pd.DataFrame(columns=list(WATCH_COLUMNS.values()))
    frame = watchlist[list(WATCH_COLUMNS)].rename(columns=WATCH_COLUMNS)
    frame["Score %"] = (watchlist["score"] * 100).round(1).to_numpy()
    for column in ("Region", "Tariff", "Income band"):
        frame[column] = frame[column].astype(str)
    for column in ("Vulnerable", "Direct debit"):
        frame[column] = np.where(frame[column].astype(int) == 1, "Yes", "No")
    return frame.reset_index(drop=True)


WATCH_NOTE = (
    "**Watch list** — customers of the selection Current today, most likely to fall 31+ days "
    "behind first. Click a row to open the customer. "
    + ", ".join(DIMENSION_LABELS.get(d, d) for d in ("region", "tariff", "income_band"))
    + " as in the filters."
)
