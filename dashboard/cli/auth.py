"""Authentication settings for ``collections-dashboard serve``: secrets never on the command line.

Passwords come from a file or an environment variable and reach ``panel serve`` as a
private JSON credentials file (mode 0600, deleted when the server stops); the cookie
secret reaches it through ``PANEL_COOKIE_SECRET``. Panel's OAuth options pass through.
A users file whose JSON is not ``{"user": "password", ...}`` with non-blank string
passwords is refused, as is any spelling of a secret option that ``panel serve`` would
accept (its argument parser takes unambiguous abbreviations such as ``--cookie-secre``).
What the server does with the login is in :mod:`dashboard.ui.security`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dashboard import SourceError

COOKIE_SECRET_ENV = "PANEL_COOKIE_SECRET"
SECRET_OPTIONS = ("--cookie-secret", "--oauth-secret", "--oauth-encryption-key")
"""``panel serve`` options that would put a secret on the command line (refused)."""
PASSWORD_OPTIONS = ("--basic-auth",)
"""``panel serve`` options that take a password (``serve`` takes a FILE instead)."""
_JSON_KINDS = {
    bool: "true/false",
    type(None): "null",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def read_password(password_file: Path | None, password_env: str | None) -> dict[str, str] | str:
    """The credentials: a ``{user: password}`` mapping or one password.

    Parameters
    ----------
    password_file : Path or None
        A JSON file ``{"user": "password", ...}`` (its text starts with ``{``) or a text file
        whose first line is the password (surrounding whitespace removed).
    password_env : str or None
        Name of an environment variable holding the password (used exactly).

    Returns
    -------
    dict or str

    Raises
    ------
    SourceError
        When both or neither are given, the file is missing, the variable unset or blank, the
        password blank, or the JSON not an object of user names and non-blank string passwords
        (one line naming the user, never a password).
    """
    if (password_file is None) == (password_env is None):
        raise SourceError(
            "give the password with exactly one of --basic-auth FILE or --basic-auth-env VAR"
        )
    if password_env is not None:
        password = os.environ.get(password_env, "")
        if not password.strip():
            raise SourceError(f"--basic-auth-env {password_env}: the variable is unset or empty")
        return password
    if not password_file.is_file():
        raise SourceError(
            f"--basic-auth {password_file}: no such file (the password goes in a file)"
        )
    text = password_file.read_text(encoding="utf-8").strip()
    if text.startswith("{"):
        try:
            users = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"--basic-auth {password_file}: starts with '{{' but is not valid JSON "
                f'({exc.msg} at line {exc.lineno}); give {{"user": "password", ...}}'
            ) from None
        return check_users(users, f"--basic-auth {password_file}")
    password = text.splitlines()[0].strip() if text else ""
    if not password:
        raise SourceError(f"--basic-auth {password_file}: the file is empty")
    return password


def check_users(users: object, setting: str) -> dict[str, str]:
    """Check a ``{user: password}`` mapping: user names and non-blank string passwords.

    Parameters
    ----------
    users : object
        Parsed from a users file.
    setting : str
        Where it comes from, named in the error message.

    Returns
    -------
    dict
        ``users``.

    Raises
    ------
    SourceError
        One line naming the setting and the user whose entry is wrong; passwords are never
        shown.
    """
    if not isinstance(users, dict) or not users:
        raise SourceError(f'{setting}: give a JSON object {{"user": "password", ...}}')
    for user, password in users.items():
        shown = repr(user[:40])
        if not user.strip() or user != user.strip() or not user.isprintable():
            raise SourceError(
                f"{setting}: user name {shown} is blank, has surrounding spaces or control "
                "characters"
            )
        if not isinstance(password, str):
            kind = _JSON_KINDS.get(type(password), type(password).__name__)
            raise SourceError(
                f"{setting}: the password of user {shown} must be a JSON string, not {kind}"
            )
        if not password.strip():
            raise SourceError(f"{setting}: user {shown} has an empty password")
    return users


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

    Raises
    ------
    SourceError
        When a user name is blank or a password blank or not a string (:func:`check_users`).
    """
    users = credentials if isinstance(credentials, dict) else {user: credentials}
    users = check_users(users, "--basic-auth-user" if isinstance(credentials, str) else "users")
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
    """Refuse ``panel serve`` options that would show a secret in the process list.

    ``panel serve`` parses its options with :mod:`argparse`, which accepts any unambiguous
    prefix of an option (``--cookie-secre``, ``--oauth-s``, ``--basic-a``): every prefix of a
    secret option is refused, with or without ``=VALUE``.

    Parameters
    ----------
    arguments : list of str
        The options ``serve`` passes to ``panel serve``.

    Raises
    ------
    SourceError
        One line naming the option and where the secret goes instead.
    """
    for argument in arguments:
        name = argument.split("=", 1)[0]
        if not name.startswith("--") or len(name) < 3:
            continue
        secret = next((option for option in SECRET_OPTIONS if option.startswith(name)), None)
        if secret is not None:
            spelled = name if name == secret else f"{name} (an abbreviation of {secret})"
            raise SourceError(
                f"{spelled} puts a secret on the command line: use --cookie-secret-file or "
                f"${COOKIE_SECRET_ENV} (and PANEL_OAUTH_SECRET for OAuth) instead"
            )
        if any(option.startswith(name) for option in PASSWORD_OPTIONS):
            raise SourceError(
                f"{name}: the password goes in a file: give --basic-auth FILE (or "
                "--basic-auth-env VAR) before any panel option"
            )
