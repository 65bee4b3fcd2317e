"""The calibration plot of the early-warning score: observed event rate against mean score
per score decile, one line per model, beside the diagonal of perfect calibration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def calibration_plot(calibration: pd.DataFrame, title: str = "Early-warning score calibration"):
    """An hvplot overlay of a calibration table.

    Parameters
    ----------
    calibration : DataFrame
        :attr:`dashboard.score.Evaluation.calibration` (``model``, ``mean_score``,
        ``observed_rate``, ``rows``).
    title : str, optional

    Returns
    -------
    holoviews.Overlay
    """
    import holoviews as hv
    import hvplot.pandas  # noqa: F401  (registers .hvplot)

    top = float(max(calibration["mean_score"].max(), calibration["observed_rate"].max(), 0.01))
    diagonal = hv.Curve([(0, 0), (top, top)], "mean_score", "observed_rate").opts(
        color="grey", line_dash="dashed"
    )
    lines = calibration.hvplot.line(
        x="mean_score",
        y="observed_rate",
        by="model",
        hover_cols=["bin", "rows"],
        xlabel="mean score (decile)",
        ylabel="observed rate",
    )
    points = calibration.hvplot.scatter(x="mean_score", y="observed_rate", by="model")
    return (diagonal * lines * points).opts(
        title=title, width=520, height=400, legend_position="top_left"
    )


def save_calibration_plot(calibration: pd.DataFrame, path: str | Path) -> Path:
    """Write the calibration plot: a ``.png`` by Matplotlib, anything else as HTML.

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.suffix.lower() == ".png":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(5.5, 4.2))
        top = float(max(calibration["mean_score"].max(), calibration["observed_rate"].max()))
        axes.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect")
        for model, table in calibration.groupby("model", sort=False):
            axes.plot(table["mean_score"], table["observed_rate"], marker="o", label=model)
        axes.set(xlabel="mean score (decile)", ylabel="observed rate", title="Calibration")
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        return path
    import holoviews as hv

    hv.save(calibration_plot(calibration), path, backend="bokeh")
    return path
