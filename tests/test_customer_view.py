"""The customer view and the worklist as a working tool: one customer's rows from every
source kind, their timeline against a literal per-day ledger, the worklist's queues (with
counts, the Early queue), orders, column chooser and the row that opens the customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import pytest
from oracles.ledger import Rows, day_number

from dashboard import loader
from dashboard.compute.ledger import Buckets
from dashboard.cube.pipeline import known_on
from dashboard.cube.timeline import customer_timeline, one_customer
from dashboard.model import CollectionsModel
from dashboard.query import worklist as worklist_query
from dashboard.schema import validate
from dashboard.sources import open_source
from dashboard.sources.rows import clean_customer_id, customer_rows

DEMO = "data/"


@pytest.fixture(scope="module")
def demo_portfolio():
    return loader.load_portfolio(DEMO)


@pytest.fixture(scope="module")
def demo_cube():
    return loader.load_cube(DEMO)


def _sample_ids(portfolio, n=12, seed=3) -> list[str]:
    ids = portfolio.customers["customer_id"].to_numpy()
    return list(np.random.default_rng(seed).choice(ids, size=n, replace=False))


@pytest.mark.parametrize("kind", ["csv", "sqlite", "parquet"])
def test_one_customers_rows_are_the_whole_books_rows(kind, small_sources, small_tables):
    source = open_source(small_sources[kind])
    for customer_id in small_tables["customers"]["customer_id"].astype(str):
        raw = customer_rows(source, customer_id)
        for table, frame in small_tables.items():
            expected = frame.loc[frame["customer_id"].astype(str) == customer_id]
            assert len(raw.frames[table]) == len(expected), (kind, table, customer_id)


def test_unknown_or_bad_customer_ids_get_one_line(demo_portfolio):
    raw = customer_rows(open_source(DEMO), "C999999999")
    assert all(frame.empty for frame in raw.frames.values())
    for bad in ("", "   ", "x" * 65, "C1\x00"):
        with pytest.raises(ValueError):
            clean_customer_id(bad)
    model = CollectionsModel(source=DEMO)
    assert "Type a customer id" in model.customer_view["message"]
    model.customer = "nobody"
    assert model.customer_view["message"] == "no customer 'nobody' in the data"
    model.customer = "'; DROP TABLE bills; --"
    assert "no customer" in model.customer_view["message"]


def test_timeline_is_the_literal_ledger_every_day(demo_portfolio, demo_cube):
    """Balance and days past due on every day of sampled customers' timelines against the
    literal per-customer ledger of the oracle (bills due before the day, payments and
    adjustments on or before it, oldest first)."""
    as_of = demo_cube.as_of
    rows = Rows.of(demo_portfolio, as_of)
    codes = {c: i for i, c in enumerate(demo_portfolio.customers["customer_id"])}
    for customer_id in _sample_ids(demo_portfolio):
        timeline = loader.customer_timeline(DEMO, customer_id, as_of, Buckets())
        daily = timeline.daily.iloc[:: max(1, len(timeline.daily) // 60)]  # ~60 days each
        for date, balance, dpd in zip(
            daily["date"], daily["balance"], daily["days_past_due"], strict=True
        ):
            day = day_number(date)
            expected_dpd, _, _ = rows.balance(codes[customer_id], day)
            assert round(balance * 100) == rows.owed(codes[customer_id], day), (customer_id, date)
            assert dpd == expected_dpd, (customer_id, date)
        assert timeline.daily["date"].iloc[-1] == as_of


def test_events_balance_after_is_the_end_of_day_running_total(demo_portfolio, demo_cube):
    as_of = demo_cube.as_of
    for customer_id in _sample_ids(demo_portfolio, n=6, seed=11):
        timeline = loader.customer_timeline(DEMO, customer_id, as_of, Buckets())
        events = timeline.events
        assert events["date"].is_monotonic_increasing
        assert (events["date"] <= as_of).all()  # the as-of horizon
        change = events["amount"].fillna(0)
        end_of_day = change.groupby(events["date"]).sum().cumsum()
        after = events.groupby("date")["balance_after"].last()
        assert np.allclose(after.to_numpy(), end_of_day.to_numpy(), atol=0.005)
        # the next day's ledger balance is the end-of-day balance (bills count after due)
        daily = timeline.daily.set_index("date")["balance"]
        for date, value in after.items():
            next_day = date + pd.Timedelta(days=1)
            if next_day in daily.index:
                payments_next = (
                    events.loc[(events["date"] == next_day) & (events["event"] != "Bill"), "amount"]
                    .fillna(0)
                    .sum()
                )
                assert daily[next_day] == pytest.approx(value + payments_next, abs=0.005)


def test_worklist_today_is_the_timeline_today(demo_portfolio, demo_cube):
    """Each worklist customer's arrears and days past due are their timeline's last day."""
    rows = worklist_query.worklist(demo_cube, np.ones(len(demo_cube.segments), bool))
    for _, row in rows.sample(15, random_state=1).iterrows():
        timeline = loader.customer_timeline(DEMO, row["customer_id"], demo_cube.as_of, Buckets())
        assert timeline.today["arrears"] == pytest.approx(row["arrears"], abs=0.005)
        assert timeline.today["days_past_due"] == row["days_past_due"]
        state = timeline.arrangements["state"].iloc[-1] if len(timeline.arrangements) else "None"
        assert state == row["arrangement"]


def test_in_memory_and_source_timelines_agree(demo_portfolio, demo_cube):
    as_of = demo_cube.as_of
    for customer_id in _sample_ids(demo_portfolio, n=4, seed=5):
        from_source = loader.customer_timeline(DEMO, customer_id, as_of, Buckets())
        in_memory = loader.customer_timeline(demo_portfolio, customer_id, as_of, Buckets())
        pd.testing.assert_frame_equal(from_source.daily, in_memory.daily)
        pd.testing.assert_frame_equal(from_source.events, in_memory.events)


def test_timeline_ignores_rows_after_as_of(demo_portfolio):
    customer_id = _sample_ids(demo_portfolio, n=1, seed=8)[0]
    portfolio = one_customer(demo_portfolio, customer_id)
    early = pd.Timestamp("2024-06-30")
    cut = customer_timeline(known_on(portfolio, early), early)
    assert cut.daily["date"].iloc[-1] == early
    not_bills = cut.events["event"] != "Bill"
    assert (cut.events.loc[not_bills, "date"] <= early).all()
    # a bill is known from its period end; it may fall due after the as-of date
    assert (cut.events.loc[~not_bills, "detail"].str[-10:] <= "2024-06-30").all()
    full = customer_timeline(known_on(portfolio, pd.Timestamp("2026-02-10")), "2026-02-10")
    same = full.daily.loc[full.daily["date"] <= early].reset_index(drop=True)
    pd.testing.assert_frame_equal(cut.daily, same)  # what came later changes nothing before


def test_customer_who_never_paid_validates(make_source, small_tables):
    tables = small_tables
    customer_id = str(tables["customers"]["customer_id"].iloc[0])
    tables["payments"] = tables["payments"].loc[
        tables["payments"]["customer_id"].astype(str) != customer_id
    ]
    path = make_source(tables, "sqlite")
    raw = customer_rows(open_source(path), customer_id)
    portfolio = validate(raw, whole_book=False)
    assert portfolio.payments.empty and len(portfolio.bills)


def test_queue_counts_and_the_early_queue(demo_cube):
    everything = np.ones(len(demo_cube.segments), bool)
    rows = worklist_query.worklist(demo_cube, everything)
    counts = worklist_query.queue_counts(demo_cube, everything)
    assert counts["All"] == len(rows) == sum(counts[q] for q in worklist_query.QUEUES)
    for queue in worklist_query.QUEUES:
        assert counts[queue] == int((rows["queue"] == queue).sum())
    early = rows.loc[rows["queue"] == "Early"]
    assert len(early)
    assert early["days_past_due"].between(1, worklist_query.ESCALATE_AFTER_DAYS).all()
    assert not early["vulnerable"].any()
    assert not early["arrangement"].isin(["Active", "Broken"]).any()
    # a filter: counts of the selected segments only
    some = np.zeros(len(demo_cube.segments), bool)
    some[::2] = True
    selected = worklist_query.worklist(demo_cube, some)
    assert worklist_query.queue_counts(demo_cube, some)["All"] == len(selected)


@pytest.mark.parametrize("key", list(worklist_query.SORTS))
def test_worklist_orders(demo_cube, key):
    model = CollectionsModel(source=DEMO, worklist_sort=key)
    rows = model.worklist
    values = rows[key]
    if key == "last_payment_date":
        known = values.dropna()
        assert known.is_monotonic_increasing
        assert values.isna().sum() == 0 or values.iloc[: values.isna().sum()].isna().all()
    elif key == "roll_risk":  # scored customers first, highest first; the unscored last
        scored = int(values.notna().sum())
        assert 0 < scored < len(values)
        assert values.iloc[:scored].is_monotonic_decreasing
        assert values.iloc[scored:].isna().all()
    else:
        assert values.is_monotonic_decreasing
    with pytest.raises(ValueError):
        worklist_query.sorted_by(rows, "customer_id; drop")


def test_dashboard_queue_buttons_columns_and_row_click():
    from dashboard.ui.app import Dashboard

    dashboard = Dashboard(model=CollectionsModel(source=DEMO))
    dashboard.tabs()
    tab = next(t for t in dashboard.tabs_shown if t.name == "Worklist")
    built = dashboard.tab(tab)
    buttons = next(  # under its visible title
        w for w in built.select(pn.widgets.RadioButtonGroup) if w.label == "Queue"
    )
    assert any("Queue" in getattr(p, "object", "") for p in built.select(pn.pane.HTML))
    counts = dashboard.model.queue_counts
    assert list(buttons.options) == [
        f"{q} ({counts[q]:,})" for q in ("All", *worklist_query.QUEUES)
    ]
    buttons.value = "Early"
    assert dashboard.model.queue == "Early"
    dashboard.model.queue = "Support"
    assert buttons.value == "Support"
    table = dashboard.tables["worklist"]
    dashboard._refresh_table(next(p for p in tab.parts if getattr(p, "name", "") == "worklist"))
    dashboard.model.worklist_columns = ["arrears"]
    assert "Customer" not in table.hidden_columns and "Arrears £" not in table.hidden_columns
    assert "Priority" in table.hidden_columns and "Region" in table.hidden_columns
    first = str(table.value["Customer"].iloc[0])
    dashboard._open_row(next(p for p in tab.parts if getattr(p, "name", "") == "worklist"), 0)
    assert dashboard.model.customer == first
    assert dashboard.active_tab == "Customer"
    assert dashboard.model.customer_view["timeline"].customer_id == first
