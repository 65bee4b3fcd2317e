"""Charts updated in place (dashboard.live) and outputs computed only when live (the model)."""

from __future__ import annotations

from types import SimpleNamespace

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import pytest
from bokeh.document import Document
from bokeh.models import ColumnDataSource, HoverTool, LegendItem, Plot, Title

from dashboard.catalog import METRIC
from dashboard.model import ON_DEMAND, OUTPUT_NAMES, CollectionsModel
from dashboard.ui import style
from dashboard.ui.app import Dashboard
from dashboard.ui.charts import bills as bill_views
from dashboard.ui.live import LiveChart, _format_of, layout_signature
from dashboard.ui.tabs import TABS
from dashboard.ui.tabs import Chart as CatalogChart

hv.extension("bokeh")


class Inputs(param.Parameterized):
    frame = param.DataFrame(default=None, doc="Data of the test chart.")
    label = param.String(default="first", doc="Title of the test chart.")
    tab = param.String(default="A", doc="The open tab.")


def bars(frame: pd.DataFrame, label: str = "chart"):
    if frame.empty:
        return style.no_data()
    return hv.Bars(frame, "segment", "value").opts(title=label)


def frame(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"segment": list(values), "value": list(values.values())})


def drawn(chart: LiveChart) -> tuple[object, Document]:
    """Render a chart into a fresh document; return its root and the document."""
    document = Document()
    root = pn.panel(chart).get_root(document)
    document.add_root(root)
    return root, document


def plot_ids(document: Document) -> set[str]:
    return {model.id for model in document.select({"type": Plot})}


def figure_titles(document: Document) -> list[str]:
    return sorted(t.text for t in document.select({"type": Title}) if t.text)


def bar_values(document: Document) -> list[list[float]]:
    return [
        list(source.data["value"])
        for source in document.select({"type": ColumnDataSource})
        if "value" in source.data
    ]


def test_same_shape_same_signature_other_shape_other_signature():
    first = hv.Bars(frame({"a": 1, "b": 2}), "segment", "value")
    same = hv.Bars(frame({"a": 5, "b": 7}), "segment", "value").opts(title="other title")
    other_factors = hv.Bars(frame({"a": 1, "c": 2}), "segment", "value")
    other_format = hv.Bars(frame({"a": 1, "b": 2}), "segment", "value").opts(yformatter="%.1f")
    assert layout_signature(first) == layout_signature(same)
    assert layout_signature(first) != layout_signature(other_factors)
    # one figure takes each frame's tick formats; a layout's figures do not
    assert layout_signature(first) == layout_signature(other_format)
    assert layout_signature(first + same) != layout_signature(first + other_format)
    assert layout_signature(first * hv.VSpan(1, 2)) == layout_signature(
        first * hv.VSpan(np.nan, np.nan)
    )  # an annotation's positions are no axis factors
    months = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-03-01")
    assert layout_signature(first * style.shaded_months(*months)) == layout_signature(
        first * style.shaded_months(None, None)
    )  # nor are the shaded months'
    assert layout_signature(first) != layout_signature(first * hv.VLine(0.5))
    series = hv.NdOverlay({k: hv.Curve([1, 2]) for k in "ab"})
    assert layout_signature(series) != layout_signature(
        hv.NdOverlay({k: hv.Curve([1, 2]) for k in "abc"})
    )


def test_a_chart_keeps_its_figure_and_gets_new_data_and_title():
    inputs = Inputs(frame=frame({"a": 1, "b": 2}))
    chart = LiveChart(bars, [inputs.param.frame, inputs.param.label])
    _root, document = drawn(chart)
    figures = plot_ids(document)
    assert len(figures) == 1 and figure_titles(document) == ["first"]

    inputs.param.update(frame=frame({"a": 3, "b": 4}), label="second")

    assert plot_ids(document) == figures
    assert figure_titles(document) == ["second"]
    assert bar_values(document) == [[3, 4]]
    assert (chart.redraws, chart.updates) == (1, 2)


def test_a_chart_of_another_shape_or_no_data_is_drawn_anew():
    inputs = Inputs(frame=frame({"a": 1, "b": 2}))
    chart = LiveChart(bars, [inputs.param.frame])
    _root, document = drawn(chart)
    first = plot_ids(document)

    inputs.frame = frame({"a": 1, "c": 5})  # other categories: other axis factors
    second = plot_ids(document)
    assert len(second) == 1 and second != first and bar_values(document) == [[1, 5]]

    inputs.frame = frame({})
    assert not plot_ids(document)
    assert style.NO_DATA in chart.__panel__().objects[1].object

    inputs.frame = frame({"a": 9, "c": 8})
    assert bar_values(document) == [[9, 8]]
    assert (chart.redraws, chart.updates) == (4, 0)


def test_a_hidden_chart_waits_until_shown():
    inputs = Inputs(frame=frame({"a": 1, "b": 2}), tab="B")
    calls = []

    def view(data):
        calls.append(len(data))
        return bars(data, "x")

    chart = LiveChart(view, [inputs.param.frame], shown_while=(inputs.param.tab, "A"))
    inputs.frame = frame({"a": 1, "b": 2, "c": 3})
    inputs.frame = frame({"a": 1})
    assert calls == []

    inputs.tab = "A"
    assert calls == [1]
    _root, document = drawn(chart)
    assert bar_values(document) == [[1]]
    inputs.tab = "B"
    inputs.tab = "A"  # nothing changed meanwhile: no redraw
    assert calls == [1]


def assert_outputs_equal(model: CollectionsModel, other: CollectionsModel) -> None:
    for name in OUTPUT_NAMES:
        if name in ON_DEMAND:
            continue  # the early-warning score: computed when asked for
        mine, theirs = getattr(model, name), getattr(other, name)
        if isinstance(mine, dict) and any(isinstance(v, pd.DataFrame) for v in mine.values()):
            assert mine.keys() == theirs.keys(), name  # the headline: a dict of frames
            for key in mine:
                pd.testing.assert_frame_equal(mine[key], theirs[key], obj=f"{name}[{key}]")
        elif isinstance(mine, dict):
            pd.testing.assert_series_equal(pd.Series(mine), pd.Series(theirs), obj=name)
        else:
            pd.testing.assert_frame_equal(mine, theirs, obj=name)


def test_outputs_not_live_are_computed_when_listed_again():
    model = CollectionsModel(live_outputs=["monthly", "kpis"])
    assert model.monthly is not None and model.tariffs is None and model.worklist is None
    computed = []
    model.param.watch(lambda event: computed.append(event.name), list(OUTPUT_NAMES))

    model.region = [model.param.region.objects[0]]
    assert sorted(computed) == ["kpis", "monthly"]

    model.live_outputs = [name for name in OUTPUT_NAMES if name not in ON_DEMAND]
    assert_outputs_equal(model, CollectionsModel(region=model.region))


@pytest.fixture(scope="module")
def dashboard() -> Dashboard:
    board = Dashboard()
    board.tabs()
    return board


def test_the_open_tab_decides_what_a_filter_change_computes(dashboard):
    model = dashboard.model
    assert dashboard.active_tab == "Debt"
    first_tab = {"kpis", "headline"}  # headline: tiles, bridges, aged debt
    assert set(model.live_outputs) == first_tab
    computed = []
    watcher = model.param.watch(lambda event: computed.append(event.name), list(OUTPUT_NAMES))
    try:
        model.region = [model.param.region.objects[1]]
        assert set(computed) == first_tab

        computed.clear()
        dashboard.active_tab = "Worklist"
        worklist_tab = {"worklist", "queue_counts", "roll_risk", "kpis", "headline"}
        assert set(model.live_outputs) == worklist_tab
        assert set(computed) == {"worklist", "queue_counts"}  # the others did not go stale
        shown = dashboard.tables["worklist"].value
        assert len(shown) == len(model.worklist) > 0
        assert set(shown["Region"]) == set(model.region)
    finally:
        model.param.unwatch(watcher)
        dashboard.active_tab = "Debt"
        model.region = []


def test_a_tab_is_made_when_first_opened_and_a_new_page_computes_its_open_tab_only():
    from dashboard.model import OUTPUT

    board = Dashboard()
    # the open tab's outputs and what they are computed from; nothing of the other tabs
    assert set(board.model.live_outputs) == set(board.outputs_by_tab()["Debt"])
    assert set(OUTPUT_NAMES) - board.model._stale == board.model.needed_outputs
    assert board.model.worklist is None and board.model.forecast is None
    tabs = board.tabs()
    contents = dict(zip([tab.name for tab in board.tabs_shown], tabs.objects, strict=True))
    assert len(contents["Debt"]) > 0
    assert all(len(content) == 0 for name, content in contents.items() if name != "Debt")
    assert "worklist" not in board.tables  # no widget until its tab is made

    board.model.region = [board.model.param.region.objects[0]]  # while the Worklist is unmade
    board.open_tab("Worklist")
    assert board.active_tab == "Worklist" and len(contents["Worklist"]) > 0
    shown = board.tables["worklist"].value
    assert len(shown) == len(board.model.worklist) > 0
    assert set(shown["Region"]) == set(board.model.region)
    counts = board.model.queue_counts  # the queue buttons count the filtered worklist
    assert counts["All"] == len(board.model.worklist)
    (buttons,) = [w for w in contents["Worklist"].select(pn.widgets.RadioButtonGroup)]
    assert list(buttons.options)[0] == f"All ({len(board.model.worklist):,})"
    board.model.region = list(board.model.param.region.objects[:2])  # the open tab follows
    assert board.model.queue_counts["All"] == len(board.model.worklist) > counts["All"]
    assert list(buttons.options)[0] == f"All ({len(board.model.worklist):,})"
    assert len(contents["Arrears"]) == 0
    board.open_tab("Arrears")  # its charts drawn as it is made
    assert contents["Arrears"].select(pn.pane.HoloViews)

    board.model.region = []  # made tabs stay made; a closed one waits until opened again
    assert set(board.tables["worklist"].value["Region"]) == set(
        board.model.param.region.objects[:2]
    )
    assert OUTPUT["worklist"].name not in board.model.live_outputs
    board.open_tab("Worklist")
    assert set(board.tables["worklist"].value["Region"]) == set(board.model.param.region.objects)
    assert len(contents["Arrears"]) > 0


def test_a_dashboard_shown_twice_makes_a_tab_in_both_when_it_is_opened():
    board = Dashboard()
    first, second = board.tabs(), board.tabs()  # a notebook cell shown twice
    names = [tab.name for tab in board.tabs_shown]
    worklist = names.index("Worklist")
    assert not len(first.objects[worklist]) and not len(second.objects[worklist])
    first.active = worklist  # opened in one of them
    assert board.active_tab == "Worklist"
    assert len(first.objects[worklist]) > 0 and len(second.objects[worklist]) > 0


def test_an_opened_tab_reaches_the_page_with_its_content_in_one_update(monkeypatch):
    # the tab's content is made before the tab is drawn: the page gets the tab with its
    # charts in one change of the tabs (one layout in the browser), not an empty tab first
    board = Dashboard()
    tabs = board.tabs()
    document = Document()
    document.add_root(tabs.get_root(document))
    names = [tab.name for tab in board.tabs_shown]
    order = []
    fill, draw = board._fill_open_tab, type(tabs)._get_objects

    def filled():
        fill()
        order.append(("filled", board.active_tab))

    def drawn(self, *args, **kwargs):
        order.append(("tabs drawn", names[self.active]))
        return draw(self, *args, **kwargs)

    monkeypatch.setattr(board, "_fill_open_tab", filled)
    monkeypatch.setattr(type(tabs), "_get_objects", drawn)
    tabs.active = names.index("Arrears")
    assert order == [("filled", "Arrears"), ("tabs drawn", "Arrears")]
    (model,) = tabs._models.values()
    opened = model[0].tabs[tabs.active].child
    assert opened.children and opened.select({"type": Plot})  # drawn with the tab
    assert board.active_tab == "Arrears"


def test_a_tab_whose_content_fails_is_still_opened():
    from dashboard.ui.tabs import TABS, Tab

    failing = Tab("Broken", (CatalogChart("broken", ("monthly",), lambda model: 1 / 0),))
    board = Dashboard(tabs_shown=[TABS[0], failing])
    tabs = board.tabs()
    document = Document()
    document.add_root(tabs.get_root(document))
    with pytest.raises(ZeroDivisionError):
        tabs.active = 1
    (model,) = tabs._models.values()
    opened = model[0].tabs[1].child
    assert opened.tags != ["hidden"]  # the tab's own (empty) content, not the placeholder
    assert board.active_tab == "Broken"


def test_a_table_asked_for_before_its_tab_is_made_is_made_then():
    board = Dashboard(model=CollectionsModel())  # a model handed in: every output live
    worklist = board.tables["worklist"]
    assert len(worklist.value) == len(board.model.worklist) > 0
    assert board.tables["worklist"] is worklist
    with pytest.raises(KeyError):
        board.tables["no such table"]


def test_a_period_set_in_code_moves_the_slider_and_the_slider_moves_the_period():
    board = Dashboard()
    slider = board.period_slider()
    model, months = board.model, board.model.cube.months
    model.period = (months[3].to_pydatetime(), months[9].to_pydatetime())  # a notebook's line
    assert tuple(slider.value) == tuple(slider.value_throttled) == (3, 9)
    with param.edit_constant(slider):  # what a drag ends with in the browser
        slider.param.update(value=(1, 4), value_throttled=(1, 4))
    assert model.month_range == (months[1], months[4])


def test_a_model_handed_to_the_dashboard_stays_fully_live():
    model = CollectionsModel()
    board = Dashboard(model=model)
    board.tabs()
    assert model.live_outputs == [name for name in OUTPUT_NAMES if name not in ON_DEMAND]
    model.region = [model.param.region.objects[0]]
    assert_outputs_equal(model, CollectionsModel(region=model.region))


def test_an_updated_chart_rescales_its_axes_to_the_new_data():
    inputs = Inputs(frame=frame({"a": 1, "b": 2}))
    # the views set shared_axes=False, which alone would freeze the ranges of the first frame
    chart = LiveChart(
        lambda data: (bars(data) * hv.HLine(0)).opts(shared_axes=False), [inputs.param.frame]
    )
    _root, document = drawn(chart)
    inputs.frame = frame({"a": 30, "b": 50})
    (plot,) = document.select({"type": Plot})
    assert chart.updates == 1 and plot.y_range.end >= 50


def test_the_monthly_trend_rescales_to_a_region(dashboard):
    model = dashboard.model
    dashboard.active_tab = "Trends"  # its outputs computed
    chart = LiveChart(
        lambda monthly, metric: bill_views.monthly_trend(monthly, metric, model.as_of_date, "test"),
        [model.param.monthly, model.param.metric],
    )
    _root, document = drawn(chart)
    try:
        model.region = [model.param.region.objects[2]]
        (plot,) = document.select({"type": Plot})
        shown = model.monthly.loc[model.monthly["mature"], "default_rate"]
        assert chart.updates == 1
        assert plot.y_range.start <= shown.min() and shown.max() <= plot.y_range.end
    finally:
        model.region = []
        dashboard.active_tab = "Debt"


@pytest.mark.parametrize(
    "first, then", [("default_rate", "billed"), ("cash_received", "collection_rate")]
)
def test_another_metric_updates_the_trend_in_place_with_its_own_axis_and_hover(first, then):
    """A rate and money share one figure: the ticks, axis label and hover of the frame
    drawn (HoloViews keeps an overlay's first ones: "2500000.0%" on a £ axis)."""
    model = CollectionsModel(metric=first)
    chart = LiveChart(
        lambda monthly, metric: bill_views.monthly_trend(monthly, metric, model.as_of_date, "t"),
        [model.param.monthly, model.param.metric],
    )
    _root, document = drawn(chart)
    model.metric = then
    (plot,) = document.select({"type": Plot})
    assert (chart.redraws, chart.updates) == (1, 1)
    assert _format_of(plot.yaxis[0].formatter) == _format_of(bill_views.value_formatter(then))
    assert plot.yaxis[0].axis_label == METRIC[then].label
    tooltips = [dict(tool.tooltips) for tool in document.select({"type": HoverTool})]
    assert any(METRIC[then].label in t and METRIC[first].label not in t for t in tooltips)
    assert plot.y_range.end >= model.monthly[then].max()


def test_a_legend_lists_only_the_series_drawn_in_each_frame():
    model = CollectionsModel()
    months = model.cube.months
    chart = LiveChart(
        lambda monthly: bill_views.monthly_trend(monthly, "billed", model.as_of_date, "t"),
        [model.param.monthly],
    )
    _root, document = drawn(chart)

    def entries() -> list[str]:
        items = document.select({"type": LegendItem})
        return sorted(item.label.value for item in items if item.visible)

    assert entries() == ["by month", "same month a year before"]
    model.period = (months[-6].to_pydatetime(), months[-1].to_pydatetime())  # no year before
    assert entries() == ["by month"] and chart.updates == 1
    model.period = (months[0].to_pydatetime(), months[-1].to_pydatetime())
    assert entries() == ["by month", "same month a year before"] and chart.updates == 2


@pytest.mark.parametrize(
    ("tab", "names"),
    [
        ("Debt", {"month_bridge", "bridge", "movement_by_month"}),
        ("Trends", {"trend", "segment_trend"}),
    ],
)
def test_every_chart_of_the_debt_and_trends_tabs_is_updated_in_place_by_a_filter_change(
    dashboard, tab, names
):
    """A figure drawn anew costs the server several times an update in place (the load
    test's CPU per change): the charts of the first tab and of *Trends* keep their figures
    when the filters or the period or the metric change (a segmentation changes the series:
    drawn anew)."""
    from dashboard.ui.tabs import TABS, Chart

    model = dashboard.model
    (parts,) = [spec.parts for spec in TABS if spec.name == tab]
    charts = {part.name: dashboard.chart(part) for part in parts if isinstance(part, Chart)}
    assert set(charts) == names
    months, metric = model.period, model.metric
    dashboard.active_tab = tab  # its outputs computed: the tab is open
    try:
        for chart in charts.values():
            drawn(chart)
        model.region = [model.param.region.objects[1]]
        model.period = (model.cube.months[3].to_pydatetime(), months[1])
        model.period = (model.cube.months[-5].to_pydatetime(), months[1])  # no year before
        model.metric = "billed"  # from a rate to £
    finally:
        model.param.update(region=[], period=months, metric=metric)
        dashboard.active_tab = "Debt"
    for name, chart in charts.items():
        assert chart.redraws == 1 and chart.updates >= 3, name


def test_a_failing_chart_does_not_keep_the_others_of_its_change_from_being_drawn():
    from dashboard.ui import live

    inputs = Inputs(frame=frame({"a": 1, "b": 2}))

    def broken(data):
        if data["value"].sum() > 10:
            raise RuntimeError("a view that fails on this selection")
        return bars(data)

    failing = LiveChart(broken, [inputs.param.frame])
    working = LiveChart(lambda data: bars(data, "shown"), [inputs.param.frame])
    _root, document = drawn(pn.Column(failing, working))
    with param.parameterized.discard_events(inputs):  # a served change: drawn on the next tick
        inputs.frame = frame({"a": 30, "b": 50})
    live._PAGES[document] = live._Page({id(failing): failing._redraw, id(working): working._redraw})
    with pytest.raises(RuntimeError, match="fails on this selection"):
        live._update_pending(document)  # the error comes once every chart has been drawn
    assert not live._PAGES[document].pending
    assert working.updates == 1 and [30, 50] in bar_values(document)


@pytest.mark.parametrize("name", [c.name for tab in TABS for c in tab.charts() if c.choice])
def test_a_chart_with_a_choice_draws_the_chosen_measure_and_updates_in_place(dashboard, name):
    """One figure per chart with a choice (the tab's control): switching the measure draws
    the other one, and a filter change updates whichever is shown in place."""
    model = dashboard.model
    (tab,) = [tab for tab in TABS if any(c.name == name for c in tab.charts())]
    (spec,) = [c for c in tab.charts() if c.name == name]
    first, *others = model.param[spec.choice].objects
    dashboard.active_tab = tab.name  # its outputs computed: the tab is open
    chart = dashboard.chart(spec)
    try:
        _, document = drawn(chart)
        titles = [figure_titles(document)]
        for value in others:
            setattr(model, spec.choice, value)
            titles.append(figure_titles(document))
        model.region = [model.param.region.objects[1]]
        in_place = chart.updates
        shown = [" ".join(title.split()) for title in figure_titles(document)]
        assert shown == [chart.title]  # one figure: the filtered, chosen measure
    finally:
        model.region = []
        setattr(model, spec.choice, first)
        dashboard.active_tab = "Debt"
    assert len({tuple(t) for t in titles}) == len(titles) == 1 + len(others)
    assert in_place >= 1, "a filter change updates the shown measure in place"


def heading_text(chart: LiveChart) -> str:
    """The visible heading's words (the screen-reader span removed)."""
    import re

    shown = re.search(r'<span aria-hidden="true">(.*?)</span>', chart._title.object)
    return shown.group(1) if shown else ""


def test_the_title_and_a_long_axis_note_are_page_text_that_wraps():
    """A phone cuts a figure's title and axis label at its edge: the page draws them as
    text above and under the figure, and the figure keeps their text but not drawn."""
    long_note = "month-end · as of 10 Feb 2026; shaded from Nov 2025: payment window still open"
    inputs = Inputs(frame=frame({"a": 1.0, "b": 2.0}), label="A title · that is long enough")
    chart = LiveChart(
        lambda data, label: bars(data, label).opts(xlabel=long_note),
        [inputs.param.frame, inputs.param.label],
    )
    _, document = drawn(chart)
    assert heading_text(chart) == "A title · that is long enough"
    assert 'role="heading"' in chart._title.object
    assert chart._note.visible and "payment window still open" in chart._note.object
    (figure,) = document.select({"type": Plot})
    assert figure.title.text == "A title · that is long enough"  # kept, for who reads it
    assert not figure.title.visible
    assert figure.xaxis[0].axis_label is None
    inputs.label = "Another title"  # in place: the heading follows, the figure stays
    assert heading_text(chart) == "Another title" and chart.updates == 1
    assert not figure.title.visible and figure.xaxis[0].axis_label is None


def test_a_short_axis_label_stays_on_the_axis():
    inputs = Inputs(frame=frame({"a": 1.0}), label="Short")
    chart = LiveChart(
        lambda data, label: bars(data, label).opts(xlabel="month-end"),
        [inputs.param.frame, inputs.param.label],
    )
    _, document = drawn(chart)
    (figure,) = document.select({"type": Plot})
    assert figure.xaxis[0].axis_label == "month-end"
    assert not chart._note.visible


def test_no_data_has_no_heading_and_no_table_toggle_until_figures_return():
    """A note in place of a chart (no data, no customer chosen) has no figures: no "Show as
    table" button under it, and no text alternative pointing at one."""
    inputs = Inputs(frame=frame({}), label="Nothing")
    chart = LiveChart(bars, [inputs.param.frame, inputs.param.label])
    drawn(chart)
    assert chart._title.object == "" and not chart._note.visible
    assert not chart._as_table.visible and not chart._table.visible

    inputs.param.update(frame=frame({"a": 1}), label="Something")
    assert 'role="heading"' in chart._title.object and "Something" in chart._title.object
    assert chart._as_table.visible and chart._table.visible


def test_aged_debt_table_counts_whole_customers_and_blanks_the_first_month():
    from dashboard.ui.charts.headline import aged_debt_table

    model = CollectionsModel()
    table = aged_debt_table(model.headline["aged"])
    change = table["Change in customers"]
    assert all(isinstance(value, int) for value in change)
    first = model.param.period.bounds[0]
    table = aged_debt_table(model.clone(period=(first, first)).headline["aged"])
    assert table["Change in customers"].isna().all()
    assert table["Change since last month £"].isna().all()


def test_every_chart_of_every_tab_is_one_figure():
    """A view returning a Panel column of figures (or a layout) is drawn anew on every
    change, with a toolbar and its titles on the canvas (cut at a phone's edge): each chart
    is one HoloViews object, the customer's two included."""
    from dashboard.ui.tabs import TABS, Chart

    model = CollectionsModel(live_outputs=list(OUTPUT_NAMES))
    model.customer = model.worklist["customer_id"].iloc[0]
    for tab in TABS:
        for part in tab.parts:
            if isinstance(part, Chart):
                drawn = part.draw(model)
                assert isinstance(drawn, hv.core.Dimensioned), (tab.name, part.name, drawn)
                assert not isinstance(drawn, hv.Layout), (tab.name, part.name)


class ServedDocument(Document):
    """A document as a served session has it: a session context, and next-tick callbacks
    that the test runs itself (the event loop's part)."""

    def __init__(self):
        super().__init__()
        request = SimpleNamespace(arguments={}, headers={}, cookies={})
        context = SimpleNamespace(request=request, id="test-session")
        self._session_context = lambda: context  # Bokeh keeps a weak reference
        self.ticks = []

    def add_next_tick_callback(self, callback):
        self.ticks.append(callback)


def test_a_served_page_makes_later_updates_together_on_the_next_tick(monkeypatch):
    from dashboard.ui import live

    document = ServedDocument()
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda _: document))
    made, frozen = [], []

    def update(name):
        return lambda: (made.append(name), frozen.append(document.models._freeze_count > 0))

    live.on_page("chart", update("chart"), later=True)
    live.on_page("tiles", update("tiles"), later=True)
    live.on_page("chart", update("chart again"), later=True)  # one update per owner
    assert len(document.ticks) == 1 and made == []  # the event loop's to make
    document.ticks.pop()()
    assert made == ["chart", "tiles"] and all(frozen)  # one frozen hold: one graph walk

    live.on_page("note", update("note"))  # not later (a tab opened): now
    assert made[-1] == "note" and document.ticks == []
    live.on_page("chart", update("chart in place"), later=True)  # the event loop's to make
    assert len(document.ticks) == 1 and made[-1] == "note"
    document.ticks.pop()()
    assert made[-1] == "chart in place"


def test_a_change_computed_in_a_thread_reaches_the_page_once_computed(monkeypatch):
    # the first outputs' charts do not go out while the thread still computes the others:
    # the page gets the whole change in one tick (one hold, one message, one layout)
    from dashboard.ui import live

    document = ServedDocument()
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda _: document))
    made = []
    live.change_started()
    live.on_page("bridge", lambda: made.append("bridge"), later=True)
    live.on_page("trend", lambda: made.append("trend"), later=True)
    assert document.ticks == [] and made == []  # still computing
    live.change_computed()
    assert len(document.ticks) == 1
    document.ticks.pop()()
    assert made == ["bridge", "trend"]
    live.change_computed()  # a change with nothing to draw asks nothing of the event loop
    assert document.ticks == []


def test_a_change_never_marked_computed_holds_its_updates_back_only_for_a_while(monkeypatch):
    from dashboard.ui import live

    document = ServedDocument()
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda _: document))
    monkeypatch.setattr(live, "CHANGE_BATCH_LIMIT_S", 0.0)
    made = []
    live.change_started()  # its computation failed before change_computed
    live.on_page("chart", lambda: made.append("chart"), later=True)
    assert len(document.ticks) == 1
    document.ticks.pop()()
    assert made == ["chart"]
    live.change_computed()


def test_other_threads_are_not_held_back_by_a_change_in_progress(monkeypatch):
    import threading

    from dashboard.ui import live

    document = ServedDocument()
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda _: document))
    live.change_started()
    try:  # a background score's thread shows its result at once
        worker = threading.Thread(target=live.on_page, args=("score", lambda: None, True))
        worker.start()
        worker.join()
        assert len(document.ticks) == 1
    finally:
        live.change_computed()


@pytest.mark.parametrize(
    ("tab", "change"),
    [
        ("Debt", {"region": "second"}),
        ("Trends", {"region": "second"}),
        ("Trends", {"metric": "billed"}),
        ("Debt", {"period": "last year"}),
        ("Trends", {"period": "last year"}),
        ("Debt", {"tariff": "first", "income_band": "first"}),
    ],
)
def test_every_page_update_of_a_filter_change_comes_in_one_tick_after_it(monkeypatch, tab, change):
    """Charts, header, tiles, gauges, notes and tables of the open tab: nothing reaches the
    page while the change is computed; then one tick makes all of it (an idle event loop
    runs a tick as soon as it is asked: each asked during the change would be a message)."""
    from bokeh.models import Markup

    from dashboard.ui import live

    class IdleEventLoop(ServedDocument):
        def add_next_tick_callback(self, callback):
            callback()

    document = IdleEventLoop()
    board = Dashboard()  # made as a page is, then served
    document.add_root(pn.Column(board.header(), board.tiles, board.tabs()).get_root(document))
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda _: document))
    board.open_tab(tab)
    model = board.model

    def page_text() -> list[str]:
        return sorted(m.text for m in document.select({"type": Markup}) if m.text)

    def page_data() -> list[str]:
        return sorted(
            repr({k: list(v)[:50] for k, v in s.data.items()})
            for s in document.select({"type": ColumnDataSource})
        )

    text, data = page_text(), page_data()
    values = {}
    for name, pick in change.items():
        if name == "period":
            values[name] = (model.cube.months[-12].to_pydatetime(), model.period[1])
        elif name == "metric":
            values[name] = pick
        else:
            objects = model.param[name].objects
            values[name] = [objects[1 if pick == "second" else 0]]
    ticks_made = []
    original = live._update_pending

    def tick(doc):
        ticks_made.append((page_text(), page_data()))  # the page as the tick finds it
        original(doc)

    monkeypatch.setattr(live, "_update_pending", tick)
    model.param.update(**values)
    assert ticks_made == [(text, data)], "one tick for the whole change, nothing before it"
    assert page_text() != text and page_data() != data
    assert board._header.object == board._header_text()


def test_a_served_page_is_made_with_its_tiles_gauges_header_and_tables_filled(monkeypatch):
    # what a page shows first is in the document it is made into, not a tick later
    document = ServedDocument()
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda _: document))
    board = Dashboard()
    document.add_root(pn.Column(board.header(), board.tiles, board.tabs()).get_root(document))
    assert "Total arrears" in board.tiles.object
    assert board._header.object == board._header_text()
    assert all(gauge.value > 0 for gauge in board.gauges.values())
    table = board.tables["aged_debt"]
    assert table.value is not None and len(table.value) > 0


def test_outside_a_served_page_updates_are_made_at_once():
    from dashboard.ui import live

    made = []
    live.on_page("chart", lambda: made.append("chart"))
    assert made == ["chart"]


def test_a_page_warms_what_its_cubes_queries_make_on_first_use_in_the_background():
    import threading
    import time

    from dashboard import loader
    from dashboard.cube.tables import MONTH_RANGE_TABLES

    loader.clear_cache()  # a cube of its own: no other test's queries have used it
    board = Dashboard()
    tables = board.model.cube.arrears
    deadline = time.monotonic() + 60
    while set(tables._running) != set(MONTH_RANGE_TABLES) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(tables._running) == set(MONTH_RANGE_TABLES)  # Effectiveness never opened
    assert "matched" not in board.model.live_outputs and board.model.uplift is None
    assert loader.warm_in_background(board.model.cube) is None  # once per cube
    assert not any(t.name == "warm cube" for t in threading.enumerate())
    for name in MONTH_RANGE_TABLES:  # the warm totals give the sums of a range
        months = np.arange(len(tables.sums[name]))[-4:-1]
        assert np.array_equal(tables.month_total(name, months), tables.sums[name][months].sum(0))


def _walked(document: Document) -> set[str]:
    """The ids of the models reachable from the document's roots (Bokeh's own walk)."""
    return {model.id for root in document.roots for model in root.references()}


def counted_walks(document: Document) -> list[int]:
    """A list that gets a 1 each time Bokeh walks ``document``'s model graph from now on."""
    walks: list[int] = []
    recompute = document.models.recompute
    document.models.recompute = lambda: (walks.append(1), recompute())[1]
    return walks


def _figure_page():
    from bokeh.plotting import figure

    document = Document()
    plot = figure(title="before")
    source = ColumnDataSource({"x": [1, 2], "y": [3, 4]})
    plot.line("x", "y", source=source)
    document.add_root(plot)
    return document, plot, source, counted_walks(document)


def test_a_frozen_page_whose_models_stay_the_same_is_not_walked_again():
    # an in-place update: new column data, title and range; no model enters or leaves
    from dashboard.ui.live import models_frozen

    document, plot, source, walks = _figure_page()
    with models_frozen(document):
        source.data = {"x": [1, 2, 3], "y": [5, 6, 7]}
        plot.title.text = "after"
        plot.x_range.start = 0
        with document.models.freeze():  # HoloViews freezes around each plot update
            plot.y_range.end = 9
    assert walks == []
    assert {m.id for m in document.models} == _walked(document)
    assert document.models._freeze_count == 0
    assert "invalidate" not in vars(document.models)  # Bokeh's own again
    source.data = {"x": [1], "y": [1]}
    plot.title = Title(text="a new model, unfrozen")  # Bokeh walks as it always does
    assert walks == [1] and plot.title.id in {m.id for m in document.models}


def test_a_legend_taken_out_and_put_back_leaves_the_page_unwalked():
    # what HoloViews does to a legend under the plot on every update: the same models
    from bokeh.models import Legend
    from bokeh.models import LegendItem as Item

    from dashboard.ui.live import models_frozen

    document, plot, _source, walks = _figure_page()
    item = Item(label="a", renderers=list(plot.renderers))
    legend = Legend(items=[item])
    plot.add_layout(legend, "below")
    walks.clear()
    with models_frozen(document):
        plot.below.remove(legend)
        plot.add_layout(legend, "below")
        legend.items[:] = [item]
    assert walks == []
    with models_frozen(document):  # put back with a new item: walked
        plot.below.remove(legend)
        legend.items[:] = [Item(label="b", renderers=list(plot.renderers))]
        plot.add_layout(legend, "below")
    assert walks == [1]
    assert {m.id for m in document.models} == _walked(document)
    with models_frozen(document):  # taken out for good: walked
        plot.below.remove(legend)
    assert walks == [1, 1] and legend.id not in {m.id for m in document.models}


@pytest.mark.parametrize("change", ["model given", "model taken away", "root added"])
def test_a_frozen_page_whose_models_change_is_walked_once_on_leaving(change):
    from bokeh.models import Div

    from dashboard.ui.live import models_frozen

    document, plot, source, walks = _figure_page()
    hover = HoverTool()
    div = Div(text="new root")
    with models_frozen(document):
        with document.models.freeze():
            if change == "model given":
                plot.add_tools(hover)
            elif change == "model taken away":
                plot.renderers = []
            else:
                document.add_root(div)
        source.data = {"x": [1], "y": [2]}
        assert walks == []  # not before leaving
    assert walks == [1]
    ids = {m.id for m in document.models}
    assert ids == _walked(document)
    if change == "model given":
        assert hover.id in ids
    elif change == "model taken away":
        assert source.id not in ids
    else:
        assert div.id in ids


def test_a_frozen_page_is_unfrozen_after_an_error():
    from dashboard.ui.live import models_frozen

    document, plot, _source, walks = _figure_page()
    with pytest.raises(RuntimeError), models_frozen(document):
        plot.title = Title(text="given before the error")
        raise RuntimeError("a chart failed")
    assert walks == [1] and document.models._freeze_count == 0
    assert "invalidate" not in vars(document.models)
    assert plot.title.id in {m.id for m in document.models}


def test_a_chart_updated_in_place_on_a_served_page_leaves_its_models_known(monkeypatch):
    # the real update: HoloViews sets new data into the drawn figure in the event loop's
    # tick; the page's known models are still exactly those reachable from its roots
    document = ServedDocument()
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda _: document))
    inputs = Inputs(frame=frame({"a": 1.0, "b": 2.0}))
    chart = LiveChart(bars, [inputs.param.frame, inputs.param.label])
    pn.Column(chart).server_doc(document)
    walks = counted_walks(document)
    inputs.frame = frame({"a": 3.0, "b": 5.0})
    document.ticks.pop()()
    assert chart.updates == 1 and walks == []
    assert {m.id for m in document.models} == _walked(document)
    inputs.frame = frame({"a": 1.0, "c": 2.0})  # other categories: drawn anew
    document.ticks.pop()()
    assert chart.redraws == 2 and walks == [1]
    assert {m.id for m in document.models} == _walked(document)


def test_shaded_months_move_without_new_models(monkeypatch):
    # the immature months' shading: its months change with the period, the page's models
    # do not (a VSpan got new models on every update: a walk of the page each change)
    document = ServedDocument()
    monkeypatch.setattr(type(pn.state), "curdoc", property(lambda _: document))
    months = pd.date_range("2024-01-01", periods=12, freq="MS")

    def trend(last: int, label: str):
        curve = hv.Curve((months[: last + 1], np.arange(last + 1.0)), "month", "rate")
        first = months[last - 2] if last > 6 else None
        return (curve * style.shaded_months(first, months[last])).opts(title=label)

    class Period(param.Parameterized):
        last = param.Integer(default=8, doc="The last month shown.")
        label = param.String(default="t", doc="Title.")

    period = Period()
    chart = LiveChart(trend, [period.param.last, period.param.label])
    pn.Column(chart).server_doc(document)
    walks = counted_walks(document)
    for last in (10, 5, 11):  # shaded, none shaded, shaded again
        period.last = last
        document.ticks.pop()()
    assert chart.updates == 3 and chart.redraws == 1 and walks == []
    assert {m.id for m in document.models} == _walked(document)
