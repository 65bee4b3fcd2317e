"""Shared fixtures: the reference dataset, a tiny valid portfolio and writers for each source kind.

The tiny portfolio (:func:`small_tables`) has the exact columns of :data:`dashboard.vocab.TABLES`,
money in pounds (floats), flags as 0/1 ints and dates as ISO text, i.e. what a CSV file holds.
Writers put it in a CSV folder, a SQLite file (``sqlite3`` + ``DataFrame.to_sql``, independent of
``dashboard.writers``) or a Parquet folder.

Its shape, which some tests rely on:

* 4 customers; C100000..C100002 are billed January to April 2024, C100003 February to April;
  period ends are month ends, due dates 14 days later (15 bills).
* The latest payment is on 2024-05-20, so with the default 60-day window January and February
  bills are mature, March and April bills are not.
* 5 collections actions dated February, March (2), April and May 2024.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from dashboard.vocab import TABLES

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
SEED_DIR = SHARED_DIR / "seed-data"

SOURCE_KINDS = ("csv", "sqlite", "parquet")

PERIOD_ENDS = ("2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30")
DUE_DATES = ("2024-02-14", "2024-03-14", "2024-04-14", "2024-05-14")


def small_tables() -> dict[str, pd.DataFrame]:
    """A fresh tiny valid portfolio (new frames on every call, safe to edit)."""
    customers = pd.DataFrame(
        {
            "customer_id": ["C100000", "C100001", "C100002", "C100003"],
            "region": ["Reading", "Oxford", "Reading", "Swindon"],
            "income_band": ["<£15k", "£50k+", "£15k-£30k", "£30k-£50k"],
            "tariff": ["Standard", "Metered", "Metered", "Unmetered"],
            "has_meter": [0, 1, 1, 0],
            "is_vulnerable": [1, 0, 0, 1],
            "prefers_direct_debit": [0, 1, 1, 0],
            "tenure_band": ["<1y", "5+y", "1-3y", "3-5y"],
        }
    )
    amounts = {
        "C100000": (40.10, 41.55, 39.99, 42.00),
        "C100001": (30.25, 30.25, 31.00, 29.80),
        "C100002": (55.10, 20.00, 48.37, 50.01),
        "C100003": (None, 61.20, 58.45, 62.30),  # joins in February
    }
    rows = [
        (customer, PERIOD_ENDS[m], amount, round(5 + amount / 4, 2), DUE_DATES[m])
        for customer, values in amounts.items()
        for m, amount in enumerate(values)
        if amount is not None
    ]
    bills = pd.DataFrame(rows, columns=list(TABLES["bills"]))
    payments = pd.DataFrame(
        [
            ("C100000", "2024-02-14", 40.10, "Card"),
            ("C100000", "2024-04-12", 39.99, "Card"),
            ("C100001", "2024-02-14", 30.25, "Direct Debit"),
            ("C100001", "2024-03-14", 30.25, "Direct Debit"),
            ("C100001", "2024-04-14", 31.00, "Direct Debit"),
            ("C100001", "2024-05-14", 29.80, "Direct Debit"),
            ("C100002", "2024-05-20", 100.00, "Bank Transfer"),
            ("C100003", "2024-03-20", 61.20, "Cash"),
            ("C100003", "2024-04-10", 30.00, "PayPoint"),
        ],
        columns=list(TABLES["payments"]),
    )
    actions = pd.DataFrame(
        [
            ("C100002", "2024-02-20", "Reminder Sent"),
            ("C100000", "2024-03-01", "Reminder Sent"),
            ("C100000", "2024-03-15", "Second Reminder"),
            ("C100002", "2024-04-02", "Arrangement Agreed"),
            ("C100003", "2024-05-05", "Reminder Sent"),
        ],
        columns=list(TABLES["collections_actions"]),
    )
    return {
        "customers": customers,
        "bills": bills,
        "payments": payments,
        "collections_actions": actions,
    }


def write_csv(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Write ``<table>.csv`` files (UTF-8, no index) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        frame.to_csv(folder / f"{table}.csv", index=False)
    return folder


def write_sqlite(tables: dict[str, pd.DataFrame], file: Path) -> Path:
    """Write one SQLite table per frame with ``sqlite3`` and ``DataFrame.to_sql``."""
    file.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(file)
    try:
        for table, frame in tables.items():
            frame.to_sql(table, connection, index=False)
        connection.commit()
    finally:
        connection.close()
    return file


def write_parquet(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Write ``<table>.parquet`` files (pyarrow, no index) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        frame.to_parquet(folder / f"{table}.parquet", engine="pyarrow", index=False)
    return folder


WRITERS: dict[str, Callable[[dict[str, pd.DataFrame], Path], Path]] = {
    "csv": write_csv,
    "sqlite": write_sqlite,
    "parquet": write_parquet,
}


def write_source(tables: dict[str, pd.DataFrame], kind: str, path: Path) -> Path:
    """Write ``tables`` as a source of ``kind`` (``csv``, ``sqlite``, ``parquet``) at ``path``."""
    return WRITERS[kind](tables, path)


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    """The reference dataset ``../shared/seed-data`` (skips when the sibling folder is absent)."""
    missing = [t for t in TABLES if not (SEED_DIR / f"{t}.csv").is_file()]
    if missing:
        pytest.skip(
            f"reference dataset not available: {SEED_DIR} lacks {', '.join(missing)} "
            "(it lives in ../shared beside the repository and is never copied into it)"
        )
    return SEED_DIR


@pytest.fixture(name="small_tables")
def small_tables_fixture() -> dict[str, pd.DataFrame]:
    """A fresh tiny valid portfolio, see :func:`small_tables`."""
    return small_tables()


@pytest.fixture(scope="session")
def small_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The unmodified :func:`small_tables` written once per session in each kind (read only!).

    Sharing the same paths lets ``dashboard.loader``'s cache serve repeated loads quickly.
    """
    root = tmp_path_factory.mktemp("small-sources")
    return {
        "csv": write_csv(small_tables(), root / "csv"),
        "sqlite": write_sqlite(small_tables(), root / "portfolio.sqlite"),
        "parquet": write_parquet(small_tables(), root / "parquet"),
    }


@pytest.fixture
def make_source(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_source(tables=None, kind="csv", name=None) -> path`` under ``tmp_path``.

    ``tables`` defaults to a fresh :func:`small_tables`; ``name`` defaults to a unique
    ``<kind>-<n>`` (with ``.sqlite`` for SQLite); any name works, SQLite is found by content.
    """
    counter = iter(range(1_000_000))

    def make(
        tables: dict[str, pd.DataFrame] | None = None, kind: str = "csv", name: str | None = None
    ) -> Path:
        if name is None:
            name = f"{kind}-{next(counter)}" + (".sqlite" if kind == "sqlite" else "")
        return write_source(small_tables() if tables is None else tables, kind, tmp_path / name)

    return make


@pytest.fixture(scope="module")
def demo_or_seed_source(request: pytest.FixtureRequest) -> Path:
    """The demo set when committed, else the reference dataset (skips when both lack data)."""
    from dashboard.sources import DEFAULT_SOURCE

    if all((DEFAULT_SOURCE / f"{table}.csv").is_file() for table in TABLES):
        return DEFAULT_SOURCE
    return request.getfixturevalue("seed_dir")
