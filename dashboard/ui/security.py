"""Login, session and response hardening of the served dashboard (``--basic-auth``).

What is guaranteed
------------------
For a server started by ``collections-dashboard serve`` (``python -m dashboard.ui.panel_serve``):

* **Only the login page without a login.** With ``--basic-auth``, a request without a valid,
  unrevoked session gets the login page (``/login``, GET and POST) or ``/logout``, nothing
  else: a page (``/``, ``/app``) answers ``302`` to ``/login?next=...``, anything else
  (static files, ``/components/...``, ``autoload.js``, the websocket, ``/favicon.ico``,
  ``/liveness``, unknown paths) answers ``403`` with one line of text. Guest endpoints named
  with Panel's ``--oauth-guest-endpoints`` / ``--oauth-optional`` stay open, as asked.
* **Panel's component resources import nothing new.** ``/components/<module>/...`` (Panel's
  ``ComponentResourceHandler`` imports ``<module>``) answers ``404`` unless the module is
  already imported by the server, with or without authentication.
* **``next`` stays on this site.** After a login the browser goes to ``next`` only when it is a
  same-site path: one ``/`` then no ``/`` or ``\\``, printable ASCII without spaces, no scheme
  or host, and the same once percent-decoded (up to three times); otherwise to ``/``.
* **Passwords.** A login needs the exact password (no whitespace stripping, compared in
  constant time); an empty or blank password, or a user whose password is not a JSON string,
  never logs in (``serve`` refuses such a users file at start, exit 2).
* **Rate limit** (:class:`LoginThrottle`). Failed logins are counted per client address and per
  user name. After 5 failures on either, the next attempt is checked only once
  ``2 ** (failures - 5)`` seconds (1, 2, 4, ... capped at 60 s) have passed since the last
  failure; earlier attempts answer ``429`` with ``Retry-After`` and are not checked or
  counted. A success clears its address and user name; failures are forgotten 15 minutes after
  the last one. So 300 guesses from one address take hours, not 0.4 s, and the real user waits
  at most 60 s once the guessing stops. The counts live in each server process (with
  ``--num-procs N`` an attacker gets N times the attempts).
* **Logout ends the session on the server.** A login sets, next to Panel's ``user`` cookie, a
  signed ``collections_session`` cookie holding ``GENERATION:RANDOM-ID:USER``. Every request is
  checked against it: ``GENERATION`` must be this server's (a random value drawn at start, so a
  restart ends every session), ``USER`` must match the ``user`` cookie and ``RANDOM-ID`` must not
  be revoked. ``/logout`` revokes the id in a file of the server's private folder
  (``$COLLECTIONS_SESSION_DIR``, which ``serve`` points at its private temporary folder, shared
  by ``--num-procs`` workers; otherwise a private folder of the launcher), kept until the
  cookie would have expired anyway (``--oauth-expiry-days``, default 1 day). An old cookie sent
  after logout gets the login page. A websocket opened before the logout stays open until its
  page closes.
* **Headers on every response** (pages, assets, login, refusals, errors): ``X-Frame-Options:
  DENY``, ``Content-Security-Policy: frame-ancestors 'none'`` (no ``script-src``: Bokeh needs
  inline scripts) and ``X-Content-Type-Options: nosniff``. The login and logout pages add
  ``default-src 'none'`` (inline styles and ``data:`` images only; forms post to this site)
  and ``Cache-Control: no-store``.
* **Cookies** get ``SameSite=Lax``, and ``Secure`` when the request came over https. Behind a
  TLS-terminating proxy pass ``--use-xheaders`` (a ``panel serve`` option): Tornado then trusts
  ``X-Forwarded-Proto``/``X-Scheme`` for the scheme and ``X-Real-Ip``/``X-Forwarded-For`` for
  the client address (used by the rate limit), so only use it behind a proxy that sets them.
* **The login and logout pages are self-contained**: inline styles, no image, a ``data:`` icon,
  no request to any other server (Panel's own pages load images from its CDN). A template given
  with ``--basic-login-template`` or ``--logout-template`` is used as given.

How it is installed, and why this way
-------------------------------------
One router hook, like the host guard of :mod:`dashboard.ui.hosts`: :func:`install_security`
wraps ``BokehTornado.find_handler`` (class-level, before ``panel serve`` builds its server,
in every ``--num-procs`` worker) around the host guard. Each request is routed first (host
guard, then Tornado's routes); the hook then looks at the handler class the route chose:

* Panel's ``BasicLoginHandler`` and ``LogoutHandler`` are replaced by :class:`LoginHandler` and
  :class:`LogoutHandler` (subclasses: Panel's endpoints, templates and cookies are kept);
* a request that needs a login and has none is routed to :class:`LoginRedirectHandler` or
  :class:`RefusedHandler`;
* every other handler class is served through a subclass with :class:`HardenedMixin` (headers,
  cookie flags), made once per class.

Not chosen: Panel's ``--auth-module``/``BasicAuthProvider`` alone (its ``get_user`` is consulted
by pages, ``autoload.js`` and the websocket, never by static files or ``/components``), and a
Tornado output transform for the headers (it runs before Tornado adds ``Set-Cookie``, so it
cannot set cookie flags). The gate applies to Panel's basic authentication (what ``serve
--basic-auth`` configures); with ``--oauth-provider``, Panel's OAuth checks apply as they are
(the headers, cookie flags and ``/components`` rule still do). A plain ``panel serve
dashboard/app.py`` gets the host guard only.
"""

from __future__ import annotations

import collections
import hmac
import json
import logging
import math
import os
import re
import secrets
import sys
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import tornado.web
from panel import auth as panel_auth
from panel.config import config
from panel.io.resources import BASIC_LOGIN_TEMPLATE, CDN_DIST, LOGOUT_TEMPLATE
from panel.io.state import state

from dashboard.ui.hosts import RefusedHostHandler, install_host_guard

SESSION_DIR_ENV = "COLLECTIONS_SESSION_DIR"
"""The server's private folder for revoked sessions (``serve`` points it at its own)."""

log = logging.getLogger(__name__)

SESSION_COOKIE = "collections_session"
"""Signed cookie ``GENERATION:ID:USER`` set at login, checked on every request."""
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
"""Sent with every response."""
LOGIN_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
"""Content-Security-Policy of the login and logout pages (no script, nothing from outside)."""
FREE_FAILURES = 5
"""Failed logins per address or user name answered without delay."""
BASE_DELAY = 1.0
"""Seconds to wait after ``FREE_FAILURES`` failures; doubles with each further failure."""
MAX_DELAY = 60.0
"""The longest wait between two checked attempts (seconds)."""
FORGET_AFTER = 15 * 60.0
"""Seconds after the last failure when an address or user name starts afresh."""
ERRORS = {"wrong": "Wrong user name or password."}
"""Messages the login page shows for ``?error=CODE`` (nothing else from the URL is shown)."""

_SESSION_COOKIES = frozenset(
    ("user", "id_token", SESSION_COOKIE, "next_url", "is_guest", "access_token")
    + ("refresh_token", "oauth_expiry", panel_auth.STATE_COOKIE_NAME)
)
"""Cookies a logout clears (those the request has)."""
_PRINTABLE = re.compile(r"[\x21-\x7e]*")
_security: Security | None = None

LOGIN_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Collections dashboard | {{ heading }}</title>
<link rel="icon" href="data:,">
<style>
* { box-sizing: border-box; margin: 0; padding: 0; }
html, body { height: 100%; }
body { font: 1em/1.6 system-ui, "Segoe UI", sans-serif; background: #f4f6f8; color: #1d2733; }
main { display: flex; align-items: center; justify-content: center; height: 100%; }
form { background: #fff; border: 1px solid #d8dee4; padding: 2em; width: 22em; }
h1 { font-size: 1.3em; margin-bottom: .6em; }
p { margin-bottom: 1em; }
label { display: block; margin-bottom: 1em; }
input { display: block; width: 100%; padding: .6em; border: 1px solid #c6ced6; }
button { width: 100%; padding: .7em; border: 0; background: #0b5cad; color: #fff; }
.error { color: #b00020; font-weight: bold; }
</style>
</head>
<body>
<main>
{% if logged_out %}
<form action=".{{ login_endpoint }}" method="get">
<h1>Collections dashboard</h1>
<p>You are logged out.</p>
<button type="submit">Log in again</button>
</form>
{% else %}
<form action=".{{ login_endpoint }}" method="post">
<h1>Collections dashboard</h1>
<p>Log in to see the dashboard.</p>
{% if message %}<p class="error" role="alert">{{ message }}</p>{% endif %}
<label>User name
<input name="username" type="text" autocomplete="username" autocapitalize="off"
 autocorrect="off" spellcheck="false" required autofocus></label>
<label>Password
<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>
{% endif %}
</main>
</body>
</html>
"""
)
"""The login and logout pages: inline styles, nothing loaded from anywhere."""


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` when it is a same-site path to go to after the login, else ``default``.

    Parameters
    ----------
    value : str or None
        The ``next`` query argument or cookie.
    default : str
        Where to go otherwise.

    Returns
    -------
    str
        ``value`` only when it (and each of up to three percent-decodings of it) starts with
        exactly one ``/``, holds printable ASCII without spaces or ``\\`` and has no scheme or
        host: ``/app?x=1`` passes; ``//host``, ``///host``, ``/\\host``, ``\\\\host``,
        ``https://host``, ``javascript:...``, ``/%2F%2Fhost``, ``/\\t/host`` do not.
    """
    if not value:
        return default
    text = value
    for _ in range(4):
        if not _local_path(text):
            log.warning("Ignored an off-site next URL: %r", value[:200])
            return default
        decoded = urllib.parse.unquote(text)
        if decoded == text:
            return value
        text = decoded
    log.warning("Ignored a next URL encoded over and over: %r", value[:200])
    return default


def _local_path(text: str) -> bool:
    if not _PRINTABLE.fullmatch(text) or "\\" in text:
        return False
    if not text.startswith("/") or text.startswith("//"):
        return False
    parts = urllib.parse.urlsplit(text)
    return not parts.scheme and not parts.netloc


class LoginThrottle:
    """Counts failed logins per key (client address, user name) and says how long to wait.

    Parameters
    ----------
    free : int
        Failures answered without delay.
    base, cap : float
        After ``n >= free`` failures the next check waits ``min(base * 2 ** (n - free), cap)``
        seconds from the last failure.
    forget : float
        Seconds after the last failure when a key's failures are forgotten.
    max_keys : int
        Keys remembered at most (the least recently failed are forgotten first).
    clock : callable
        Monotonic seconds (a fake clock in tests).
    """

    def __init__(
        self,
        free: int = FREE_FAILURES,
        base: float = BASE_DELAY,
        cap: float = MAX_DELAY,
        forget: float = FORGET_AFTER,
        max_keys: int = 10_000,
        clock=time.monotonic,
    ):
        self.free, self.base, self.cap, self.forget = free, base, cap, forget
        self.max_keys, self.clock = max_keys, clock
        self._failures: collections.OrderedDict[Any, tuple[int, float]] = collections.OrderedDict()

    def delay(self, failures: int) -> float:
        """Seconds between the last of ``failures`` failures and the next checked attempt.

        Parameters
        ----------
        failures : int

        Returns
        -------
        float
        """
        if failures < self.free:
            return 0.0
        return min(self.base * 2.0 ** min(failures - self.free, 64), self.cap)

    def wait(self, keys: Iterable[Any]) -> float:
        """Seconds to wait before an attempt with these keys may be checked (0: now).

        Parameters
        ----------
        keys : iterable
            E.g. ``[("address", "10.0.0.7"), ("user", "alice")]``.

        Returns
        -------
        float
        """
        now = self.clock()
        longest = 0.0
        for key in keys:
            entry = self._failures.get(key)
            if entry is None:
                continue
            count, last = entry
            if now - last > self.forget:
                del self._failures[key]
                continue
            longest = max(longest, last + self.delay(count) - now)
        return longest

    def failed(self, keys: Iterable[Any]) -> None:
        """Count a failed (checked) attempt for each key.

        Parameters
        ----------
        keys : iterable
        """
        now = self.clock()
        for key in keys:
            count, last = self._failures.pop(key, (0, now))
            if now - last > self.forget:
                count = 0
            self._failures[key] = (count + 1, now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, keys: Iterable[Any]) -> None:
        """Forget the failures of these keys (a correct login).

        Parameters
        ----------
        keys : iterable
        """
        for key in keys:
            self._failures.pop(key, None)


class Sessions:
    """Login sessions: this server's generation and the revoked session ids.

    Parameters
    ----------
    folder : Path or None
        Private folder shared by the server's processes, where revoked ids are appended to a
        file; ``None``: revocations are kept in this process only.
    generation : str, optional
        Drawn at random by default; sessions of another generation are not valid.
    """

    def __init__(self, folder: Path | None = None, generation: str | None = None):
        self.generation = generation or secrets.token_urlsafe(12)
        self.path = None if folder is None else Path(folder) / "revoked-sessions"
        self._revoked: dict[str, float] = {}
        self._seen: tuple[int, int] | None = None

    def new(self, user: str) -> str:
        """A new session value for ``user`` (to be signed into :data:`SESSION_COOKIE`).

        Parameters
        ----------
        user : str

        Returns
        -------
        str
            ``GENERATION:ID:USER`` with a random ``ID``.
        """
        return f"{self.generation}:{secrets.token_urlsafe(18)}:{user}"

    def session_id(self, value: bytes | str | None, user: str | None) -> str | None:
        """The id of a valid session of ``user``, or ``None``.

        Parameters
        ----------
        value : bytes or str or None
            The verified (signature checked) value of :data:`SESSION_COOKIE`.
        user : str or None
            The verified user of Panel's ``user`` cookie.

        Returns
        -------
        str or None
            ``None`` when the value is missing or malformed, of another generation or user, or
            revoked.
        """
        if not value or not user:
            return None
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        generation, _, rest = value.partition(":")
        sid, _, owner = rest.partition(":")
        if not sid or not hmac.compare_digest(generation, self.generation) or owner != user:
            return None
        return None if self.revoked(sid) else sid

    def revoked(self, sid: str) -> bool:
        """Whether the session id ``sid`` was revoked (by any process of this server).

        Parameters
        ----------
        sid : str

        Returns
        -------
        bool
        """
        self._reload()
        until = self._revoked.get(sid)
        return until is not None and until > time.time()

    def revoke(self, sid: str, lifetime_s: float) -> None:
        """Revoke ``sid`` for ``lifetime_s`` seconds (the longest its cookie can still live).

        Parameters
        ----------
        sid : str
        lifetime_s : float
        """
        until = time.time() + lifetime_s + 60
        self._revoked[sid] = until
        if self.path is not None:
            line = f"{sid} {until:.0f}\n".encode("ascii", errors="replace")
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line)  # one short append: atomic between processes
            finally:
                os.close(descriptor)

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return
        seen = (stat.st_size, stat.st_mtime_ns)
        if seen == self._seen:
            return
        now = time.time()
        with open(self.path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                sid, _, until = line.strip().partition(" ")
                try:
                    self._revoked[sid] = float(until)
                except ValueError:
                    continue
        self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
        self._seen = seen


class HardenedMixin:
    """Security headers on every response; ``SameSite=Lax`` (``Secure`` over https) cookies.

    Mixed into each handler class the server routes to (see :func:`hardened`).
    """

    def set_default_headers(self) -> None:
        """Tornado's hook, called for every response (also after an error clears it)."""
        super().set_default_headers()
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    def set_cookie(self, name, value, *args, **kwargs) -> None:
        """``RequestHandler.set_cookie`` with ``SameSite`` and, over https, ``Secure``."""
        if not kwargs.get("samesite"):
            kwargs["samesite"] = "Lax"
        if self.request.protocol == "https":
            kwargs["secure"] = True
        super().set_cookie(name, value, *args, **kwargs)


_hardened: dict[type, type] = {}


def hardened(handler_class: type) -> type:
    """``handler_class`` with :class:`HardenedMixin` (a subclass made once per class).

    Parameters
    ----------
    handler_class : type
        A ``tornado.web.RequestHandler`` subclass.

    Returns
    -------
    type
    """
    if issubclass(handler_class, HardenedMixin):
        return handler_class
    made = _hardened.get(handler_class)
    if made is None:
        made = type(
            f"Hardened{handler_class.__name__}",
            (HardenedMixin, handler_class),
            {"__module__": handler_class.__module__, "__doc__": handler_class.__doc__},
        )
        _hardened[handler_class] = made
    return made


class LoginHandler(HardenedMixin, panel_auth.BasicLoginHandler):
    """Panel's basic-auth login with a same-site ``next``, exact passwords and a rate limit."""

    def get(self) -> None:
        """The login page; remembers a same-site ``next`` in the ``next_url`` cookie."""
        next_url = safe_next(self.get_argument("next", None, strip=False), _default_next())
        if next_url != _default_next():
            self.set_cookie("next_url", next_url, httponly=True, path=_cookie_path())
        elif "next_url" in self.request.cookies:
            self.clear_cookie("next_url", path=_cookie_path())
        code = self.get_argument("error", "")
        self._page(ERRORS.get(code, ""))

    def post(self) -> None:
        """Check the password, unless this address or user name has to wait."""
        username = self.get_argument("username", "", strip=False)
        password = self.get_argument("password", "", strip=False)
        keys = [("address", self.request.remote_ip), ("user", username[:256])]
        throttle = _instance().throttle
        wait = throttle.wait(keys)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            self.set_status(429)
            self.set_header("Retry-After", str(seconds))
            self._page(f"Too many failed logins: try again in {seconds} s.")
            return
        if not self._validate(username, password):
            throttle.failed(keys)
            log.warning("Failed login for %r from %s", username[:64], self.request.remote_ip)
            self.redirect(f".{self._login_endpoint}?error=wrong")
            return
        throttle.succeeded(keys)
        self.set_current_user(username)
        next_url = safe_next(self.get_cookie("next_url"), _default_next())
        if "next_url" in self.request.cookies:
            self.clear_cookie("next_url", path=_cookie_path())
        if state.base_url and state.base_url != "/" and not next_url.startswith(state.base_url):
            next_url = state.base_url.rstrip("/") + next_url
        self.redirect(next_url)

    def _validate(self, username: str, password: str) -> bool:
        """Exact, constant-time comparison; a blank or non-string password never matches."""
        if not password.strip():
            return False
        expected = _expected_password(self.application, username)
        if not isinstance(expected, str) or not expected.strip():
            return False
        return hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8"))

    def set_current_user(self, user: str) -> None:
        """Panel's ``user`` cookies plus a new :data:`SESSION_COOKIE`."""
        super().set_current_user(user)
        if user:
            self.set_secure_cookie(
                SESSION_COOKIE,
                _instance().sessions.new(user),
                expires_days=config.oauth_expiry,
                httponly=True,
                path=_cookie_path(),
            )

    def _page(self, message: str) -> None:
        self.set_header("Cache-Control", "no-store")
        if self._login_template is not BASIC_LOGIN_TEMPLATE:  # --basic-login-template
            html = self._login_template.render(
                login_endpoint=self._login_endpoint, errormessage=message, PANEL_CDN=CDN_DIST
            )
        else:
            self.set_header("Content-Security-Policy", LOGIN_PAGE_CSP)
            html = LOGIN_PAGE.render(
                heading="Log in", login_endpoint=self._login_endpoint, message=message
            )
        self.finish(html)


class LogoutHandler(HardenedMixin, panel_auth.LogoutHandler):
    """Panel's logout, which also revokes the session on the server."""

    def get(self) -> None:
        """Revoke the session, clear the cookies, show the logged-out page."""
        security = _instance()
        user = _verified_cookie(self.application, "user", self.request)
        value = _verified_cookie(self.application, SESSION_COOKIE, self.request)
        sid = security.sessions.session_id(value, user.decode("utf-8") if user else None)
        if sid is not None:
            security.sessions.revoke(sid, float(config.oauth_expiry) * 86400)
            log.info("Logged out %r", user.decode("utf-8", errors="replace"))
        path = _cookie_path()
        for name in self.request.cookies:
            if name in _SESSION_COOKIES:
                self.clear_cookie(name, path=path)
                if path != "/":
                    self.clear_cookie(name)
        self.set_header("Cache-Control", "no-store")
        if self._logout_template is not LOGOUT_TEMPLATE:  # --logout-template
            html = self._logout_template.render(
                PANEL_CDN=CDN_DIST, LOGIN_ENDPOINT=self._login_endpoint
            )
        else:
            self.set_header("Content-Security-Policy", LOGIN_PAGE_CSP)
            html = LOGIN_PAGE.render(
                heading="Logged out", login_endpoint=self._login_endpoint, logged_out=True
            )
        self.finish(html)


class RefusedHandler(HardenedMixin, tornado.web.RequestHandler):
    """Answers ``status`` with one line of text, whatever the method and path.

    Parameters
    ----------
    status : int
    message : str
    """

    def initialize(self, status: int, message: str) -> None:
        self.status, self.message = status, message

    def check_xsrf_cookie(self) -> None:
        """The refusal is the answer, whatever the XSRF state."""

    def prepare(self) -> None:
        """Send the refusal before any method runs."""
        self.set_status(self.status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(self.message + "\n")


class LoginRedirectHandler(RefusedHandler):
    """Sends a browser asking for a page to the login page, with ``next`` = the page.

    Parameters
    ----------
    location : str
    """

    def initialize(self, location: str) -> None:
        self.location = location

    def prepare(self) -> None:
        """Redirect before any method runs."""
        self.set_header("Cache-Control", "no-store")
        self.redirect(self.location)


class Security:
    """The state of the hardening in this process: sessions, rate limit, the routing rule.

    Parameters
    ----------
    sessions : Sessions
    throttle : LoginThrottle
    """

    def __init__(self, sessions: Sessions, throttle: LoginThrottle):
        self.sessions, self.throttle = sessions, throttle

    def route(self, application: Any, request: Any, delegate: Any) -> Any:
        """The delegate that serves ``request``, given the one Tornado's routing chose.

        Parameters
        ----------
        application : bokeh.server.tornado.BokehTornado
        request : tornado.httputil.HTTPServerRequest
        delegate : tornado.web._HandlerDelegate
            From the host guard and Tornado's routes.

        Returns
        -------
        tornado.httputil.HTTPMessageDelegate
        """
        handler_class = getattr(delegate, "handler_class", None)
        gated = _basic_auth(application)
        if handler_class is None:  # not a handler route (none in a Bokeh server)
            if gated:
                return self._refuse(application, request, 403, "Forbidden")
            return delegate
        if handler_class is RefusedHostHandler:
            return self._delegate(application, request, delegate, handler_class)
        if gated:
            if handler_class is panel_auth.BasicLoginHandler:
                handler_class = LoginHandler
            elif handler_class is panel_auth.LogoutHandler:
                handler_class = LogoutHandler
        public = issubclass(handler_class, (LoginHandler, LogoutHandler))
        if gated and not public and not self._may_enter(application, request):
            return self._unauthenticated(application, request, handler_class)
        if _is_component_handler(handler_class):
            module = _component_module(delegate)
            if module not in sys.modules:
                log.warning("Refused /components for a module not imported: %r", module[:100])
                return self._refuse(application, request, 404, "Not found")
        return self._delegate(application, request, delegate, handler_class)

    def authenticated_user(self, application: Any, request: Any) -> str | None:
        """The user of a valid, unrevoked session of this server, or ``None``.

        Parameters
        ----------
        application : bokeh.server.tornado.BokehTornado
        request : tornado.httputil.HTTPServerRequest

        Returns
        -------
        str or None
        """
        user = _verified_cookie(application, "user", request)
        if user is None:
            return None
        name = user.decode("utf-8", errors="replace")
        value = _verified_cookie(application, SESSION_COOKIE, request)
        return name if self.sessions.session_id(value, name) is not None else None

    def _may_enter(self, application: Any, request: Any) -> bool:
        if self.authenticated_user(application, request) is not None:
            return True
        allow_guest = getattr(application.auth_provider, "_allow_guest", None)
        return bool(allow_guest and allow_guest(request.uri))

    def _unauthenticated(self, application: Any, request: Any, handler_class: type) -> Any:
        from bokeh.server.views.doc_handler import DocHandler
        from bokeh.server.views.root_handler import RootHandler

        login = application.prefix + (application.auth_provider.login_url or "/login")
        page = issubclass(handler_class, (DocHandler, RootHandler))
        upgrade = "websocket" in str(request.headers.get("Upgrade", "")).lower()
        if page and request.method in ("GET", "HEAD") and not upgrade:
            target = safe_next(request.uri, "")
            query = f"?next={urllib.parse.quote(target, safe='')}" if target else ""
            return application.get_handler_delegate(
                request, LoginRedirectHandler, {"location": login + query}
            )
        return self._refuse(application, request, 403, f"Forbidden: log in first at {login}")

    @staticmethod
    def _refuse(application: Any, request: Any, status: int, message: str) -> Any:
        return application.get_handler_delegate(
            request, RefusedHandler, {"status": status, "message": message}
        )

    @staticmethod
    def _delegate(application: Any, request: Any, delegate: Any, handler_class: type) -> Any:
        return application.get_handler_delegate(
            request,
            hardened(handler_class),
            delegate.handler_kwargs,
            delegate.path_args,
            delegate.path_kwargs,
        )


def session_folder(environ: dict[str, str] | None = None) -> Path | None:
    """The private folder named by ``$COLLECTIONS_SESSION_DIR``, when it is one.

    Parameters
    ----------
    environ : mapping, optional
        Default: ``os.environ``.

    Returns
    -------
    Path or None
        ``None`` when the variable is unset or names no folder owned by this user that only
        this user may write to.
    """
    value = (os.environ if environ is None else environ).get(SESSION_DIR_ENV, "")
    if not value:
        return None
    folder = Path(value)
    try:
        stat = folder.stat()
    except OSError:
        stat = None
    if stat is None or not folder.is_dir() or stat.st_uid != os.getuid() or stat.st_mode & 0o022:
        log.warning("$%s is not a private folder of this user: not used", SESSION_DIR_ENV)
        return None
    return folder


def install_security(folder: Path | None = None) -> Security:
    """Install the hardening for every Bokeh server of this process (idempotent).

    Installs the host guard (:func:`dashboard.ui.hosts.install_host_guard`) first, then wraps
    its routing: see the module docstring.

    Parameters
    ----------
    folder : Path, optional
        Private folder shared by the server's processes (revoked sessions); default
        ``$COLLECTIONS_SESSION_DIR`` (:func:`session_folder`), else revocations stay in each
        process.

    Returns
    -------
    Security

    Raises
    ------
    ValueError
        As :func:`~dashboard.ui.hosts.install_host_guard`.
    """
    global _security
    from bokeh.server.tornado import BokehTornado

    install_host_guard()
    if _security is None:
        _security = Security(Sessions(folder or session_folder()), LoginThrottle())
    inner = BokehTornado.find_handler
    if not getattr(inner, "security_guard", False):

        def find_handler(self, request, **kwargs):
            return _security.route(self, request, inner(self, request, **kwargs))

        find_handler.__doc__ = inner.__doc__
        find_handler.host_guard = getattr(inner, "host_guard", False)
        find_handler.security_guard = True
        BokehTornado.find_handler = find_handler
    return _security


def _instance() -> Security:
    return _security if _security is not None else install_security()


def _basic_auth(application: Any) -> bool:
    provider = getattr(application, "auth_provider", None)
    return isinstance(provider, panel_auth.BasicAuthProvider) and not isinstance(
        provider, panel_auth.OAuthProvider
    )


def _verified_cookie(application: Any, name: str, request: Any) -> bytes | None:
    """The signature-checked value of cookie ``name`` of ``request``, unexpired, or ``None``."""
    morsel = request.cookies.get(name) if request is not None else None
    secret = application.settings.get("cookie_secret")
    if morsel is None or not secret:
        return None
    return tornado.web.decode_signed_value(
        secret, name, morsel.value, max_age_days=float(config.oauth_expiry)
    )


def _expected_password(application: Any, username: str) -> Any:
    """The password configured for ``username`` (Panel's ``--basic-auth`` file or value)."""
    info = state._server_config.get(application, {}).get("basic_auth", config.basic_auth)
    if isinstance(info, str) and os.path.isfile(info):
        try:
            with open(info, encoding="utf-8") as handle:
                info = json.load(handle)
        except (OSError, ValueError):
            log.error("The basic-auth file cannot be read as JSON: nobody can log in")
            return None
    if isinstance(info, dict):
        return info.get(username)
    return info


def _default_next() -> str:
    return state.base_url or "/"


def _cookie_path() -> str:
    return config.cookie_path or "/"


def _is_component_handler(handler_class: type) -> bool:
    from panel.io.server import ComponentResourceHandler

    return issubclass(handler_class, ComponentResourceHandler)


def _component_module(delegate: Any) -> str:
    """The module a ``/components/<module>/...`` request names (as Panel's handler reads it)."""
    path = delegate.path_args[0] if delegate.path_args else b""
    if isinstance(path, bytes):
        path = path.decode("utf-8", errors="replace")
    return str(path).split("/", 1)[0]
