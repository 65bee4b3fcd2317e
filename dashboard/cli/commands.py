"""``collections-dashboard``: generate, validate, summarise, serve and export.

Every data problem ends the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from dashboard import SourceError
from dashboard.cli.convert import convert
from dashboard.cli.score import score_app
from dashboard.compute.arrays import to_pence
from dashboard.compute.ledger import Buckets
from dashboard.compute.outcomes import Window, latest_payment_date
from dashboard.loader import SOURCE_ENV
from dashboard.sources import DEFAULT_SOURCE, open_source
from dashboard.sources.pgspec import with_options

if TYPE_CHECKING:
    from dashboard.ui.hosts import Host

SERVE_THREADS = 4
"""Threads that handle a served page's events (``panel serve --num-threads``): a build asked
for from the page (a new window in *Advanced*) runs on one of them, so the server goes on
answering other sessions meanwhile (builds themselves run one at a time)."""

APP_FILE = Path(__file__).resolve().parent.parent / "app.py"
"""The servable page that ``serve`` hands to ``panel serve`` (``dashboard.ui.panel_serve``)."""

app = typer.Typer(
    help="Portfolio collections dashboard for a UK water utility.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SourceOption = Annotated[
    str,
    typer.Option(
        "--source",
        help="CSV folder, SQLite file, Parquet folder or postgresql://USER@HOST:PORT/DB "
        "(default: the demo set in data/).",
    ),
]
SchemaOption = Annotated[
    str | None,
    typer.Option("--schema", help="PostgreSQL source: the schema of the tables (default public)."),
]
MappingOption = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        help="PostgreSQL source: TOML or JSON file naming the tables and columns that differ.",
    ),
]


BeforeOption = Annotated[int, typer.Option(help="Window: days before the due date.")]
AfterOption = Annotated[int, typer.Option(help="Window: days after the due date.")]
ToleranceOption = Annotated[float, typer.Option(help="Default when short by more (£).")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Date of knowledge YYYY-MM-DD.")]
BucketsOption = Annotated[
    str,
    typer.Option("--bucket-edges", help="Days-past-due bucket edges, e.g. 30,60,90."),
]


class EngineName(StrEnum):
    """Where a build's per-customer-partition work runs."""

    pandas = "pandas"
    dask = "dask"


EngineOption = Annotated[
    EngineName | None,
    typer.Option(
        "--engine",
        help="pandas (this process) or dask (a local cluster of one worker per core, or "
        "--scheduler). Default: $COLLECTIONS_ENGINE or pandas.",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option("--scheduler", help="Address of a dask.distributed scheduler (--engine dask)."),
]


def use_engine(engine: EngineName | None, scheduler: str | None) -> None:
    """Make ``engine`` (and ``scheduler``) the build engine of this process and its children.

    Raises
    ------
    typer.BadParameter
        ``--scheduler`` without ``--engine dask``.
    """
    from dashboard.compute.engine import ENGINE_ENV, SCHEDULER_ENV

    if scheduler and engine not in (None, EngineName.dask):
        raise typer.BadParameter("--scheduler needs --engine dask", param_hint="--scheduler")
    if engine is not None:
        os.environ[ENGINE_ENV] = engine.value
    if scheduler:
        os.environ[ENGINE_ENV] = EngineName.dask.value
        os.environ[SCHEDULER_ENV] = scheduler


class Format(StrEnum):
    """Output formats of ``generate``."""

    csv = "csv"
    sqlite = "sqlite"
    parquet = "parquet"
    postgresql = "postgresql"


def data_errors_exit_2(command: Callable) -> Callable:
    """Turn a :class:`SourceError` (or a bad argument) into one stderr line and exit 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (SourceError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@data_errors_exit_2
def generate(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 1500,
    start: Annotated[str, typer.Option(help="First bill month, YYYY-MM.")] = "2022-01",
    end: Annotated[str, typer.Option(help="Last bill month, YYYY-MM.")] = "2025-12",
    seed: Annotated[int, typer.Option(help="Random seed: same arguments, same data.")] = 42,
    out: Annotated[
        str,
        typer.Option(
            help="Output folder (csv, parquet), file (sqlite) or "
            "postgresql://USER@HOST:PORT/DB[?schema=NAME] (postgresql)."
        ),
    ] = "data",
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.csv,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Generate a seeded synthetic portfolio (customers, bills, payments, actions)."""
    from dashboard.demo import write_demo

    counts = write_demo(out, format.value, customers, start, end, seed, progress=progress)
    typer.echo(
        f"wrote {out} ({format.value}): " + ", ".join(f"{t} {n:,}" for t, n in counts.items())
    )


@app.command()
@data_errors_exit_2
def validate(
    source: SourceOption = str(DEFAULT_SOURCE),
    schema: SchemaOption = None,
    mapping: MappingOption = None,
) -> None:
    """Check a source: row counts, date ranges, as-of date and every warning."""
    from dashboard.loader import load_portfolio

    source = with_options(source, schema, mapping)
    portfolio = load_portfolio(source)
    as_of = latest_payment_date(portfolio.payments)
    ranges = {
        "customers": (None, None),
        "bills": portfolio.bills["bill_period_end"],
        "payments": portfolio.payments["payment_date"],
        "collections_actions": portfolio.actions["action_date"],
    }
    frames = {
        "customers": portfolio.customers,
        "bills": portfolio.bills,
        "payments": portfolio.payments,
        "collections_actions": portfolio.actions,
    }
    typer.echo(f"source: {source}")
    for table, frame in frames.items():
        dates = ranges[table]
        span = (
            ""
            if table == "customers" or frame.empty
            else f"  {_day(dates.min())} .. {_day(dates.max())}"
        )
        excluded = portfolio.excluded.get(table, 0)
        note = f"  ({excluded:,} excluded)" if excluded else ""
        typer.echo(f"{table:<20} {len(frame):>12,} rows{span}{note}")
    typer.echo(f"as_of (latest payment): {_day(as_of)}")
    if portfolio.warnings:
        typer.echo(f"{len(portfolio.warnings)} warning(s):")
        for warning in portfolio.warnings:
            typer.echo(f"  warning: {warning}")
    else:
        typer.echo("no warnings")


@app.command()
@data_errors_exit_2
def summary(
    source: SourceOption = str(DEFAULT_SOURCE),
    before: BeforeOption = 3,
    after: AfterOption = 60,
    tolerance: ToleranceOption = 1.00,
    as_of: AsOfOption = None,
    include_immature: Annotated[
        bool, typer.Option("--include-immature", help="Count bills whose window is still open.")
    ] = False,
    from_month: Annotated[str | None, typer.Option("--from", help="First bill month.")] = None,
    to_month: Annotated[str | None, typer.Option("--to", help="Last bill month.")] = None,
    filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="DIM=VALUE, repeatable (ORed per DIM, ANDed across)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    bucket_edges: BucketsOption = "30,60,90",
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
    schema: SchemaOption = None,
    mapping: MappingOption = None,
) -> None:
    """Default rates overall, by month and by segment, action counts and aged arrears."""
    from dashboard.loader import load_cube

    source = with_options(source, schema, mapping)
    use_engine(engine, scheduler)
    from dashboard.cli.summary import (
        format_summary,
        month_start_of,
        parse_filters,
        portfolio_summary,
    )

    window = Window(before, after, to_pence(tolerance))
    cube = load_cube(source, window, _as_of(as_of), buckets=Buckets.parse(bucket_edges))
    report_warnings(cube)
    start, end = month_start_of(from_month, "--from"), month_start_of(to_month, "--to")
    result = portfolio_summary(
        cube, parse_filters(filter or [], cube), start, end, include_immature
    )
    typer.echo(json.dumps(result, ensure_ascii=False) if as_json else format_summary(result))


@app.command()
@data_errors_exit_2
def build(
    source: SourceOption = str(DEFAULT_SOURCE),
    before: BeforeOption = 3,
    after: AfterOption = 60,
    tolerance: ToleranceOption = 1.00,
    as_of: AsOfOption = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    bucket_edges: BucketsOption = "30,60,90",
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
    schema: SchemaOption = None,
    mapping: MappingOption = None,
) -> None:
    """Build the cube (outcomes, ledger, aggregates) into the persistent cache beside the data."""
    import time

    from dashboard.loader import build_and_store, load_cube

    source = with_options(source, schema, mapping)
    use_engine(engine, scheduler)

    started = time.perf_counter()
    window = Window(before, after, to_pence(tolerance))
    buckets = Buckets.parse(bucket_edges)
    file, built = build_and_store(source, window, _as_of(as_of), progress, buckets)
    seconds = time.perf_counter() - started
    if file is None:
        typer.echo(
            f"built in memory only (no safe cache folder, see the warning) ({seconds:.1f} s)"
        )
        raise typer.Exit(1)
    report_warnings(load_cube(source, window, _as_of(as_of), buckets=buckets))
    verb = "built" if built else "already cached"
    typer.echo(f"{verb}: {file} ({seconds:.1f} s)")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@data_errors_exit_2
def serve(
    ctx: typer.Context,
    source: SourceOption = str(DEFAULT_SOURCE),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5006,
    address: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    basic_auth: Annotated[
        Path | None,
        typer.Option(
            "--basic-auth", help="Password file: JSON {user: password} or one password line."
        ),
    ] = None,
    basic_auth_env: Annotated[
        str | None, typer.Option("--basic-auth-env", help="Environment variable with the password.")
    ] = None,
    basic_auth_user: Annotated[
        str, typer.Option("--basic-auth-user", help="User name for a single password.")
    ] = "collections",
    cookie_secret_file: Annotated[
        Path | None,
        typer.Option(
            "--cookie-secret-file", help="File with the cookie secret (or $PANEL_COOKIE_SECRET)."
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Host NAME[:PORT] the dashboard also answers to (repeatable; also "
            "$COLLECTIONS_ALLOWED_HOSTS, comma-separated). Always allowed: 127.0.0.1, "
            "localhost, [::1] on PORT, and ADDRESS.",
        ),
    ] = None,
    show: Annotated[bool, typer.Option(help="Open a browser tab.")] = False,
    fixed_window: Annotated[
        bool,
        typer.Option(
            "--fixed-window",
            help="Fix the window, tolerance, as-of date and bucket edges given here for every "
            "session: users filter, nobody triggers a build.",
        ),
    ] = False,
    before: BeforeOption = 3,
    after: AfterOption = 60,
    tolerance: ToleranceOption = 1.00,
    as_of: AsOfOption = None,
    bucket_edges: BucketsOption = "30,60,90",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the panel serve command, don't run it.")
    ] = False,
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
    schema: SchemaOption = None,
    mapping: MappingOption = None,
) -> None:
    """Serve the dashboard with `panel serve`.

    Any further option is passed to `panel serve` unchanged, e.g. --num-procs 2,
    --oauth-provider ..., --allow-websocket-origin H. Websocket origins default to
    ADDRESS:PORT only. Only allowed hosts are answered (403 otherwise): 127.0.0.1,
    localhost and [::1] on PORT, ADDRESS, --allow-host names, $COLLECTIONS_ALLOWED_HOSTS and
    the --allow-websocket-origin names. Secrets never go on the command line: passwords come
    from a file or an environment variable, the cookie secret from a file or
    $PANEL_COOKIE_SECRET.
    """
    from dashboard.cli import auth
    from dashboard.loader import load_cube
    from dashboard.ui.hosts import ALLOWED_HOSTS_ENV
    from dashboard.ui.security import SESSION_DIR_ENV

    source = with_options(source, schema, mapping)
    extra = list(ctx.args)
    auth.refuse_secrets_in(extra)
    hosts = allowed_hosts(port, address, allow_host or [], extra)
    use_engine(engine, scheduler)  # the app's builds (other windows) inherit it
    window = Window(before, after, to_pence(tolerance))
    buckets = Buckets.parse(bucket_edges)
    # fail fast on bad data; fills the persistent cache for the app
    report_warnings(load_cube(source, window, _as_of(as_of), buckets=buckets))
    env = {**os.environ, SOURCE_ENV: open_source(source).spec()}
    env[ALLOWED_HOSTS_ENV] = ",".join(str(host) for host in hosts)
    env.update(_settings_env(before, after, tolerance, as_of, bucket_edges, fixed_window))
    with tempfile.TemporaryDirectory(prefix="collections-auth-") as private:
        env[SESSION_DIR_ENV] = private  # revoked sessions, shared by the server's workers
        if basic_auth is not None or basic_auth_env is not None:
            credentials = auth.read_password(basic_auth, basic_auth_env)
            env[auth.COOKIE_SECRET_ENV] = auth.cookie_secret(cookie_secret_file)
            path = auth.write_credentials(credentials, basic_auth_user, Path(private))
            extra = ["--basic-auth", str(path), *extra]
        elif any(a.startswith("--oauth-provider") for a in extra):
            env[auth.COOKIE_SECRET_ENV] = auth.cookie_secret(cookie_secret_file)
        command = serve_command(source, port, address, show, extra)
        typer.echo(f"serving {source} at http://{address}:{port}/app")
        typer.echo("allowed hosts: " + ", ".join(str(host) for host in hosts))
        if dry_run:
            typer.echo(" ".join(command))
            return
        raise typer.Exit(run_forwarding_signals(command, env))


def _settings_env(before, after, tolerance, as_of, bucket_edges, fixed) -> dict[str, str]:
    """The build settings a served app starts from (and, with ``fixed``, keeps)."""
    from dashboard.ui.app import FIXED_WINDOW_ENV, SETTINGS_ENV

    settings = {"before": before, "after": after, "tolerance": tolerance}
    settings |= {"bucket_edges": bucket_edges, "as_of": as_of}
    return {
        SETTINGS_ENV: json.dumps(settings),
        FIXED_WINDOW_ENV: "1" if fixed else "0",
    }


def run_forwarding_signals(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` and pass SIGTERM/SIGINT/SIGHUP on to it, so stopping ``serve``
    stops ``panel serve`` too (instead of leaving it serving).

    Returns
    -------
    int
        The command's exit status.
    """
    import signal

    child = subprocess.Popen(command, env=env)
    forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {
        sig: signal.signal(sig, lambda sig, _frame: child.send_signal(sig)) for sig in forwarded
    }
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.terminate()
            child.wait()


def allowed_hosts(
    port: int, address: str, allow_host: list[str], extra: list[str]
) -> tuple[Host, ...]:
    """The hosts ``serve`` answers to (the server gets them in ``$COLLECTIONS_ALLOWED_HOSTS``).

    Parameters
    ----------
    port, address : int, str
        Where the server listens: the loopback names on ``port`` and ``address`` are allowed.
    allow_host : list of str
        ``--allow-host`` values, ``NAME[:PORT]`` (or several, comma-separated).
    extra : list of str
        Further `panel serve` options: the names given to ``--allow-websocket-origin`` are
        allowed hosts too.

    Returns
    -------
    tuple of Host
        Also every entry of ``$COLLECTIONS_ALLOWED_HOSTS``; in order, without repeats.

    Raises
    ------
    ValueError
        One line naming the setting whose entry is not ``NAME[:PORT]`` (wildcards included).
    """
    from dashboard.ui.hosts import ALLOWED_HOSTS_ENV, default_hosts, parse_allowed_hosts

    origins = []
    for argument, following in itertools.pairwise([*extra, None]):
        if argument == "--allow-websocket-origin" and following is not None:
            origins.append(following)
        elif argument.startswith("--allow-websocket-origin="):
            origins.append(argument.split("=", 1)[1])
    try:
        defaults = default_hosts(port, address)
    except ValueError as exc:
        raise ValueError(f"--address {exc}") from None
    hosts = [
        *defaults,
        *parse_allowed_hosts([os.environ.get(ALLOWED_HOSTS_ENV, "")], f"${ALLOWED_HOSTS_ENV}"),
        *parse_allowed_hosts(allow_host, "--allow-host"),
        *parse_allowed_hosts(origins, "--allow-websocket-origin"),
    ]
    return tuple(dict.fromkeys(hosts))


def serve_command(source: str, port: int, address: str, show: bool, extra: list[str]) -> list[str]:
    """The `panel serve` command line for the dashboard.

    It runs `panel serve` through :mod:`dashboard.ui.panel_serve`, which installs the host
    guard first (allowed hosts come from ``$COLLECTIONS_ALLOWED_HOSTS``).

    Parameters
    ----------
    source : str
        Data source spec (passed to the app through ``$COLLECTIONS_SOURCE``).
    port, address : int, str
        Where to listen.
    show : bool
        Open a browser.
    extra : list of str
        Further `panel serve` options, passed unchanged.

    Returns
    -------
    list of str
    """
    command = [sys.executable, "-m", "dashboard.ui.panel_serve", str(APP_FILE)]
    command += ["--port", str(port)]
    command += ["--address", address, "--warm"]
    if "--allow-websocket-origin" not in extra:
        command += ["--allow-websocket-origin", f"{address}:{port}"]
    if not any(arg == "--num-threads" or arg.startswith("--num-threads=") for arg in extra):
        command += ["--num-threads", str(SERVE_THREADS)]
    if show:
        command.append("--show")
    return command + extra


export_app = typer.Typer(
    help="Export a static HTML dashboard or PNG figures.", no_args_is_help=True
)
app.add_typer(export_app, name="export")
app.add_typer(score_app, name="score")


@export_app.command("html")
@data_errors_exit_2
def export_html(
    source: SourceOption = str(DEFAULT_SOURCE),
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("outputs/dashboard.html"),
    include_customers: Annotated[
        bool,
        typer.Option(
            "--include-customers", help="Also embed customer-level rows (off: aggregates only)."
        ),
    ] = False,
    segments: Annotated[
        str,
        typer.Option(
            help="Segments offered in the page, comma-separated, or 'all' (each adds 12 states)."
        ),
    ] = "income_band,region,tariff,is_vulnerable",
    schema: SchemaOption = None,
    mapping: MappingOption = None,
) -> None:
    """One self-contained HTML file that opens offline; metric, segment and period stay live."""
    from dashboard.export import export_html as run
    from dashboard.vocab import DIMENSIONS

    source = with_options(source, schema, mapping)
    chosen = list(DIMENSIONS) if segments == "all" else [s.strip() for s in segments.split(",")]
    unknown = [s for s in chosen if s not in DIMENSIONS]
    if unknown or not chosen:
        raise SourceError(f"--segments {segments!r}: use 'all' or some of {', '.join(DIMENSIONS)}")
    report_warnings(_default_cube(source))
    path = run(source, out, include_customers=include_customers, segments=chosen)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@export_app.command("figures")
@data_errors_exit_2
def export_figures(
    source: SourceOption = str(DEFAULT_SOURCE),
    out: Annotated[Path, typer.Option(help="Folder for the PNG files.")] = Path("outputs/figures"),
    schema: SchemaOption = None,
    mapping: MappingOption = None,
) -> None:
    """PNG figures, a board pack: bill rates, segments, actions, provision, forecast, aged
    debt, share in arrears, debt movement, roll and cure, reaching 91+ days."""
    from dashboard.export import export_figures as run

    source = with_options(source, schema, mapping)
    report_warnings(_default_cube(source))
    for path in run(source, out):
        typer.echo(f"wrote {path}")


def report_warnings(cube) -> None:
    """Print the data-quality warnings of the source a cube was built from, on stderr.

    Parameters
    ----------
    cube : Cube
    """
    for table, rows in cube.excluded.items():
        typer.echo(f"warning: {rows:,} {table} rows excluded (see `validate`)", err=True)
    for line in cube.warnings:
        typer.echo(f"warning: {line}", err=True)


def _default_cube(source: str):
    """The cube an export draws (default window): loaded once, shared with the export."""
    from dashboard.loader import load_cube

    return load_cube(source)


def _as_of(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d"))
    except ValueError:
        raise SourceError(f"--as-of {text!r}: write the date as YYYY-MM-DD") from None


def _day(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


app.command()(data_errors_exit_2(convert))  # dashboard/cli/convert.py


def main() -> None:
    """Console-script entry point."""
    app(prog_name="collections-dashboard")
