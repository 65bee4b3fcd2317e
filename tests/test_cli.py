"""The ``validate`` and ``summary`` commands, checked against direct pandas computations.

Figures are recomputed here from the raw tables with a plain merge of bills and payments (no
code of ``dashboard.metrics``): ``paid_in_window`` sums the customer's payments dated in
``(due - before, min(due + after, as_of)]``; a bill defaults when that is below its amount
minus the tolerance (in pence); it is mature when ``due + after <= as_of``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from servers import serving
from typer.testing import CliRunner

from dashboard import compute
from dashboard.cli import app
from dashboard.vocab import DIMENSIONS

SCRIPT = Path(sys.executable).with_name("collections-dashboard")

runner = CliRunner()

JSON_KEYS = {
    "as_of",
    "window",
    "include_immature",
    "overall",
    "monthly",
    "segments",
    "severe_arrears",
    "actions",
    "bucket_edges",
    "ageing",
    "movement",
    "uplift",
    "provision",
    "forecast",
}
AGEING_KEYS = {"month", "bucket", "customers", "arrears"}
WINDOW_KEYS = {"before", "after", "tolerance"}
OVERALL_KEYS = {"bills", "defaults", "default_rate", "billed", "paid_in_window"}
MONTH_KEYS = OVERALL_KEYS | {"month", "mature"}
SEGMENT_KEYS = {"value", "bills", "defaults", "default_rate"}
ACTION_KEYS = {"action", "count"}
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]
"""The small set's months: its bills' (January to April) and the as-of month (its latest
payment, 2024-05-20: the months run to as-of)."""


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def summary_json(source: Path, *args: str) -> dict:
    result = invoke("summary", "--source", source, "--json", *args)
    assert result.exit_code == 0, result.output
    # stderr holds the source's data-quality warnings, if any, and nothing else
    assert all(line.startswith("warning: ") for line in result.stderr.splitlines())
    return json.loads(result.stdout)


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# --- the reference computation ----------------------------------------------------------------


def reference_bills(
    tables: dict[str, pd.DataFrame],
    before: int = 3,
    after: int = 60,
    tolerance_pence: int = 100,
    as_of: str | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Every bill with its month, customer dimensions, ``default`` and ``mature`` flags."""
    bills = tables["bills"].reset_index(drop=True)
    bills = bills.assign(
        bill=range(len(bills)),
        due=pd.to_datetime(bills["due_date"]),
        month=pd.to_datetime(bills["bill_period_end"]).dt.strftime("%Y-%m"),
        pence=(bills["bill_amount"].astype(float) * 100).round().astype("int64"),
    )
    payments = tables["payments"].assign(
        day=lambda p: pd.to_datetime(p["payment_date"]),
        paid=lambda p: (p["amount"].astype(float) * 100).round().astype("int64"),
    )
    as_of = payments["day"].max() if as_of is None else pd.Timestamp(as_of)
    payments = payments.loc[payments["day"] <= as_of, ["customer_id", "day", "paid"]]
    pairs = bills[["bill", "customer_id", "due"]].merge(payments, on="customer_id")
    inside = (pairs["day"] > pairs["due"] - pd.Timedelta(days=before)) & (
        pairs["day"] <= pairs["due"] + pd.Timedelta(days=after)
    )
    paid = pairs.loc[inside].groupby("bill")["paid"].sum()
    bills["paid"] = bills["bill"].map(paid).fillna(0).astype("int64")
    bills["default"] = bills["paid"] < bills["pence"] - tolerance_pence
    bills["mature"] = bills["due"] + pd.Timedelta(days=after) <= as_of
    customers = tables["customers"].astype({"customer_id": str})
    return bills.merge(customers, on="customer_id", how="left"), as_of


def figures(bills: pd.DataFrame, include_immature: bool) -> dict:
    counted = bills if include_immature else bills.loc[bills["mature"]]
    n, d = len(counted), int(counted["default"].sum())
    return {"bills": n, "defaults": d, "default_rate": round(d / n, 4) if n else None}


def read_seed(seed_dir: Path) -> dict[str, pd.DataFrame]:
    return {
        t: pd.read_csv(seed_dir / f"{t}.csv", encoding="utf-8")
        for t in ("customers", "bills", "payments", "collections_actions")
    }


# --- validate ---------------------------------------------------------------------------------


def test_validate_prints_counts_ranges_and_as_of(small_sources):
    source = small_sources["csv"]
    result = invoke("validate", "--source", source)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = result.stdout
    assert f"source: {source}" in out
    assert re.search(r"^customers +4 rows$", out, re.M)
    assert re.search(r"^bills +15 rows +2024-01-31 \.\. 2024-04-30$", out, re.M)
    assert re.search(r"^payments +9 rows +2024-02-14 \.\. 2024-05-20$", out, re.M)
    assert re.search(r"^collections_actions +5 rows +2024-02-20 \.\. 2024-05-05$", out, re.M)
    assert "as_of (latest payment): 2024-05-20" in out
    assert out.rstrip().endswith("no warnings")


def test_validate_prints_every_warning_and_excluded_counts(make_source, small_tables):
    small_tables["payments"].loc[[0, 2], "customer_id"] = ["C999999", "C999998"]
    small_tables["collections_actions"].loc[2, "customer_id"] = "X1"
    source = make_source(small_tables, "csv")
    result = invoke("validate", "--source", source)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"^payments +7 rows +2024-03-14 \.\. 2024-05-20  \(2 excluded\)$", out, re.M)
    assert re.search(r"^collections_actions +4 rows .*\(1 excluded\)$", out, re.M)
    assert "2 warning(s):" in out
    assert (
        f"  warning: {source / 'payments.csv'}: column 'customer_id': excluded 2 rows of "
        "customers not in customers (row 1 'C999999', row 3 'C999998')"
    ) in out
    assert f"{source / 'collections_actions.csv'}: column 'customer_id'" in out
    assert "as_of (latest payment): 2024-05-20" in out


def test_validate_shows_the_latin1_warning(make_source):
    source = make_source(kind="csv")
    file = source / "customers.csv"
    file.write_bytes(file.read_text(encoding="utf-8").encode("latin-1"))
    result = invoke("validate", "--source", source)
    assert result.exit_code == 0
    assert f"warning: {file}: not UTF-8, read as Latin-1" in result.stdout


def test_validate_with_no_collections_actions_warns_and_succeeds(make_source, small_tables):
    small_tables["collections_actions"] = small_tables["collections_actions"].iloc[:0]
    source = make_source(small_tables, "csv")
    result = invoke("validate", "--source", source)
    assert result.exit_code == 0, result.output
    assert re.search(r"^collections_actions +0 rows", result.stdout, re.M)
    assert "no collections actions" in result.stdout


def test_summary_with_no_collections_actions(make_source, small_tables):
    small_tables["collections_actions"] = small_tables["collections_actions"].iloc[:0]
    result = summary_json(make_source(small_tables, "csv"))
    assert result["actions"] == []
    assert result["overall"]["bills"] == 7


# --- bad sources and arguments: exit 2, one stderr line ---------------------------------------


def bad_sources(tmp_path: Path, make_source, small_tables) -> dict[str, tuple[Path, str]]:
    small_tables["bills"]["bill_amount"] = small_tables["bills"]["bill_amount"].astype(object)
    small_tables["bills"].loc[1, "bill_amount"] = "-3.00"
    negative = make_source(small_tables, "csv")
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("hello\n")
    no_column = make_source(kind="sqlite")
    connection = sqlite3.connect(no_column)
    connection.execute("ALTER TABLE customers DROP COLUMN tariff")
    connection.commit()
    connection.close()
    return {
        "missing": (tmp_path / "absent", "no such file or folder"),
        "negative": (negative, "bills.csv: column 'bill_amount': negative amount in 1 row (row 2"),
        "not-sqlite": (not_sqlite, "not a SQLite database"),
        "no-column": (no_column, ":customers: column 'tariff' missing"),
    }


@pytest.mark.parametrize("command", ["validate", "summary"])
@pytest.mark.parametrize("case", ["missing", "negative", "not-sqlite", "no-column"])
def test_bad_source_exits_2_with_one_line(tmp_path, make_source, small_tables, command, case):
    source, fragment = bad_sources(tmp_path, make_source, small_tables)[case]
    result = invoke(command, "--source", source)
    assert_one_line_error(result, str(source), fragment)
    assert result.stdout == ""


def test_damaged_sqlite_exits_2(make_source):
    file = make_source(kind="sqlite")
    connection = sqlite3.connect(file)
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name='bills'").fetchone()
    connection.close()
    data = bytearray(file.read_bytes())
    data[(root[0] - 1) * page_size] = 0x77
    file.write_bytes(bytes(data))
    assert_one_line_error(invoke("validate", "--source", file), "damaged SQLite database")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--filter", "bogus=1"], "--filter 'bogus=1': unknown dimension 'bogus'"),
        (["--filter", "region=Nowhere"], "--filter 'region=Nowhere': no region 'Nowhere'"),
        (["--filter", "region"], "--filter 'region': write DIM=VALUE"),
        (["--filter", "is_vulnerable=2"], "no is_vulnerable '2' in the data"),
        (["--filter", "region=Reading", "--filter", "tariff=Gold"], "no tariff 'Gold'"),
        (["--from", "2024-13"], "--from '2024-13': write the month as YYYY-MM"),
        (["--as-of", "20/05/2024"], "--as-of '20/05/2024': write the date as YYYY-MM-DD"),
        (["--tolerance", "-1"], "tolerance must be zero or more"),
    ],
)
def test_summary_rejects_bad_arguments(small_sources, args, fragment):
    result = invoke("summary", "--source", small_sources["csv"], "--json", *args)
    assert_one_line_error(result, fragment)
    assert result.stdout == ""


@pytest.mark.parametrize("option", ["--from", "--to"])
@pytest.mark.parametrize("text", ["April", "2024"])
def test_months_must_be_written_yyyy_mm(small_sources, option, text):
    result = invoke("summary", "--source", small_sources["csv"], "--json", option, text)
    assert_one_line_error(result, f"{option} '{text}': write the month as YYYY-MM")


# --- the real console script --------------------------------------------------------------------


def run_script(*args: str) -> subprocess.CompletedProcess:
    if not SCRIPT.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], capture_output=True, encoding="utf-8", env=env, timeout=120
    )


def test_console_script_bad_source_exit_code_and_no_traceback(make_source, small_tables):
    small_tables["payments"]["payment_date"] = small_tables["payments"]["payment_date"].astype(
        object
    )
    small_tables["payments"].loc[3, "payment_date"] = "14/04/2024"
    source = make_source(small_tables, "csv")
    process = run_script("summary", "--source", source, "--json")
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert process.stderr.splitlines() == [
        f"error: {source / 'payments.csv'}: column 'payment_date': unparseable or missing "
        "date (need YYYY-MM-DD) in 1 row (row 4 '14/04/2024')"
    ]
    assert process.stdout == ""


def test_console_script_summary_json(small_sources):
    process = run_script(
        "summary", "--source", small_sources["sqlite"], "--json", "--filter", "region=Reading"
    )
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    result = json.loads(process.stdout)
    assert result["overall"]["bills"] == 4
    assert [r["value"] for r in result["segments"]["region"]] == ["Reading"]


# --- summary on the small portfolio -----------------------------------------------------------


def test_summary_json_has_exactly_the_documented_shape(small_sources):
    result = summary_json(small_sources["csv"])
    assert set(result) == JSON_KEYS
    assert result["as_of"] == "2024-05-20"
    assert result["window"] == {"before": 3, "after": 60, "tolerance": 1.0}
    assert result["include_immature"] is False
    assert set(result["overall"]) == OVERALL_KEYS
    assert result["monthly"] and all(set(m) == MONTH_KEYS for m in result["monthly"])
    assert list(result["segments"]) == list(DIMENSIONS)
    for dim, rows in result["segments"].items():
        assert rows and all(set(r) == SEGMENT_KEYS for r in rows), dim
    for dim in ("is_vulnerable", "has_meter", "prefers_direct_debit"):
        assert [r["value"] for r in result["segments"][dim]] == [0, 1]
    assert [r["value"] for r in result["segments"]["income_band"]] == [
        "<£15k",
        "£15k-£30k",
        "£30k-£50k",
        "£50k+",
    ]
    assert result["actions"] and all(set(a) == ACTION_KEYS for a in result["actions"])
    assert result["bucket_edges"] == [30, 60, 90]
    assert result["ageing"] and all(set(a) == AGEING_KEYS for a in result["ageing"])


@pytest.mark.parametrize("edges", [(30, 60, 90), (14, 28)])
def test_summary_ageing_matches_a_literal_ledger(small_sources, small_tables, edges):
    """Each month-end's customers and arrears per bucket, from a per-customer loop."""
    from oracles.ledger import brute_balance, brute_bucket, day_number

    result = summary_json(small_sources["csv"], "--bucket-edges", ",".join(map(str, edges)))
    labels = compute.Buckets(edges).labels
    as_of = day_number(result["as_of"])
    bills, payments = small_tables["bills"], small_tables["payments"]
    expected = []
    for period_end in ("2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"):
        snapshot = min(day_number(period_end), as_of)
        counts = dict.fromkeys(labels, 0)
        owed = dict.fromkeys(labels, 0)
        for customer, own in bills.groupby("customer_id"):
            due = [
                (day_number(d), round(a * 100))
                for d, a in zip(own["due_date"], own["bill_amount"], strict=True)
            ]
            paid = payments.loc[payments["customer_id"] == customer]
            made = [
                (day_number(d), round(a * 100))
                for d, a in zip(paid["payment_date"], paid["amount"], strict=True)
            ]
            days, billed, paid_pence = brute_balance(due, made, snapshot)
            first_bill = own["bill_period_end"].min()
            if first_bill[:7] > period_end[:7] and billed == paid_pence:
                continue  # not on book yet
            label = labels[brute_bucket(days, edges)]
            counts[label] += 1
            owed[label] += max(billed - paid_pence, 0)
        expected += [
            {"month": period_end[:7], "bucket": b, "customers": counts[b], "arrears": owed[b] / 100}
            for b in labels
        ]
    assert result["ageing"] == expected
    assert result["bucket_edges"] == list(edges)


@pytest.mark.parametrize("include_immature", [False, True])
def test_summary_matches_direct_computation(small_sources, small_tables, include_immature):
    bills, _ = reference_bills(small_tables)
    flag = ["--include-immature"] if include_immature else []
    result = summary_json(small_sources["csv"], *flag)
    assert result["include_immature"] is include_immature
    expected = figures(bills, include_immature)
    assert {k: result["overall"][k] for k in expected} == expected
    assert result["overall"]["billed"] == pytest.approx(bills["pence"].sum() / 100)
    assert result["overall"]["paid_in_window"] == pytest.approx(bills["paid"].sum() / 100)
    assert [m["month"] for m in result["monthly"]] == MONTHS
    assert [m["mature"] for m in result["monthly"]] == [True, True, False, False, False]
    for month in result["monthly"]:
        rows = bills.loc[bills["month"] == month["month"]]
        assert {k: month[k] for k in expected} == figures(rows, include_immature)
        assert month["billed"] == pytest.approx(rows["pence"].sum() / 100)
    for dim in DIMENSIONS:
        got = {r["value"]: {k: r[k] for k in expected} for r in result["segments"][dim]}
        want = {v: figures(g, include_immature) for v, g in bills.groupby(dim)}
        assert got == want, dim


def test_immature_months_count_nothing_unless_included(small_sources):
    result = summary_json(small_sources["csv"])
    for month in result["monthly"][2:]:
        assert (month["bills"], month["defaults"], month["default_rate"]) == (0, 0, None)
    assert [m["billed"] > 0 for m in result["monthly"]] == [True] * 4 + [False]  # May: none
    assert result["overall"]["bills"] == 7  # the January and February bills


@pytest.mark.parametrize(
    "filters",
    [
        ["region=Reading", "region=Oxford"],
        ["region=Reading", "has_meter=1"],
        ["region=Reading", "region=Swindon", "is_vulnerable=1"],
        ["income_band=<£15k", "income_band=£50k+", "tenure_band=5+y"],
    ],
)
def test_filters_or_within_and_across_dimensions(small_sources, small_tables, filters):
    bills, _ = reference_bills(small_tables)
    chosen = pd.Series(True, index=bills.index)
    by_dim: dict[str, list] = {}
    for item in filters:
        dim, value = item.split("=")
        by_dim.setdefault(dim, []).append(int(value) if value in ("0", "1") else value)
    for dim, values in by_dim.items():
        chosen &= bills[dim].isin(values)
    args = [a for item in filters for a in ("--filter", item)]
    result = summary_json(small_sources["csv"], "--include-immature", *args)
    selected = bills.loc[chosen]
    assert 0 < len(selected) < len(bills)
    assert {k: result["overall"][k] for k in ("bills", "defaults", "default_rate")} == figures(
        selected, True
    )
    assert result["overall"]["billed"] == pytest.approx(selected["pence"].sum() / 100)
    assert [m["month"] for m in result["monthly"]] == MONTHS
    assert [m["bills"] for m in result["monthly"]] == [
        int((selected["month"] == m).sum()) for m in MONTHS
    ]
    customers = set(selected["customer_id"])
    actions = small_tables["collections_actions"]
    expected = actions.loc[actions["customer_id"].isin(customers), "action"].value_counts()
    assert {a["action"]: a["count"] for a in result["actions"] if a["count"]} == dict(expected)


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        ("2024-02", "2024-03", ["2024-02", "2024-03"]),
        ("2024-03", None, ["2024-03", "2024-04", "2024-05"]),
        (None, "2024-01", ["2024-01"]),
        ("2024-04", "2024-04", ["2024-04"]),
    ],
)
def test_from_to_select_bill_and_action_months(small_sources, small_tables, start, end, months):
    bills, _ = reference_bills(small_tables)
    args = (["--from", start] if start else []) + (["--to", end] if end else [])
    result = summary_json(small_sources["csv"], "--include-immature", *args)
    assert [m["month"] for m in result["monthly"]] == months
    selected = bills.loc[bills["month"].isin(months)]
    assert {k: result["overall"][k] for k in ("bills", "defaults", "default_rate")} == figures(
        selected, True
    )
    for dim in ("region", "income_band"):
        assert sum(r["bills"] for r in result["segments"][dim]) == len(selected)
    actions = small_tables["collections_actions"]
    month_of = pd.to_datetime(actions["action_date"]).dt.strftime("%Y-%m")
    low, high = start or "0000-00", end or "9999-99"
    expected = actions.loc[(month_of >= low) & (month_of <= high), "action"].value_counts()
    assert {a["action"]: a["count"] for a in result["actions"] if a["count"]} == dict(expected)


def test_monthly_lists_months_without_bills_of_the_selection(small_sources):
    result = summary_json(small_sources["csv"], "--filter", "region=Swindon")
    assert [m["month"] for m in result["monthly"]] == MONTHS
    january = result["monthly"][0]
    assert (january["bills"], january["billed"], january["mature"]) == (0, 0.0, False)
    assert result["monthly"][1]["billed"] == 61.20


def test_without_a_range_every_action_counts(small_sources):
    result = summary_json(small_sources["csv"], "--from", "2020-01", "--to", "2030-12")
    everything = summary_json(small_sources["csv"])
    expected = {"Reminder Sent": 3, "Second Reminder": 1, "Arrangement Agreed": 1}
    assert {a["action"]: a["count"] for a in everything["actions"]} == expected
    assert {a["action"]: a["count"] for a in result["actions"]} == expected


@pytest.mark.parametrize(
    ("args", "window"),
    [
        (["--before", "0", "--after", "30", "--tolerance", "0"], (0, 30, 0)),
        (["--before", "10", "--after", "90", "--tolerance", "5.5"], (10, 90, 550)),
        (["--as-of", "2024-04-30"], (3, 60, 100)),
    ],
)
def test_window_tolerance_and_as_of_options(small_sources, small_tables, args, window):
    as_of = args[1] if args[0] == "--as-of" else None
    bills, as_of = reference_bills(small_tables, *window, as_of=as_of)
    for include in (False, True):
        flag = ["--include-immature"] if include else []
        result = summary_json(small_sources["csv"], *args, *flag)
        assert result["as_of"] == as_of.strftime("%Y-%m-%d")
        assert result["window"] == {
            "before": window[0],
            "after": window[1],
            "tolerance": window[2] / 100,
        }
        got = result["overall"]
        assert {k: got[k] for k in ("bills", "defaults", "default_rate")} == figures(bills, include)
        assert got["paid_in_window"] == pytest.approx(bills["paid"].sum() / 100)


def test_text_summary(small_sources):
    result = invoke("summary", "--source", small_sources["csv"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "As of 2024-05-20" in out and "mature bills only" in out
    assert re.search(r"^\s*2024-03 \*", out, re.M)  # immature month marked
    assert "By income_band" in out and "Actions" in out


# --- summary on the reference dataset ---------------------------------------------------------


def test_seed_validate(seed_dir):
    result = invoke("validate", "--source", seed_dir)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"^customers +1,500 rows$", out, re.M)
    assert re.search(r"^bills +72,000 rows +2022-01-31 \.\. 2025-12-31$", out, re.M)
    assert re.search(r"^payments +64,738 rows ", out, re.M)
    assert re.search(r"^collections_actions +15,418 rows ", out, re.M)
    assert "as_of (latest payment): 2026-01-21" in out
    assert "no warnings" in out


def test_seed_published_figures_with_immature_bills(seed_dir):
    """The original notebook's view: every bill counted, as of the last date in its data
    (2026-04-09; by default as-of is the latest payment, 2026-01-21, and the actions after
    it are not known yet)."""
    result = summary_json(seed_dir, "--include-immature", "--as-of", "2026-04-09")
    assert result["overall"]["bills"] == 72_000
    assert result["overall"]["default_rate"] == 0.084
    income = {r["value"]: r["default_rate"] for r in result["segments"]["income_band"]}
    assert income["<£15k"] == 0.1387
    assert f"{income['<£15k']:.1%}" == "13.9%"
    regions = {r["value"]: r["default_rate"] for r in result["segments"]["region"]}
    assert max(regions, key=regions.get) == "Reading"
    assert regions["Reading"] == 0.0932
    actions = {a["action"]: a["count"] for a in result["actions"]}
    assert actions == {
        "Reminder Sent": 7262,
        "Second Reminder": 5454,
        "Arrangement Agreed": 2171,
        "Arrangement Broken": 531,
    }
    # the months run to the as-of month: bills in 2022-01 .. 2025-12, none after
    assert [m["bills"] for m in result["monthly"]] == [1500] * 48 + [0] * 4


def test_seed_mature_bills_only_by_default(seed_dir):
    result = summary_json(seed_dir)
    overall = result["overall"]
    assert (overall["bills"], overall["defaults"], overall["default_rate"]) == (
        69_000,
        5_150,
        0.0746,
    )
    monthly = result["monthly"]
    assert len(monthly) == 49  # to the as-of month (latest payment, 2026-01-21)
    assert (monthly[0]["month"], monthly[-1]["month"]) == ("2022-01", "2026-01")
    assert [m["mature"] for m in monthly] == [True] * 46 + [False] * 3
    for month in monthly[-3:]:
        assert (month["bills"], month["defaults"], month["default_rate"]) == (0, 0, None)
    assert all(m["bills"] == 1500 for m in monthly[:-3])
    assert sum(m["defaults"] for m in monthly) == 5_150


def test_seed_text_summary_shows_the_published_rate(seed_dir):
    result = invoke("summary", "--source", seed_dir, "--include-immature")
    assert result.exit_code == 0
    overall = next(line for line in result.stdout.splitlines() if line.startswith("Overall"))
    assert "8.4%" in overall and "72,000" in overall


def test_seed_actions_count_only_the_selected_months(seed_dir):
    result = summary_json(seed_dir, "--from", "2024-01", "--to", "2024-06")
    actions = pd.read_csv(seed_dir / "collections_actions.csv")
    month = actions["action_date"].str[:7]
    expected = actions.loc[(month >= "2024-01") & (month <= "2024-06"), "action"].value_counts()
    got = {a["action"]: a["count"] for a in result["actions"]}
    assert got == dict(expected)
    assert sum(got.values()) < 15_418
    assert [m["month"] for m in result["monthly"]] == [f"2024-0{i}" for i in range(1, 7)]
    assert result["overall"]["bills"] == 6 * 1500


def test_seed_filters_against_direct_computation(seed_dir):
    tables = read_seed(seed_dir)
    customers = tables["customers"]
    chosen = customers.loc[
        customers["region"].isin(["Reading", "Oxford"]) & (customers["is_vulnerable"] == 1),
        "customer_id",
    ]
    subset = {
        t: f.loc[f["customer_id"].isin(chosen)] if t != "customers" else f
        for t, f in tables.items()
    }
    bills, as_of = reference_bills(subset, as_of="2026-01-21")
    args = [
        "--filter",
        "region=Reading",
        "--filter",
        "region=Oxford",
        "--filter",
        "is_vulnerable=1",
    ]
    for include in (False, True):
        flag = ["--include-immature"] if include else []
        result = summary_json(seed_dir, *args, *flag)
        assert result["as_of"] == as_of.strftime("%Y-%m-%d")
        overall = {k: result["overall"][k] for k in ("bills", "defaults", "default_rate")}
        assert overall == figures(bills, include)
        regions = {r["value"]: r["bills"] for r in result["segments"]["region"]}
        assert regions == bills.loc[bills["mature"] | include, "region"].value_counts().to_dict()
    income = summary_json(seed_dir, "--include-immature", "--filter", "income_band=<£15k")
    assert income["overall"]["default_rate"] == 0.1387


def test_stopping_serve_stops_panel_serve(tmp_path):
    """SIGTERM to ``collections-dashboard serve`` reaches the ``panel serve`` it started."""
    import signal

    import psutil

    # its own process group: what the test leaves running is killed at the end
    with serving(None, timeout=120, own_group=True) as server:
        parent = server.process
        children = psutil.Process(parent.pid).children(recursive=True)
        assert children, "panel serve did not start"
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=60)
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
