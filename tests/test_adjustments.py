"""The optional ``adjustments`` table: read from every source kind, validated like the other
tables, applied by the ledger (a write-off reduces arrears and is never cash) and reported
as each month's movement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import small_tables
from typer.testing import CliRunner

from dashboard import SourceError
from dashboard.cli import app
from dashboard.cube.pipeline import build_cube
from dashboard.query import ledger as ledger_query
from dashboard.schema import tables_from_frames, validate
from dashboard.sources import read_source

ADJUSTMENTS = pd.DataFrame(
    [
        ("C100000", "2024-04-20", "30.00", "write_off"),
        ("C100002", "2024-03-05", "5.50", "credit"),
        ("C100002", "2024-03-25", "-2.25", "rebill"),
        ("C100003", "2024-04-01", "12.00", "transfer"),
    ],
    columns=["customer_id", "adjustment_date", "amount", "kind"],
)


def with_adjustments(frame: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    return {**small_tables(), "adjustments": ADJUSTMENTS if frame is None else frame}


def one_line(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("kind", ["csv", "sqlite", "parquet"])
def test_every_source_kind_reads_the_adjustments_table(make_source, kind):
    portfolio = validate(read_source(make_source(with_adjustments(), kind=kind)))
    got = portfolio.adjustments
    assert got["customer_id"].astype(str).tolist() == ["C100000", "C100002", "C100002", "C100003"]
    assert got["amount_pence"].tolist() == [3000, 550, -225, 1200]
    assert got["balance_pence"].tolist() == [-3000, -550, -225, 1200]
    assert got["kind"].astype(str).tolist() == ["write_off", "credit", "rebill", "transfer"]


@pytest.mark.parametrize("kind", ["csv", "sqlite", "parquet"])
def test_a_source_without_adjustments_has_none(make_source, kind):
    portfolio = validate(read_source(make_source(kind=kind)))
    assert portfolio.adjustments.empty
    assert list(portfolio.adjustments.columns) == [
        "customer_id",
        "adjustment_date",
        "amount_pence",
        "kind",
        "balance_pence",
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("C100000", "2024-04-20", "3", "refund"), "column 'kind': kind not one of"),
        (("C100000", "2024-04-20", "-3", "write_off"), "negative write-off or credit"),
        (("C100000", "2024-04-20", "-3", "credit"), "negative write-off or credit"),
        (("C100000", "2024-04-20", "abc", "credit"), "column 'amount': not a number"),
        (("C100000", "2024-04-20", "2000000", "rebill"), "amount above"),
        (("C100000", "2024-04-20", "-2000000", "rebill"), "amount above"),
        (("C100000", "2099-01-01", "3", "credit"), "after today"),
        (("C100000", "20/04/2024", "3", "credit"), "unparseable or missing date"),
        (("C100000", "2024-04-20", "3", None), "column 'kind'"),
    ],
)
def test_bad_adjustments_are_refused_in_one_line(make_source, row, expected):
    frame = pd.concat([ADJUSTMENTS, pd.DataFrame([row], columns=ADJUSTMENTS.columns)])
    path = make_source(with_adjustments(frame))
    with pytest.raises(SourceError) as excinfo:
        validate(read_source(path))
    message = one_line(excinfo)
    assert expected in message and "adjustments.csv" in message and "row 5" in message


def test_missing_adjustment_column_is_refused(make_source):
    path = make_source(with_adjustments(ADJUSTMENTS.drop(columns="kind")))
    with pytest.raises(SourceError, match="adjustments.csv: column 'kind' missing"):
        validate(read_source(path))


def test_adjustments_of_unknown_customers_are_excluded_with_a_count(make_source):
    orphans = pd.DataFrame(
        [("C999", "2024-04-20", "1", "credit"), (None, "2024-04-20", "1", "credit")],
        columns=ADJUSTMENTS.columns,
    )
    portfolio = validate(
        read_source(make_source(with_adjustments(pd.concat([ADJUSTMENTS, orphans]))))
    )
    assert len(portfolio.adjustments) == len(ADJUSTMENTS)
    assert portfolio.excluded["adjustments"] == 2
    assert any("adjustments.csv" in w and "excluded 2 rows" in w for w in portfolio.warnings)


def test_an_empty_adjustments_table_means_none(make_source):
    portfolio = validate(read_source(make_source(with_adjustments(ADJUSTMENTS.iloc[:0]))))
    assert portfolio.adjustments.empty


def arrears_on(cube, day: str) -> dict[str, int]:
    """Worklist arrears per customer id of a cube built as of ``day``."""
    work = cube.arrears.worklist
    return dict(zip(work["customer_id"], work["arrears_pence"].tolist(), strict=True))


def test_a_write_off_reduces_arrears_and_is_never_cash():
    """C100000 owes £41.55 + £42.00 by May; a £30 write-off on 2024-04-20 leaves the rest
    owing, lowers every later month-end, and no cash figure moves."""
    plain = build_cube(validate(tables_from_frames(small_tables())), as_of="2024-05-31")
    frame = ADJUSTMENTS.iloc[:1]
    adjusted = build_cube(validate(tables_from_frames(with_adjustments(frame))), as_of="2024-05-31")
    before, after = arrears_on(plain, "2024-05-31"), arrears_on(adjusted, "2024-05-31")
    assert after["C100000"] == before["C100000"] - 3000
    assert {k: v for k, v in after.items() if k != "C100000"} == {
        k: v for k, v in before.items() if k != "C100000"
    }
    everyone = np.ones(len(plain.segments), dtype=bool)
    old = ledger_query.movement(plain, everyone)
    new = ledger_query.movement(adjusted, everyone)
    pd.testing.assert_series_equal(old["cash"], new["cash"])
    pd.testing.assert_series_equal(old["fell_due"], new["fell_due"])
    assert new["written_off"].tolist() == [0, 0, 0, 30.0, 0]  # Jan to May 2024 (as-of)
    assert (old["closing_arrears"] - new["closing_arrears"]).tolist() == [0, 0, 0, 30.0, 30.0]
    paid = plain.arrears.ageing[..., 4].sum(), adjusted.arrears.ageing[..., 4].sum()
    assert paid[0] == paid[1]  # paid_pence: cash only


def test_summary_json_reports_the_movement_identity(make_source):
    path = make_source(with_adjustments())
    result = CliRunner().invoke(app, ["summary", "--source", str(path), "--json"])
    assert result.exit_code == 0, result.output
    movement = json.loads(result.stdout)["movement"]
    assert movement and {"written_off", "cash", "fell_due"} <= set(movement[0])
    assert sum(m["written_off"] for m in movement) == 30.0
    assert round(sum(m["other_adjustments"] for m in movement), 2) == round(-5.5 - 2.25 + 12, 2)
    for m in movement:
        opening = m["opening_arrears"] - m["opening_credit"]
        closing = m["closing_arrears"] - m["closing_credit"]
        flows = m["fell_due"] - m["cash"] - m["written_off"] + m["other_adjustments"]
        assert round(opening + flows, 2) == round(closing, 2), m
