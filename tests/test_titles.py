"""Chart titles fit a phone: a long title is drawn on several lines (``wrap_title``), and
``chart_title`` (screen-reader text, tests) still reads it back as written."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import pytest
from bokeh.models import Title

from dashboard.catalog import METRIC
from dashboard.model import CollectionsModel
from dashboard.ui.live import chart_title
from dashboard.ui.style import TITLE_WIDTH, chart_options, wrap_title
from dashboard.ui.tabs import TABS, Chart

hv.extension("bokeh")

SELECTION = (
    "Jan 2022 – Feb 2026 · Region: Reading, Slough, Thames Valley · Tariff: Metered, "
    "Standard · Vulnerable: yes"
)


# --- wrap_title --------------------------------------------------------------------------


def test_a_short_title_is_unchanged():
    assert wrap_title("Debt movement, Jan 2026") == "Debt movement, Jan 2026"
    assert wrap_title("x" * TITLE_WIDTH) == "x" * TITLE_WIDTH
    assert wrap_title("") == ""


def test_a_title_breaks_after_the_separators():
    title = f"Default rate by month · {SELECTION}"
    assert wrap_title(title, 44) == (
        "Default rate by month ·\n"
        "Jan 2022 – Feb 2026 ·\n"
        "Region: Reading, Slough, Thames Valley ·\n"
        "Tariff: Metered, Standard · Vulnerable: yes"
    )


def test_a_title_without_separators_breaks_at_spaces():
    title = "Calibration out of time: predicted (mean score per decile) against observed"
    assert wrap_title(title, 30) == (
        "Calibration out of time:\npredicted (mean score per\ndecile) against observed"
    )


def test_a_separator_too_early_in_the_line_is_passed_over():
    # ending the first line after "Arrears ·" would leave most of it empty
    assert wrap_title("Arrears · by days past due at each month-end", 30) == (
        "Arrears · by days past due at\neach month-end"
    )


def test_no_line_starts_with_a_lone_symbol_or_a_number():
    for width in range(12, 60):
        for text in (
            f"Change in arrears by month (fell due − cash − written off ± other) · {SELECTION}",
            f"Arrears £: the last 12 month-ends and the next 6 · {SELECTION}",
        ):
            for line in wrap_title(text, width).split("\n")[1:]:
                first = line.split(" ", 1)[0]
                assert any(c.isalpha() for c in first), (width, line)


@pytest.mark.parametrize("width", [20, 30, 44, 60])
def test_no_line_is_longer_than_the_width(width):
    text = f"Arrears £ by days past due at each month-end (each unpaid bill) · {SELECTION}"
    assert max(map(len, wrap_title(text, width).split("\n"))) <= width


def test_a_word_longer_than_the_width_gets_its_own_line():
    assert wrap_title("Roll rates · supercalifragilisticexpialidocious words", 12) == (
        "Roll rates ·\nsupercalifragilisticexpialidocious\nwords"
    )
    assert wrap_title("a" * 50, 10) == "a" * 50


@pytest.mark.parametrize("width", [8, 15, 30, 44])
@pytest.mark.parametrize(
    "text",
    [
        f"Default rate by month · {SELECTION}",
        "Reaching 90+ days past due in the month, of those under 91 days a month before",
        "Customer C100001: balance owed by day (£; below 0 = in credit)",
        "two  spaces ·  and a trailing space ",
        "  leading spaces and · · double separators · ·",
    ],
)
def test_the_title_is_recoverable_exactly(text, width):
    wrapped = wrap_title(text, width)
    assert wrapped.replace("\n", " ") == text
    assert len(wrapped) == len(text)


def test_a_title_already_on_several_lines_is_left_alone():
    assert wrap_title("first line\nsecond line " + "x " * 40) == "first line\nsecond line " + (
        "x " * 40
    )


def test_chart_options_wraps_its_title():
    options = chart_options(title=f"Default rate by month · {SELECTION}", ylabel="rate")
    assert "\n" in options["title"] and options["ylabel"] == "rate"
    assert options["title"].replace("\n", " ") == f"Default rate by month · {SELECTION}"
    assert "title" not in chart_options(ylabel="rate")


# --- the views ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def filtered():
    """A model whose selection is long: three regions, two tariffs, vulnerable only."""
    model = CollectionsModel()
    model.region = list(model.param.region.objects[:3])
    model.tariff = list(model.param.tariff.objects[:2])
    model.is_vulnerable = [1]
    assert len(model.describe_selection()) > 100
    return model


def drawn_titles(obj) -> list[str]:
    """The text of every title of the Bokeh figures a view's result is drawn as."""
    if isinstance(obj, pn.viewable.Viewable):
        parts = [pane.object for pane in obj.select(pn.pane.HoloViews)]
    else:
        parts = [obj]
    texts = []
    for part in parts:
        texts += [t.text for t in hv.render(part).select({"type": Title}) if t.text]
    return texts


def test_every_chart_title_fits_a_phone_and_reads_back_as_written(filtered):
    selection = filtered.describe_selection()
    charts = [part for tab in TABS for part in tab.parts if isinstance(part, Chart)]
    checked = 0
    for chart in charts:
        result = chart.draw(filtered)
        titles = drawn_titles(result)
        if not titles:  # "no data" panes
            continue
        checked += 1
        for title in titles:
            for line in title.split("\n"):
                assert len(line) <= TITLE_WIDTH, (chart.name, line)
        spoken = chart_title(result)
        assert "\n" not in spoken
        assert spoken == "; ".join(t.replace("\n", " ") for t in titles), chart.name
        if any("\n" in t for t in titles) and chart.name not in ("bridge", "month_bridge"):
            assert selection.split(" · ")[-1] in spoken, chart.name
    assert checked >= 20


def test_the_trend_title_reads_back_exactly(filtered):
    from dashboard.ui.charts import bills as bill_views

    selection = filtered.describe_selection()
    plot = bill_views.monthly_trend(
        filtered.monthly, filtered.metric, filtered.as_of_date, selection
    )
    original = f"{METRIC[filtered.metric].label} by month · {selection}"
    (title,) = drawn_titles(plot)
    assert title == wrap_title(original) and title.count("\n") >= 3
    assert chart_title(plot) == original


def test_a_customer_title_reads_back_exactly():
    from dashboard.ui.charts import customer as customer_views

    model = CollectionsModel()
    model.customer = model.worklist["customer_id"].iloc[0]
    chart = customer_views.balance_chart(model.customer_view)
    expected = f"Customer {model.customer}: balance owed by day (£; below 0 = in credit)"
    assert chart_title(chart) == expected
    for title in drawn_titles(chart):
        assert max(len(line) for line in title.split("\n")) <= TITLE_WIDTH
