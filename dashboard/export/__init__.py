"""Exports, each drawn from its own model: a self-contained HTML page (``html``) and PNG
figures (``figures``)."""

from __future__ import annotations

from dashboard.export.figures import (
    FIGURES,
    draw_figure,
    export_figures,
    figure_frames,
    write_figures,
)
from dashboard.export.html import (
    DEFAULT_SEGMENTS,
    EXPORT_METRICS,
    WORKLIST_ROWS,
    StaticDashboard,
    export_html,
    export_presets,
    inline_panel_resources,
)

__all__ = [
    "DEFAULT_SEGMENTS",
    "EXPORT_METRICS",
    "FIGURES",
    "WORKLIST_ROWS",
    "StaticDashboard",
    "draw_figure",
    "export_figures",
    "export_html",
    "export_presets",
    "figure_frames",
    "inline_panel_resources",
    "write_figures",
]
