"""A PostgreSQL database as a source: same figures as the CSV folder, read-only, one-line
errors, a signature that follows the data, a mapping file, and the served app.

The server is ``$COLLECTIONS_TEST_POSTGRES`` (a superuser URL; ``.ci/run`` starts a
throwaway cluster and sets it); without it a throwaway cluster is started here when
PostgreSQL's programs are installed (:mod:`pgcluster`), else these tests are skipped. Every
test loads its own data into a fresh database. The tests of the URL itself need no server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pgcluster
import pyarrow as pa
import pytest
from conftest import small_tables
from typer.testing import CliRunner

from dashboard import SourceError
from dashboard.cli import app
from dashboard.demo.formats import open_writer
from dashboard.loader import clear_cache
from dashboard.schema import validate
from dashboard.sources import DEFAULT_SOURCE, open_source, read_source, source_kind
from dashboard.sources.pgspec import parse_spec, with_options
from dashboard.sources.postgresql import PostgresSource
from dashboard.vocab import ALL_TABLES, DATE_COLUMNS, TABLES

from browser import chromium_page, require_chromium, served_dashboard, titles, wait_rendered

ENV = "COLLECTIONS_TEST_POSTGRES"
DEMO = ("--customers", "1500", "--start", "2022-01", "--end", "2025-12", "--seed", "42")
"""The demo set's generator arguments (``make demo-data``)."""
SECRET = "hunter2-not-shown"
runner = CliRunner()


# --- a server and fresh databases -------------------------------------------------------------


@pytest.fixture(scope="session")
def server() -> str:
    """A superuser URL: ``$COLLECTIONS_TEST_POSTGRES``, or a throwaway cluster started here."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    folder = tempfile.mkdtemp(prefix="collections-test-pg-")
    try:
        url = pgcluster.start(folder)
    except pgcluster.ClusterError as exc:
        pgcluster.stop(folder)
        pytest.skip(f"no PostgreSQL server: {exc} (or set ${ENV}=postgresql://USER@HOST:PORT/DB)")
    try:
        yield url
    finally:
        pgcluster.stop(folder)


def on_database(url: str, database: str, **parameters: str) -> str:
    """``url`` pointing at another database (and with more query parameters)."""
    spec = parse_spec(url)
    spec = replace(spec, database=database, parameters=(*spec.parameters, *parameters.items()))
    return spec.spec()


@contextlib.contextmanager
def connection(url: str):
    """A read-write connection in autocommit mode (to set up and inspect test databases)."""
    import adbc_driver_postgresql.dbapi as postgresql

    with postgresql.connect(parse_spec(url).conninfo(), autocommit=True) as conn:
        yield conn


def sql(url: str, *statements: str) -> list | None:
    """Run statements; return the rows of the last one (None when it returns none)."""
    with connection(url) as conn, conn.cursor() as cursor:
        rows = None
        for statement in statements:
            cursor.execute(statement)
            rows = cursor.fetchall() if cursor.description else None
        return rows


@pytest.fixture
def database(server) -> str:
    """A fresh, empty database (dropped afterwards); its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    sql(server, f'CREATE DATABASE "{name}"')
    yield on_database(server, name)
    sql(server, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def demo(server, tmp_path_factory) -> tuple[str, Path]:
    """A database holding the demo book written by ``generate --format postgresql``, and the
    same book written by ``generate --format csv``."""
    name = f"demo_{uuid.uuid4().hex[:12]}"
    sql(server, f'CREATE DATABASE "{name}"')
    url = on_database(server, name)
    folder = tmp_path_factory.mktemp("demo-csv")
    for fmt, out in (("postgresql", url), ("csv", str(folder))):
        result = runner.invoke(app, ["generate", *DEMO, "--format", fmt, "--out", out])
        assert result.exit_code == 0, result.output
    yield url, folder
    sql(server, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> Path:
    """Cubes of database sources go to the user's cache folder: a fresh one per test."""
    cache = tmp_path / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    clear_cache()
    return cache


def arrow_table(table: str, frame: pd.DataFrame) -> pa.Table:
    """A frame as Arrow with natural database types: ISO dates as ``date``, text as text."""
    arrays = {}
    for column in frame.columns:
        values = frame[column]
        if column in DATE_COLUMNS.get(table, ()):
            arrays[column] = pa.array(pd.to_datetime(values).dt.date, type=pa.date32())
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            text = values.astype(object).where(values.notna(), None).tolist()
            arrays[column] = pa.array(text, type=pa.string())
        else:
            arrays[column] = pa.array(values.to_numpy())
    return pa.table(arrays)


def load(url: str, tables: dict[str, pd.DataFrame], schema: str = "public") -> None:
    """Create ``schema`` (if needed) and one table per frame in it."""
    with connection(url) as conn, conn.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for table, frame in tables.items():
            cursor.adbc_ingest(
                table, arrow_table(table, frame), mode="create", db_schema_name=schema
            )


@pytest.fixture
def small(database) -> str:
    """A fresh database holding :func:`conftest.small_tables` in ``public``."""
    load(database, small_tables())
    return database


def fingerprint(url: str, schema: str = "public") -> list:
    """Every table of ``schema`` with its row count and the sum of its rows' xmin: any
    write (insert, update, delete, DDL) changes it."""
    tables = sql(
        url,
        f"SELECT tablename::text FROM pg_tables WHERE schemaname = '{schema}' ORDER BY 1",
    )
    rows = []
    for (table,) in tables:
        query = f'SELECT count(*), sum(xmin::text::bigint) FROM "{schema}"."{table}"'
        rows.append((table, *sql(url, query)[0]))
    return rows


def invoke(*args: str):
    clear_cache()
    return runner.invoke(app, [str(a) for a in args])


def summary_json(source: str | Path, *args: str) -> str:
    result = invoke("summary", "--json", "--source", source, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# --- the same figures as the CSV folder ---------------------------------------------------------


def test_the_generated_book_gives_the_figures_of_its_csv_folder(demo):
    url, folder = demo
    assert source_kind(url) == "postgresql"
    assert summary_json(url) == summary_json(folder)
    assert summary_json(url, "--include-immature") == summary_json(folder, "--include-immature")
    checked = invoke("validate", "--source", url)
    assert checked.exit_code == 0, checked.output
    assert (
        checked.stdout.splitlines()[1:]
        == invoke("validate", "--source", folder).stdout.splitlines()[1:]
    )


def test_the_committed_csv_demo_set_loaded_into_postgresql_gives_the_same_summary(
    database, tmp_path
):
    """``data/`` copied into PostgreSQL as text, then typed the way a billing database types
    it (dates, ``numeric(12,2)`` money, ``smallint`` flags): the same ``summary --json`` as
    the folder (a copy of its CSV files: the cube is built here, not taken from its cache)."""
    folder = tmp_path / "data"
    folder.mkdir()
    frames = {
        table: pd.read_csv(DEFAULT_SOURCE / f"{table}.csv", dtype=str, keep_default_na=False)
        for table in ALL_TABLES
        if (DEFAULT_SOURCE / f"{table}.csv").exists()
    }
    for table in frames:
        shutil.copy(DEFAULT_SOURCE / f"{table}.csv", folder)
    load(database, {table: frame.astype(object) for table, frame in frames.items()})
    typed = {
        "bills": {"bill_period_end": "date", "due_date": "date", "bill_amount": "numeric(12,2)"},
        "payments": {"payment_date": "date", "amount": "numeric(12,2)"},
        "collections_actions": {"action_date": "date"},
        "customers": {"has_meter": "smallint", "is_vulnerable": "smallint"},
        "adjustments": {"adjustment_date": "date", "amount": "numeric(12,2)"},
    }
    for table, columns in ((t, c) for t, c in typed.items() if t in frames):
        for column, kind in columns.items():
            sql(
                database,
                f'ALTER TABLE {table} ALTER "{column}" TYPE {kind} USING "{column}"::{kind}',
            )
    sql(database, "ALTER TABLE bills ALTER usage_m3 TYPE float8 USING NULLIF(usage_m3, '')::float8")
    assert summary_json(database) == summary_json(folder)


def test_numeric_enum_boolean_and_timestamp_columns_read_like_plain_ones(small):
    load(small, small_tables(), schema="typed")
    sql(
        small,
        "CREATE TYPE typed.region AS ENUM ('Reading', 'Oxford', 'Swindon', 'Slough')",
        "ALTER TABLE typed.customers ALTER region TYPE typed.region USING region::typed.region",
        "ALTER TABLE typed.customers ALTER has_meter TYPE boolean USING has_meter = 1",
        "ALTER TABLE typed.bills ALTER bill_amount TYPE numeric(10,2)",
        "ALTER TABLE typed.payments ALTER amount TYPE money USING amount::numeric::money",
        "ALTER TABLE typed.payments ALTER payment_date TYPE timestamp",
        "ALTER TABLE typed.collections_actions ALTER action_date TYPE text",
    )
    plain = validate(read_source(small))
    typed = validate(read_source(on_database(small, parse_spec(small).database, schema="typed")))
    for table in ("customers", "bills", "payments", "actions"):
        pd.testing.assert_frame_equal(getattr(typed, table), getattr(plain, table))


def test_views_are_read_and_their_signature_hashes_their_rows(small):
    sql(small, "CREATE SCHEMA viewed")
    for table in TABLES:
        sql(small, f"CREATE VIEW viewed.{table} AS SELECT * FROM public.{table}")
    viewed = on_database(small, parse_spec(small).database, schema="viewed")
    assert summary_json(viewed) == summary_json(small)
    before = open_source(viewed).signature()
    sql(small, "UPDATE bills SET bill_amount = 41.56 WHERE bill_amount = 41.55")
    assert open_source(viewed).signature() != before


def test_the_adjustments_table_is_read_when_present_and_none_when_absent(small):
    adjustments = pd.DataFrame(
        [
            ("C100000", "2024-04-20", 30.00, "write_off"),
            ("C100002", "2024-03-05", 5.50, "credit"),
            ("C100002", "2024-03-25", -2.25, "rebill"),
        ],
        columns=["customer_id", "adjustment_date", "amount", "kind"],
    )
    load(small, {"adjustments": adjustments})
    raw = read_source(small)
    assert "adjustments" in raw.frames
    assert raw.origins["adjustments"].endswith(":public.adjustments")
    portfolio = validate(raw)
    assert portfolio.adjustments["amount_pence"].tolist() == [3000, 550, -225]
    sql(small, "DROP TABLE adjustments")
    raw = read_source(small)
    assert "adjustments" not in raw.frames
    assert validate(raw).adjustments.empty


# --- the served app -------------------------------------------------------------------------------


@pytest.mark.browser
def test_the_served_app_renders_from_postgresql(demo):
    require_chromium()
    url, _ = demo
    with served_dashboard(url) as address, chromium_page() as (page, errors, outside):
        page.goto(address)
        wait_rendered(page)
        assert any(t.startswith("Debt movement") for t in titles(page))
        assert errors == []
        assert outside == []


# --- one line, exit 2, nothing written ------------------------------------------------------------


def _unreachable(url: str) -> str:
    spec = parse_spec(url)
    return replace(spec, hosts=f"127.0.0.1:{pgcluster.free_port()}").spec()


def _role(url: str, monkeypatch, password: str) -> str:
    """A role with a password that can read ``public``; ``password`` is what the client gives."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    database = parse_spec(url).database
    sql(
        url,
        f"CREATE ROLE {role} LOGIN PASSWORD 'right-{role}'",
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
    )
    reader = replace(parse_spec(url), userinfo=role).spec()
    monkeypatch.setenv("PGPASSWORD", "certainly wrong")
    with contextlib.suppress(SourceError), open_source(reader).session():
        pytest.skip(f"{url}: the server lets any password in (trust): passwords not tested")
    monkeypatch.setenv("PGPASSWORD", password.replace("ROLE", role))
    return reader


ERROR_CASES = {
    "server unreachable": (
        lambda url, mp: _unreachable(url),
        ["cannot connect", "Connection refused"],
    ),
    "wrong password": (
        lambda url, mp: _role(url, mp, "wrong"),
        ["cannot connect", "password authentication failed", "PGPASSWORD"],
    ),
    "password in the URL": (
        lambda url, mp: url.replace("collections@", f"collections:{SECRET}@"),
        ["a password in the URL", "PGPASSWORD, ~/.pgpass"],
    ),
    "password parameter": (
        lambda url, mp: f"{url}?password={SECRET}",
        ["a password in the URL"],
    ),
    "missing schema": (
        lambda url, mp: f"{url}?schema=nowhere",
        [":nowhere: schema 'nowhere' missing", "schemas found: public"],
    ),
    "missing table": (
        lambda url, mp: sql(url, "DROP TABLE payments") or url,
        [":public.payments: table 'payments' missing", "tables found: bills"],
    ),
    "missing column": (
        lambda url, mp: sql(url, "ALTER TABLE bills DROP COLUMN due_date") or url,
        [":public.bills: column 'due_date' missing; columns found: customer_id"],
    ),
    "wrong column type": (
        lambda url, mp: (
            sql(url, "ALTER TABLE bills ALTER bill_amount TYPE boolean USING bill_amount > 40")
            or url
        ),
        [":public.bills: column 'bill_amount' has type boolean; need a number"],
    ),
    "date with a time zone": (
        lambda url, mp: sql(url, "ALTER TABLE payments ALTER payment_date TYPE timestamptz") or url,
        [":public.payments: column 'payment_date' has type timestamp with time zone"],
    ),
    "empty table": (
        lambda url, mp: sql(url, "DELETE FROM bills") or url,
        [":public.bills: empty table"],
    ),
    "bad value": (
        lambda url, mp: (
            sql(url, "UPDATE bills SET bill_amount = -5 WHERE bill_amount = 39.99") or url
        ),
        [":public.bills: column 'bill_amount': negative amount in 1 row (row "],
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_a_bad_source_is_one_line_exit_2_and_nothing_is_written(
    small, own_cache, monkeypatch, case
):
    make, expected = ERROR_CASES[case]
    source = make(small, monkeypatch)
    before = fingerprint(small)
    line = one_error_line(invoke("summary", "--source", source))
    for fragment in expected:
        assert fragment in line, line
    assert SECRET not in line and "right-" not in line
    assert line.startswith("error: postgresql://") and "127.0.0.1:" in line  # where
    assert fingerprint(small) == before  # nothing written in the database ...
    assert not own_cache.exists() or not any(own_cache.rglob("manifest.json"))  # ... or cached


# --- passwords: never on the command line ---------------------------------------------------------


def test_the_password_comes_from_pgpassword_a_pgpass_or_a_service_file(
    small, monkeypatch, tmp_path
):
    url = _role(small, monkeypatch, "right-ROLE")
    expected = summary_json(small)
    assert summary_json(url) == expected
    role = parse_spec(url).userinfo
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:{role}:right-{role}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    assert summary_json(url) == expected
    source = open_source(url)
    for shown in (source.describe(), source.spec(), *read_source(url).origins.values()):
        assert "right-" not in shown
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    server = parse_spec(url)
    host, port = server.hosts.rsplit(":", 1)
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[billing]\nhost={host}\nport={port}\ndbname={server.database}\nuser={role}\n"
        f"password=right-{role}\n"
    )
    services.chmod(0o600)
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    assert summary_json("postgresql://?service=billing") == expected


# --- read-only ------------------------------------------------------------------------------------


def test_reading_happens_in_a_read_only_session_and_writes_nothing(small):
    source = open_source(small)
    before = fingerprint(small)
    with source.session() as cursor:
        cursor.execute("SELECT current_setting('transaction_read_only'), "
                       "current_setting('default_transaction_read_only'), "
                       "current_setting('transaction_isolation')")  # fmt: skip
        assert cursor.fetchall() == [("on", "on", "repeatable read")]
        with pytest.raises(Exception, match="read-only transaction"):
            cursor.execute("CREATE TABLE intruder (a int)")
    validate(source.tables())
    source.signature()
    assert fingerprint(small) == before


# --- signature and cache ------------------------------------------------------------------------


def test_the_signature_follows_the_tables_and_nothing_else(small):
    source = open_source(small)
    first = source.signature()
    assert source.signature() == first
    load(small, small_tables(), schema="elsewhere")  # other tables commit: same data here
    sql(small, "CREATE TABLE public.notes (a int)", "INSERT INTO public.notes VALUES (1)")
    assert open_source(small).signature() == first
    changes = [
        # in place: same row count, same latest date
        "UPDATE bills SET bill_amount = 41.56 WHERE bill_amount = 41.55",
        "INSERT INTO payments VALUES ('C100000', '2024-01-02', 1.0, 'Card')",
        "DELETE FROM collections_actions WHERE action = 'Second Reminder'",
        "UPDATE customers SET region = 'Oxford' WHERE customer_id = 'C100000'",
    ]
    seen = {first}
    for change in changes:
        sql(small, change)
        signature = open_source(small).signature()
        assert signature not in seen, change
        seen.add(signature)


def test_a_changed_table_rebuilds_the_cube_an_unchanged_one_loads_it(small):
    def build() -> str:
        result = invoke("build", "--source", small, "--no-progress")
        assert result.exit_code == 0, result.output
        return result.stdout.split(":")[0]

    assert build() == "built"
    assert build() == "already cached"
    sql(small, "CREATE TABLE public.notes (a int)")  # an unrelated table
    assert build() == "already cached"
    sql(
        small,
        "UPDATE payments SET amount = 30.26 WHERE amount = 30.25 AND payment_date = '2024-02-14'",
    )
    assert build() == "built"
    assert build() == "already cached"


# --- schema and mapping file ----------------------------------------------------------------------


def _renamed_schema(url: str) -> None:
    """``utility``: the small book with bills as ``invoices`` (``amount_gbp``) and
    ``payments.method`` as ``channel``."""
    load(url, small_tables(), schema="utility")
    sql(
        url,
        "ALTER TABLE utility.bills RENAME TO invoices",
        "ALTER TABLE utility.invoices RENAME bill_amount TO amount_gbp",
        "ALTER TABLE utility.payments RENAME method TO channel",
    )


MAPPINGS = {
    "mapping.toml": '[tables]\nbills = "invoices"\n\n[columns.bills]\nbill_amount = "amount_gbp"\n'
    '\n[columns.payments]\nmethod = "channel"\n',
    "mapping.json": json.dumps(
        {
            "tables": {"bills": "invoices"},
            "columns": {"bills": {"bill_amount": "amount_gbp"}, "payments": {"method": "channel"}},
        }
    ),
}


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_a_mapping_file_reads_renamed_tables_and_columns(small, tmp_path, name):
    _renamed_schema(small)
    mapping = tmp_path / name
    mapping.write_text(MAPPINGS[name])
    expected = summary_json(small)
    assert summary_json(small, "--schema", "utility", "--mapping", str(mapping)) == expected
    spec = with_options(small, "utility", mapping)
    assert "schema=utility" in spec and "mapping=" in spec
    assert summary_json(spec) == expected  # the spec alone (what serve hands the app)
    origins = read_source(spec).origins
    assert origins["bills"].endswith(":utility.invoices [bill_amount=amount_gbp]")


BAD_MAPPINGS = {
    "unknown table": ('[tables]\nbill = "invoices"\n', "[tables] 'bill': not a table"),
    "unknown column": (
        '[columns.bills]\namount = "amount_gbp"\n',
        "[columns.bills] 'amount': not a column of bills",
    ),
    "unknown section": ('[table]\nbills = "invoices"\n', "unknown section 'table'"),
    "not TOML": ("[tables\nbills = 1\n", "not valid TOML"),
    "not a name": ("[tables]\nbills = 3\n", "give the database's name as a non-empty string"),
    "mapped table missing": (
        '[tables]\nbills = "facturas"\n',
        ":utility.facturas: table 'facturas' (mapped from bills) missing",
    ),
    "mapped column missing": (
        '[tables]\nbills = "invoices"\n[columns.bills]\nbill_amount = "total"\n',
        "column 'total' (mapped from bill_amount) missing; columns found: customer_id",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MAPPINGS))
def test_a_bad_mapping_is_refused_in_one_line(small, tmp_path, case):
    _renamed_schema(small)
    text, expected = BAD_MAPPINGS[case]
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(text)
    result = invoke("summary", "--source", small, "--schema", "utility", "--mapping", mapping)
    assert expected in one_error_line(result)


def test_a_missing_mapping_file_is_named(small, tmp_path):
    result = invoke("validate", "--source", small, "--mapping", tmp_path / "none.toml")
    assert "none.toml: mapping file missing" in one_error_line(result)


# --- generate --format postgresql -----------------------------------------------------------------


def test_generate_replaces_the_tables_and_an_interrupted_one_changes_nothing(database):
    for _ in range(2):
        result = invoke("generate", "--customers", "30", "--format", "postgresql", "--out",
                        f"{database}?schema=book", "--no-progress")  # fmt: skip
        assert result.exit_code == 0, result.output
    counts = sql(database, "SELECT count(*) FROM book.customers")
    assert counts == [(30,)]
    before = fingerprint(database, "book")
    chunk = {column: np.zeros(3, dtype=np.int64) for column in TABLES["customers"]}
    chunk["customer_id"] = np.arange(3)
    with pytest.raises(RuntimeError), open_writer("postgresql", f"{database}?schema=book") as out:
        out.write("customers", chunk)
        raise RuntimeError("stopped half way")
    assert fingerprint(database, "book") == before


def test_generate_refuses_a_password_in_the_url(database):
    url = database.replace("collections@", f"collections:{SECRET}@")
    result = invoke("generate", "--customers", "5", "--format", "postgresql", "--out", url)
    line = one_error_line(result)
    assert "a password in the URL" in line and SECRET not in line


# --- the URL (no server needed) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://reader:{SECRET}@db.example.org:5432/billing",
        "postgresql://reader:@db.example.org/billing",
        f"postgres://reader:{SECRET}@db.example.org/billing?sslmode=require",
        f"postgresql://reader@db.example.org/billing?password={SECRET}",
    ],
)
def test_a_password_in_the_url_is_refused_without_showing_it(url):
    with pytest.raises(SourceError) as excinfo:
        open_source(url)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "a password in the URL" in message and "PGPASSWORD" in message
    assert SECRET not in message
    assert message.startswith("postgres")


def test_the_url_keeps_libpq_parameters_and_the_dashboards_own():
    source = open_source(
        "postgresql://reader@db.example.org:6432/billing?sslmode=require&schema=collections"
    )
    assert isinstance(source, PostgresSource)  # made without connecting
    assert source.spec() == (
        "postgresql://reader@db.example.org:6432/billing?sslmode=require&schema=collections"
    )
    assert source.describe() == (
        "postgresql://reader@db.example.org:6432/billing?sslmode=require (schema collections)"
    )
    conninfo = source.database.conninfo()
    assert "sslmode=require" in conninfo and "connect_timeout=10" in conninfo
    assert "schema" not in conninfo
    assert (
        source.database.origin("bills")
        == "postgresql://db.example.org:6432/billing:collections.bills"
    )
    assert open_source(source.spec()).describe() == source.describe()
    assert source.cache_home() is None  # cubes go to the user's cache folder


def test_schema_and_mapping_options_apply_to_a_database_only(tmp_path):
    with pytest.raises(SourceError, match="--schema applies to a PostgreSQL source"):
        with_options(str(DEFAULT_SOURCE), schema="x")
    spec = with_options("postgresql://reader@h/db", schema="crm", mapping="m.toml")
    assert parse_spec(spec).schema == "crm"
    assert parse_spec(spec).mapping == str(Path("m.toml").absolute())
    assert with_options("data/") == "data/"
