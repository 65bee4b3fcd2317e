"""Login hardening (issue 13, items 7 and 9): :mod:`dashboard.ui.security`.

Unit tests of the rules (``next``, rate limit, sessions), then a real ``collections-dashboard
serve --basic-auth users.json`` (one server for the module) and a small app behind the same
launcher (``python -m dashboard.ui.panel_serve``) for what ``serve`` cannot be made to do: a
users file with an empty password and a TLS-terminating proxy (``--use-xheaders``). Each
client of the rate-limited login comes from its own loopback address (``127.0.0.N``), so that
tests do not share a limit.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from servers import free_port, serving, start_server

from dashboard.sources import DEFAULT_SOURCE
from dashboard.ui.security import (
    SECURITY_HEADERS,
    SESSION_COOKIE,
    LoginThrottle,
    Sessions,
    safe_next,
)

from browser import chromium_page, require_chromium, wait_rendered

SECRET = "a-cookie-secret-of-32-characters!"
USERS = {
    "alice": "Alice-Correct-1",
    "bob": "Bob-Correct-2",
    "carol": "Carol-Correct-3",
    "dave": "Dave-Correct-4",
    "erin": "Erin-Correct-5",
}
PROBE = "collections_probe_module"
"""A module the server could import: importing it writes a marker file."""
AUTOLOAD = "/app/autoload.js?bokeh-autoload-element=p1&bokeh-absolute-url=http://127.0.0.1"
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
OFF_SITE = [
    "///evil.example/phish",
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\\\evil.example/phish",
    "https://evil.example/phish",
    "javascript:alert(1)",
    "/%2F%2Fevil.example/phish",
    "/%252F%252Fevil.example/phish",
    "/%5Cevil.example/phish",
    "/\t/evil.example/phish",
    "/%09/evil.example/phish",
    " //evil.example/phish",
]


# -- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", OFF_SITE)
def test_next_off_site_is_replaced_by_the_default(value):
    assert safe_next(value) == "/"
    assert safe_next(value, "/app") == "/app"


@pytest.mark.parametrize("value", ["/", "/app", "/app?metric=collection_rate&x=%2F", "/a/b"])
def test_next_same_site_paths_are_kept(value):
    assert safe_next(value) == value


def test_next_missing_is_the_default():
    assert safe_next(None) == "/" and safe_next("") == "/"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_rate_limit_waits_longer_after_each_failure_up_to_a_minute():
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    keys = [("address", "10.0.0.7"), ("user", "alice")]
    for _ in range(5):
        assert throttle.wait(keys) == 0
        throttle.failed(keys)
    assert throttle.wait(keys) == pytest.approx(1.0)
    assert throttle.wait([("address", "10.0.0.8"), ("user", "alice")]) == pytest.approx(1.0)
    assert throttle.wait([("address", "10.0.0.7"), ("user", "bob")]) == pytest.approx(1.0)
    assert throttle.wait([("address", "10.0.0.8"), ("user", "bob")]) == 0
    clock.now += 1.0
    assert throttle.wait(keys) == 0
    throttle.failed(keys)
    assert throttle.wait(keys) == pytest.approx(2.0)
    assert [throttle.delay(n) for n in range(4, 14)] == [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    # the real user is not locked out for good: after 15 quiet minutes the count starts afresh
    clock.now += 15 * 60 + 1
    assert throttle.wait(keys) == 0
    throttle.failed(keys)
    assert throttle.wait(keys) == 0


def test_300_guesses_as_fast_as_allowed_take_hours_not_a_second():
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    keys = [("address", "10.0.0.7"), ("user", "alice")]
    start = clock.now
    for _ in range(300):
        clock.now += throttle.wait(keys)
        throttle.failed(keys)
    assert clock.now - start > 4 * 3600


def test_a_correct_login_clears_its_failures():
    throttle = LoginThrottle(clock=Clock())
    keys = [("address", "10.0.0.7"), ("user", "alice")]
    for _ in range(5):
        throttle.failed(keys)
    throttle.succeeded(keys)
    assert throttle.wait(keys) == 0


def test_a_revoked_session_is_invalid_in_every_process_sharing_the_folder(tmp_path):
    first = Sessions(tmp_path)
    second = Sessions(tmp_path, generation=first.generation)  # another --num-procs worker
    value = first.new("alice")
    sid = first.session_id(value, "alice")
    assert sid is not None and second.session_id(value.encode(), "alice") == sid
    assert first.session_id(value, "bob") is None  # bound to its user
    assert Sessions(tmp_path).session_id(value, "alice") is None  # a restarted server
    second.revoke(sid, 86400)
    assert first.session_id(value, "alice") is None
    assert second.session_id(value, "alice") is None
    assert first.session_id(first.new("alice"), "alice") is not None  # a new login works
    assert (tmp_path / "revoked-sessions").stat().st_mode & 0o077 == 0


# -- a served dashboard ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """(folder to put on the server's path, marker file the probe module writes on import)."""
    folder = tmp_path_factory.mktemp("probe")
    marker = folder / "imported.txt"
    (folder / f"{PROBE}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n"
    )
    return folder, marker


def probe_env(probe) -> dict[str, str]:
    folder, _ = probe
    paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), "PANEL_COOKIE_SECRET": SECRET}


@pytest.fixture(scope="module")
def port(tmp_path_factory, probe):
    users = tmp_path_factory.mktemp("login") / "users.json"
    users.write_text(json.dumps(USERS))
    with serving(DEFAULT_SOURCE, "--basic-auth", str(users), env=probe_env(probe)) as server:
        yield server.port


class Client:
    """HTTP requests to 127.0.0.1:port from the loopback address ``source``, with cookies."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.port, self.source = port, source
        self.cookies: dict[str, str] = {}

    def request(self, method, path, headers=None, body=None, cookies=True):
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=60, source_address=(self.source, 0)
        )
        headers = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if cookies and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
        finally:
            connection.close()
        for line in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if value in ('""', "") or "expires=Thu, 01 Jan 1970" in line:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response.status, response.headers, body

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def login(self, user, password, headers=None):
        form = urllib.parse.urlencode({"username": user, "password": password})
        headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", "/login", headers, form)


def set_cookies(headers) -> list[str]:
    return headers.get_all("Set-Cookie") or []


def assert_hardened(headers, what):
    for name, value in SECURITY_HEADERS.items():
        got = headers.get(name, "")
        if name == "Content-Security-Policy":
            assert "frame-ancestors 'none'" in got, (what, name, got)
        else:
            assert got == value, (what, name, got)


@pytest.mark.parametrize("value", ["///evil.example/phish", "//evil.example", "/%2F%2Fevil"])
def test_next_off_site_does_not_redirect_off_site_after_a_correct_login(port, value):
    client = Client(port, "127.0.0.11")
    status, _, _ = client.get("/login?next=" + urllib.parse.quote(value, safe=""))
    assert status == 200
    client.cookies["next_url"] = urllib.parse.quote(value, safe="/")  # also a forged cookie
    status, headers, _ = client.login("alice", USERS["alice"])
    assert status == 302
    assert headers["Location"] == "/"


def test_next_same_site_is_followed_after_a_correct_login(port):
    client = Client(port, "127.0.0.11")
    assert client.get("/app?metric=collection_rate")[0] == 302
    status, headers, _ = client.get("/login?next=%2Fapp%3Fmetric%3Dcollection_rate")
    assert status == 200
    status, headers, _ = client.login("alice", USERS["alice"])
    assert (status, headers["Location"]) == (302, "/app?metric=collection_rate")


def test_guessing_passwords_is_slowed_down_per_address_and_per_user(port):
    guesser = Client(port, "127.0.0.21")
    started = time.monotonic()
    answers = [guesser.login("bob", f"guess-{n}") for n in range(30)]
    assert time.monotonic() - started < 20
    statuses = [status for status, _, _ in answers]
    assert statuses[:5] == [302] * 5  # wrong: back to the login page
    assert statuses[5:] == [429] * 25, statuses
    assert all(int(headers["Retry-After"]) >= 1 for _, headers, _ in answers[5:])
    assert "Too many failed logins" in answers[-1][2]
    # the address is limited for every user name, the user name from every address
    assert guesser.login("carol", USERS["carol"])[0] == 429
    elsewhere = Client(port, "127.0.0.22")
    status, headers, _ = elsewhere.login("bob", USERS["bob"])
    assert status == 429 and SESSION_COOKIE not in elsewhere.cookies
    # not locked out for good: after the wait the real user gets in
    time.sleep(int(headers["Retry-After"]) + 0.2)
    status, headers, _ = elsewhere.login("bob", USERS["bob"])
    assert status == 302 and SESSION_COOKIE in elsewhere.cookies
    assert elsewhere.get("/app")[0] == 200


def test_cookies_are_samesite_httponly_and_not_secure_over_http(port):
    client = Client(port, "127.0.0.31")
    client.get("/login?next=%2Fapp")
    status, headers, _ = client.login("carol", USERS["carol"])
    assert status == 302
    cookies = set_cookies(headers)
    assert {c.split("=", 1)[0] for c in cookies} >= {"user", SESSION_COOKIE}
    for cookie in cookies:
        assert "SameSite=Lax" in cookie, cookie
        assert "Secure" not in cookie, cookie
        if cookie.startswith(("user=", f"{SESSION_COOKIE}=")):
            assert "HttpOnly" in cookie, cookie


def test_logout_ends_the_session_on_the_server(port):
    client = Client(port, "127.0.0.41")
    client.login("dave", USERS["dave"])
    stolen = dict(client.cookies)  # e.g. copied from the browser before the logout
    assert client.get("/app")[0] == 200
    status, headers, body = client.get("/logout")
    assert status == 200 and "logged out" in body.lower()
    replay = Client(port, "127.0.0.42")
    replay.cookies = stolen
    status, headers, _ = replay.get("/app")
    assert status == 302 and headers["Location"].startswith("/login")
    assert replay.get("/static/js/bokeh.min.js")[0] == 403
    assert handshake(port, stolen) == 403
    # only that session: the same user logged in elsewhere stays in, and can log in again
    other = Client(port, "127.0.0.43")
    other.login("dave", USERS["dave"])
    assert other.get("/app")[0] == 200
    client.login("dave", USERS["dave"])
    assert client.get("/app")[0] == 200


def handshake(port, cookies) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        origin = f"http://127.0.0.1:{port}"
        connection.request(
            "GET",
            "/app/ws",
            headers={
                "Host": f"127.0.0.1:{port}",
                "Origin": origin,
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": WS_KEY,
                "Sec-WebSocket-Version": "13",
                "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            },
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_every_response_forbids_framing_and_sniffing(port):
    anonymous = Client(port, "127.0.0.51")
    client = Client(port, "127.0.0.52")
    client.login("erin", USERS["erin"])
    checked = [
        ("login page", anonymous.get("/login")),
        ("redirect to login", anonymous.get("/app")),
        ("refused asset", anonymous.get("/static/js/bokeh.min.js")),
        ("failed login", anonymous.login("erin", "wrong")),
        ("app page", client.get("/app")),
        ("bokeh asset", client.get("/static/js/bokeh.min.js")),
        ("panel asset", client.get("/static/extensions/panel/panel.min.js")),
        ("favicon", client.get("/favicon.ico")),
        ("not found", client.get("/no-such-page")),
        ("foreign host", client.get("/app", headers={"Host": f"evil.example:{port}"})),
        ("logout", client.get("/logout")),
    ]
    statuses = {what: status for what, (status, _, _) in checked}
    assert statuses["app page"] == 200 and statuses["bokeh asset"] == 200, statuses
    assert statuses["foreign host"] == 403 and statuses["not found"] == 404, statuses
    for what, (_, headers, _) in checked:
        assert_hardened(headers, what)


def test_the_login_page_loads_nothing_from_elsewhere(port):
    status, headers, body = Client(port, "127.0.0.61").get("/login")
    assert status == 200 and 'type="password"' in body
    references = re.findall(r"""(?:src|href|action)\s*=\s*["']([^"']*)""", body)
    references += re.findall(r"url\(([^)]*)\)", body)
    assert references, body
    for reference in references:
        assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", reference, re.I) or (
            reference.startswith("data:")
        ), reference
    assert "cdn" not in body.lower()
    assert "default-src 'none'" in headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        f"/components/{PROBE}/Component/_css/x.css",
        "/components/panel/models/_css/x.css",
        "/static/js/bokeh.min.js",
        "/static/extensions/panel/panel.min.js",
        AUTOLOAD,
        "/app/metadata",
        "/favicon.ico",
        "/no-such-page",
    ],
)
def test_unauthenticated_requests_get_only_the_login_page(port, probe, path):
    status, headers, body = Client(port, "127.0.0.71").get(path)
    assert not probe[1].exists(), "the server imported a module for an anonymous request"
    assert status == 403, (path, status, body[:200])
    assert body.count("\n") == 1 and "/login" in body
    assert "bokeh" not in body.lower() and "function" not in body


def test_components_import_no_module_the_server_has_not_loaded(port, probe):
    client = Client(port, "127.0.0.72")
    client.login("alice", USERS["alice"])
    status, _, _ = client.get(f"/components/{PROBE}/Component/_css/x.css")
    assert status == 404
    assert not probe[1].exists(), "the server imported a module named in a URL"


@pytest.mark.browser
def test_chromium_gets_a_self_contained_login_page_then_the_dashboard(port):
    require_chromium()
    with chromium_page() as (page, errors, outside):
        page.goto(f"http://127.0.0.1:{port}/app")
        assert "/login" in page.url
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", USERS["alice"])
        assert outside == [] and errors == []
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/app$"))
        wait_rendered(page)  # the websocket carries the session cookie
        assert outside == []
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies[SESSION_COOKIE]["sameSite"] == "Lax"
        assert cookies[SESSION_COOKIE]["httpOnly"]


# -- the launcher with a small app: an empty password, a TLS proxy -----------------------------


@contextlib.contextmanager
def small_app(tmp_path: Path, users: dict, *extra: str):
    """``python -m dashboard.ui.panel_serve APP --basic-auth users.json`` on a small app (in its
    own process group: ``--num-procs`` workers are stopped with it)."""
    app = tmp_path / "small.py"
    app.write_text("import panel as pn\npn.pane.Markdown('small app').servable()\n")
    users_file = tmp_path / "users.json"
    users_file.write_text(json.dumps(users))
    port = free_port()
    command = [sys.executable, "-m", "dashboard.ui.panel_serve", str(app), "--port", str(port)]
    command += ["--address", "127.0.0.1", "--basic-auth", str(users_file), *extra]
    sessions = tmp_path / "sessions"  # as serve gives it (the launcher's own is left behind
    sessions.mkdir(mode=0o700)  # when a --num-procs parent is killed)
    env = {"PANEL_COOKIE_SECRET": SECRET, "COLLECTIONS_SESSION_DIR": str(sessions)}
    with start_server(command, port, env=env, own_group=True) as server:
        server.wait(90)
        yield port


def test_a_blank_password_never_logs_in_even_if_the_file_has_one(tmp_path):
    # serve refuses such a file (tests/test_auth.py); a plain launcher must not let them in
    with small_app(tmp_path, {"empty": "", "blank": "  ", "number": 1234}) as port:
        for user, password in [("empty", ""), ("empty", " "), ("blank", "  "), ("number", "1234")]:
            client = Client(port, "127.0.0.81")
            status, _, _ = client.login(user, password)
            assert SESSION_COOKIE not in client.cookies and "user" not in client.cookies, user
            assert client.get("/small")[0] == 302, user


def test_cookies_are_secure_behind_a_tls_proxy_when_told_to_trust_it(tmp_path):
    with small_app(tmp_path, {"alice": USERS["alice"]}, "--use-xheaders") as port:
        client = Client(port, "127.0.0.91")
        status, headers, _ = client.login(
            "alice", USERS["alice"], headers={"X-Forwarded-Proto": "https"}
        )
        assert status == 302
        cookies = set_cookies(headers)
        assert any(c.startswith(f"{SESSION_COOKIE}=") for c in cookies)
        for cookie in cookies:
            assert "Secure" in cookie and "SameSite=Lax" in cookie, cookie
        status, headers, _ = Client(port, "127.0.0.92").login("alice", USERS["alice"])
        assert all("Secure" not in cookie for cookie in set_cookies(headers))


def test_a_logout_ends_the_session_in_every_worker_process(tmp_path):
    with small_app(tmp_path, {"alice": USERS["alice"]}, "--num-procs", "2") as port:
        client = Client(port, "127.0.0.95")
        assert client.login("alice", USERS["alice"])[0] == 302
        # new connections are shared out between the two workers: each knows the session
        assert [client.get("/small")[0] for _ in range(12)] == [200] * 12
        stolen = dict(client.cookies)
        assert client.get("/logout")[0] == 200
        replay = Client(port, "127.0.0.96")
        replay.cookies = stolen
        assert [replay.get("/small", cookies=True)[0] for _ in range(12)] == [302] * 12
