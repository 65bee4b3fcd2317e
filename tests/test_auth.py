"""``serve`` with basic authentication: no data and no websocket without the password."""

from __future__ import annotations

import http.client
import http.cookiejar
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dashboard.sources import DEFAULT_SOURCE

from browser import served_dashboard

PASSWORD = "Correct-Horse-7"
SECRET = "a-cookie-secret-of-32-characters!"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture(scope="module")
def protected(tmp_path_factory):
    folder = tmp_path_factory.mktemp("auth")
    password_file = folder / "password.txt"
    password_file.write_text(PASSWORD + "\n")
    with served_dashboard(
        DEFAULT_SOURCE, "--basic-auth", str(password_file), env={"PANEL_COOKIE_SECRET": SECRET}
    ) as url:
        yield url


def get(url: str, opener=None):
    opener = opener or urllib.request.build_opener(NoRedirect)
    try:
        response = opener.open(url, timeout=30)
        return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_unauthenticated_request_gets_no_data(protected):
    status, headers, body = get(protected)
    assert status == 302
    assert "/login" in headers["Location"]
    assert "Default rate" not in body and "Bokeh" not in body


def test_unauthenticated_websocket_is_refused(protected):
    parts = urllib.parse.urlsplit(protected)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(
        "GET",
        parts.path + "/ws",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "Origin": f"http://{parts.hostname}:{parts.port}",
        },
    )
    assert connection.getresponse().status != 101


def login(url: str, username: str, password: str):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    parts = urllib.parse.urlsplit(url)
    data = urllib.parse.urlencode({"username": username, "password": password}).encode()
    opener.open(f"{parts.scheme}://{parts.netloc}/login", data=data, timeout=30)
    return opener, jar


def test_the_right_password_gets_in(protected):
    opener, jar = login(protected, "collections", PASSWORD)
    assert any(cookie.name == "user" for cookie in jar)
    status, _, body = get(protected, opener)
    assert status == 200
    assert "Bokeh" in body or "bokeh" in body


def test_a_wrong_password_does_not(protected):
    opener, jar = login(protected, "collections", "wrong")
    assert not any(cookie.name == "user" for cookie in jar)
    status, _, body = get(protected, urllib.request.build_opener(NoRedirect))
    assert status == 302


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--cookie-secret", "abc"], "puts a secret on the command line"),
        (["--basic-auth", "not-a-file"], "no such file"),
        (["--basic-auth-env", "NO_SUCH_VARIABLE_SET"], "unset or empty"),
    ],
)
def test_secrets_on_the_command_line_or_missing_are_refused(arguments, message):
    result = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "serve", "--dry-run", *arguments],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PANEL_COOKIE_SECRET": SECRET},
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_auth_requires_a_cookie_secret(tmp_path: Path):
    password_file = tmp_path / "password.txt"
    password_file.write_text(PASSWORD)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "serve",
            "--dry-run",
            "--basic-auth",
            str(password_file),
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "cookie secret" in result.stderr
