"""``Dashboard``: controls and the catalogue's tabs around a :class:`CollectionsModel`.

The same object shows inline in a notebook (``Dashboard()`` as the last expression),
inside a template when served (``panel serve dashboard/app.py`` or
``collections-dashboard serve``). Its tabs come from :data:`dashboard.ui.tabs.TABS`: each
chart is a :class:`~dashboard.ui.live.LiveChart` of its model outputs, each table a
Tabulator refreshed while its tab is open.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import html
import io
import json
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable
from functools import partial
from typing import ClassVar

import pandas as pd
import panel as pn
import param
from panel.io.state import set_curdoc
from panel.theme.fast import Fast

from dashboard import SourceError, loader
from dashboard.catalog import HEADLINES, KPIS
from dashboard.compute.arrays import to_pence
from dashboard.compute.ledger import Buckets
from dashboard.compute.outcomes import Window
from dashboard.loader import SOURCE_ENV
from dashboard.model import BUILD_SETTINGS, OUTPUT_NAMES, CollectionsModel
from dashboard.sources import open_source
from dashboard.ui import page
from dashboard.ui.charts import gauges
from dashboard.ui.charts import headline as headline_views
from dashboard.ui.charts.ledger import WORKLIST_COLUMNS as WORKLIST_COLUMN_LABELS
from dashboard.ui.downloads import csv_file
from dashboard.ui.live import (
    LiveChart,
    WhenShown,
    change_computed,
    change_started,
    later_on_page,
    on_page,
)
from dashboard.ui.style import (
    SteadyAlert,
    SteadyHTML,
    SteadyMarkdown,
    markdown_text,
    segment_labels,
    steady_widths,
    tabulator_formatters,
    tabulator_widths,
)
from dashboard.ui.tabs import ALWAYS_SHOWN, TABS, Chart, Control, Note, Tab, Table
from dashboard.vocab import DIMENSION_LABELS, DIMENSIONS

TITLE = "Portfolio Collections Dashboard"
FIXED_WINDOW_ENV = "COLLECTIONS_FIXED_WINDOW"
"""Set (to anything but 0) by ``serve --fixed-window``: sessions may filter, never build."""
SETTINGS_ENV = "COLLECTIONS_SETTINGS"
"""JSON of the build settings a served session starts from (``serve --before ...``)."""
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
    "arrears_trend_measure",
    "forecast_measure",
    "provision_measure",
    "vintage_measure",
    "severe_measure",
    "effect_outcome",
    "queue",
    "worklist_sort",
    "worklist_columns",
    "customer",
    "min_sample",
)
"""Model parameters kept in the query string, so a view can be shared as a link."""

log = logging.getLogger(__name__)

# FastListTemplate asks Google for a font: the one request that leaves the machine.
# Dropping it keeps the served page fully offline (see PANEL_NOTES.md).
Fast._resources = {k: v for k, v in Fast._resources.items() if k != "font"}


class TileThresholds(param.Parameterized):
    """The user's green/amber/red band edges of each headline tile (one Range parameter
    per :data:`dashboard.catalog.HEADLINES` entry, added below)."""


for _headline in HEADLINES:
    TileThresholds.param.add_parameter(
        _headline.threshold_param,
        param.Range(
            default=_headline.thresholds,
            bounds=(-0.5, 0.5) if _headline.judged == "change" else (0, 1.5),
            doc=_headline.threshold_doc(),
        ),
    )


class LinkSettings(param.Parameterized):
    """The build settings a link asks for, checked by copies of the model's own parameters
    (same bounds, same refusals) before anything is built (see :func:`link_settings`)."""


for _name in BUILD_SETTINGS:
    LinkSettings.param.add_parameter(_name, copy.copy(CollectionsModel.param[_name]))


def link_settings(model: CollectionsModel, query: dict) -> dict:
    """The build settings a page's query parameters ask for that differ from the model's.

    Each value is read as :class:`panel.io.location.Location` reads it and checked as the
    model checks it: a value the model would refuse is left out (the model keeps its own, as
    it does when a link gives it a value it refuses). A fixed window asks for nothing.

    Parameters
    ----------
    model : CollectionsModel
    query : dict
        Query parameters (``pn.state.location.query_params``).

    Returns
    -------
    dict
        Setting name -> checked value, only those that differ from the model's.
    """
    if model.fixed_window:
        return {}
    checked = LinkSettings(**{name: getattr(model, name) for name in BUILD_SETTINGS})
    asked = {}
    for name in BUILD_SETTINGS:
        if name not in query:
            continue
        value = query[name]
        try:
            value = checked.param[name].deserialize(value)
        except Exception:  # as Location does: the value is then checked as given
            pass
        try:
            setattr(checked, name, value)
        except (TypeError, ValueError):
            continue
        value = getattr(checked, name)
        if value != getattr(model, name):
            asked[name] = value
    return asked


def cube_arguments(model: CollectionsModel, settings: dict) -> tuple:
    """``(window, as_of, buckets)`` of the model's build settings with ``settings`` over them:
    what :meth:`CollectionsModel._update_cube` asks the loader for."""
    values = {name: getattr(model, name) for name in BUILD_SETTINGS} | settings
    window = Window(values["before"], values["after"], to_pence(values["tolerance"]))
    as_of = None if values["as_of"] is None else pd.Timestamp(values["as_of"])
    return window, as_of, Buckets.parse(values["bucket_edges"])


def describe_settings(settings: dict) -> str:
    """Build settings in words (``"payments up to 45 days after due"``)."""
    words = {
        "before": lambda v: f"payments from {v} days before due",
        "after": lambda v: f"payments up to {v} days after due",
        "tolerance": lambda v: f"a tolerance of £{v:,.2f}",
        "as_of": lambda v: f"as of {v:%d %b %Y}",
        "bucket_edges": lambda v: f"bucket edges {v}",
    }
    return ", ".join(words[name](settings[name]) for name in BUILD_SETTINGS if name in settings)


class Dashboard(pn.viewable.Viewer):
    """The collections dashboard: filters on the left, KPIs and the catalogue's tabs.

    Parameters
    ----------
    model : CollectionsModel, optional
        The state to show; built on the demo data (or ``$COLLECTIONS_SOURCE``) if absent.
        A model built here computes only the open tab's outputs on each change; a model
        passed in keeps its ``live_outputs`` (all by default), so code that reads it next
        to the dashboard never sees a stale frame.
    """

    model = param.ClassSelector(class_=CollectionsModel, doc="State and data of the dashboard.")
    tabs_shown = param.List(
        default=list(TABS),
        item_type=Tab,
        constant=True,
        instantiate=False,
        doc="The tabs, in order (the catalogue's by default): a dashboard of other tabs is "
        "a list of other Tab entries.",
    )
    active_tab = param.Selector(
        default=TABS[0].name,
        objects=[tab.name for tab in TABS],
        doc="The open tab: only its charts are drawn and redrawn (kept in the page's link).",
    )

    def __init__(self, **params):
        # A model of its own computes only the open tab's outputs (a served page); a model
        # handed in (a notebook's) keeps every output up to date for the code around it.
        self._owns_model = params.get("model") is None
        super().__init__(**{k: v for k, v in params.items() if k != "active_tab"})
        names = [tab.name for tab in self.tabs_shown]
        self.param.active_tab.objects = names
        asked = params.get("active_tab")
        self.active_tab = asked if asked in names else names[0]
        if self._owns_model:  # computes the open tab's outputs only, from the start
            live = self.outputs_by_tab()[self.active_tab]
            served = _served_session() is not None  # a long score does not hold the page
            self.model = CollectionsModel(
                **_source_param(), live_outputs=live, scores_in_background=served
            )
        self.model.param.watch(self._score_when_pending, ["early_warning", "roll_risk"])
        self.gauges = {kpi.name: gauges.kpi_gauge(kpi.name) for kpi in KPIS}
        self.thresholds = TileThresholds()
        self._note_updates: list[WhenShown] = []
        self._tabs: pn.Tabs | None = None
        # the tiles' CSS travels in their HTML: a pane with its own stylesheets= re-sends
        # Panel's stylesheets on every update, from the CDN when made in a worker thread
        self.tiles = SteadyHTML("", sizing_mode="stretch_width", margin=(0, 5))
        """The headline tiles (HTML), redrawn when the headline or a threshold changes."""
        self.busy = page.BusyIndicator()
        """This session's "updating" note: on from the browser as soon as a control changes,
        off once this session's change is computed and drawn."""
        self.link_note = SteadyAlert(
            "", alert_type="info", visible=False, sizing_mode="stretch_width"
        )
        """What a link's build settings wait for: shown while its tables are being built in
        a thread (:meth:`sync_url`), or why they could not be."""
        self.tables = _Tables(
            {table.name: table for tab in self.tabs_shown for table in tab.tables()},
            self._table_widget,
        )
        """Table name -> the Tabulator widget showing it, made when its tab is first opened
        (or when asked for here), then refreshed while its tab is open."""
        self._table_updates: dict[str, WhenShown] = {}
        self._tab_contents: list[dict[str, pn.Column]] = []
        """Per :meth:`tabs` made (a notebook may show the dashboard twice): tab name -> the
        column its content is made into when first opened."""
        threshold_params = [kpi.threshold_param for kpi in KPIS]
        tile_thresholds = [h.threshold_param for h in HEADLINES]
        # precedence 1: inside a change (below), as the model's own watchers
        refresh_gauges = later_on_page(self.gauges, self._show_gauges)
        refresh_tiles = later_on_page(self.tiles, self._show_tiles)
        self.model.param.watch(refresh_gauges, ["kpis", *threshold_params], precedence=1)
        self.model.param.watch(refresh_tiles, ["headline"], precedence=1)
        self.thresholds.param.watch(refresh_tiles, tile_thresholds, precedence=1)
        self.param.watch(self._follow_open_tab, ["active_tab"])
        # what the cube's queries make on first use, made while the user reads the first tab
        self.model.param.watch(lambda event: loader.warm_in_background(event.new), ["cube"])
        loader.warm_in_background(self.model.cube)
        # around the model's own watchers: a change's page updates wait until it is
        # computed, then go together (live.on_page); the busy note clears with them
        # (the model's are at precedence 1; a new cube, made by a precedence -1 watcher of
        # the build settings, is a change of its own)
        changes = [*URL_PARAMS, *threshold_params]
        self.model.param.watch(change_started, [*changes, "cube"], precedence=0)
        self.model.param.watch(self.busy.changed, changes, precedence=2)
        self.model.param.watch(change_computed, [*changes, "cube"], precedence=3)
        self.thresholds.param.watch(change_started, tile_thresholds, precedence=0)
        self.thresholds.param.watch(self.busy.changed, tile_thresholds, precedence=2)
        self.thresholds.param.watch(change_computed, tile_thresholds, precedence=3)
        self._header = SteadyMarkdown(self._header_text(), sizing_mode="stretch_width")
        self.model.param.watch(later_on_page(self._header, self._show_header), ["kpis"])
        self._show_gauges()  # now: the page is being made
        self._show_tiles()

    # --- controls -----------------------------------------------------------------------

    def period_slider(self) -> pn.widgets.IntRangeSlider:
        """The bill-month slider (served app and notebook): it moves by whole months."""
        slider = page.month_slider(self.model)
        return self.busy.watching(slider)

    def main_controls(self) -> list:
        """Metric and segmentation: the controls that change what is drawn."""
        model = self.model
        return [
            control_label("Bill metric (the Trends and Segments tabs)"),
            self.busy.watching(
                page.answer_at_once(
                    pn.widgets.RadioBoxGroup.from_param(
                        model.param.metric, label="Metric", inline=False
                    )
                )
            ),
            self.busy.watching(
                page.answer_at_once(
                    pn.widgets.Select.from_param(model.param.segment_by, label="Segment by")
                )
            ),
        ]

    def filter_controls(self) -> list:
        """One multi-select per customer dimension (empty selects everything)."""
        widgets = []
        for dim in DIMENSIONS:
            values = self.model.param[dim].objects
            # Choices.js renders option labels as HTML: labels from the data are escaped.
            labels = [html.escape(label) for label in segment_labels(dim, values)]
            options = dict(zip(labels, values, strict=True))
            widgets.append(
                self.busy.watching(
                    page.answer_at_once(
                        pn.widgets.MultiChoice.from_param(
                            self.model.param[dim],
                            label=DIMENSION_LABELS[dim],
                            options=options,
                            placeholder="All",
                            solid=False,
                        )
                    )
                )
            )
        return widgets

    def advanced_controls(self) -> pn.Card:
        """Window, tolerance, maturity, as-of date, bucket edges and the thresholds of the
        tiles and gauges (collapsed). Text and date entries are checked before they reach
        the model: a value it would refuse gets a message under the entry."""
        model = self.model
        thresholds = [
            pn.widgets.RangeSlider.from_param(
                model.param[kpi.threshold_param],
                label=f"{kpi.label} gauge thresholds",
                step=0.01,
                format="0%",
            )
            for kpi in KPIS
        ]
        tiles = [
            pn.widgets.RangeSlider.from_param(
                self.thresholds.param[h.threshold_param],
                label=f"{h.label} tile thresholds"
                + (" (change on the month)" if h.judged == "change" else ""),
                step=0.005,
                format="0.0%",
            )
            for h in HEADLINES
        ]
        fixed = model.fixed_window
        entries = [
            page.checked_entry(
                model, "bucket_edges", "Days-past-due bucket edges", _parse_edges, fixed
            ),
            page.checked_entry(model, "tolerance", "Tolerance (£)", _parse_tolerance, fixed),
            page.checked_entry(
                model, "as_of", "As of, YYYY-MM-DD (empty: latest payment)", _parse_date, fixed
            ),
        ]
        widgets = [
            pn.widgets.IntSlider.from_param(model.param.before, label="Window: days before due"),
            pn.widgets.IntSlider.from_param(model.param.after, label="Window: days after due"),
            page.answer_at_once(
                pn.widgets.Checkbox.from_param(
                    model.param.include_immature, label="Include bills whose window is still open"
                )
            ),
            page.answer_at_once(
                pn.widgets.IntInput.from_param(
                    model.param.min_sample,
                    label="Fade rates of fewer customers than",
                    width=200,
                )
            ),
        ]
        return pn.Card(
            *(self.busy.watching(w) for w in widgets),
            *entries,
            *(self.busy.watching(w) for w in (*tiles, *thresholds)),
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
        return self._header

    def quality_note(self) -> pn.pane.Alert:
        """The source's data-quality warnings (rows excluded, a fallback encoding), shown
        above the figures whenever there are any."""
        return SteadyAlert(
            pn.bind(quality_text, self.model.param.cube),
            alert_type="warning",
            visible=pn.bind(lambda cube: bool(quality_text(cube)), self.model.param.cube),
            sizing_mode="stretch_width",
        )

    def kpi_row(self) -> pn.FlexBox:
        """The KPI gauges with green/amber/red bands."""
        return pn.FlexBox(*self.gauges.values(), justify_content="space-evenly")

    def tab(self, tab: Tab, shown_while: tuple | None = None) -> pn.Column:
        """One tab of the catalogue: its controls, notes, charts and tables, top to bottom.

        Parameters
        ----------
        tab : Tab
        shown_while : (param.Parameter, object), optional
            Draw and refresh only while this parameter has this value (the open tab).

        Returns
        -------
        panel.Column
        """
        return pn.Column(
            *(self._part(part, shown_while) for part in tab.parts), sizing_mode="stretch_width"
        )

    def chart(self, chart: Chart, shown_while: tuple | None = None) -> LiveChart:
        """A chart of the catalogue, redrawn (in place when it can be) as its inputs change."""
        inputs = [self.model.param[name] for name in chart.inputs]
        return LiveChart(lambda *_: chart.draw(self.model), inputs, shown_while=shown_while)

    def tabs(self) -> pn.Tabs:
        """The catalogue's tabs; only the open tab's charts and tables are redrawn."""
        contents = {tab.name: pn.Column(sizing_mode="stretch_width") for tab in self.tabs_shown}
        self._tab_contents.append(contents)
        self._fill_open_tab()
        names = [tab.name for tab in self.tabs_shown]
        tabs = _TabsFilledBeforeShown(
            *contents.items(),
            active=names.index(self.active_tab),
            dynamic=True,
            sizing_mode="stretch_width",  # tab bar CSS: page.helper
            before_shown=lambda index: setattr(self, "active_tab", names[index]),
        )
        self.active_tab = names[tabs.active]
        self._follow_open_tab()
        self._tabs = tabs
        return tabs

    def main(self) -> pn.Column:
        """Header, headline tiles, tabs, and the bill-level gauges below them."""
        return pn.Column(
            self.header(),
            self.link_note,
            self.quality_note(),
            self.tiles,
            self.tabs(),
            pn.Card(
                self.kpi_row(),
                title="Bills: default and collection rates (gauges)",
                collapsed=False,
                sizing_mode="stretch_width",
            ),
            page.helper(),
            sizing_mode="stretch_width",
        )

    def __repr__(self) -> str:
        """One line, not every parameter (the model's frames and cube are megabytes of text:
        what a notebook shows for this object where it does not run, on a code host)."""
        tabs = ", ".join(tab.name for tab in self.tabs_shown)
        return (
            f"Dashboard(active_tab={self.active_tab!r}, tabs=[{tabs}]): live in a running "
            "notebook or served with `collections-dashboard serve`"
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            pn.Column(self.busy, self.controls(), width=320),
            self.main(),
            sizing_mode="stretch_width",
        )

    def template(self) -> pn.template.FastListTemplate:
        """The served page: controls in the sidebar, KPIs and charts in the main area."""
        return pn.template.FastListTemplate(
            title=TITLE,
            sidebar=[self.controls()],
            main=[self.main()],
            header=[self.busy],
            sidebar_width=320,
            meta_viewport="width=device-width, initial-scale=1",
            theme_toggle=False,
            raw_css=[page.PAGE_CSS],
            # Panel's busy indicator is process-wide: each change would toggle it in every
            # open session (two messages per session), and no session sees it turn while
            # its own change is computed (the answer arrives in one go).
            busy_indicator=None,
            accent_base_color="#0b5394",
            header_background="#0b5394",
        )

    def sync_url(self) -> None:
        """Keep the open tab, filters, metric, segmentation and period in the page's query
        string (not the build settings when they are fixed: a link then cannot ask for a
        build).

        A link whose build settings need a cube this process does not hold in memory never
        builds while its page is made (on the server's event loop, which would stall every
        other session): the page is made with the settings the model has, says that the
        link's tables are being built, and once the page is open they are built in a thread
        of their own; the model then takes the link's settings (the same change as a user's
        who moved them by hand) and the page shows them.
        """
        location = pn.state.location
        if location is None:
            return
        # the open tab too; a link naming no tab of this page opens the first, and the
        # address drops the name (it would name a tab the page does not show)
        location.sync(
            self, {"active_tab": "tab"}, on_error=lambda _values: _forget(location, "tab")
        )
        model = self.model
        names = [name for name in URL_PARAMS if name not in BUILD_SETTINGS]
        if model.fixed_window:
            location.sync(model, {name: name for name in names})
            return
        asked = link_settings(model, location.query_params)
        if not asked or self._cube_in_memory(asked):
            location.sync(model, {name: name for name in URL_PARAMS})  # no build: at once
            return
        location.sync(model, {name: name for name in names})  # the link's keep its values
        self._build_for_link(asked)

    def _score_when_pending(self, event) -> None:
        """A score asked for and not in memory yet (``pending``): compute it on a thread of
        its own, then show it in this session (its output says meanwhile that it is being
        computed; the page stays usable)."""
        target = (event.new or {}).get("pending")
        document = _served_session()
        if not target or document is None:
            return
        closed = threading.Event()
        document.on_session_destroyed(lambda _context: closed.set())

        def done() -> None:
            if closed.is_set():
                return
            show = partial(self.model.recompute, event.name)
            with set_curdoc(document):
                pn.state.execute(show, schedule="thread" if pn.config.nthreads else True)

        self.model.score_in_background(target, done)

    def _cube_in_memory(self, settings: dict) -> bool:
        try:
            return loader.cube_in_memory(self.model.source, *cube_arguments(self.model, settings))
        except (SourceError, ValueError):
            return False

    def _build_settings(self) -> dict:
        return {name: getattr(self.model, name) for name in BUILD_SETTINGS}

    def _build_for_link(self, asked: dict) -> None:
        """Build the cube of a link's settings in a thread once the page is open, then let
        the model take them (see :meth:`sync_url`)."""
        document = pn.state.curdoc
        started = self._build_settings()
        self.link_note.object = (
            "**Building the tables this link asks for** "
            f"({markdown_text(describe_settings(asked))}) … The figures below are for the "
            "server's settings until they are ready; the page updates itself."
        )
        self.link_note.visible = True
        closed = threading.Event()
        if document is not None and document.session_context is not None:
            document.on_session_destroyed(lambda _context: closed.set())
        window, as_of, buckets = cube_arguments(self.model, asked)
        source = self.model.source

        def build() -> None:  # a thread of its own: the server's pool keeps serving events
            error = None
            try:
                loader.load_cube(source, window, as_of, buckets=buckets)
            except Exception as exc:  # said on the page; the model keeps its settings
                error = exc
            if closed.is_set():
                return
            take = partial(self._take_link_settings, asked, started, error)
            with set_curdoc(document):
                pn.state.execute(take, schedule="thread" if pn.config.nthreads else True)

        def start() -> None:
            threading.Thread(target=build, name="link build", daemon=True).start()

        pn.state.onload(start)

    def _take_link_settings(self, asked: dict, started: dict, error: Exception | None) -> None:
        """The link's cube is in memory (or could not be built): the model takes the link's
        settings, unless the user chose others meanwhile; from now on the query string
        follows the build settings too."""
        if error is not None:
            log.warning("the build settings of a link could not be built: %s", error)
            self.link_note.param.update(
                object=f"**The tables this link asks for could not be built** "
                f"({markdown_text(describe_settings(asked))}): {markdown_text(str(error))}. "
                "The figures are for the server's settings.",
                alert_type="warning",
            )
        else:
            if self._build_settings() == started:  # else the user chose others meanwhile
                self.model.param.update(**asked)  # the cube is in memory: a filter's cost
            self.link_note.visible = False
        location = pn.state.location
        if location is None:
            return
        query = location.query_params
        for name, value in self._build_settings().items():
            if value is None:
                query.pop(name, None)
                continue
            value = self.model.param[name].serialize(value)
            query[name] = value if isinstance(value, str) else json.dumps(value)
        location.search = "?" + urllib.parse.urlencode(query) if query else ""
        location.sync(self.model, {name: name for name in BUILD_SETTINGS})

    def outputs_by_tab(self) -> dict[str, list[str]]:
        """The model outputs each tab shows (with the header's and gauges'), in model order.

        A filter change with a tab open recomputes these outputs only.
        """
        return {
            tab.name: [name for name in OUTPUT_NAMES if name in tab.outputs | set(ALWAYS_SHOWN)]
            for tab in self.tabs_shown
        }

    def table_csv(self, name: str) -> io.StringIO:
        """The table ``name`` as shown (every row), as a CSV file to download.

        Text cells that a spreadsheet would run as a formula are neutralised (see
        :func:`dashboard.ui.downloads.csv_file`); numbers stay numbers.
        """
        return _csv(self.tables[name].value)

    # --- internals ----------------------------------------------------------------------

    def _part(self, part, shown_while) -> pn.viewable.Viewable:
        if isinstance(part, Chart):
            return self.chart(part, shown_while)
        if isinstance(part, Table):
            return self._table_part(part, shown_while)
        if isinstance(part, Control):
            # no busy callback here: a tab is drawn when first opened, and a callback made
            # then would draw a second busy note with its stylesheets on the CDN
            widget = self._control(part, shown_while)
            if part.widget == "radio" and part.label:  # buttons show no title of their own
                return pn.Column(control_label(part.label), widget, margin=0)
            return widget
        if isinstance(part, Note):
            return self._note(part, shown_while)
        raise TypeError(f"unknown part of a tab: {part!r}")

    def _control(self, control: Control, shown_while) -> pn.viewable.Viewable:
        """A tab's control: radio buttons (with a count on each when the control has
        counts), a drop-down, a multiple choice or a text entry."""
        parameter = self.model.param[control.param]
        if control.counts:
            return page.answer_at_once(self._counted_buttons(control, shown_while))
        if control.widget == "select":
            return page.answer_at_once(
                pn.widgets.Select.from_param(parameter, label=control.label, width=260)
            )
        if control.widget == "choice":
            # check boxes, not a Choices.js multi-select: its chosen items carry an ARIA
            # attribute their role does not allow (axe-core, critical)
            options = {WORKLIST_COLUMN_LABELS.get(v, v): v for v in parameter.objects}
            boxes = page.answer_at_once(
                pn.widgets.CheckBoxGroup.from_param(
                    parameter, label=control.label, options=options, inline=False
                )
            )
            return pn.Card(boxes, title=control.label, collapsed=True, width=260)
        if control.widget == "text":
            return page.answer_at_once(
                pn.widgets.TextInput.from_param(
                    parameter, label=control.label, placeholder="e.g. C100000", width=260
                )
            )
        return page.answer_at_once(
            pn.widgets.RadioButtonGroup.from_param(parameter, label=control.label)
        )

    def _counted_buttons(self, control: Control, shown_while) -> pn.widgets.RadioButtonGroup:
        """Radio buttons labelled with a count each ("Early (41)"), kept in step with the
        model parameter both ways and relabelled when the counts change."""
        model, name = self.model, control.param

        def options() -> dict[str, str]:
            counts = getattr(model, control.counts) or {}
            return {
                f"{value} ({counts.get(value, 0):,})": value for value in model.param[name].objects
            }

        buttons = pn.widgets.RadioButtonGroup(
            label=control.label, options=options(), value=getattr(model, name)
        )
        buttons.param.watch(lambda event: setattr(model, name, event.new), "value")
        model.param.watch(lambda event: setattr(buttons, "value", event.new), name)

        def relabel() -> None:
            buttons.options = options()

        inputs = [model.param[control.counts]]
        refresh = later_on_page(buttons, relabel)
        self._note_updates.append(WhenShown(refresh, inputs, shown_while, stale=False))
        return buttons

    def _note(self, note: Note, shown_while=None) -> pn.pane.Markdown:
        """A note's pane; a note computed from outputs keeps its pane and gets new text
        while its tab is open, hidden while the text is empty. (A pane made anew in a
        change's thread, or one updated while its tab is closed and its model out of the
        page, points Panel's shared stylesheets at the CDN.)"""
        if not callable(note.text):
            return pn.pane.Markdown(note.text, sizing_mode="stretch_width")
        text = note.text(self.model)
        pane = SteadyMarkdown(text, sizing_mode="stretch_width", visible=bool(text))

        def show() -> None:  # an empty note takes no room
            text = note.text(self.model)
            pane.param.update(object=text, visible=bool(text))

        inputs = [self.model.param[name] for name in note.outputs]
        refresh = later_on_page(pane, show)
        self._note_updates.append(WhenShown(refresh, inputs, shown_while, stale=False))
        return pane

    def _table_part(self, table: Table, shown_while) -> pn.Column:
        widget = self.tables[table.name]
        if shown_while is not None:
            self._table_updates[table.name].show_while(*shown_while)
        parts = [pn.pane.Markdown(table.title)] if table.title else []
        if table.download:
            parts.append(
                pn.widgets.FileDownload(
                    callback=lambda name=table.name: self.table_csv(name),
                    filename=table.download,
                    label=table.download_label,
                    color="primary",
                    width=220,
                )
            )
        if table.hidden is not None:

            def hide() -> None:
                widget.hidden_columns = table.hidden(self.model)

            hide()
            self.model.param.watch(later_on_page(hide, hide), list(table.hidden_inputs))
        if table.opens is not None:
            widget.on_click(lambda event: self._open_row(table, event.row))
        parts.append(widget)
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _open_row(self, table: Table, row: int) -> None:
        """A clicked row's ``table.opens``: set the parameter from the row, open the tab."""
        column, name, tab = table.opens
        frame = self.tables[table.name].value
        if frame is None or not 0 <= row < len(frame):
            return
        setattr(self.model, name, str(frame[column].iloc[row]))
        self.open_tab(tab)

    def open_tab(self, name: str) -> None:
        """Open the tab ``name`` (as if its header were clicked)."""
        names = [tab.name for tab in self.tabs_shown]
        if name in names and self._tabs is not None:
            self._tabs.active = names.index(name)

    def _refresh_table(self, table: Table, widget: pn.widgets.Tabulator | None = None) -> None:
        widget = self.tables[table.name] if widget is None else widget

        def show() -> None:
            frame = table.frame(self.model)
            widget.param.update(
                formatters=tabulator_formatters(frame),
                widths=steady_widths(widget.widths or {}, tabulator_widths(frame)),
                value=frame,
            )

        if widget.value is None:  # first filled: now, as its tab is made
            show()
        else:
            on_page(widget, show, later=True)

    def _follow_open_tab(self, *_events) -> None:
        """Keep live only the model outputs the open tab shows (and the KPIs), if the model
        is the dashboard's own; a model handed in gets the open tab's on-demand outputs
        added (the early-warning score, computed when its tab is first opened)."""
        shown = self.outputs_by_tab()[self.active_tab]
        if self._owns_model:
            self.model.live_outputs = shown
        else:
            wanted = [name for name in shown if name not in self.model.live_outputs]
            if wanted:
                self.model.live_outputs = [*self.model.live_outputs, *wanted]
        self._fill_open_tab()

    def _fill_open_tab(self) -> None:
        """Make the open tab's content the first time it is opened (a page that is never
        shown a tab holds none of its panes, charts and tables: a third fewer objects a
        session, a faster page)."""
        tab = next(tab for tab in self.tabs_shown if tab.name == self.active_tab)
        for contents in self._tab_contents:
            if not len(contents[tab.name]):
                made = self.tab(tab, (self.param.active_tab, tab.name))
                contents[tab.name].objects = list(made.objects)

    def _table_widget(self, table: Table) -> pn.widgets.Tabulator:
        """A table's Tabulator, filled now and refreshed whenever its outputs change (only
        while its tab is open once the tab is made, :meth:`_table_part`)."""
        widget = _tabulator(table)
        self._table_updates[table.name] = WhenShown(
            partial(self._refresh_table, table, widget),
            [self.model.param[name] for name in table.outputs],
        )
        return widget

    def _show_header(self) -> None:
        self._header.object = self._header_text()

    def _header_text(self) -> str:
        model, kpis = self.model, self.model.kpis
        counted = "all bills" if model.include_immature else "mature bills only"
        return (
            f"**{markdown_text(model.describe_selection())}** — as of "
            f"**{model.as_of_date:%d %b %Y}**; "
            f"window {model.before} days before to {model.after} after due, tolerance "
            f"£{model.tolerance:.2f}; rates count {counted}. "
            f"{kpis.get('customers', 0):,} customers, {kpis.get('bills', 0):,} bills counted, "
            f"£{kpis.get('billed', 0):,.0f} billed."
        )

    def _show_tiles(self) -> None:
        trend = (self.model.headline or {}).get("trend")
        thresholds = {h.name: getattr(self.thresholds, h.threshold_param) for h in HEADLINES}
        tiles = headline_views.tiles_html(trend, thresholds)
        self.tiles.object = f"<style>{headline_views.TILE_CSS}</style>{tiles}"

    def _show_gauges(self) -> None:
        for kpi, gauge in self.gauges.items():
            thresholds = getattr(self.model, f"{kpi}_thresholds")
            gauges.update_gauge(gauge, kpi, self.model.kpis.get(kpi, float("nan")), thresholds)


class _TabsFilledBeforeShown(pn.Tabs):
    """Dynamic tabs that call ``before_shown(index)`` when a tab is opened, before the tab
    is drawn: the dashboard makes the tab's content then, and the page gets the tab and its
    content in one update (one layout in the browser), not an empty tab and then its content.
    A click on a tab is taken in at once (:func:`dashboard.ui.page.answer_at_once`).
    """

    _debounce: ClassVar[int] = 0

    def __init__(self, *objects, before_shown: Callable[[int], None], **params):
        self._before_shown = before_shown
        super().__init__(*objects, **params)

    def _update_model(self, events, msg, root, model, doc, comm) -> None:
        # A tab opened in the browser comes back as an update of ``active`` to the value
        # the browser has: nothing to send, but a change of ``active`` makes Panel run its
        # hooks over the whole page and walk its model graph (50 ms before every first
        # visit). The tab's content follows as an update of its own, which runs them.
        if "active" in msg and msg["active"] == model.active:
            msg = {name: value for name, value in msg.items() if name != "active"}
            if not msg:
                return
        super()._update_model(events, msg, root, model, doc, comm)

    def _update_active(self, *events) -> None:
        try:
            if any(event.name == "active" for event in events):
                self._before_shown(self.active)
        finally:  # the tab opens even if its content failed (the error is logged)
            super()._update_active(*events)


def _forget(location, name: str) -> None:
    """Take the query parameter ``name`` out of the page's address, the others as written."""
    kept = [
        (key, value)
        for key, value in urllib.parse.parse_qsl(
            location.search.lstrip("?"), keep_blank_values=True
        )
        if key != name
    ]
    location.search = "?" + urllib.parse.urlencode(kept) if kept else ""


def _parse_edges(text: str) -> str:
    """Bucket edges as typed, checked (ValueError with the reason when refused)."""
    text = text.strip()
    Buckets.parse(text)
    return text


def _parse_tolerance(text: str) -> float:
    """A tolerance in pounds, checked against the model's bounds."""
    try:
        value = float(text.strip().lstrip("£"))
    except ValueError:
        raise ValueError("write an amount in pounds, e.g. 1.00") from None
    low, high = CollectionsModel.param.tolerance.bounds
    if not low <= value <= high:
        raise ValueError(f"between £{low:,.2f} and £{high:,.2f}")
    return value


def _parse_date(text: str) -> dt.date | None:
    """An as-of date (``YYYY-MM-DD``), or None for an empty entry."""
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("write a date as YYYY-MM-DD, e.g. 2025-06-30") from None


def quality_text(cube) -> str:
    """The data-quality note of a cube's source, as Markdown ("" when there is nothing to say).

    Parameters
    ----------
    cube : Cube

    Returns
    -------
    str
    """
    lines = [f"{rows:,} {table} rows excluded" for table, rows in cube.excluded.items()]
    lines += list(cube.warnings)
    if not lines:
        return ""
    shown = "".join(f"\n- {markdown_text(line)}" for line in lines[:10])
    more = f"\n- … and {len(lines) - 10} more" if len(lines) > 10 else ""
    return (
        "**Data quality:** the figures leave out what validation refused "
        "(`collections-dashboard validate` lists every problem):" + shown + more
    )


class _Tables(dict):
    """Table name -> its Tabulator widget, made on first use by ``make(table)``."""

    def __init__(self, catalogue: dict[str, Table], make: Callable[[Table], object]):
        super().__init__()
        self._catalogue, self._make = catalogue, make

    def __missing__(self, name: str):
        widget = self[name] = self._make(self._catalogue[name])
        return widget


def _tabulator(table: Table) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        None,
        disabled=True,
        show_index=False,
        sizing_mode="stretch_width",
        # Tabulator's key bindings take Tab to move between cells of a read-only table:
        # the keyboard focus was lost there (a trap for keyboard users)
        configuration={"keybindings": False},
        **table.options,
    )


def _csv(frame) -> io.StringIO:
    """A shown table as a CSV file to download (what the table holds, every row), with
    text that could run as a spreadsheet formula neutralised (:func:`csv_file`)."""
    return csv_file(frame)


def _served_session():
    """This session's Bokeh document when served (``panel serve``), else None."""
    document = pn.state.curdoc
    return document if document is not None and document.session_context is not None else None


def _source_param() -> dict:
    source = os.environ.get(SOURCE_ENV)
    params = {"source": open_source(source).spec()} if source else {}
    settings = json.loads(os.environ.get(SETTINGS_ENV) or "{}")
    if settings.get("as_of"):
        settings["as_of"] = dt.date.fromisoformat(settings["as_of"])
    params.update({name: value for name, value in settings.items() if value is not None})
    if os.environ.get(FIXED_WINDOW_ENV, "").strip() not in ("", "0"):
        params["fixed_window"] = True
    return params


def error_page(error: Exception) -> pn.template.FastListTemplate:
    """A page that states a data error instead of a blank page or a traceback."""
    message = pn.pane.Alert(
        f"**The data could not be loaded.** {markdown_text(str(error))}\n\n"
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


def serve_app(title: str = TITLE) -> None:
    """Add :func:`create_app` to this session's document (``panel serve``).

    The document's model graph is frozen while the page is added: each of the page's
    JavaScript links (the busy note on every control) would otherwise walk the whole graph
    again (2.1 s of a 1,000,000-customer page's 2.9 s server time, 0.8 s frozen).

    The first page a server process makes (``--warm``) first moves every object alive then
    (the imported libraries, some 320,000) out of the garbage collector's reach
    (``gc.freeze``): a full collection walked them all, 150–330 ms in the middle of a
    change every twenty or so changes; it now walks the sessions' objects only (15 ms a
    session at 1,000,000 customers). A collection of the youngest objects waits for 10,000
    allocations instead of 700: the many short-lived objects of drawing a change are freed
    before one, instead of being promoted and walked by full collections every few changes
    (no full collection in 40 changes, the same time spent collecting).
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
    document = pn.state.curdoc
    if document is None:
        create_app().servable(title=title)
        return
    with document.models.freeze():
        create_app().servable(title=title)


def control_label(text: str) -> pn.pane.HTML:
    """A visible title above a group of radio buttons, styled like a drop-down's title."""
    return pn.pane.HTML(
        f'<div style="font-size:0.9em;font-weight:600">{html.escape(text)}</div>',
        margin=(8, 10, 0, 10),
    )
