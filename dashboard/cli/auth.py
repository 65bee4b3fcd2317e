"""Authentication settings for ``collections-dashboard serve``: secrets never on the command line.

Passwords come from a file or an environment variable and reach ``panel serve`` as a
private JSON credentials file (mode 0600, deleted when the server stops); the cookie
secret reaches it through ``PANEL_COOKIE_SECRET``. Panel's OAuth options pass through.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dashboard import SourceError

COOKIE_SECRET_ENV = "PANEL_COOKIE_SECRET"
SECRET_OPTIONS = ("--cookie-secret", "--oauth-secret", "--oauth-encryption-key")
"""``panel serve`` options that would put a secret on the command line (refused)."""


def read_password(password_file: Path | None, password_env: str | None) -> dict[str, str] | str:
    """The credentials: a ``{user: password}`` mapping or one password.

    Parameters
    ----------
    password_file : Path or None
        A JSON file ``{"user": "password", ...}`` or a text file whose first line is the
        password.
    password_env : str or None
        Name of an environment variable holding the password.

    Returns
    -------
    dict or str

    Raises
    ------
    SourceError
        When both or neither are given, the file is missing or the variable unset/empty.
    """
    if (password_file is None) == (password_env is None):
        raise SourceError(
            "give the password with exactly one of --basic-auth FILE or --basic-auth-env VAR"
        )
    if password_env is not None:
        password = os.environ.get(password_env, "")
        if not password:
            raise SourceError(f"--basic-auth-env {password_env}: the variable is unset or empty")
        return password
    if not password_file.is_file():
        raise SourceError(
            f"--basic-auth {password_file}: no such file (the password goes in a file)"
        )
    text = password_file.read_text(encoding="utf-8").strip()
    try:
        users = json.loads(text)
    except json.JSONDecodeError:
        users = None
    if isinstance(users, dict) and users and all(isinstance(v, str) for v in users.values()):
        return users
    password = text.splitlines()[0].strip() if text else ""
    if not password:
        raise SourceError(f"--basic-auth {password_file}: the file is empty")
    return password


def write_credentials(credentials: dict[str, str] | str, user: str, folder: Path) -> Path:
    """Write a private JSON credentials file for ``panel serve --basic-auth``.

    Parameters
    ----------
    credentials : dict or str
        From :func:`read_password`; a single password belongs to ``user``.
    user : str
        User name for a single password.
    folder : Path
        A private folder (e.g. a TemporaryDirectory).

    Returns
    -------
    Path
    """
    users = credentials if isinstance(credentials, dict) else {user: credentials}
    path = folder / "credentials.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(users, handle)
    return path


def cookie_secret(secret_file: Path | None) -> str:
    """The cookie secret from a file or ``$PANEL_COOKIE_SECRET``; required with auth.

    Raises
    ------
    SourceError
        When neither gives a secret of at least 16 characters.
    """
    secret = os.environ.get(COOKIE_SECRET_ENV, "")
    if secret_file is not None:
        if not secret_file.is_file():
            raise SourceError(f"--cookie-secret-file {secret_file}: no such file")
        secret = secret_file.read_text(encoding="utf-8").strip()
    if len(secret) < 16:
        raise SourceError(
            "authentication needs a cookie secret of 16+ characters: "
            f"--cookie-secret-file FILE or ${COOKIE_SECRET_ENV}"
        )
    return secret


def refuse_secrets_in(arguments: list[str]) -> None:
    """Refuse ``panel serve`` options that would show a secret in the process list."""
    for argument in arguments:
        name = argument.split("=", 1)[0]
        if name in SECRET_OPTIONS:
            raise SourceError(
                f"{name} puts a secret on the command line: use --cookie-secret-file or "
                f"${COOKIE_SECRET_ENV} (and PANEL_OAUTH_SECRET for OAuth) instead"
            )
        if name == "--basic-auth":
            raise SourceError("--basic-auth takes a FILE here; use it before any panel option")
