"""Host allow-list (issue 21, DNS rebinding): the server answers only to allowed host names.

Unit tests of the parsing and matching (:mod:`dashboard.ui.hosts`, ``serve``'s allow-list),
then real servers: ``collections-dashboard serve`` as ``make serve`` runs it, with
``--basic-auth`` (the login page) and with ``--allow-host collections.test`` (Chromium reaching
it by that name through ``--host-resolver-rules``), and a plain ``panel serve dashboard/app.py``
configured by ``$COLLECTIONS_ALLOWED_HOSTS``. Requests are sent to 127.0.0.1 with the ``Host``
header a re-bound name would carry.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

from dashboard.cli.commands import APP_FILE, allowed_hosts, serve_command
from dashboard.sources import DEFAULT_SOURCE
from dashboard.ui.app import TITLE
from dashboard.ui.hosts import (
    ALLOWED_HOSTS_ENV,
    Host,
    HostGuard,
    allowed_hosts_from_env,
    default_hosts,
    host_allowed,
    parse_allowed_hosts,
    parse_host,
)

from browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    chart_data,
    require_chromium,
    served_dashboard,
    titles,
    wait_for_change,
    wait_rendered,
    wait_until,
)

FOREIGN = "evil.example"
AUTOLOAD = "/app/autoload.js?bokeh-autoload-element=p1&bokeh-absolute-url=http://127.0.0.1"
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
PASSWORD = "Correct-Horse-7"
SECRET = "a-cookie-secret-of-32-characters!"


# -- parsing and matching ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1:5006", Host("127.0.0.1", 5006)),
        ("LocalHost.:5006", Host("localhost", 5006)),
        ("Collections.Example", Host("collections.example")),
        ("[::1]:5006", Host("[::1]", 5006)),
        ("[0:0:0:0:0:0:0:1]", Host("[::1]")),
        ("127.0.0.1.evil.example:5006", Host("127.0.0.1.evil.example", 5006)),
    ],
)
def test_a_host_header_is_parsed_into_name_and_port(text, expected):
    assert parse_host(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", ":5006", "a..b", "ex ample", "x:0", "x:65536", "x:+80", "x:", "::1", "[::1", "[::1]x",
     "[nope]:1", "*.example", "user@host", "http://host", "host/path", "bücher.example"],
)  # fmt: skip
def test_what_is_not_a_host_header_is_refused(text):
    with pytest.raises(ValueError):
        parse_host(text)


def test_allow_list_entries_may_be_bare_ipv6_or_international_and_are_deduplicated():
    hosts = parse_allowed_hosts(["::1, Team.Example.", "team.example,bücher.example:81"], "x")
    assert hosts == (Host("[::1]"), Host("team.example"), Host("xn--bcher-kva.example", 81))


@pytest.mark.parametrize("entry", ["*", "*.example", "http://team.example", "a b", "x:99999"])
def test_a_bad_allow_list_entry_names_its_setting(entry):
    with pytest.raises(ValueError, match=r"^--allow-host .*NAME\[:PORT\]"):
        parse_allowed_hosts([entry], "--allow-host")


def test_the_environment_variable_is_comma_separated():
    env = {ALLOWED_HOSTS_ENV: " a.example ,, B.example:8443 "}
    assert allowed_hosts_from_env(env) == (Host("a.example"), Host("b.example", 8443))
    assert allowed_hosts_from_env({}) == ()


def test_names_compare_exactly_and_an_entry_without_port_allows_any_port():
    allowed = [*default_hosts(5006), Host("collections.test")]
    assert host_allowed(Host("127.0.0.1", 5006), allowed)
    assert host_allowed(Host("[::1]", 5006), allowed)
    assert host_allowed(Host("collections.test", 443), allowed)
    assert host_allowed(Host("collections.test"), allowed)
    for foreign in (
        "127.0.0.1.evil.example",
        "evil.localhost",
        "collections.test.evil",
        "ocalhost",
    ):
        assert not host_allowed(Host(foreign, 5006), allowed), foreign
    assert not host_allowed(Host("127.0.0.1", 5007), allowed)  # loopback: the port served only
    assert not host_allowed(Host("localhost"), allowed)  # port 80 is not the port served
    assert host_allowed(Host("localhost"), default_hosts(443), default_port=443)


def test_default_hosts_are_loopback_on_the_port_plus_a_non_loopback_address():
    loopback = (Host("127.0.0.1", 5006), Host("localhost", 5006), Host("[::1]", 5006))
    assert default_hosts(5006, "127.0.0.1") == loopback
    assert default_hosts(5006, "10.1.2.3") == (*loopback, Host("10.1.2.3", 5006))


def test_the_guard_refuses_a_foreign_host_and_a_foreign_websocket_origin():
    guard = HostGuard([Host("collections.test")])
    local = ("127.0.0.1", 5006)
    assert guard.refusal({"Host": "127.0.0.1:5006"}, local=local) is None
    assert guard.refusal({"Host": "collections.test:5006"}, local=local) is None
    refusal = guard.refusal({"Host": "Evil.Example:5006"}, local=local)
    assert refusal.count("\n") == 0
    assert "'evil.example:5006'" in refusal.lower() and "--allow-host" in refusal
    assert f"${ALLOWED_HOSTS_ENV}" in refusal
    assert guard.refusal({}, local=local) is not None  # no Host header at all

    def handshake(host, origin):
        headers = {"Host": host, "Upgrade": "websocket", "Connection": "Upgrade"}
        return guard.refusal({**headers, **({"Origin": origin} if origin else {})}, local=local)

    assert handshake("127.0.0.1:5006", "http://127.0.0.1:5006") is None
    assert handshake("127.0.0.1:5006", "http://collections.test:5006") is None
    assert handshake("127.0.0.1:5006", None) is None  # not a browser: browsers send Origin
    # the Origin must be an allowed host, even when it equals the Host header
    assert "evil.example" in handshake(f"{FOREIGN}:5006", f"http://{FOREIGN}:5006")
    assert "origin" in handshake("127.0.0.1:5006", f"http://{FOREIGN}:5006")
    assert handshake("127.0.0.1:5006", "null") is not None


def test_the_address_a_request_arrived_at_is_allowed_but_not_other_names():
    guard = HostGuard()
    assert guard.refusal({"Host": "10.1.2.3:5006"}, local=("::ffff:10.1.2.3", 5006)) is None
    assert guard.refusal({"Host": "10.1.2.4:5006"}, local=("10.1.2.3", 5006)) is not None
    assert guard.refusal({"Host": "[fe80::1]:5006"}, local=("fe80::1", 5006)) is None


def test_markup_in_a_refused_host_is_not_echoed():
    refusal = HostGuard().refusal({"Host": "<img src=x onerror=alert(1)>"}, local=None)
    assert "<" not in refusal and ">" not in refusal and "'" in refusal


def test_serve_allows_its_address_the_variable_the_option_and_websocket_origins(monkeypatch):
    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "env.example")
    extra = ["--allow-websocket-origin", "team.example:5006", "--allow-websocket-origin=b.test"]
    hosts = allowed_hosts(5006, "10.1.2.3", ["collections.test"], ["--num-procs", "2", *extra])
    assert [str(h) for h in hosts] == [
        "127.0.0.1:5006",
        "localhost:5006",
        "[::1]:5006",
        "10.1.2.3:5006",
        "env.example",
        "collections.test",
        "team.example:5006",
        "b.test",
    ]
    with pytest.raises(ValueError, match="--allow-websocket-origin"):
        allowed_hosts(5006, "127.0.0.1", [], ["--allow-websocket-origin", "*"])


def test_serve_runs_panel_through_the_guarded_launcher():
    command = serve_command("data", 5006, "127.0.0.1", False, ["--num-procs", "2"])
    assert command[:4] == [sys.executable, "-m", "dashboard.ui.panel_serve", str(APP_FILE)]
    assert command[-2:] == ["--num-procs", "2"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--allow-host", "http://team.example"], "--allow-host 'http://team.example'"),
        (["--allow-websocket-origin", "*"], "--allow-websocket-origin '*'"),
    ],
)
def test_serve_refuses_a_bad_allowed_host_in_one_line(arguments, message):
    result = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "serve", "--dry-run", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


# -- served: requests with the Host header of a re-bound name ----------------------------------


def port_of(url: str) -> int:
    return urllib.parse.urlsplit(url).port


def request(port, host, path="/app", method="GET", headers=None, body=None):
    """Send one request to 127.0.0.1:port with ``Host: host``; (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode(errors="replace")
    finally:
        connection.close()


def handshake(port, host, origin, path="/app/ws") -> int:
    """The status of a websocket handshake with ``Host: host`` and ``Origin: origin``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {
            "Host": host,
            "Origin": origin,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": WS_KEY,
            "Sec-WebSocket-Version": "13",
        }
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def assert_refused(status, headers, body, host):
    assert status == 403, (status, body[:300])
    assert body.count("\n") == 1 and f"'{host.lower()}'" in body
    assert "--allow-host" in body and f"${ALLOWED_HOSTS_ENV}" in body
    assert headers.get("Set-Cookie") is None
    assert "bokeh" not in body.lower() and "token" not in body.lower()


@pytest.fixture(scope="module")
def default_port():
    """``collections-dashboard serve`` with no option but the port, as ``make serve`` runs it."""
    with served_dashboard(DEFAULT_SOURCE) as url:
        yield port_of(url)


@pytest.mark.parametrize("path", ["/app", "/", "/static/js/bokeh.min.js", AUTOLOAD])
def test_a_foreign_host_gets_403_one_line_and_nothing_of_the_app(default_port, path):
    allowed, _, _ = request(default_port, f"127.0.0.1:{default_port}", path)
    assert allowed in (200, 302)
    host = f"{FOREIGN}:{default_port}"
    assert_refused(*request(default_port, host, path, headers={"Origin": f"http://{host}"}), host)


def test_the_loopback_names_are_answered(default_port):
    for name in ("127.0.0.1", "localhost", "LOCALHOST.", "127.0.0.1.", "[::1]"):
        status, _, body = request(default_port, f"{name}:{default_port}")
        assert status == 200 and "bokeh" in body.lower(), name


def test_a_foreign_websocket_handshake_is_refused_even_when_origin_equals_host(default_port):
    here = f"127.0.0.1:{default_port}"
    assert handshake(default_port, here, f"http://{here}") == 101
    foreign = f"{FOREIGN}:{default_port}"
    assert handshake(default_port, foreign, f"http://{foreign}") == 403
    assert handshake(default_port, foreign, f"http://{foreign}", path="/ws") == 403


@pytest.mark.parametrize(
    "name", ["127.0.0.1.evil.example", "localhost.evil.example", "evil.localhost", "127.0.0.10"]
)
def test_a_name_that_merely_starts_or_ends_like_loopback_is_foreign(default_port, name):
    host = f"{name}:{default_port}"
    assert_refused(*request(default_port, host), host)
    assert handshake(default_port, host, f"http://{host}") == 403


def test_a_port_other_than_the_one_served_is_refused(default_port):
    host = f"127.0.0.1:{default_port + 1}"
    assert_refused(*request(default_port, host), host)


@pytest.fixture(scope="module")
def protected_port(tmp_path_factory):
    password_file = tmp_path_factory.mktemp("hosts-auth") / "password.txt"
    password_file.write_text(PASSWORD + "\n")
    env = {"PANEL_COOKIE_SECRET": SECRET}
    with served_dashboard(DEFAULT_SOURCE, "--basic-auth", str(password_file), env=env) as url:
        yield port_of(url)


def test_the_login_page_is_refused_to_a_foreign_host(protected_port):
    here = f"127.0.0.1:{protected_port}"
    status, _, body = request(protected_port, here, "/login")
    assert status == 200 and "password" in body.lower()
    host = f"{FOREIGN}:{protected_port}"
    assert_refused(*request(protected_port, host, "/login"), host)
    assert_refused(*request(protected_port, host, "/app"), host)
    assert_refused(*request(protected_port, host, "/"), host)
    form = urllib.parse.urlencode({"username": "collections", "password": PASSWORD})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://{host}"}
    assert_refused(*request(protected_port, host, "/login", "POST", headers, form), host)
    assert handshake(protected_port, host, f"http://{host}") == 403


# -- a plain `panel serve dashboard/app.py` ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def plain_panel_serve(*extra: str, env: dict, timeout: float = 90):
    """``python -m panel serve dashboard/app.py`` on 127.0.0.1 (no launcher); yields the port."""
    port = free_port()
    command = [sys.executable, "-m", "panel", "serve", str(APP_FILE), "--port", str(port)]
    command += ["--address", "127.0.0.1", *extra]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLLECTIONS_SOURCE": str(DEFAULT_SOURCE), **env},
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(process.stdout.read().decode(errors="replace"))
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"panel serve not listening on {port}")
            time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_plain_panel_serve_takes_the_allowed_hosts_from_the_environment():
    with plain_panel_serve(env={ALLOWED_HOSTS_ENV: "collections.test"}) as port:
        # without --warm the app installs the guard in its first session, and checks that
        # session's own request itself: a foreign host gets a refusal, not the dashboard (whose
        # content would come over the websocket, refused from then on)
        host = f"{FOREIGN}:{port}"
        status, _, first = request(port, host)
        if status == 200:
            assert "<title>Refused</title>" in first and TITLE not in first
        else:
            assert_refused(status, {}, first, host)
        # from then on the router refuses before any handler
        assert_refused(*request(port, host), host)
        assert handshake(port, host, f"http://{host}") == 403
        for allowed in (f"collections.test:{port}", f"127.0.0.1:{port}"):
            status, _, body = request(port, allowed)
            assert status == 200 and f"<title>{TITLE}</title>" in body, allowed
        assert handshake(port, f"collections.test:{port}", f"http://collections.test:{port}") == 101


# -- Chromium reaching the server by an allowed team name --------------------------------------

REGION_JS = """value => {
    const m = [...Bokeh.documents[0].all_models].find(m => m.title === 'Region' &&
        m.options !== undefined && Array.isArray(m.value));
    m.value = value;
}"""


@pytest.mark.browser
@pytest.mark.parametrize(
    "team_options",
    [
        ["--allow-host", "collections.test"],
        # the documented team set-up: listening on every address, reached by a name
        ["--address", "0.0.0.0", "--allow-host", "collections.test"],
    ],
    ids=["loopback", "all-addresses"],
)
def test_chromium_by_an_allowed_name_gets_a_live_page_and_a_foreign_name_is_refused(
    team_options,
):
    from playwright.sync_api import sync_playwright

    require_chromium()
    rules = f"--host-resolver-rules=MAP collections.test 127.0.0.1,MAP {FOREIGN} 127.0.0.1"
    with served_dashboard(DEFAULT_SOURCE, *team_options) as url:
        port = port_of(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, rules]
            )
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1600})
                errors: list[str] = []
                elsewhere: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                local = (f"http://collections.test:{port}", f"ws://collections.test:{port}")
                page.on(
                    "request",
                    lambda r: None if r.url.startswith((*local, "data:", "blob:", "about:"))
                    else elsewhere.append(r.url),
                )  # fmt: skip
                page.goto(f"http://collections.test:{port}/app")
                wait_rendered(page)
                before = chart_data(page)
                page.evaluate(REGION_JS, ["Reading"])  # a filter change, sent over the websocket
                wait_until(
                    page,
                    lambda p: any("Region: Reading" in t for t in titles(p)),
                    what="the charts filtered to Reading",
                )
                assert wait_for_change(page, chart_data, before) != before
                assert errors == [] and elsewhere == []

                refused = page.goto(f"http://{FOREIGN}:{port}/app")
                assert refused.status == 403
                assert f"'{FOREIGN}:{port}'" in page.inner_text("body")
                assert page.evaluate("() => typeof window.Bokeh") == "undefined"
            finally:
                browser.close()
