"""``collections-dashboard``: the command line (``commands``), the summary it prints
(``summary``) and the served app's login settings (``auth``)."""

from __future__ import annotations

from dashboard.cli.commands import app, main

__all__ = ["app", "main"]
