"""Broken sources: refused with one clear line, loaded with a warning, or loaded as if fine.

The corpus (``tests/bad_inputs/make_corpus.py``) is built once for the module in a tmp
folder. Each case goes through the console script (``validate``, all cases at once in a
thread pool: startup, i.e. importing pandas, is most of a run), through
``dashboard.loader.load_portfolio``, and a few refused ones through the served app in
Chromium. No run may change, or add, a byte under the case's folder. Property-based tests
feed random malformed frames to ``dashboard.schema.validate``.

Aspects that fail because of a bug in ``dashboard/`` are listed by
``make_corpus.known_bugs()`` and marked ``xfail(strict=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_inputs.make_corpus import Case, build_corpus, case_names, known_bugs
from conftest import small_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import Server, free_port, start_server

from dashboard import SourceError
from dashboard.loader import load_portfolio
from dashboard.schema import Portfolio, tables_from_frames, validate
from dashboard.vocab import TABLES

from browser import BROWSER_ENV, chromium_page, require_chromium

CONSOLE_SCRIPT = Path(sys.executable).with_name("collections-dashboard")
APP_FILE = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
CLI_TIMEOUT = 120
APP_TIMEOUT = 90
"""Seconds from its start for an app server to answer."""
PORTFOLIO_FRAMES = {
    "customers": "customers",
    "bills": "bills",
    "payments": "payments",
    "collections_actions": "actions",
}
# Refused cases shown by the served app: a CSV value, a truncated SQLite file and a file that
# is not Parquet; plus a known bug (the app shows a blank page, the traceback is in the log).
APP_CASES = (
    "csv_text_in_amount",
    "sqlite_truncated",
    "parquet_not_parquet",
    "csv_datetime_with_offset",
)
APP_FILE_NAMES = {
    "csv_text_in_amount": "bills.csv",
    "sqlite_truncated": "portfolio.sqlite",
    "parquet_not_parquet": "payments.parquet",
    "csv_datetime_with_offset": "payments.csv",
}
MARKER = "The data could not be loaded"
BOKEH_DOCUMENT_JS = "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
DEEP_TEXT_JS = """() => { const parts = [];
    const walk = (node) => { if (node.shadowRoot) walk(node.shadowRoot);
        for (const child of node.childNodes) {
            if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent);
            else if (child.nodeType === Node.ELEMENT_NODE &&
                     !['SCRIPT', 'STYLE', 'TEMPLATE'].includes(child.tagName)) walk(child);
        } };
    walk(document.body); return parts.join(' '); }"""


def cases_for(aspect: str, names: list[str] | tuple[str, ...] | None = None) -> list:
    """Case names as pytest params, marked xfail(strict) where a known bug breaks ``aspect``."""
    bugs = known_bugs()
    params = []
    for name in case_names() if names is None else names:
        reason = bugs.get(name, {}).get(aspect)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (relative path -> sha256 of a file, or its kind)."""
    entries = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            entries[os.path.relpath(os.path.join(folder, name), root)] = "folder"
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):  # never open a pipe or device
                kind = f"link to {os.readlink(path)}" if os.path.islink(path) else "special"
                entries[os.path.relpath(path, root)] = kind
                continue
            try:
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            except PermissionError:
                digest = "unreadable"
            entries[os.path.relpath(path, root)] = digest
    return entries


def one_line(message: str) -> bool:
    return len(message.splitlines()) == 1


# --- the corpus; the command-line runs start in the background ---------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Case]:
    return build_corpus(tmp_path_factory.mktemp("bad-inputs"))


@pytest.fixture(scope="module")
def baseline(corpus) -> dict[str, dict[str, str]]:
    """Every case's files as built, before anything reads them."""
    return {name: snapshot(case.root) for name, case in corpus.items()}


def run_validate(case: Case) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """``collections-dashboard validate --source CASE``, and the case's files afterwards."""
    command = [str(CONSOLE_SCRIPT), "validate", "--source", str(case.path)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=CLI_TIMEOUT, cwd=case.root.parent
    )
    return result, snapshot(case.root)


@pytest.fixture(scope="module")
def cli_runs(corpus, baseline) -> Iterator[dict[str, Future]]:
    """One console-script run per case, started by the module's first test so that they run
    (startup is mostly importing pandas) while the in-process tests below run."""
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    try:
        yield {
            name: pool.submit(run_validate, case)
            for name, case in corpus.items()
            if case.skip is None
        }
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def runnable(corpus: dict[str, Case], name: str) -> Case:
    case = corpus[name]
    if case.skip:
        pytest.skip(case.skip)
    return case


def test_corpus_covers_every_kind_of_problem(corpus, cli_runs):
    assert len(corpus) >= 30
    assert {case.outcome for case in corpus.values()} == {"refuse", "warn", "ok"}
    for table in TABLES:
        assert f"csv_missing_{table}" in corpus
    for case in corpus.values():
        assert case.root.is_dir() and case.path.is_relative_to(case.root), case.name
        assert case.expect, case.name
    assert set(cli_runs) == {name for name, case in corpus.items() if case.skip is None}


# --- Python ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", cases_for("python"))
def test_load_portfolio(corpus, name):
    case = runnable(corpus, name)
    if case.outcome == "refuse":
        with pytest.raises(SourceError) as excinfo:
            load_portfolio(case.path)
        message = str(excinfo.value)
        assert isinstance(excinfo.value, ValueError)
        assert one_line(message), message
        for text in case.expect:
            assert text in message
        return
    portfolio = load_portfolio(case.path)
    for table, rows in case.rows.items():
        assert len(getattr(portfolio, PORTFOLIO_FRAMES[table])) == rows, table
    assert {t: portfolio.excluded.get(t, 0) for t in TABLES} == {
        t: case.excluded.get(t, 0) for t in TABLES
    }
    for key, values in case.values.items():
        table, column = key.split(".")
        loaded = set(getattr(portfolio, PORTFOLIO_FRAMES[table])[column].astype(str))
        assert set(values) <= loaded, (key, sorted(loaded))
    if case.outcome == "ok":
        assert portfolio.warnings == []
    else:
        assert all(one_line(w) for w in portfolio.warnings), portfolio.warnings
        for text in case.expect:
            assert any(text in warning for warning in portfolio.warnings), text


@pytest.mark.parametrize("name", case_names())
def test_load_portfolio_changes_no_file(corpus, baseline, name):
    case = runnable(corpus, name)
    with contextlib.suppress(Exception):  # outcomes are checked above; only the bytes here
        load_portfolio(case.path)
    assert snapshot(case.root) == baseline[name]


# --- property-based: random malformed tables ------------------------------------------------

LINE_BREAKS = ("Cc", "Cs", "Zl", "Zp")  # control characters (\n, \r, \x1c ...), separators
NAMES = st.text(st.characters(blacklist_categories=LINE_BREAKS), min_size=1, max_size=12)
DATE_TEXT = st.from_regex(r"\A\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?\Z")
"""ISO-looking dates and date-times without a UTC offset (offsets: the known bug cases)."""
MISSING = st.sampled_from([None, np.nan, "", " ", "NaN", "nan", "NULL", "NaT"])
DATES = st.one_of(
    st.sampled_from(["2024-01-31", "2024-02-29", "2024-02-30", "2024-03", "2024", "31/01/2024"]),
    DATE_TEXT,
    st.text(max_size=12),
    st.integers(-(10**12), 10**12),
    MISSING,
)
AMOUNTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**15), 10**15),
    st.sampled_from(["12.50", "-1", "1e12", "£12.50", "1,234.50", "inf", "0x10", "1_000"]),
    st.text(max_size=10),
    MISSING,
)
IDS = st.one_of(
    st.sampled_from(["C100000", "C100001", "C100002", "C100003", "C999999", " C100000 "]),
    st.text(max_size=8),
    st.integers(0, 5),
    MISSING,
)
FLAGS = st.one_of(st.sampled_from([0, 1, 2, -1, "1", "0", "yes", 1.0, 0.5, True]), MISSING)
TEXT = st.one_of(st.sampled_from(["Reading", "<£15k", "Card", "Reminder Sent"]), NAMES, MISSING)
CELLS = {"customer_id": IDS, "has_meter": FLAGS, "is_vulnerable": FLAGS}
CELLS |= {"prefers_direct_debit": FLAGS, "bill_amount": AMOUNTS, "amount": AMOUNTS}
CELLS |= {"usage_m3": AMOUNTS} | {c: DATES for c in ("bill_period_end", "due_date")}
CELLS |= {"payment_date": DATES, "action_date": DATES}


BASE_TABLES = small_tables()


@st.composite
def malformed_frames(draw, shape: bool) -> dict[str, pd.DataFrame]:
    """The tiny valid portfolio of conftest with up to three random cells in random columns
    replaced and, if ``shape``, columns dropped or renamed and tables cut short."""
    tables = {}
    for table, base in BASE_TABLES.items():
        frame = base.copy()
        if shape and draw(st.integers(0, 4)) == 0:
            frame = frame.iloc[: draw(st.integers(0, len(frame)))].copy()
        for column in TABLES[table]:
            if not len(frame) or draw(st.integers(0, 3)) > 0:
                continue
            row, cell = st.integers(0, len(frame) - 1), CELLS.get(column, TEXT)
            cells = draw(st.lists(st.tuples(row, cell), min_size=1, max_size=3))
            frame[column] = frame[column].astype(object)
            position = frame.columns.get_loc(column)
            for row_number, value in cells:
                frame.iloc[row_number, position] = value
        if shape:
            columns = list(frame.columns)
            keep = draw(st.lists(st.sampled_from(columns), unique=True, min_size=len(columns) - 2))
            renames = draw(st.dictionaries(st.sampled_from(keep), NAMES, max_size=2))
            renames = {old: new for old, new in renames.items() if new not in columns}
            frame = frame.loc[:, sorted(keep, key=columns.index)].rename(columns=renames)
        tables[table] = frame
    return tables


def check_validate(frames: dict[str, pd.DataFrame]) -> None:
    """``validate`` returns a sound Portfolio or raises a one-line SourceError, nothing else."""
    try:
        portfolio = validate(tables_from_frames(frames))
    except SourceError as error:
        assert one_line(str(error)), str(error)
        return
    assert isinstance(portfolio, Portfolio)
    assert (portfolio.bills["bill_pence"] >= 0).all()
    assert (portfolio.payments["amount_pence"] >= 0).all()
    for frame, column in [(portfolio.bills, "due_date"), (portfolio.payments, "payment_date")]:
        assert frame[column].notna().all()
    assert (portfolio.bills["due_date"] >= portfolio.bills["bill_period_end"]).all()
    assert not portfolio.customers["customer_id"].duplicated().any()
    assert all(one_line(w) for w in portfolio.warnings), portfolio.warnings


HYPOTHESIS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# integer dates: see the sqlite_integer_dates case (known bug)
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
@HYPOTHESIS
@given(malformed_frames(shape=False))
def test_random_cells_give_a_portfolio_or_a_one_line_error(frames):
    check_validate(frames)


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
@HYPOTHESIS
@given(malformed_frames(shape=True))
def test_random_columns_and_lengths_give_a_portfolio_or_a_one_line_error(frames):
    check_validate(frames)


def test_duplicated_column_name_in_frames_is_refused():
    frames = small_tables()
    bills = frames["bills"]
    frames["bills"] = pd.concat([bills, bills[["bill_amount"]]], axis=1)
    with pytest.raises(SourceError, match="bill_amount"):
        validate(tables_from_frames(frames))


# --- command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", cases_for("cli"))
def test_validate_command(corpus, cli_runs, name):
    case = runnable(corpus, name)
    result, _ = cli_runs[name].result(CLI_TIMEOUT)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    if case.outcome == "refuse":
        assert result.returncode == 2, output
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        for text in case.expect:
            assert text in lines[0]
        return
    assert result.returncode == 0, output
    assert result.stderr == ""
    for text in case.expect:
        assert text in result.stdout
    for table, rows in case.rows.items():
        excluded = case.excluded.get(table, 0)
        note = rf"  \({excluded:,} excluded\)" if excluded else ""
        assert re.search(rf"^{table} +{rows:,} rows.*{note}$", result.stdout, re.M), table
    if case.outcome == "warn":
        assert "warning(s):" in result.stdout
    else:
        assert "no warnings" in result.stdout and "excluded" not in result.stdout


@pytest.mark.parametrize("name", case_names())
def test_validate_command_changes_no_file(corpus, baseline, cli_runs, name):
    runnable(corpus, name)
    _, after = cli_runs[name].result(CLI_TIMEOUT)
    assert after == baseline[name]


# --- served app -----------------------------------------------------------------------------


def start_app(source: Path, log: Path) -> Server:
    """Start ``panel serve dashboard/app.py`` with ``$COLLECTIONS_SOURCE=source``.

    Unlike ``collections-dashboard serve`` (which validates first and exits 2 on bad data),
    the app itself meets the bad source. Returns at once: :meth:`Server.wait` waits.
    """
    port = free_port()
    command = [sys.executable, "-m", "panel", "serve", str(APP_FILE), "--port", str(port)]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    env = {"COLLECTIONS_SOURCE": str(source), **BROWSER_ENV}
    return start_server(command, port, env=env, log=log)


@pytest.fixture(scope="module")
def app_servers(corpus, tmp_path_factory) -> Iterator[dict[str, Server]]:
    """A server per APP_CASES case, all started at once (their startups overlap); all
    stopped on exit."""
    require_chromium()
    logs = tmp_path_factory.mktemp("app-logs")
    with contextlib.ExitStack() as servers:
        yield {
            name: servers.enter_context(start_app(corpus[name].path, logs / f"{name}.log"))
            for name in APP_CASES
        }


@pytest.fixture(scope="module")
def app_pages(corpus, app_servers) -> dict[str, tuple[str, dict[str, str]]]:
    """Each APP_CASES page in Chromium: its text (shadow DOM included) and the case's files
    afterwards."""
    pages = {}
    with chromium_page() as (page, _errors, _outside):
        for name, server in app_servers.items():
            server.wait(APP_TIMEOUT)
            page.goto(server.url)
            page.wait_for_function(BOKEH_DOCUMENT_JS, timeout=60_000)
            text, deadline = "", time.monotonic() + 10
            while time.monotonic() < deadline and MARKER not in text and "Traceback" not in text:
                page.wait_for_timeout(200)
                text = page.evaluate(DEEP_TEXT_JS)
            pages[name] = (" ".join(text.split()), snapshot(corpus[name].root))
    return pages


@pytest.mark.browser
@pytest.mark.parametrize("name", cases_for("app", APP_CASES))
def test_served_app_shows_the_error(app_pages, name):
    text, _ = app_pages[name]
    assert "Traceback" not in text, text[:2000]
    assert MARKER in text, text[:2000] or "a blank page"
    assert APP_FILE_NAMES[name] in text


@pytest.mark.browser
@pytest.mark.parametrize(
    "name",
    [pytest.param(n) for n in APP_CASES],
)
def test_served_app_changes_no_file(corpus, baseline, app_pages, name):
    _, after = app_pages[name]
    assert after == baseline[name]
