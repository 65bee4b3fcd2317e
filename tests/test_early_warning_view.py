"""The early-warning score in the dashboard: computed on demand (never for a model nobody
asked it of), shared per source and as-of date, the watch list following the filters, and
the tab drawing its evaluation, calibration and list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import loader, score
from dashboard.model import ON_DEMAND, CollectionsModel
from dashboard.ui.charts import warning as views

DEMO = "data/"


@pytest.fixture(scope="module")
def model():
    model = CollectionsModel(source=DEMO)
    model.live_outputs = [*model.live_outputs, *ON_DEMAND]
    return model


def test_a_plain_model_does_not_train_a_model():
    plain = CollectionsModel(source=DEMO)
    assert not plain.early_warning and (plain.watchlist is None or plain.watchlist.empty)
    assert not set(ON_DEMAND) & set(plain.live_outputs)


def test_scores_are_the_score_packages_and_shared(model):
    warning = model.early_warning
    portfolio = loader.load_portfolio(DEMO)
    expected = score.scores_at(portfolio, model.cube.as_of)
    got = warning["scores"].set_index("customer_id")["score"]
    pd.testing.assert_series_equal(
        got.sort_index(), expected.sort_index(), check_names=False, check_exact=False
    )
    assert warning["scores"]["score"].is_monotonic_decreasing
    assert loader.early_warning(DEMO, model.cube.as_of) is warning  # computed once


def test_watchlist_follows_the_filters(model):
    everyone = model.watchlist
    assert len(everyone) == len(model.early_warning["scores"])
    dimensions = list(model.cube.segments.columns)  # each row's segment is its customer's
    customers = loader.load_portfolio(DEMO).customers.set_index("customer_id")
    expected = customers.loc[everyone["customer_id"], dimensions].astype(str).to_numpy()
    assert (everyone[dimensions].astype(str).to_numpy() == expected).all()
    model.region = ["Reading"]
    try:
        reading = model.watchlist
        assert 0 < len(reading) < len(everyone)
        assert set(reading["region"].astype(str)) == {"Reading"}
        assert reading["score"].is_monotonic_decreasing
        ids = set(reading["customer_id"])
        assert ids == set(everyone.loc[everyone["region"] == "Reading", "customer_id"])
    finally:
        model.region = []


def test_views_draw_the_evaluation(model):
    note = views.evaluation_note(model.early_warning)
    auc = model.early_warning["evaluation"].metrics["auc"].iloc[0]
    assert f"AUC {auc:.3f}" in note and "out of time" in note
    chart = views.calibration_chart(model.early_warning)
    assert "Calibration" in chart.opts.get().kwargs["title"]
    bars = views.score_distribution_chart(model.watchlist)
    assert bars.dframe()["customers"].sum() == len(model.watchlist)
    table = views.watchlist_table(model.watchlist)
    assert list(table["Customer"]) == list(model.watchlist["customer_id"])
    assert np.allclose(table["Score %"], (model.watchlist["score"] * 100).round(1))


def test_dashboard_computes_it_when_its_tab_opens():
    from dashboard.ui.app import Dashboard

    handed = CollectionsModel(source=DEMO)
    dashboard = Dashboard(model=handed)
    dashboard.tabs()
    assert handed.watchlist is None or handed.watchlist.empty
    dashboard.open_tab("Early warning")
    assert dashboard.active_tab == "Early warning"
    assert handed.watchlist is not None and len(handed.watchlist)
    tab = next(t for t in dashboard.tabs_shown if t.name == "Early warning")
    table = next(p for p in tab.parts if getattr(p, "name", "") == "watchlist")
    dashboard._refresh_table(table)
    first = str(dashboard.tables["watchlist"].value["Customer"].iloc[0])
    dashboard._open_row(table, 0)
    assert handed.customer == first and dashboard.active_tab == "Customer"


def test_a_book_too_large_to_score_here_says_so(monkeypatch):
    monkeypatch.setattr(loader, "SCORE_MAX_CUSTOMERS", 10)
    model = CollectionsModel(source=DEMO)
    model.live_outputs = [*model.live_outputs, *ON_DEMAND]
    assert "not computed in the dashboard" in model.early_warning["message"]
    assert model.watchlist.empty
    assert "not computed in the dashboard" in views.evaluation_note(model.early_warning)
    assert views.watchlist_table(model.watchlist).empty
