"""The seams of the package: the catalogues, the declared outputs and the Source interface.

A metric, a KPI, an output, a chart, a tab or a data backend is declared once; these tests
check that every consumer (the model, the served dashboard, the static export, the PNG
figures, the caches) follows the declaration.
"""

from __future__ import annotations

import hashlib

import holoviews as hv
import pandas as pd
import panel as pn
import param
import pytest

from dashboard import loader
from dashboard.catalog import KPIS, METRICS
from dashboard.export import EXPORT_METRICS, FIGURES, StaticDashboard
from dashboard.model import ON_DEMAND, OUTPUT, OUTPUT_NAMES, OUTPUTS, CollectionsModel
from dashboard.schema import tables_from_frames
from dashboard.sources import DEFAULT_SOURCE, RawTables, Source, open_source, read_source
from dashboard.ui.app import Dashboard
from dashboard.ui.charts import bills as bill_views
from dashboard.ui.tabs import TABS, Chart, Tab, Table


@pytest.fixture(scope="module")
def model() -> CollectionsModel:
    return CollectionsModel(source=str(DEFAULT_SOURCE))


def test_every_metric_is_offered_labelled_and_computed(model):
    labels = {metric.label: metric.name for metric in METRICS}
    assert model.param.metric.objects == labels
    assert EXPORT_METRICS == labels
    for metric in METRICS:
        assert metric.name in model.monthly.columns and metric.name in model.by_segment.columns
        if metric.is_rate:
            assert metric.denominator in model.monthly.columns
        chart = bill_views.monthly_trend(model.monthly, metric.name, model.as_of_date, "all")
        assert metric.label in hv.render(chart).yaxis[0].axis_label
    figures = [m.figure for m in METRICS if m.figure]
    assert figures == list(FIGURES[: len(figures)])  # the metric figures lead the board pack


def test_every_kpi_has_its_threshold_parameter_and_a_gauge(model):
    board = Dashboard(model=model)
    for kpi in KPIS:
        assert getattr(model, kpi.threshold_param) == kpi.thresholds
        assert kpi.name in model.kpis
        assert board.gauges[kpi.name].label.startswith(kpi.label)


def test_each_output_is_declared_once_and_is_a_documented_parameter(model):
    assert len(OUTPUT_NAMES) == len(set(OUTPUT_NAMES)) == len(OUTPUTS)
    for output in OUTPUTS:
        parameter = model.param[output.name]
        assert output.doc in parameter.doc
        assert all(name in model.param for name in output.inputs), output.name
        ahead = OUTPUT_NAMES[: OUTPUT_NAMES.index(output.name)]
        assert all(i in ahead for i in output.inputs if i in OUTPUT), output.name
    assert set(model.live_outputs) == set(OUTPUT_NAMES) - set(ON_DEMAND)  # the score: asked for


def test_an_output_computed_from_another_is_kept_live_with_it():
    lazy = CollectionsModel(source=str(DEFAULT_SOURCE), live_outputs=["arrears_monthly"])
    assert lazy.needed_outputs == {"ageing", "arrears_monthly"}
    fresh = CollectionsModel(source=str(DEFAULT_SOURCE))
    lazy.region = fresh.region = [lazy.param.region.objects[0]]
    pd.testing.assert_frame_equal(lazy.arrears_monthly, fresh.arrears_monthly)
    pd.testing.assert_frame_equal(lazy.ageing, fresh.ageing)


def _extra_tab() -> Tab:
    """A tab that is not in the catalogue: a chart of an existing output and a table."""

    def draw(model):
        frame = model.monthly
        return hv.Curve((frame["month"], frame["counted_bills"]), "month", "bills").opts(
            title=f"Bills counted by month · {model.describe_selection()}"
        )

    return Tab(
        "Extra",
        (
            Chart("extra_chart", ("monthly",), draw),
            Table("extra_table", ("actions_by_type",), lambda m: m.actions_by_type.copy()),
        ),
    )


def test_a_new_tab_is_drawn_by_the_served_dashboard():
    extra = _extra_tab()
    board = Dashboard(tabs_shown=[*TABS, extra])
    tabs = board.tabs()
    assert "Extra" in [name for name, _ in zip(tabs._names, tabs.objects, strict=True)]
    shown = ["monthly", "actions_by_type", "kpis", "headline"]  # + the headline tiles
    assert board.outputs_by_tab()["Extra"] == shown
    board.active_tab = "Extra"
    assert set(board.model.live_outputs) == set(shown)
    drawn = tabs.objects[-1].select(pn.pane.HoloViews)
    assert len(drawn) == 1
    assert drawn[0].object[()].opts.get().kwargs["title"].startswith("Bills counted by month")
    shown = board.tables["extra_table"].value
    pd.testing.assert_frame_equal(shown, board.model.actions_by_type)


def test_a_new_tab_is_drawn_by_the_static_export_and_the_model_is_left_alone(model):
    state = dict(model.param.values())
    extra = _extra_tab()
    with param.logging_level("ERROR"):
        page = StaticDashboard(model, segments=("region", "tariff"), tabs=[*TABS, extra])
    assert {"extra_chart", "extra_table"} <= set(page.ledger_views)
    headings = [pane.object for pane in page.layout().select(pn.pane.Markdown)]
    assert "## Extra" in headings
    page.segment.value = "tariff"
    page.period.value = list(page.presets)[1]
    after = dict(model.param.values())
    for name, value in state.items():
        if isinstance(value, pd.DataFrame):
            assert after[name] is value, name
        else:
            assert after[name] == value, name


class FrameSource(Source):
    """A backend that is not a file: tables held in memory (what a database source is to
    the rest of the package)."""

    kind = "frames"

    def __init__(self, frames: dict[str, pd.DataFrame], **params):
        super().__init__(**params)
        self._frames = frames

    def tables(self) -> RawTables:
        return tables_from_frames(self._frames, source=self.describe())

    def signature(self) -> str:
        digest = hashlib.blake2b(digest_size=16)
        for name, frame in sorted(self._frames.items()):
            digest.update(name.encode())
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()

    def describe(self) -> str:
        return f"{len(self._frames)} frames in memory"

    def spec(self) -> str:
        return self.describe()


def test_a_new_backend_is_one_source_subclass(model):
    raw = read_source(DEFAULT_SOURCE)
    frames = {name: raw.frames[name].copy() for name in raw.frames}
    source = FrameSource(frames)
    assert open_source(source) is source
    cube = loader.load_cube(source, persistent=False)
    from_files = loader.load_cube(DEFAULT_SOURCE, persistent=False)
    pd.testing.assert_frame_equal(cube.bills, from_files.bills)
    in_memory = CollectionsModel(source=source)
    pd.testing.assert_frame_equal(in_memory.monthly, model.monthly)
    pd.testing.assert_frame_equal(in_memory.worklist, model.worklist)
    fewer = FrameSource({**frames, "payments": frames["payments"].iloc[:-1]})
    assert fewer.signature() != source.signature()  # other data, other cubes
