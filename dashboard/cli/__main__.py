"""``python -m dashboard.cli``: the same as the ``collections-dashboard`` command."""

from dashboard.cli.commands import main

main()
