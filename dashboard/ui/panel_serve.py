"""``python -m dashboard.ui.panel_serve APP [OPTIONS]``: ``panel serve APP [OPTIONS]`` with the
host guard of :mod:`dashboard.ui.hosts` and the login and response hardening of
:mod:`dashboard.ui.security` installed before the server is built.

``collections-dashboard serve`` runs the dashboard this way, so that every request, in every
``--num-procs`` worker, is checked against the allowed hosts (``$COLLECTIONS_ALLOWED_HOSTS``
plus the loopback names for the port served) and, with ``--basic-auth``, for a valid session
before any handler runs; every response carries the security headers.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from dashboard.ui.security import install_security, session_folder


def main(argv: list[str] | None = None) -> None:
    """Install the host guard and the hardening, then run ``panel serve`` with ``argv``.

    Parameters
    ----------
    argv : list of str, optional
        ``panel serve`` arguments (default: this process's own, ``sys.argv[1:]``).
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        install_security(session_folder() or _private_folder())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from panel.command import main as panel_main

    sys.argv = ["panel", "serve", *arguments]
    panel_main()


def _private_folder() -> Path:
    """A private folder for revoked sessions, shared by ``--num-procs`` workers (forked after
    this), removed when this process exits; used when ``$COLLECTIONS_SESSION_DIR`` names none
    (``collections-dashboard serve`` gives its own private folder there)."""
    folder = Path(tempfile.mkdtemp(prefix="collections-sessions-"))
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    return folder


if __name__ == "__main__":
    main()
