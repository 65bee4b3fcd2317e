"""The served dashboard answers only to allowed host names (against DNS rebinding).

A web page on ``evil.example`` that re-binds its own name to ``127.0.0.1`` (or to the
server's address on the office network) makes the analyst's browser send requests to this
server with ``Host: evil.example:PORT``; the browser treats the answers as same-origin, so
the page could read the dashboard. Tornado and Bokeh answer any ``Host``, and Tornado 6.6
accepts a websocket whose ``Origin`` equals its ``Host`` before Bokeh's
``--allow-websocket-origin`` list is consulted. So the server checks the host itself.

The rule
--------
A request is served only when its ``Host`` header names an allowed host; a websocket
handshake also needs its ``Origin`` (when it sends one: browsers always do) to name an allowed
host, even when it equals ``Host``. Anything else gets ``403`` and one line of text naming
the refused host and the setting that allows it: no page, no session token, no asset, no
handshake, no login page, no liveness answer. Allowed are:

* the loopback names ``127.0.0.1``, ``localhost`` and ``[::1]`` with the port the request
  arrived on (the local end of its connection), and the address it arrived at (an address of
  this machine: an IP-literal host is the server's own origin, never a re-bound name);
* every entry of ``$COLLECTIONS_ALLOWED_HOSTS`` (comma-separated ``NAME[:PORT]``).
  ``collections-dashboard serve`` fills it from ``--allow-host``, the names given to
  ``--allow-websocket-origin``, ``--address`` and the variable's own value.

Names compare exactly, case-insensitively, without a trailing dot; IPv6 addresses are
bracketed (``[::1]:5006``). An entry without a port allows the name on any port (a team name
reached through a proxy on 443 as well as directly); a ``Host`` without a port means the
scheme's port (80, or 443 over TLS).

Where the check runs
--------------------
Before any handler, in Tornado's routing: every request a Bokeh server receives (page,
static file, websocket, login, liveness, Panel's component resources) goes through
``find_handler`` of its ``BokehTornado`` application, the Router method of Tornado's public
routing interface. Panel and Bokeh build that application inside ``panel serve`` and hand
it to no hook a served script can reach, so :func:`install_host_guard` overrides
``BokehTornado.find_handler`` on the class (as Panel itself replaces Bokeh's ``Server``
class): a refused request is routed to :class:`RefusedHostHandler`, any other to Tornado's
own routing. Being class-level, it guards a server built before or after it is installed
(and every other Bokeh server of the process, e.g. an in-process dask dashboard, with the
same rule). Not chosen: Bokeh's ``on_server_loaded`` hook (directory apps only, and it gets
no Tornado application), ``extra_patterns`` (routes added after Bokeh's, not before them) and
Panel's ``authorize_callback`` (consulted for app pages, not for static files or websockets).

It is installed

* by ``python -m dashboard.ui.panel_serve`` (what ``collections-dashboard serve`` runs:
  ``panel serve`` with the guard installed first), so no request, in any ``--num-procs``
  worker, is answered before the check;
* by ``dashboard/app.py`` when it runs, for a plain ``panel serve dashboard/app.py``: with
  ``--warm`` (one process) that is before the server starts; without it, on the first
  session. Requests routed before that are checked again by the app itself
  (:func:`session_refusal`): a foreign host then gets a page saying it is refused (with a
  session token, but no data: the session holds the refusal only, and its websocket is refused).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import tornado.web

ALLOWED_HOSTS_ENV = "COLLECTIONS_ALLOWED_HOSTS"
"""Environment variable: extra allowed hosts, comma-separated ``NAME[:PORT]``."""
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
"""Names allowed on the port served, always."""
HOW_TO_ALLOW = f"allow it with --allow-host or ${ALLOWED_HOSTS_ENV}"

log = logging.getLogger(__name__)

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_CHECKED = "collections_host_checked"
"""Attribute the router guard sets on each request it let through."""
_guard: HostGuard | None = None


class Host(NamedTuple):
    """A host name and an optional port, as compared by the guard.

    Attributes
    ----------
    name : str
        Lower-case name without a trailing dot, a dotted IPv4 address or a bracketed IPv6
        address (``[::1]``).
    port : int or None
        ``None`` in an allow-list entry: any port.
    """

    name: str
    port: int | None = None

    def __str__(self) -> str:
        return self.name if self.port is None else f"{self.name}:{self.port}"


def parse_host(text: str, entry: bool = False) -> Host:
    """Parse ``NAME[:PORT]`` (a ``Host`` header or an allow-list entry).

    Parameters
    ----------
    text : str
        ``collections.example``, ``Collections.Example.:5006``, ``127.0.0.1:5006``,
        ``[::1]:5006``...
    entry : bool
        An allow-list entry rather than a ``Host`` header: it may also be a bare IPv6
        address (``::1``) or a non-ASCII name (stored in its IDNA form).

    Returns
    -------
    Host

    Raises
    ------
    ValueError
        When ``text`` is not a host name or address with an optional port 1-65535.
    """
    raw = text.strip()
    if "/" in raw or "@" in raw:
        raise ValueError(f"{text!r}: give a host name, without scheme, user or path")
    if entry and raw.count(":") >= 2 and not raw.startswith("["):
        raw = f"[{raw}]"  # a bare IPv6 address
    if raw.startswith("["):
        inner, bracket, rest = raw[1:].partition("]")
        if not bracket:
            raise ValueError(f"{text!r}: an IPv6 address needs its closing ']'")
        try:
            name = f"[{ipaddress.IPv6Address(inner).compressed}]"
        except ValueError:
            raise ValueError(f"{text!r}: {inner!r} is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: write [ADDRESS]:PORT")
        port_text = rest[1:] if rest else None
    else:
        name, colon, port_text = raw.partition(":")
        port_text = port_text if colon else None
        name = _host_name(name, text, entry)
    return Host(name, None if port_text is None else _port(port_text, text))


def _host_name(name: str, text: str, entry: bool) -> str:
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if entry and not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{text!r}: not a host name") from None
    if "*" in name:
        raise ValueError(f"{text!r}: wildcards are not allowed, name each host")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{text!r}: not a host name[:port]")
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        return name


def _port(port_text: str, text: str) -> int:
    if not _PORT.match(port_text) or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return int(port_text)


def parse_allowed_hosts(entries: Iterable[str], setting: str) -> tuple[Host, ...]:
    """Parse allow-list entries, each ``NAME[:PORT]`` or several separated by commas.

    Parameters
    ----------
    entries : iterable of str
        E.g. the values of ``--allow-host``, or ``[os.environ["COLLECTIONS_ALLOWED_HOSTS"]]``.
    setting : str
        The setting they come from, named in the error message.

    Returns
    -------
    tuple of Host
        In order, without repeats; empty items are skipped.

    Raises
    ------
    ValueError
        One line naming the setting and the entry that is not ``NAME[:PORT]``.
    """
    hosts: dict[Host, None] = {}
    for value in entries:
        for item in value.split(","):
            if item.strip():
                try:
                    hosts[parse_host(item, entry=True)] = None
                except ValueError as exc:
                    raise ValueError(f"{setting} {exc} (give NAME[:PORT])") from None
    return tuple(hosts)


def default_hosts(port: int, address: str | None = None) -> tuple[Host, ...]:
    """The hosts a server on ``address:port`` allows without any setting.

    Parameters
    ----------
    port : int
        The port served.
    address : str, optional
        The address listened on; when it is not a loopback name it is allowed too.

    Returns
    -------
    tuple of Host
    """
    hosts = [Host(name, port) for name in LOOPBACK_NAMES]
    if address:
        own = Host(parse_host(address, entry=True).name, port)
        if own not in hosts:
            hosts.append(own)
    return tuple(hosts)


def allowed_hosts_from_env(environ: Mapping[str, str] | None = None) -> tuple[Host, ...]:
    """The hosts listed in ``$COLLECTIONS_ALLOWED_HOSTS``.

    Parameters
    ----------
    environ : mapping, optional
        Default: ``os.environ``.

    Returns
    -------
    tuple of Host

    Raises
    ------
    ValueError
        When an entry is not ``NAME[:PORT]``.
    """
    value = (os.environ if environ is None else environ).get(ALLOWED_HOSTS_ENV, "")
    return parse_allowed_hosts([value], f"${ALLOWED_HOSTS_ENV}")


def host_allowed(host: Host, allowed: Iterable[Host], default_port: int = 80) -> bool:
    """Whether ``host`` (from a request) is one of ``allowed``.

    Parameters
    ----------
    host : Host
        From :func:`parse_host`.
    allowed : iterable of Host
        Allow-list entries; an entry without a port allows its name on any port.
    default_port : int
        The port of a ``host`` without one (80 for http, 443 for https).

    Returns
    -------
    bool
        Exact comparison of names (no prefix or suffix matching) and ports.
    """
    port = default_port if host.port is None else host.port
    return any(a.name == host.name and a.port in (None, port) for a in allowed)


class HostGuard:
    """Decides whether a request may be served (see the module docstring).

    Parameters
    ----------
    allowed : iterable of Host
        The explicit allow-list; the loopback names and the address the request arrived at,
        with its port, are always added.
    """

    def __init__(self, allowed: Iterable[Host] = ()):
        self.allowed = tuple(allowed)

    def allowed_for(self, local: tuple[str, int] | None) -> tuple[Host, ...]:
        """The allow-list for a request that arrived at ``local``.

        Parameters
        ----------
        local : (str, int) or None
            The local address and port of the request's connection; ``None`` when unknown
            (the loopback names are then allowed on any port).

        Returns
        -------
        tuple of Host
        """
        if local is None:
            return (*(Host(name) for name in LOOPBACK_NAMES), *self.allowed)
        address, port = local
        return (*default_hosts(port, _address_name(address)), *self.allowed)

    def refusal(
        self,
        headers: Mapping[str, Any],
        protocol: str = "http",
        local: tuple[str, int] | None = None,
    ) -> str | None:
        """Why a request with these headers is refused, or ``None`` when it may be served.

        Parameters
        ----------
        headers : mapping
            The request's headers (Tornado's ``HTTPHeaders`` or a dict with canonical names).
        protocol : str
            ``http`` or ``https``: the default port of a ``Host`` without one.
        local : (str, int) or None
            The local address and port of the request's connection.

        Returns
        -------
        str or None
            One line naming the refused host and the setting that allows it.
        """
        allowed = self.allowed_for(local)
        host_header = headers.get("Host")
        if not host_header:
            return (
                "Refused: the request has no Host header; this dashboard answers only allowed "
                f"hosts (--allow-host or ${ALLOWED_HOSTS_ENV})"
            )
        default_port = 443 if protocol == "https" else 80
        try:
            host = parse_host(str(host_header))
        except ValueError:
            host = None
        if host is None or not host_allowed(host, allowed, default_port):
            return (
                f"Refused: host {_shown(host_header)} is not an allowed host of this "
                f"dashboard; {HOW_TO_ALLOW}"
            )
        if "websocket" in str(headers.get("Upgrade", "")).lower():
            origin = headers.get("Origin")
            if origin is not None and not _origin_allowed(str(origin), allowed):
                return (
                    f"Refused: websocket origin {_shown(origin)} is not an allowed host of "
                    f"this dashboard; {HOW_TO_ALLOW}"
                )
        return None

    def request_refusal(self, request: Any) -> str | None:
        """:meth:`refusal` for a Tornado request (or Bokeh's proxy of one).

        Parameters
        ----------
        request : tornado.httputil.HTTPServerRequest
            Read: ``headers``, ``protocol`` and the socket of ``connection``.

        Returns
        -------
        str or None
        """
        protocol = getattr(request, "protocol", None) or "http"
        return self.refusal(request.headers, protocol, _local_address(request))


class RefusedHostHandler(tornado.web.RequestHandler):
    """Answers 403 with one line of text (the refusal), whatever the method and path.

    Parameters
    ----------
    message : str
        The line to send (from :meth:`HostGuard.refusal`).
    """

    def initialize(self, message: str) -> None:
        self.message = message

    def check_xsrf_cookie(self) -> None:
        """The refusal is the answer, whatever the XSRF state."""

    def prepare(self) -> None:
        """Send the refusal before any method runs."""
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(self.message + "\n")


def install_host_guard() -> HostGuard:
    """Guard every Bokeh server of this process (see the module docstring); idempotent.

    The explicit allow-list is read from ``$COLLECTIONS_ALLOWED_HOSTS`` on the first call.

    Returns
    -------
    HostGuard
        The guard in use.

    Raises
    ------
    ValueError
        When ``$COLLECTIONS_ALLOWED_HOSTS`` holds an entry that is not ``NAME[:PORT]``.
    """
    global _guard
    from bokeh.server.tornado import BokehTornado

    if _guard is None:
        _guard = HostGuard(allowed_hosts_from_env())
    if not getattr(BokehTornado.find_handler, "host_guard", False):
        unguarded = BokehTornado.find_handler

        def find_handler(self, request, **kwargs):
            message = _guard.request_refusal(request)
            if message is not None:
                log.warning("%s (%s %s)", message, request.method, _shown(request.uri, 80))
                return self.get_handler_delegate(request, RefusedHostHandler, {"message": message})
            setattr(request, _CHECKED, True)
            return unguarded(self, request, **kwargs)

        find_handler.host_guard = True
        find_handler.__doc__ = unguarded.__doc__
        BokehTornado.find_handler = find_handler
    return _guard


def session_refusal(session_context: Any = None) -> str | None:
    """Why the current session's request is refused, or ``None``.

    For the app itself: a request the router guard did not see (it was routed before
    :func:`install_host_guard` ran) is checked here. Sessions without a request (``--warm``)
    are allowed.

    Parameters
    ----------
    session_context : bokeh.document.SessionContext, optional
        Default: the current document's.

    Returns
    -------
    str or None
    """
    if session_context is None:
        import panel as pn

        session_context = getattr(pn.state.curdoc, "session_context", None)
    request = getattr(session_context, "request", None)
    if request is None or not request.headers or getattr(request, _CHECKED, False):
        return None
    return (_guard or install_host_guard()).request_refusal(request)


def _origin_allowed(origin: str, allowed: Iterable[Host]) -> bool:
    parts = urllib.parse.urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return False
    try:
        host = parse_host(parts.netloc)
    except ValueError:
        return False
    return host_allowed(host, allowed, 443 if parts.scheme == "https" else 80)


def _local_address(request: Any) -> tuple[str, int] | None:
    """The local address and port of the request's connection, when it is still open."""
    try:
        sockname = request.connection.stream.socket.getsockname()
    except (AttributeError, OSError):
        return None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return sockname[0], sockname[1]
    return None  # a Unix socket


def _address_name(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ip.ipv4_mapped) if ip.ipv4_mapped else f"[{ip.compressed}]"
    return str(ip)


def _shown(value: Any, limit: int = 100) -> str:
    """``value`` quoted for a log or a page: printable ASCII host characters only."""
    text = re.sub(r"[^A-Za-z0-9.:/\[\]_-]", "?", str(value))
    return repr(text if len(text) <= limit else text[:limit] + "...")
