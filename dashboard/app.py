"""The servable page: ``panel serve dashboard/app.py`` (``collections-dashboard serve`` runs it).

The dashboard itself lives in :mod:`dashboard.ui.app`; this file is only the entry point that
``panel serve`` runs as a script.
"""

from __future__ import annotations

import panel as pn

from dashboard.ui.app import TITLE, create_app

if __name__.startswith("bokeh"):
    pn.extension("tabulator", "echarts", sizing_mode="stretch_width")
    create_app().servable(title=TITLE)
