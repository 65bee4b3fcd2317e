"""The servable page: ``panel serve dashboard/app.py`` (``collections-dashboard serve`` runs it).

The dashboard itself lives in :mod:`dashboard.ui.app`; this file is only the entry point that
``panel serve`` runs as a script. It first installs the host guard (:mod:`dashboard.ui.hosts`:
only allowed host names are answered), then shows the dashboard, unless the request of this
session reached the app before the guard existed and names a host that is not allowed.
"""

from __future__ import annotations

import panel as pn

from dashboard.ui.app import serve_app
from dashboard.ui.hosts import install_host_guard, session_refusal

if __name__.startswith("bokeh"):
    install_host_guard()
    pn.extension("tabulator", "echarts", sizing_mode="stretch_width")
    refused = session_refusal()
    if refused is not None:
        pn.pane.Str(refused).servable(title="Refused")
    else:
        serve_app()
