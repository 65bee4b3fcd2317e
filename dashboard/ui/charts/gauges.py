"""KPI gauges: one dial per headline figure of :data:`dashboard.catalog.KPIS`, coloured
green / amber / red by its thresholds."""

from __future__ import annotations

import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import numpy as np
import panel as pn

from dashboard.catalog import KPI_BY_NAME
from dashboard.ui.style import GAUGE_COLORS


def kpi_color_ranges(kpi: str, thresholds: tuple[float, float]) -> list[tuple[float, str]]:
    """Gauge colour bands for a KPI: green / amber / red by its thresholds.

    Parameters
    ----------
    kpi : str
        A name in :data:`dashboard.catalog.KPIS`.
    thresholds : (float, float)
        Lower and upper threshold as fractions.

    Returns
    -------
    list of (float, str)
        Bands as (upper end as a fraction of the dial, colour), the format of
        ``panel.indicators.Gauge.colors``; the dial spans the KPI's ``dial``.
    """
    low, high = (t * 100 / KPI_BY_NAME[kpi].dial[1] for t in sorted(thresholds))
    low, high = min(low, 1.0), min(high, 1.0)
    green, amber, red = GAUGE_COLORS
    if KPI_BY_NAME[kpi].better == "higher":
        return [(low, red), (high, amber), (1.0, green)]
    return [(low, green), (high, amber), (1.0, red)]


def kpi_status(kpi: str, value: float, thresholds: tuple[float, float]) -> str:
    """``"green"``, ``"amber"``, ``"red"`` or ``"no data"`` for a KPI value."""
    if value is None or np.isnan(value):
        return "no data"
    low, high = sorted(thresholds)
    if KPI_BY_NAME[kpi].better == "higher":
        return "red" if value < low else "amber" if value < high else "green"
    return "green" if value < low else "amber" if value < high else "red"


def kpi_gauge(kpi: str) -> pn.indicators.Gauge:
    """A persistent gauge for one KPI (update it with :func:`update_gauge`)."""
    return pn.indicators.Gauge(
        label=KPI_BY_NAME[kpi].label,
        value=0,
        bounds=KPI_BY_NAME[kpi].dial,
        format="{value}%",
        width=250,
        height=230,
        title_size=13,
        num_splits=5,
        margin=(0, 5),
    )


def update_gauge(
    gauge: pn.indicators.Gauge, kpi: str, value: float, thresholds: tuple[float, float]
) -> None:
    """Set a gauge's value (in %) and its colour bands; NaN shows "no data"."""
    gauge.colors = kpi_color_ranges(kpi, thresholds)
    if value is None or np.isnan(value):
        gauge.label = f"{KPI_BY_NAME[kpi].label} (no data)"
        gauge.value = 0
    else:
        gauge.label = KPI_BY_NAME[kpi].label
        gauge.value = min(round(float(value) * 100, 1), gauge.bounds[1])
