"""The worklist's roll risk: computed only when asked, the score of exactly the customers
1–90 days past due, the Early queue ranked by it, its note and its column; and the
worklist following a change of order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import score
from dashboard.loader import load_portfolio
from dashboard.model import CollectionsModel
from dashboard.query import worklist as worklist_query
from dashboard.ui.charts import ledger as ledger_views
from dashboard.ui.charts import warning as warning_views

DEMO = str(Path(__file__).resolve().parent.parent / "data")


@pytest.fixture(scope="module")
def scored():
    """A demo model whose worklist shows the roll risk."""
    return CollectionsModel(
        source=DEMO, worklist_columns=[*worklist_query.DEFAULT_COLUMNS, "roll_risk"]
    )


def test_nothing_is_trained_until_the_worklist_asks():
    model = CollectionsModel(source=DEMO)
    assert model.roll_risk == {}
    assert model.worklist["roll_risk"].isna().all()
    assert warning_views.roll_risk_note(model.roll_risk) == ""


def test_worklist_follows_a_change_of_order():
    """The order is an input of the worklist: changing it reorders the rows in place."""
    model = CollectionsModel(source=DEMO)
    first = model.worklist["customer_id"].tolist()
    model.worklist_sort = "arrears"
    assert model.worklist["arrears"].is_monotonic_decreasing
    assert model.worklist["customer_id"].tolist() != first
    model.worklist_sort = "days_past_due"
    assert model.worklist["days_past_due"].is_monotonic_decreasing
    model.worklist_sort = "priority"
    assert model.worklist["customer_id"].tolist() == first


def test_roll_risk_is_the_score_of_the_customers_1_to_90_days_past_due(scored):
    rows = scored.worklist
    portfolio = load_portfolio(DEMO)
    expected = score.scores_at(portfolio, scored.as_of_date, target=score.ROLL_RISK)
    in_range = rows["days_past_due"].between(1, 90).to_numpy()
    assert in_range.any() and (~in_range).any()
    # every worklist customer 1–90 days past due has the model's score, the others none
    assert rows.loc[~in_range, "roll_risk"].isna().all()
    got = rows.loc[in_range].set_index("customer_id")["roll_risk"]
    np.testing.assert_allclose(got.to_numpy(), expected.loc[got.index].to_numpy())
    assert got.between(0, 1).all()
    # every scored customer in arrears on the as-of date is on the worklist
    assert set(got.index) <= set(expected.index)


def test_the_early_queue_ranks_by_roll_risk(scored):
    model = scored.clone(queue="Early", worklist_sort="roll_risk")
    early = model.worklist
    assert len(early) > 5
    assert early["roll_risk"].notna().all()  # the Early queue is within 1–90 days
    assert early["roll_risk"].is_monotonic_decreasing
    # the same customers as the priority order, only ranked differently
    by_priority = model.clone(worklist_sort="priority").worklist
    assert set(by_priority["customer_id"]) == set(early["customer_id"])


def test_a_filter_keeps_the_scores_of_the_customers_shown(scored):
    model = scored.clone(region=[scored.param.region.objects[0]])
    whole = scored.worklist.set_index("customer_id")["roll_risk"]
    part = model.worklist.set_index("customer_id")["roll_risk"]
    assert 0 < len(part) < len(whole)
    pd.testing.assert_series_equal(part, whole.loc[part.index])


def test_note_and_column_say_what_the_score_is(scored):
    note = warning_views.roll_risk_note(scored.roll_risk)
    evaluation = scored.roll_risk["evaluation"]
    assert "91+ days past due" in note and "1–90 days past due" in note
    assert f"AUC {evaluation.metrics.iloc[0]['auc']:.3f}" in note
    assert "out of time" in note
    table = ledger_views.worklist_table(scored.worklist)
    shown = table["Roll risk %"]
    scored_rows = scored.worklist["roll_risk"].notna().to_numpy()
    assert shown[~scored_rows].isna().all()
    np.testing.assert_allclose(
        shown[scored_rows].astype(float), (scored.worklist["roll_risk"][scored_rows] * 100).round(1)
    )
    assert "Roll risk %" not in ledger_views.hidden_worklist_columns(scored.worklist_columns)
    # ranked by it, the column shows even when not chosen
    default = list(worklist_query.DEFAULT_COLUMNS)
    assert "Roll risk %" in ledger_views.hidden_worklist_columns(default)
    assert "Roll risk %" not in ledger_views.hidden_worklist_columns(default, "roll_risk")
    assert "Last payment £" not in ledger_views.hidden_worklist_columns(default, "last_payment")


def test_a_book_too_large_to_score_says_so(monkeypatch):
    from dashboard import loader

    monkeypatch.setattr(loader, "SCORE_MAX_CUSTOMERS", 10)
    model = CollectionsModel(source=DEMO, worklist_sort="roll_risk")
    assert "not computed in the dashboard" in model.roll_risk["message"]
    assert "score --target roll-risk" in model.roll_risk["message"]
    assert warning_views.roll_risk_note(model.roll_risk).startswith("**Roll risk** — The roll")
    assert model.worklist["roll_risk"].isna().all()
    assert model.worklist["priority"].is_monotonic_decreasing  # priority order kept
