"""``Dashboard``: controls and views around a :class:`CollectionsModel`.

The same object shows inline in a notebook (``Dashboard()`` as the last expression),
inside a template when served (``panel serve dashboard/app.py`` or
``collections-dashboard serve``), and as a plain layout in the static HTML export.
"""

from __future__ import annotations

import html
import io
import os
from pathlib import Path

import panel as pn
import param
from panel.theme.fast import Fast

from dashboard import SourceError, views
from dashboard import arrears_views as aviews
from dashboard.live import LiveChart, WhenShown
from dashboard.loader import SOURCE_ENV
from dashboard.model import KPI_LABELS, KPIS, OUTPUTS, CollectionsModel
from dashboard.vocab import DIMENSION_LABELS, DIMENSIONS

TITLE = "Portfolio Collections Dashboard"
URL_PARAMS = (
    "metric",
    "segment_by",
    "period",
    *DIMENSIONS,
    "include_immature",
    "before",
    "after",
    "tolerance",
    "as_of",
    "bucket_edges",
    "ageing_measure",
    "transition_measure",
    "queue",
)
"""Model parameters kept in the query string, so a view can be shared as a link."""

ALWAYS_SHOWN = {"kpis"}
"""Model outputs shown whatever the open tab (the header and the KPI gauges)."""

# FastListTemplate asks Google for a font: the one request that leaves the machine.
# Dropping it keeps the served page fully offline (see PANEL_NOTES.md).
Fast._resources = {k: v for k, v in Fast._resources.items() if k != "font"}


class Dashboard(pn.viewable.Viewer):
    """The collections dashboard: filters on the left, KPIs and charts on the right.

    Parameters
    ----------
    model : CollectionsModel, optional
        The state to show; built on the demo data (or ``$COLLECTIONS_SOURCE``) if absent.
        A model built here computes only the open tab's outputs on each change; a model
        passed in keeps its ``live_outputs`` (all by default), so code that reads it next
        to the dashboard never sees a stale frame.
    """

    model = param.ClassSelector(class_=CollectionsModel, doc="State and data of the dashboard.")
    active_tab = param.String(
        default="Trends", doc="The open tab: only its charts are drawn and redrawn."
    )

    def __init__(self, **params):
        # A model of its own computes only the open tab's outputs (a served page); a model
        # handed in (a notebook's) keeps every output up to date for the code around it.
        self._owns_model = params.get("model") is None
        if self._owns_model:
            params["model"] = CollectionsModel(**_source_param())
        super().__init__(**params)
        self._gauges = {kpi: views.kpi_gauge(kpi) for kpi in KPIS}
        self._table = views.figures_tabulator(None, height=330)
        self._download = pn.widgets.FileDownload(
            callback=self._figures_csv,
            filename="collections_figures.csv",
            label="Download CSV",
            button_type="primary",
            width=160,
        )
        self._worklist = pn.widgets.Tabulator(
            None,
            pagination="remote",
            page_size=25,
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            height=720,
        )
        self._worklist_download = pn.widgets.FileDownload(
            callback=self._worklist_csv,
            filename="collections_worklist.csv",
            label="Download worklist CSV",
            button_type="primary",
            width=220,
        )
        self._tariffs = pn.widgets.Tabulator(
            None, disabled=True, show_index=False, sizing_mode="stretch_width"
        )
        self._effect_table = pn.widgets.Tabulator(
            None,
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            pagination="local",
            page_size=16,
        )
        self.model.param.watch(self._refresh_gauges, ["kpis", *_threshold_params()])
        self._tab_outputs: dict[str, set[str]] = {}  # tab -> model outputs it shows
        # first the model computes the open tab's outputs, then tables and charts draw them
        self.param.watch(self._follow_open_tab, ["active_tab"])
        self._refresh_gauges()
        # each table is filled now and refreshed on changes; once placed in a tab, only
        # while that tab is open (see _in_tab)
        self._table_updates = {
            refresh: WhenShown(refresh, [self.model.param[output]])
            for refresh, output in (
                (self._refresh_table, "by_segment"),
                (self._refresh_worklist, "worklist"),
                (self._refresh_tariffs, "tariffs"),
                (self._refresh_effect_table, "effectiveness_by_segment"),
            )
        }

    # --- controls -----------------------------------------------------------------------

    def period_slider(self) -> pn.widgets.DateRangeSlider:
        """The month-range slider (served app and notebook)."""
        return pn.widgets.DateRangeSlider.from_param(
            self.model.param.period, name="Bill months", format="%b %Y", step=1
        )

    def main_controls(self) -> list:
        """Metric and segmentation: the controls that change what is drawn."""
        model = self.model
        return [
            pn.widgets.RadioBoxGroup.from_param(model.param.metric, name="Metric", inline=False),
            pn.widgets.Select.from_param(model.param.segment_by, name="Segment by"),
        ]

    def filter_controls(self) -> list:
        """One multi-select per customer dimension (empty selects everything)."""
        widgets = []
        for dim in DIMENSIONS:
            values = self.model.param[dim].objects
            # Choices.js renders option labels as HTML: labels from the data are escaped.
            labels = [html.escape(label) for label in views.segment_labels(dim, values)]
            options = dict(zip(labels, values, strict=True))
            widgets.append(
                pn.widgets.MultiChoice.from_param(
                    self.model.param[dim],
                    name=DIMENSION_LABELS[dim],
                    options=options,
                    placeholder="All",
                    solid=False,
                )
            )
        return widgets

    def advanced_controls(self) -> pn.Card:
        """Window, tolerance, maturity, as-of date and KPI thresholds (collapsed)."""
        model = self.model
        thresholds = [
            pn.widgets.RangeSlider.from_param(
                model.param[f"{kpi}_thresholds"],
                name=f"{KPI_LABELS[kpi]} thresholds",
                step=0.01,
                format="0%",
            )
            for kpi in KPIS
        ]
        return pn.Card(
            pn.widgets.IntSlider.from_param(model.param.before, name="Window: days before due"),
            pn.widgets.IntSlider.from_param(model.param.after, name="Window: days after due"),
            pn.widgets.FloatInput.from_param(model.param.tolerance, name="Tolerance (£)"),
            pn.widgets.Checkbox.from_param(
                model.param.include_immature, name="Include bills whose window is still open"
            ),
            pn.widgets.DatePicker.from_param(
                model.param.as_of, name="As of (empty: latest payment)"
            ),
            pn.widgets.TextInput.from_param(
                model.param.bucket_edges, name="Days-past-due bucket edges"
            ),
            *thresholds,
            title="Advanced",
            collapsed=True,
            sizing_mode="stretch_width",
        )

    def controls(self) -> pn.Column:
        """Every control, for the sidebar or a notebook."""
        return pn.Column(
            *self.main_controls(),
            self.period_slider(),
            pn.pane.Markdown("**Filters** (empty = all)", margin=(10, 5, 0, 5)),
            *self.filter_controls(),
            self.advanced_controls(),
            sizing_mode="stretch_width",
        )

    # --- views --------------------------------------------------------------------------

    def header(self) -> pn.pane.Markdown:
        """What is shown: source, as-of date, window and counting rule."""
        return pn.pane.Markdown(
            pn.bind(self._header_text, self.model.param.kpis), sizing_mode="stretch_width"
        )

    def kpi_row(self) -> pn.FlexBox:
        """The four KPI gauges with green/amber/red bands."""
        return pn.FlexBox(*self._gauges.values(), justify_content="space-evenly")

    def trend(self) -> pn.viewable.Viewable:
        """Monthly trend of the chosen metric."""
        return self._bound(views.monthly_trend, "monthly", "metric")

    def segment_trend(self) -> pn.viewable.Viewable:
        """Monthly trend split by the chosen segment."""
        return self._bound(views.segment_trend, "monthly_by_segment", "metric")

    def segment_bars(self) -> pn.viewable.Viewable:
        """The chosen metric per segment value."""
        return self._bound(views.segment_bars, "by_segment", "metric")

    def actions_distribution(self) -> pn.viewable.Viewable:
        """Collections actions by type."""
        return self._bound(views.actions_distribution, "actions_by_type")

    def actions_volume(self) -> pn.viewable.Viewable:
        """Monthly volume of collections actions by type."""
        return self._bound(views.actions_volume, "actions_monthly")

    def table(self) -> pn.Column:
        """Aggregated figures per segment value, with CSV download."""
        self._in_tab(self._refresh_table)
        return pn.Column(self._table, self._download, sizing_mode="stretch_width")

    def arrears_tab(self) -> pn.Column:
        """How much is owed and how old it is: aged arrears, share, average, by segment."""
        model = self.model
        return pn.Column(
            pn.widgets.RadioButtonGroup.from_param(model.param.ageing_measure, name=""),
            self._view(
                lambda frame, measure: aviews.ageing_chart(
                    frame, measure, model.as_of_date, model.describe_selection()
                ),
                "ageing",
                "ageing_measure",
            ),
            self._view(
                lambda frame: aviews.arrears_share_chart(frame, model.describe_selection()),
                "arrears_monthly",
            ),
            self._view(
                lambda frame: aviews.arrears_by_segment_chart(
                    frame, model.segment_by, self._categories(), model.describe_selection()
                ),
                "ageing_by_segment",
            ),
            sizing_mode="stretch_width",
        )

    def roll_tab(self) -> pn.Column:
        """Whether arrears roll forward or cure: transition matrix and rate trends."""
        model = self.model
        return pn.Column(
            pn.widgets.RadioButtonGroup.from_param(model.param.transition_measure, name=""),
            self._view(
                lambda frame, measure: aviews.transition_heatmap(
                    frame, measure, model.describe_selection()
                ),
                "transitions",
                "transition_measure",
            ),
            self._view(
                lambda frame: aviews.roll_rate_chart(
                    frame, model.cube.arrears.bucket_labels, model.describe_selection()
                ),
                "roll",
            ),
            sizing_mode="stretch_width",
        )

    def cohorts_tab(self) -> pn.Column:
        """Which cohorts are worse: vintage curves and arrears-entry cures."""
        model = self.model
        vintage = [
            self._view(
                lambda frame, measure=measure: aviews.vintage_chart(
                    frame, measure, f"all months · {model.describe_filters()}"
                ),
                "vintage",
            )
            for measure in ("default_rate", "arrears_share")
        ]
        entries = self._view(
            lambda frame: aviews.entry_cohort_heatmap(frame, model.describe_selection()),
            "entries",
        )
        return pn.Column(*vintage, entries, sizing_mode="stretch_width")

    def effectiveness_tab(self) -> pn.Column:
        """Which actions work: outcomes by action (vulnerable apart), funnel, by segment."""
        model = self.model
        self._in_tab(self._refresh_effect_table)
        return pn.Column(
            self._view(
                lambda frame: aviews.effectiveness_chart(
                    frame,
                    "is_vulnerable",
                    model.cube.segments["is_vulnerable"].cat.categories,
                    model.describe_selection(),
                ),
                "effectiveness",
            ),
            self._view(
                lambda frame: aviews.funnel_chart(frame, model.describe_selection()), "funnel"
            ),
            pn.pane.Markdown("**Outcomes by action and segment** (the *Segment by* choice)"),
            self._effect_table,
            sizing_mode="stretch_width",
        )

    def worklist_tab(self) -> pn.Column:
        """Whom to call today: customers in arrears now, most urgent first."""
        model = self.model
        self._in_tab(self._refresh_worklist)
        summary = pn.pane.Markdown(pn.bind(self._worklist_text, model.param.worklist))
        return pn.Column(
            pn.pane.Markdown(aviews.worklist_note(), sizing_mode="stretch_width"),
            pn.Row(
                pn.widgets.RadioButtonGroup.from_param(model.param.queue, name="Queue"),
                self._worklist_download,
            ),
            summary,
            self._worklist,
            sizing_mode="stretch_width",
        )

    def tariffs_tab(self) -> pn.Column:
        """The tariff-level view: arrears, ageing, roll and reminders per tariff."""
        self._in_tab(self._refresh_tariffs)
        return pn.Column(
            pn.pane.Markdown(
                "**Per tariff** — customers on book and arrears at the last month-end of the "
                "period; cure and roll rates pooled over the period; reminders followed by a "
                "payment of at least min(£10, arrears) within 30 days.",
                sizing_mode="stretch_width",
            ),
            self._tariffs,
            sizing_mode="stretch_width",
        )

    def tabs(self) -> pn.Tabs:
        """The charts, one theme per tab; only the open tab's charts are redrawn."""
        contents = {
            "Trends": lambda: pn.Column(
                self.trend(), self.segment_trend(), sizing_mode="stretch_width"
            ),
            "Segments": lambda: pn.Column(
                self.segment_bars(), self.table(), sizing_mode="stretch_width"
            ),
            "Arrears": self.arrears_tab,
            "Roll & cure": self.roll_tab,
            "Cohorts": self.cohorts_tab,
            "Actions": lambda: pn.Column(
                self.actions_distribution(), self.actions_volume(), sizing_mode="stretch_width"
            ),
            "Effectiveness": self.effectiveness_tab,
            "Worklist": self.worklist_tab,
            "Tariffs": self.tariffs_tab,
        }
        built = []
        for name, content in contents.items():
            self._tab_being_built = name
            built.append((name, content()))
        self._tab_being_built = None
        tabs = pn.Tabs(*built, dynamic=True, sizing_mode="stretch_width")
        names = list(contents)
        self.active_tab = names[tabs.active]
        self._follow_open_tab()
        tabs.param.watch(lambda event: setattr(self, "active_tab", names[event.new]), "active")
        return tabs

    def main(self) -> pn.Column:
        """Header, KPIs and tabs."""
        return pn.Column(self.header(), self.kpi_row(), self.tabs(), sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            pn.Column(self.controls(), width=320),
            self.main(),
            sizing_mode="stretch_width",
        )

    def template(self) -> pn.template.FastListTemplate:
        """The served page: controls in the sidebar, KPIs and charts in the main area."""
        return pn.template.FastListTemplate(
            title=TITLE,
            sidebar=[self.controls()],
            main=[self.main()],
            sidebar_width=340,
            # Panel's busy indicator is process-wide: each change would toggle it in every
            # open session (two messages per session), and no session sees it turn while
            # its own change is computed (the answer arrives in one go).
            busy_indicator=None,
            accent_base_color="#0b5394",
            header_background="#0b5394",
        )

    def sync_url(self) -> None:
        """Keep filters, metric, segmentation and period in the page's query string."""
        if pn.state.location is None:
            return
        pn.state.location.sync(self.model, {name: name for name in URL_PARAMS})

    # --- internals ----------------------------------------------------------------------

    def _bound(self, view, frame: str, *extra: str) -> pn.viewable.Viewable:
        model = self.model

        def render(frame_value, *_):
            selection = model.describe_selection()
            if view is views.monthly_trend:
                return view(frame_value, model.metric, model.as_of_date, selection)
            if view in (views.segment_trend, views.segment_bars):
                categories = model.cube.segments[model.segment_by].cat.categories
                return view(frame_value, model.metric, model.segment_by, categories, selection)
            return view(frame_value, selection)

        return self._view(render, frame, *extra)

    def _view(self, view, *names: str) -> LiveChart:
        """A chart redrawn from ``view(*values)`` whenever one of the model params changes.

        Built inside :meth:`tabs`, it belongs to a tab and draws only while that tab is
        open: a filter change then redraws the open tab's charts, not all twenty. A chart
        that keeps its shape is updated in place (see :mod:`dashboard.live`).
        """
        deps = [self.model.param[name] for name in names]
        return LiveChart(view, deps, shown_while=self._shown_while(names))

    def _in_tab(self, refresh) -> None:
        """Refresh the table kept up to date by ``refresh`` only while the tab being built
        is open."""
        update = self._table_updates[refresh]
        shown_while = self._shown_while([p.name for p in update.inputs])
        if shown_while is not None:
            update.show_while(*shown_while)

    def _shown_while(self, names) -> tuple[param.Parameter, str] | None:
        """When something built inside :meth:`tabs` is shown (its tab open), noting the
        model outputs ``names`` that this tab needs; ``None`` outside :meth:`tabs`."""
        tab = getattr(self, "_tab_being_built", None)
        if tab is None:
            return None
        self._tab_outputs.setdefault(tab, set()).update(set(names) & set(OUTPUTS))
        return (self.param.active_tab, tab)

    def outputs_by_tab(self) -> dict[str, list[str]]:
        """The model outputs each tab shows (with the header's and gauges'), in model order.

        Known once :meth:`tabs` has built the tabs; a filter change with a tab open
        recomputes these outputs only.
        """
        return {
            tab: [name for name in OUTPUTS if name in outputs | ALWAYS_SHOWN]
            for tab, outputs in self._tab_outputs.items()
        }

    def _follow_open_tab(self, *_events) -> None:
        """Keep live only the model outputs the open tab shows (and the KPIs), if the model
        is the dashboard's own."""
        if self._owns_model and self.active_tab in self._tab_outputs:
            self.model.live_outputs = self.outputs_by_tab()[self.active_tab]

    def _categories(self):
        return self.model.cube.segments[self.model.segment_by].cat.categories

    def _worklist_text(self, worklist) -> str:
        if worklist is None or worklist.empty:
            return f"**{views.NO_DATA}:** nobody in arrears on {self.model.as_of_date:%d %b %Y}."
        vulnerable = int(worklist["vulnerable"].sum())
        return (
            f"**{len(worklist):,} customers** in arrears on {self.model.as_of_date:%d %b %Y}, "
            f"£{worklist['arrears'].sum():,.2f} owed; {vulnerable:,} vulnerable (Support queue). "
            f"Selection: {views.markdown_text(self.model.describe_filters())} (the period does not "
            f"apply: this is who owes now)."
        )

    def _refresh_worklist(self, *_events) -> None:
        table = aviews.worklist_table(self.model.worklist)
        self._worklist.formatters = aviews.tabulator_formatters(table)
        self._worklist.value = table

    def _refresh_tariffs(self, *_events) -> None:
        table = aviews.tariff_table(self.model.tariffs)
        self._tariffs.formatters = aviews.tabulator_formatters(table)
        self._tariffs.value = table

    def _refresh_effect_table(self, *_events) -> None:
        table = aviews.effectiveness_table(
            self.model.effectiveness_by_segment, self.model.segment_by
        )
        self._effect_table.formatters = aviews.tabulator_formatters(table)
        self._effect_table.value = table

    def _worklist_csv(self):
        return _csv(self._worklist.value)

    def _header_text(self, kpis: dict) -> str:
        model = self.model
        counted = "all bills" if model.include_immature else "mature bills only"
        return (
            f"**{views.markdown_text(model.describe_selection())}** — as of "
            f"**{model.as_of_date:%d %b %Y}**; "
            f"window {model.before} days before to {model.after} after due, tolerance "
            f"£{model.tolerance:.2f}; rates count {counted}. "
            f"{kpis.get('customers', 0):,} customers, {kpis.get('bills', 0):,} bills counted, "
            f"£{kpis.get('billed', 0):,.0f} billed."
        )

    def _refresh_gauges(self, *_events) -> None:
        for kpi, gauge in self._gauges.items():
            thresholds = getattr(self.model, f"{kpi}_thresholds")
            views.update_gauge(gauge, kpi, self.model.kpis.get(kpi, float("nan")), thresholds)

    def _refresh_table(self, *_events) -> None:
        self._table.value = views.figures_table(self.model.by_segment, self.model.segment_by)

    def _figures_csv(self):
        return _csv(self._table.value)


def _csv(frame) -> io.StringIO:
    """A shown table as a CSV file to download (what the table holds, every row)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    return buffer


def _threshold_params() -> list[str]:
    return [f"{kpi}_thresholds" for kpi in KPIS]


def _source_param() -> dict:
    source = os.environ.get(SOURCE_ENV)
    return {"source": str(Path(source).resolve())} if source else {}


def error_page(error: Exception) -> pn.template.FastListTemplate:
    """A page that states a data error instead of a blank page or a traceback."""
    message = pn.pane.Alert(
        f"**The data could not be loaded.** {views.markdown_text(str(error))}\n\n"
        "Fix the source (run `collections-dashboard validate --source PATH` for details) "
        "and reload this page.",
        alert_type="danger",
    )
    return pn.template.FastListTemplate(title=TITLE, main=[message])


def create_app() -> pn.viewable.Viewable:
    """The servable page: the dashboard in its template, or the error that stops it."""
    try:
        dashboard = Dashboard()
    except SourceError as error:
        return error_page(error)
    dashboard.sync_url()
    return dashboard.template()


if __name__.startswith("bokeh"):
    # `panel serve dashboard/app.py` runs this file as a script: use the package's module
    # (absolute imports above keep that working without the package's parent on sys.path).
    from dashboard.app import create_app as _create_app

    pn.extension("tabulator", "echarts", sizing_mode="stretch_width")
    _create_app().servable(title=TITLE)
