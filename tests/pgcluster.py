"""A throwaway PostgreSQL cluster for tests, benchmarks and CI: initdb, start, stop.

Usage::

    python3 tests/pgcluster.py start FOLDER   # prints postgresql://collections@127.0.0.1:PORT/postgres
    python3 tests/pgcluster.py stop FOLDER    # stops the server, removes FOLDER

or, from Python, :func:`start` and :func:`stop`. Standard library only: ``.ci/run`` runs it
before the virtualenv exists.

The cluster lives in ``FOLDER`` (``FOLDER/data``, its log ``FOLDER/server.log``) and listens
on 127.0.0.1 on a free port (and a Unix socket in ``FOLDER``). PostgreSQL refuses to run as
root: as root (CI, this machine) ``initdb`` and the server run as the ``postgres`` user
(created by Debian's ``postgresql`` package), which then owns ``FOLDER`` (give a folder that
user can reach, e.g. from ``tempfile.mkdtemp()``). The superuser ``collections`` logs in
without a password on 127.0.0.1 (trust); every other role needs its password
(scram-sha-256), so tests can check ``PGPASSWORD``, ``~/.pgpass`` and a wrong password.
Durability is off (``fsync``, ``full_page_writes``, ``synchronous_commit``): nothing here
outlives the run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

SUPERUSER = "collections"
SERVER_USER = "postgres"
"""The user the server runs as when this process is root."""
BINARY_FOLDERS = "/usr/lib/postgresql/*/bin"
"""Where Debian installs each PostgreSQL version's programs (not on PATH)."""
HBA = f"""# throwaway test cluster: {SUPERUSER} is trusted, every other role gives its password
local all all trust
host all {SUPERUSER} 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
host all {SUPERUSER} ::1/128 trust
host all all ::1/128 scram-sha-256
"""
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
}


class ClusterError(RuntimeError):
    """No cluster can be started here (no PostgreSQL programs, no user to run them as)."""


def binaries() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: on PATH, else Debian's newest version.

    Raises
    ------
    ClusterError
        When PostgreSQL's server programs are not installed.
    """
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(glob.glob(BINARY_FOLDERS), key=_version, reverse=True)
    for folder in map(Path, found):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise ClusterError(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed: "
        "apt-get install postgresql (.ci/run does)"
    )


def _version(folder: str) -> int:
    name = Path(folder).parent.name
    return int(name) if name.isdigit() else 0


def server_user() -> pwd.struct_passwd | None:
    """The user to run the server as: None (this user) unless this process is root.

    Raises
    ------
    ClusterError
        As root, when there is no ``postgres`` user.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ClusterError(
            f"running as root and no '{SERVER_USER}' user to run PostgreSQL as "
            "(Debian's postgresql package creates it)"
        ) from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str], user: pwd.struct_passwd | None, folder: Path) -> None:
    """Run a PostgreSQL program (as ``user`` when given); its output only on failure."""
    options = {}
    if user is not None:
        options = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if user is not None:
        env["HOME"] = user.pw_dir
    result = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, check=False, **options
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-2000:]
        raise ClusterError(f"{' '.join(command[:2])} failed ({result.returncode}): {output}")


def start(folder: str | Path) -> str:
    """Create a cluster in ``folder`` and start it.

    Parameters
    ----------
    folder : str or Path
        An empty (or missing) folder; as root it is handed to the ``postgres`` user.

    Returns
    -------
    str
        ``postgresql://collections@127.0.0.1:PORT/postgres`` (the superuser, trusted).

    Raises
    ------
    ClusterError
        When PostgreSQL is not installed, cannot run here, or does not start.
    """
    programs, user = binaries(), server_user()
    folder = Path(folder).absolute()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
    data = folder / "data"
    initdb = [str(programs / "initdb"), "-D", str(data), "-U", SUPERUSER, "-E", "UTF8"]
    _run([*initdb, "--locale=C.UTF-8", "--no-sync", "--auth=trust"], user, folder)
    (data / "pg_hba.conf").write_text(HBA)
    port = free_port()
    settings = {**SETTINGS, "port": str(port), "unix_socket_directories": str(folder)}
    options = " ".join(f"-c {name}={value}" for name, value in settings.items())
    log = str(folder / "server.log")
    _run([str(programs / "pg_ctl"), "start", "-D", str(data), "-l", log, "-w", "-t", "60",
          "-o", options], user, folder)  # fmt: skip
    url = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    (folder / "url").write_text(url + "\n")
    return url


def stop(folder: str | Path) -> None:
    """Stop the cluster in ``folder`` (if it runs) and remove the folder."""
    folder = Path(folder).absolute()
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        try:
            _run([str(binaries() / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                 server_user(), folder)  # fmt: skip
        except ClusterError as exc:
            print(f"pgcluster: {exc}", file=sys.stderr)
    shutil.rmtree(folder, ignore_errors=True)


def main(arguments: list[str]) -> int:
    """``start FOLDER`` (prints the URL) or ``stop FOLDER``."""
    if len(arguments) != 2 or arguments[0] not in ("start", "stop"):
        print("usage: pgcluster.py start|stop FOLDER", file=sys.stderr)
        return 2
    action, folder = arguments
    try:
        if action == "start":
            print(start(folder))
        else:
            stop(folder)
    except ClusterError as exc:
        print(f"pgcluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
