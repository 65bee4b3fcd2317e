"""``serve`` with basic authentication: no data and no websocket without the password."""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
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


# -- issue 13, item 7: secrets and users files refused at start --------------------------------


def serve_dry_run(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "serve", "--dry-run", *arguments],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PANEL_COOKIE_SECRET": SECRET, **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["--cookie-secre", "abc"],
        ["--cookie-s=abc"],
        ["--cookie-sec", "abc"],
        ["--oauth-secre", "abc"],
        ["--oauth-s=abc"],
        ["--oauth-encryption", "abc"],
        ["--oauth-e", "abc"],
        ["--basic-aut", "a-password"],
        ["--basic-a=a-password"],
    ],
)
def test_abbreviated_secret_options_are_refused_too(arguments):
    result = serve_dry_run(*arguments)
    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "command line" in result.stderr or "goes in a file" in result.stderr
    assert "panel serve" not in result.stdout


def test_other_panel_options_still_pass():
    from dashboard.cli.auth import refuse_secrets_in

    refuse_secrets_in(["--cookie-path", "/x", "--oauth-provider", "github", "--oauth-key", "id"])
    refuse_secrets_in(["--num-procs", "2", "--basic-login-template", "t.html", "-v"])


@pytest.mark.parametrize(
    "users, message",
    [
        ({"alice": "Correct-Horse-7", "bob": ""}, "user 'bob' has an empty password"),
        ({"bob": "   "}, "user 'bob' has an empty password"),
        ({"bob": 123456}, "password of user 'bob' must be a JSON string, not a number"),
        ({"bob": None}, "password of user 'bob' must be a JSON string, not null"),
        ({"bob": ["a", "b"]}, "password of user 'bob' must be a JSON string, not a list"),
        ({"bob": True}, "must be a JSON string, not true/false"),
        ({}, "give a JSON object"),
        ({"": "Correct-Horse-7"}, "user name '' is blank"),
        ({" bob": "Correct-Horse-7"}, "surrounding spaces"),
    ],
)
def test_a_users_file_with_an_empty_or_non_string_password_is_refused(tmp_path, users, message):
    from dashboard import SourceError
    from dashboard.cli.auth import read_password

    users_file = tmp_path / "users.json"
    users_file.write_text(json.dumps(users))
    with pytest.raises(SourceError, match=re.escape(message)):
        read_password(users_file, None)
    result = serve_dry_run("--basic-auth", str(users_file))
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "Correct-Horse-7" not in result.stderr + result.stdout  # no password shown


def test_a_users_file_that_is_not_json_is_not_taken_as_a_password(tmp_path):
    from dashboard import SourceError
    from dashboard.cli.auth import read_password

    users_file = tmp_path / "users.json"
    users_file.write_text('{"alice": "Correct-Horse-7",}')
    with pytest.raises(SourceError, match="not valid JSON") as raised:
        read_password(users_file, None)
    assert "Correct-Horse-7" not in str(raised.value)
    users_file.write_text('{"alice": "Correct-Horse-7"}\n')
    assert read_password(users_file, None) == {"alice": "Correct-Horse-7"}
    users_file.write_text("Correct-Horse-7\n")
    assert read_password(users_file, None) == "Correct-Horse-7"


def test_a_blank_password_variable_is_refused():
    result = serve_dry_run("--basic-auth-env", "BLANK_PASSWORD", env={"BLANK_PASSWORD": "  "})
    assert result.returncode == 2 and "unset or empty" in result.stderr
