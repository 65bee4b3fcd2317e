"""Run a dashboard server in a subprocess for tests and benchmarks: start, wait, stop.

Usage::

    from servers import serving

    with serving(source, "--basic-auth", str(password_file)) as server:
        urllib.request.urlopen(server.url)  # http://127.0.0.1:PORT/app

:func:`serving` runs ``collections-dashboard serve --source SOURCE --port PORT [...]`` on a
free port, waits until it answers and always stops it. Any other server command (e.g.
``panel serve dashboard/app.py``) goes through :func:`start_server`, which returns at once, so
that several servers start together; ``with server:`` stops one, :meth:`Server.wait` waits.

A server answers when its port accepts a TCP connection, or, when its command line has
``--liveness``, when ``/liveness`` returns 200 (``--num-procs`` servers accept connections
before their processes serve). A server that exits first, or does not answer in time, raises
:class:`ServerError` with the end of its output.

``benchmarks/`` scripts import this module after putting ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

ADDRESS = "127.0.0.1"
CLI = Path(sys.executable).with_name("collections-dashboard")
"""The console script next to this Python; ``python -m dashboard.cli`` where there is none."""
OUTPUT_TAIL = 20_000
"""Characters of a server's output that a :class:`ServerError` shows (its end)."""


class ServerError(RuntimeError):
    """A server exited before answering, or did not answer in time."""


def free_port(address: str = ADDRESS) -> int:
    """A TCP port that nothing listens on at the moment.

    Parameters
    ----------
    address : str
        Interface to bind.

    Returns
    -------
    int
    """
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def serve_command(
    source: str | os.PathLike | None, port: int, *extra: str, address: str = ADDRESS
) -> list[str]:
    """The ``collections-dashboard serve`` command line.

    Parameters
    ----------
    source : str, path or None
        Data source spec; ``None`` leaves ``--source`` out (the command's default source).
    port : int
        Port to listen on.
    *extra : str
        Further ``serve`` options (``--liveness``, ``--basic-auth FILE``, ...); those ``serve``
        does not know go to ``panel serve`` unchanged (``--num-procs 2``, ...).
    address : str
        Address to listen on.

    Returns
    -------
    list of str
    """
    cli = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "dashboard.cli"]
    options = [] if source is None else ["--source", str(source)]
    return [*cli, "serve", *options, "--port", str(port), "--address", address, *extra]


class Server:
    """A server process started by :func:`start_server`; ``with server:`` stops it on exit.

    Attributes
    ----------
    process : subprocess.Popen
        The process started.
    port : int
    address : str
    log : Path or None
        File receiving the server's output; ``None``: the output is captured in memory.
    own_group : bool
        The server leads its own process group, which :meth:`stop` signals as a whole.
    """

    def __init__(
        self,
        process: subprocess.Popen,
        port: int,
        address: str,
        log: Path | None,
        own_group: bool,
    ):
        self.process, self.port, self.address = process, port, address
        self.log, self.own_group = log, own_group
        self._started = time.monotonic()
        self._liveness = "--liveness" in process.args
        self._captured: list[bytes] = []
        self._reader = None
        if process.stdout is not None:
            self._reader = threading.Thread(target=self._capture, daemon=True)
            self._reader.start()

    @property
    def base_url(self) -> str:
        """``http://ADDRESS:PORT``."""
        return f"http://{self.address}:{self.port}"

    @property
    def url(self) -> str:
        """The dashboard's URL, ``http://ADDRESS:PORT/app``."""
        return f"{self.base_url}/app"

    def output(self) -> str:
        """The server's output (stdout and stderr) so far.

        Returns
        -------
        str
        """
        if self.log is not None:
            return self.log.read_text(errors="replace")
        return b"".join(self._captured).decode(errors="replace")

    def wait(self, timeout: float = 90) -> float:
        """Wait until the server answers.

        Parameters
        ----------
        timeout : float
            Seconds from the server's start (not from this call: servers started together
            share their time).

        Returns
        -------
        float
            Seconds from the start until the server answered.

        Raises
        ------
        ServerError
            If the server exits first or does not answer in time.
        """
        while (waited := time.monotonic() - self._started) < timeout:
            if self.process.poll() is not None:
                if self._reader is not None:
                    self._reader.join(5)  # the rest of its output
                raise self._error(f"exited with status {self.process.returncode}")
            if self._answers():
                return waited
            time.sleep(0.25)
        what = f"{self.base_url}/liveness" if self._liveness else f"port {self.port}"
        raise self._error(f"did not answer on {what} within {timeout:g} s")

    def stop(self, timeout: float = 15) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout`` seconds.

        With ``own_group`` the signals go to the whole process group (the ``panel serve``
        that ``collections-dashboard serve`` starts, and its ``--num-procs`` processes), and
        whatever is left of the group once the server has exited is killed.

        Parameters
        ----------
        timeout : float
            Seconds to wait after SIGTERM.
        """
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait()
        if self.own_group:
            self._signal(signal.SIGKILL)
        if self._reader is not None:
            self._reader.join(5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _answers(self) -> bool:
        if self._liveness:
            try:
                with urllib.request.urlopen(f"{self.base_url}/liveness", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False
        with socket.socket() as sock:
            return sock.connect_ex((self.address, self.port)) == 0

    def _signal(self, sig: signal.Signals) -> None:
        if not self.own_group:
            self.process.send_signal(sig)
            return
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.process.pid, sig)

    def _capture(self) -> None:
        """Read the output pipe until it closes (an unread pipe would block the server)."""
        with self.process.stdout as pipe:
            while chunk := pipe.read1():
                self._captured.append(chunk)

    def _error(self, what: str) -> ServerError:
        output, heading = self.output(), "server output"
        if len(output) > OUTPUT_TAIL:
            output, heading = "..." + output[-OUTPUT_TAIL:], "end of the server output"
            heading += f" (all of it in {self.log})" if self.log is not None else ""
        command = shlex.join(map(str, self.process.args))
        return ServerError(f"server {what}: {command}\n--- {heading} ---\n{output}")


def start_server(
    command: Sequence[str | os.PathLike],
    port: int,
    *,
    address: str = ADDRESS,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    own_group: bool = False,
    cwd: Path | None = None,
) -> Server:
    """Start a server command; return at once (:meth:`Server.wait` waits until it answers).

    Parameters
    ----------
    command : sequence of str or path
        The server's command line; it listens on ``address:port``.
    port : int
        The port in ``command`` (e.g. from :func:`free_port`).
    address : str
        The address in ``command``.
    env : mapping, optional
        Environment variables added to this process's environment.
    log : Path, optional
        File that receives the server's stdout and stderr; by default they are captured in
        memory (:meth:`Server.output`).
    own_group : bool
        Start the server in its own process group (session), which :meth:`Server.stop`
        signals as a whole: the way to stop the processes the server starts itself.
    cwd : Path, optional
        Working directory of the server.

    Returns
    -------
    Server
        Stop it with ``with server:`` or :meth:`Server.stop`.
    """
    options = dict(
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=own_group,
    )
    command = [str(part) for part in command]
    if log is None:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, **options)
    else:
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, **options)
    return Server(process, port, address, log, own_group)


@contextlib.contextmanager
def serving(
    source: str | os.PathLike | None,
    *extra: str,
    address: str = ADDRESS,
    port: int | None = None,
    timeout: float = 90,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    own_group: bool = False,
    cwd: Path | None = None,
) -> Iterator[Server]:
    """Run ``collections-dashboard serve`` until the block ends; yield it once it answers.

    Parameters
    ----------
    source : str, path or None
        Data source spec; ``None``: the command's default source.
    *extra : str
        Further ``serve`` options (see :func:`serve_command`); ``--liveness`` makes the wait
        poll ``/liveness``.
    address : str
        Address to listen on.
    port : int, optional
        Port to listen on; by default a free one.
    timeout : float
        Seconds to wait for the server to answer.
    env, log, own_group, cwd
        As for :func:`start_server`.

    Yields
    ------
    Server
        ``.url`` is the dashboard's URL.

    Raises
    ------
    ServerError
        If the server exits or does not answer within ``timeout`` seconds (it is stopped).
    """
    port = port or free_port(address)
    command = serve_command(source, port, *extra, address=address)
    options = dict(address=address, env=env, log=log, own_group=own_group, cwd=cwd)
    with start_server(command, port, **options) as server:
        server.wait(timeout)
        yield server
