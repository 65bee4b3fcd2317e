"""The early-warning score: its label against a brute-force ledger, no look-ahead in its
features and scores, the CLI's rows, reproducible metrics and the seed-data anchor task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from oracles.ledger import Rows, day_number, random_frames
from typer.testing import CliRunner

from dashboard.cli import app
from dashboard.schema import tables_from_frames, validate
from dashboard.score import FEATURES, evaluation, features_at, scores_at
from dashboard.score.anchor import BILL_FEATURES, anchor_evaluation, bill_rows
from dashboard.score.book import feature_rows, month_end_grid
from dashboard.score.features import (
    EARLY_WARNING,
    ON_BOOK_DAYS,
    ROLL_RISK,
    TARGETS,
    Events,
    History,
    serious_arrears_ahead,
    snapshot_grid,
    table_codes,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data"
SEED_DATA = ROOT.parent / "shared" / "seed-data"
runner = CliRunner()


def paying_frames(rng: np.random.Generator, n_customers: int, n_months: int) -> dict:
    """A small book of customers who mostly pay each bill near its due date: some pay
    late (around 31 days, the label's edge), part-pay or skip a bill; plus the random
    extras of :func:`random_frames` (overpayments, adjustments, actions)."""
    frames = random_frames(rng, n_customers, n_months, pd.Timestamp("2022-01-01"))
    bills = frames["bills"]
    due = pd.to_datetime(bills["due_date"])
    late = rng.choice([-5, 0, 3, 25, 29, 30, 31, 32, 45, 80], len(bills))
    share = rng.choice([1.0, 1.0, 1.0, 0.5, 0.0], len(bills))
    paid = pd.DataFrame(
        {
            "customer_id": bills["customer_id"],
            "payment_date": (due + pd.to_timedelta(late, "D")).dt.strftime("%Y-%m-%d"),
            "amount": (bills["bill_amount"] * share).round(2),
            "method": rng.choice(["Direct Debit", "Card"], len(bills)),
        }
    )
    extra = frames["payments"].sample(frac=0.2, random_state=int(rng.integers(1 << 30)))
    frames["payments"] = pd.concat([paid, extra], ignore_index=True)
    return frames


def portfolio_of(frames: dict):
    return validate(tables_from_frames(frames), today="2030-01-01")


def history_of(portfolio, snaps):
    tables = {
        "bills": portfolio.bills,
        "payments": portfolio.payments,
        "actions": portfolio.actions,
        "adjustments": portfolio.adjustments,
    }
    events = Events.of(tables, table_codes(tables), 0, len(portfolio.customers))
    return events, History.of(events, snaps)


def brute_population(rows: Rows, portfolio, customer: int, day: int, target) -> bool:
    """On book (a bill issued in the 92 days up to ``day``, or a balance) and within the
    target's days past due, read literally."""
    bills = portfolio.bills
    own = bills.loc[bills["customer_id"].cat.codes == customer, "bill_period_end"]
    issued = [day_number(d) for d in own if day - ON_BOOK_DAYS < day_number(d) <= day]
    days_past_due, _, _ = rows.balance(customer, day)
    within = target.lowest_days <= days_past_due <= target.highest_days
    return within and (bool(issued) or rows.owed(customer, day) != 0)


@pytest.mark.parametrize("target", [EARLY_WARNING, ROLL_RISK], ids=lambda t: t.key)
@pytest.mark.parametrize("seed", range(8))
def test_label_and_population_match_a_brute_force_ledger(seed, target):
    rng = np.random.default_rng(seed)
    frames = paying_frames(rng, 8, 12) if target is EARLY_WARNING else owing_frames(rng, 8, 14)
    portfolio = portfolio_of(frames)
    as_of = portfolio.payments["payment_date"].max()
    snaps = month_end_grid(portfolio, as_of)
    columns = np.arange(max(len(snaps) - 3, 0))
    events, history = history_of(portfolio, snaps)
    label = serious_arrears_ahead(events, snaps, columns, days=target.event_days)
    rows = Rows.of(portfolio)
    checked = positives = 0
    for position, j in enumerate(columns):
        chosen = history.population(j, target)
        for customer in range(len(portfolio.customers)):
            expected_in = brute_population(rows, portfolio, customer, snaps[j], target)
            assert chosen[customer] == expected_in, (seed, customer, j)
            if not chosen[customer]:
                continue
            window = range(int(snaps[j]) + 1, int(snaps[j + 3]) + 1)
            expected = any(rows.balance(customer, day)[0] >= target.event_days for day in window)
            assert label[customer, position] == expected, (seed, customer, j)
            checked += 1
            positives += expected
    assert checked
    # the owing book rolls to 91+ in every seed: the positive branch is exercised
    assert positives or target is EARLY_WARNING


def owing_frames(rng: np.random.Generator, n_customers: int, n_months: int) -> dict:
    """Like :func:`paying_frames`, but many bills are paid months late or not at all, so
    customers sit 1–90 days past due and some roll to 91+."""
    frames = paying_frames(rng, n_customers, n_months)
    payments = frames["payments"]
    late = rng.choice([0, 0, 40, 75, 100, 130], len(payments))
    when = pd.to_datetime(payments["payment_date"]) + pd.to_timedelta(late, "D")
    payments["payment_date"] = when.dt.strftime("%Y-%m-%d")
    frames["payments"] = payments.loc[rng.random(len(payments)) > 0.15]
    return frames


def later_rows_changed(frames: dict, cut: pd.Timestamp, rng: np.random.Generator) -> dict:
    """The same book with every row dated after ``cut`` dropped, then new rows after it."""
    out = {name: frame.copy() for name, frame in frames.items()}
    columns = {
        "bills": "bill_period_end",
        "payments": "payment_date",
        "collections_actions": "action_date",
        "adjustments": "adjustment_date",
    }
    for name, column in columns.items():
        if name in out:
            out[name] = out[name].loc[pd.to_datetime(out[name][column]) <= cut]
    ids = frames["customers"]["customer_id"].to_numpy()
    later = (cut + pd.to_timedelta(rng.integers(1, 120, 20), "D")).strftime("%Y-%m-%d")
    out["payments"] = pd.concat(
        [
            out["payments"],
            pd.DataFrame(
                {
                    "customer_id": rng.choice(ids, 20),
                    "payment_date": later,
                    "amount": rng.integers(0, 9000, 20) / 100,
                    "method": "Direct Debit",
                }
            ),
        ]
    )
    out["collections_actions"] = pd.concat(
        [
            out["collections_actions"],
            pd.DataFrame(
                {
                    "customer_id": rng.choice(ids, 5),
                    "action_date": later[:5],
                    "action": "Arrangement Agreed",
                }
            ),
        ]
    )
    end = (cut + pd.offsets.MonthEnd(2)).strftime("%Y-%m-%d")
    due = (cut + pd.offsets.MonthEnd(2) + pd.Timedelta(days=14)).strftime("%Y-%m-%d")
    out["bills"] = pd.concat(
        [
            out["bills"],
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "bill_period_end": end,
                    "bill_amount": 99.0,
                    "usage_m3": 1.0,
                    "due_date": due,
                }
            ),
        ]
    )
    return out


@pytest.mark.parametrize("target", [EARLY_WARNING, ROLL_RISK], ids=lambda t: t.key)
@pytest.mark.parametrize("seed", range(6))
def test_features_ignore_rows_dated_after_the_scoring_day(seed, target):
    """Property: rows after the scoring day (dropped, or new ones added) change neither the
    population nor any feature, on the month-end grid (training) nor on an as-of grid —
    for customers in arrears too, whose open bills are covered only later."""
    rng = np.random.default_rng(100 + seed)
    frames = paying_frames(rng, 10, 14) if target is EARLY_WARNING else owing_frames(rng, 10, 14)
    original = portfolio_of(frames)
    as_of = original.payments["payment_date"].max()
    snaps = month_end_grid(original, as_of)
    j = int(rng.integers(2, len(snaps) - 1))
    cut = pd.Timestamp(np.datetime64(int(snaps[j]), "D"))
    changed = portfolio_of(later_rows_changed(frames, cut, rng))
    before = feature_rows(original, snaps, np.array([j]), False, target=target)
    after = feature_rows(changed, snaps, np.array([j]), False, target=target)
    pd.testing.assert_frame_equal(before, after)
    mid_month = cut - pd.Timedelta(days=int(rng.integers(1, 20)))
    grid = snapshot_grid(mid_month, pd.Timestamp("2021-11-01"))
    last = np.array([len(grid) - 1])
    pd.testing.assert_frame_equal(
        feature_rows(original, grid, last, False, target=target),
        feature_rows(changed, grid, last, False, target=target),
    )
    assert set(FEATURES) <= set(before.columns)


def test_roll_risk_population_is_the_early_queue_range():
    from dashboard.query.worklist import ESCALATE_AFTER_DAYS

    assert ROLL_RISK.lowest_days == 1
    assert ROLL_RISK.highest_days == ESCALATE_AFTER_DAYS
    assert ROLL_RISK.event_days == ESCALATE_AFTER_DAYS + 1
    assert set(TARGETS) == {"early-warning", "roll-risk"}
    with pytest.raises(ValueError, match="lowest"):
        type(ROLL_RISK)("bad", 0, 40, 31)


def test_scores_ignore_rows_dated_after_the_scoring_day():
    frames = paying_frames(np.random.default_rng(7), 300, 24)
    original = portfolio_of(frames)
    cut = pd.Timestamp("2023-09-30")
    changed = portfolio_of(later_rows_changed(frames, cut, np.random.default_rng(8)))
    before, after = scores_at(original, cut), scores_at(changed, cut)
    pd.testing.assert_series_equal(before, after)
    assert len(before) and before.between(0, 1).all()


def test_bill_features_are_known_at_issue():
    """A bill's anchor features do not move when rows after its issue change."""
    rng = np.random.default_rng(3)
    frames = paying_frames(rng, 12, 14)
    original = portfolio_of(frames)
    cut = pd.Timestamp("2022-09-30")
    changed = portfolio_of(later_rows_changed(frames, cut, rng))
    as_of = original.payments["payment_date"].max()
    before = bill_rows(original, as_of=as_of)
    after = bill_rows(changed, as_of=as_of)
    cut_day = day_number(cut)
    keep_before = before.loc[before["issue"] <= cut_day].reset_index(drop=True)
    keep_after = after.loc[after["issue"] <= cut_day].reset_index(drop=True)
    columns = ["customer", "issue", *BILL_FEATURES]
    pd.testing.assert_frame_equal(keep_before[columns], keep_after[columns])


@pytest.mark.parametrize("target", [EARLY_WARNING, ROLL_RISK], ids=lambda t: t.key)
def test_cli_writes_one_row_per_customer_of_the_population(tmp_path, target):
    """``score`` writes every customer Current on the day (``--target roll-risk``: every
    customer 1–90 days past due), checked against a literal ledger."""
    from dashboard.loader import load_portfolio

    out = tmp_path / "scores.csv"
    arguments = ["score", "--source", str(DEMO), "--as-of", "2025-07-15", "--out", str(out)]
    result = runner.invoke(app, [*arguments, "--target", target.key])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["customer_id", "score"]
    assert scores["customer_id"].is_unique and scores["score"].between(0, 1).all()
    portfolio = load_portfolio(DEMO)
    day = day_number("2025-07-15")
    rows = Rows.of(portfolio, pd.Timestamp("2025-07-15"))
    ids = portfolio.customers["customer_id"].to_numpy()
    expected = {
        ids[c] for c in range(len(ids)) if brute_population(rows, portfolio, c, day, target)
    }
    assert len(expected) > 10 and set(scores["customer_id"]) == expected
    chosen = features_at(portfolio, pd.Timestamp("2025-07-15"), target=target)
    assert list(chosen["customer_id"]) == list(scores["customer_id"])


def test_cli_refuses_an_unknown_target():
    result = runner.invoke(app, ["score", "--source", str(DEMO), "--target", "churn"])
    assert result.exit_code == 2
    assert "--target 'churn': one of early-warning, roll-risk" in result.output


@pytest.mark.slow
def test_cli_evaluate_prints_the_table(tmp_path):
    plot = tmp_path / "calibration.html"
    arguments = ["score", "evaluate", "--source", str(DEMO), "--plot", str(plot)]
    result = runner.invoke(app, [*arguments, "--models", "logistic"])
    assert result.exit_code == 0, result.output
    for word in ("auc", "brier", "top_decile_capture", "calibration", "logistic"):
        assert word in result.output
    assert plot.exists()


@pytest.mark.slow
def test_evaluation_is_reproducible_with_a_seed():
    from dashboard.loader import load_portfolio

    portfolio = load_portfolio(DEMO)
    first = evaluation(portfolio, kinds=("logistic",), seed=5)
    second = evaluation(portfolio, kinds=("logistic",), seed=5)
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    pd.testing.assert_frame_equal(first.calibration, second.calibration)
    assert first.test_month_ends[0] > first.train_month_ends[-1]
    rows = first.calibration.groupby("model")["rows"].sum()
    assert (rows.sort_index() == first.metrics["test_rows"].sort_index()).all()
    assert 0.5 < first.metrics.loc["logistic", "auc"] <= 1


@pytest.mark.slow
def test_boosting_is_reproducible_with_a_seed():
    from dashboard.loader import load_portfolio
    from dashboard.score.model import fit, labelled_rows

    portfolio = load_portfolio(DEMO)
    snaps = month_end_grid(portfolio, pd.Timestamp("2025-06-30"))
    rows = labelled_rows(portfolio, snaps, np.arange(24, 27), seed=5)
    first, second = fit(rows, "boosting", seed=5), fit(rows, "boosting", seed=5)
    inputs = rows.drop(columns=["customer", "day", "label"])
    np.testing.assert_array_equal(
        first.predict_proba(inputs)[:, 1], second.predict_proba(inputs)[:, 1]
    )


@pytest.mark.skipif(not SEED_DATA.exists(), reason="the reference seed data is not here")
def test_seed_data_anchor_task_runs():
    from dashboard.loader import load_portfolio

    result = anchor_evaluation(load_portfolio(SEED_DATA), kinds=("logistic",))
    honest = result.metrics.loc[("known at issue", "logistic")]
    assert 0.5 < honest["auc"] < 1 and honest["test_rows"] > 0
    assert "0.601" in result.table()


@pytest.mark.parametrize("seed", range(4))
def test_scoring_on_the_last_13_snapshots_matches_the_full_grid(seed):
    """``features_at`` reads only the last 13 snapshots: the same features as the full
    grid that training uses."""
    rng = np.random.default_rng(200 + seed)
    portfolio = portfolio_of(paying_frames(rng, 12, 20))
    day = pd.Timestamp("2023-05-17") + pd.Timedelta(days=int(rng.integers(0, 60)))
    grid = snapshot_grid(day, pd.Timestamp("2021-11-01"))
    full = feature_rows(portfolio, grid, np.array([len(grid) - 1]), False)
    short = features_at(portfolio, day).drop(columns="customer_id")
    pd.testing.assert_frame_equal(full, short)


def brute_lateness(rows: Rows, customer: int) -> list[tuple[int, bool, bool]]:
    """(days late, late, part-paid by the due date) of each of a customer's bills, read
    literally: debits oldest first (bills, then balance-raising adjustments due the day
    before their date), covered on the first day the credits to date reach their running
    total."""
    debits = [(due, pence, index) for index, (due, pence, _) in enumerate(rows.bills[customer])]
    debits += [(d - 1, p, None) for d, p, _ in rows.adjustments[customer] if p > 0]
    debits.sort(key=lambda debit: debit[0])
    credits = list(rows.payments[customer])
    credits += [(d, -p) for d, p, _ in rows.adjustments[customer] if p < 0]

    def credited(day: int) -> int:
        return sum(p for d, p in credits if d <= day)

    out, running = {}, 0
    for due, pence, index in debits:
        before, running = running, running + pence
        if index is None:
            continue
        days = sorted(d for d, _ in credits)
        covered = next((d for d in days if credited(d) >= running), None)
        covered = -(10**6) if running <= 0 else covered
        late_days = 730 if covered is None else min(max(covered - due, 0), 730)
        by_due = credited(due)
        out[index] = (late_days, by_due < running, before < by_due < running)
    return [out[i] for i in range(len(out))]


@pytest.mark.parametrize("seed", range(6))
def test_bill_lateness_matches_a_brute_force_allocation(seed):
    from dashboard.score.features import bill_lateness

    portfolio = portfolio_of(paying_frames(np.random.default_rng(300 + seed), 8, 12))
    events, _ = history_of(portfolio, np.array([day_number("2023-01-31")]))
    late_days, late, partial, _ = bill_lateness(events)
    rows = Rows.of(portfolio)
    codes = portfolio.bills["customer_id"].cat.codes.to_numpy()
    for customer in range(len(portfolio.customers)):
        mine = np.flatnonzero(codes == customer)
        got = list(
            zip(late_days[mine].tolist(), late[mine].tolist(), partial[mine].tolist(), strict=True)
        )
        assert got == brute_lateness(rows, customer), (seed, customer)


def test_cli_score_without_training_months_exits_2_with_one_line():
    result = runner.invoke(app, ["score", "--source", str(DEMO), "--as-of", "2022-03-15"])
    assert result.exit_code == 2
    assert "no month-end before 2022-03-15" in result.output


def test_category_codes_one_hot_as_the_categoricals_would():
    """The logistic model one-hot encodes the dimensions from their category codes: the same
    columns as encoding the categoricals themselves, an unseen value all zeros, and the
    categories seen in fitting kept whatever the categories of the frame scored."""
    from sklearn.preprocessing import OneHotEncoder

    from dashboard.score.model import CategoryCodes

    fitted = pd.DataFrame(
        {"region": pd.Categorical(["North", "South", "North"], categories=["North", "South"])}
    )
    scored = pd.DataFrame(
        {
            "region": pd.Categorical(
                ["South", "East", "North"], categories=["East", "North", "South"]
            )
        }
    )
    codes = CategoryCodes().fit(fitted)
    assert codes.transform(scored).tolist() == [[1], [-1], [0]]
    ours = OneHotEncoder(handle_unknown="ignore").fit(codes.transform(fitted))
    theirs = OneHotEncoder(handle_unknown="ignore").fit(fitted.astype(object))
    assert np.array_equal(
        ours.transform(codes.transform(scored)).toarray(),
        theirs.transform(scored.astype(object)).toarray(),
    )
