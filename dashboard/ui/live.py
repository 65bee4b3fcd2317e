"""Charts that update their drawn figure in place when their inputs change.

Rebuilding a Bokeh figure costs the server about 0.4 s of CPU per chart (HoloViews lays out
a new figure, axes, tickers and tools, and the whole model is sent to the browser). When a
filter changes, a chart usually keeps its shape and only its data, title, ranges and hover
text change: :class:`LiveChart` then hands the new HoloViews object to a ``DynamicMap`` that
is already drawn, and HoloViews updates the existing figure (new column data, title, axis
labels and ranges) for about a tenth of that cost. A chart whose shape changes (other
series, other categories, another number format, or a Panel object such as the "no data"
alert) is drawn anew.
"""

from __future__ import annotations

import contextlib
import html
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from weakref import WeakKeyDictionary

import holoviews as hv
import pandas as pd
import panel as pn
import param
from bokeh.document import Document
from bokeh.model import Model
from bokeh.model.util import visit_value_and_its_immediate_references
from bokeh.models import CategoricalAxis, CustomJS, DatetimeTicker, NoOverlap
from panel.io.document import hold

from dashboard.ui.style import SteadyHTML, tabulator_widths

Refresh = hv.streams.Stream.define("Refresh")
"""A stream with no parameters: its ``event()`` asks a DynamicMap for its current frame."""


def layout_signature(obj) -> tuple:
    """What must stay equal for a HoloViews object to be drawn into an existing figure.

    Parameters
    ----------
    obj : holoviews.core.Dimensioned
        A chart as the views return it.

    Returns
    -------
    tuple
        Per container: its type and keys (the series of an ``NdOverlay``); per element: its
        type, group, label and the values of its categorical key dimensions (the factors of
        a categorical axis). Numeric data, titles, ranges and hover text may differ between
        two objects of equal signature; so may the axis labels and tick formats of one figure
        (HoloViews sets them anew on every frame of one figure), not those of a layout's.
    """
    alone = _one_figure(obj)
    parts = []
    for item in obj.traverse(lambda x: x, [hv.core.Dimensioned]):
        formats = () if alone else _formats(item)
        if isinstance(item, hv.Element):
            parts.append((type(item).__name__, item.group, item.label, _factors(item), formats))
        else:
            parts.append((type(item).__name__, tuple(getattr(item, "keys", list)()), formats))
    return tuple(parts)


def _factors(element: hv.Element) -> tuple:
    """The values of an element's categorical key dimensions (its axis factors; an
    annotation's are positions)."""
    if isinstance(element, hv.element.Annotation):
        return ()
    factors = []
    for dim in element.kdims:
        values = element.dimension_values(dim, expanded=False)
        if values.dtype.kind in "OUS":
            factors.append(tuple(map(str, values)))
    return tuple(factors)


def _formats(item) -> tuple:
    """The tick formats set on ``item`` itself."""
    options = hv.Store.lookup_options("bokeh", item, "plot").kwargs
    return tuple(
        sorted(
            (name, _format_of(value))
            for name, value in options.items()
            if name.endswith("formatter")
        )
    )


def _format_of(formatter) -> str:
    """What a tick formatter writes, independent of its identity (a new one per chart)."""
    for attribute in ("format", "code"):
        if isinstance(getattr(formatter, attribute, None), str):
            return f"{type(formatter).__name__}:{getattr(formatter, attribute)}"
    return str(formatter)


def _legend_lists_what_is_drawn(plot, _element) -> None:
    """HoloViews hook: a legend entry whose series has no points in this frame is hidden
    (a chart keeps its layers, some of them empty, to be updated in place)."""
    for legend in getattr(plot.state, "legend", []):
        for item in legend.items:
            drawn = any(_rows(renderer) for renderer in item.renderers)
            if item.visible != drawn:
                item.visible = drawn


def _rows(renderer) -> int:
    data = getattr(getattr(renderer, "data_source", None), "data", None) or {}
    return len(next(iter(data.values()), ()))


def framewise(obj, title_above: bool = False):
    """``obj`` with ranges recomputed for every frame (not frozen at the first one).

    ``shared_axes=False`` (which the views set, so that charts side by side do not zoom
    together) also freezes a plot's ranges across frames; here it is turned back on, and
    :class:`LiveChart`'s pane does not link its axes with other panes instead. Axis text
    sizes are set explicitly (:data:`FONT_SIZES`). With ``title_above``, the figure's own
    title is kept (its text, for whoever reads the figure) but not drawn: the page shows it
    above the figure as text that wraps to any width, and its legend lists only the series
    with points in the frame drawn.
    """
    items = obj.traverse(lambda x: x, [hv.core.Dimensioned])
    elements = {type(item).__name__ for item in items if isinstance(item, hv.Element)}
    whole = {"shared_axes": True, "fontsize": FONT_SIZES, "toolbar": None}
    if title_above:
        whole["hooks"] = [_legend_lists_what_is_drawn, _drawn_as_text, _labels_that_fit_a_phone]
    norms = []
    for name in sorted({type(item).__name__ for item in items}):
        options = {"framewise": True}
        if name in elements:
            # no toolbar and no pan/zoom: a page scrolls over a chart on a phone, and a
            # keyboard user meets no unnamed toolbar buttons; hover stays
            options.update(default_tools=[], toolbar=None)
        if name == type(obj).__name__:
            options.update(whole)  # the figure's own: one call (each call walks the tree)
        norms.append(getattr(hv.opts, name)(**options))
    return obj.opts(*norms)


def _drawn_as_text(plot, _element) -> None:
    """HoloViews hook: the figure keeps its title's text but does not draw it, nor an x
    axis note too long for a phone (:func:`chart_note`): the page shows both as text. A
    date axis asks for :data:`DATE_TICKS` ticks (Bokeh's six ran into each other on a
    phone)."""
    state = plot.state
    title = getattr(state, "title", None)
    if title is not None and title.visible:
        title.visible = False
    for axis in getattr(state, "xaxis", []):
        if _is_note(axis.axis_label):
            axis.axis_label = None
        ticker = getattr(axis, "ticker", None)
        if isinstance(ticker, DatetimeTicker) and ticker.desired_num_ticks != DATE_TICKS:
            ticker.desired_num_ticks = DATE_TICKS


DATE_TICKS = 4
"""Ticks a date axis asks for: a year apart over a few years, readable at a phone's width."""


def _labels_that_fit_a_phone(plot, _element) -> None:
    """HoloViews hook: tick labels that do not run into each other, at any width.

    A number or date axis leaves out a label that would overlap the one before it (Bokeh's
    ``NoOverlap``: "May 2025", "Sep 2025" ... touched on a phone). A category axis slants
    its labels, and a nested axis its groups, when the figure drawn in the browser is too
    narrow for them side by side (:data:`SLANT_WHEN_NARROW_JS`, run on the figure's width:
    income bands' "£15k-£30k£30k-£50k" and *Effectiveness*'s action types on a phone),
    and keeps them level where they fit (a laptop): every category keeps its label. Each
    model is given once: an update in place makes none anew.
    """
    state = plot.state
    for axis in [*getattr(state, "xaxis", []), *getattr(state, "yaxis", [])]:
        if not isinstance(axis, CategoricalAxis):
            if not isinstance(axis.major_label_policy, NoOverlap):
                axis.major_label_policy = NoOverlap()
    categorical = [
        axis for axis in getattr(state, "xaxis", []) if isinstance(axis, CategoricalAxis)
    ]
    if categorical and not state.js_property_callbacks.get("change:inner_width"):
        slant = CustomJS(
            args={"axes": categorical, "range": state.x_range}, code=SLANT_WHEN_NARROW_JS
        )
        state.js_on_change("inner_width", slant)


SLANT = 0.7
"""Radians a category label is turned when its labels do not fit side by side."""

SLANT_WHEN_NARROW_JS = """
const width = cb_obj.inner_width;
const factors = range.factors ?? [];
if (!width || factors.length === 0) return;
const leaves = factors.map(f => Array.isArray(f) ? f[f.length - 1] : f);
const groups = [...new Set(factors.filter(f => Array.isArray(f) && f.length > 1)
  .map(f => f[0]))];
// a label's characters at about 7 px, and a little room between two labels
const fits = labels => labels.length === 0
  || width / labels.length >= Math.max(...labels.map(l => String(l).length)) * 7 + 8;
for (const axis of axes) {
  const major = fits(leaves) ? 'horizontal' : SLANT;
  if (axis.major_label_orientation !== major) axis.major_label_orientation = major;
  const group = fits(groups) ? 'parallel' : SLANT;
  if (groups.length > 0 && axis.group_label_orientation !== group) {
    axis.group_label_orientation = group;
  }
}
""".replace("SLANT", str(SLANT))
"""Run in the browser when a figure with a category x axis gets its width: slant the
axis's labels (and its groups') by SLANT radians when they do not fit side by side."""


NOTE_CHARS = 30
"""An x-axis label with a line longer than this is a note: shown under the chart as text
(an axis label is centred on the plot, which on a phone is about 30 characters wide)."""


def _is_note(label) -> bool:
    return isinstance(label, str) and max(map(len, label.split("\n"))) > NOTE_CHARS


FONT_SIZES = {"labels": "1.25em", "xticks": "1.025em", "yticks": "1.025em"}
"""Axis label and tick sizes of the served page's theme, set explicitly: an in-place update
sets HoloViews' own sizes (13px, 11px), which would shrink the text of an updated chart."""


@dataclass
class _Page:
    """The page updates of one served page (a Bokeh document) that wait for the event loop."""

    pending: dict = field(default_factory=dict)
    """id(owner) -> action, in the order asked."""
    scheduled: bool = False
    """Whether the event loop has been asked to make them."""
    updating_thread: int | None = None
    """The thread making them now (the event loop's), if any."""


_PAGES: WeakKeyDictionary[Document, _Page] = WeakKeyDictionary()
"""Served pages with page updates waiting or being made."""

_PAGES_LOCK = threading.Lock()
"""Guards :data:`_PAGES`: a change is computed in one of the server's threads while the
event loop makes the page updates of the change before (``panel serve --num-threads``)."""


def _served_page() -> tuple[Document | None, _Page | None]:
    document = pn.state.curdoc
    if document is None or document.session_context is None:
        return None, None
    with _PAGES_LOCK:
        return document, _PAGES.setdefault(document, _Page())


_CHANGE = threading.local()
"""Per thread: ``started``, when the change this thread computes began (None: none)."""

CHANGE_BATCH_LIMIT_S = 10.0
"""A change computed longer than this has its page updates made as they come (a change
whose end was never marked, its computation having failed, holds none back for long)."""


def change_started(*_events) -> None:
    """Mark that this thread is computing a change: page updates asked ``later`` from now on
    wait for :func:`change_computed` (a param watcher: called before the model's own)."""
    _CHANGE.started = time.monotonic()


def change_computed(*_events) -> None:
    """Mark the change computed: its page updates go to the event loop together, in one
    hold, one message to the browser (a param watcher: called after the model's own)."""
    _CHANGE.started = None
    document, page = _served_page()
    if page is not None:
        _ask_event_loop(document, page)


def _computing_change() -> bool:
    started = getattr(_CHANGE, "started", None)
    return started is not None and time.monotonic() - started < CHANGE_BATCH_LIMIT_S


def on_page(owner: object, action: Callable[[], None], later: bool = False) -> None:
    """Make a page update now, or (``later``) on a served page's event loop.

    The updates asked for ``later`` before the event loop's next tick are made together
    inside one hold, the model graph frozen (each Panel object updated from a server
    thread would otherwise be sent on its own, each walking the whole page's Bokeh model
    graph, 25–50 ms for this page). While a thread computes a change
    (:func:`change_started`), its updates wait until it is computed
    (:func:`change_computed`): the page gets the whole change in one message, drawn once,
    not the first outputs' charts while the thread, holding the interpreter, still
    computes the others. An owner waiting already is updated once (its action reads the
    current values when it runs).

    Parameters
    ----------
    owner : object
        What the action updates (a chart, a pane): one pending action per owner.
    action : callable
        Called with no argument.
    later : bool, optional
        Make it on the event loop on the next tick (a chart updated in place: HoloViews
        changes its Bokeh models, which only the event loop may do once the page is
        shown). Else it is made now.
    """
    document, page = _served_page() if later else (None, None)
    if page is None or page.updating_thread == threading.get_ident():
        action()  # now; a notebook, an export; the page updates being made
        return
    with _PAGES_LOCK:
        page.pending.setdefault(id(owner), action)  # any owner, a dict too
    if not _computing_change():
        _ask_event_loop(document, page)


def later_on_page(owner: object, action: Callable[[], None]) -> Callable[..., None]:
    """A watcher (any arguments) that asks for ``on_page(owner, action, later=True)``."""
    return lambda *_events: on_page(owner, action, later=True)


def _ask_event_loop(document: Document, page: _Page) -> None:
    """Ask the event loop's next tick to make the page's waiting updates (once)."""
    with _PAGES_LOCK:
        schedule = bool(page.pending) and not page.scheduled
        page.scheduled = page.scheduled or schedule
    if schedule:
        document.add_next_tick_callback(partial(_update_pending, document))


def _update_pending(document: Document) -> None:
    """Make the updates waiting for ``document``: all of them, even if one fails (its error
    is raised once the others are made, so the server logs it)."""
    with _PAGES_LOCK:
        page = _PAGES.setdefault(document, _Page())
        actions = list(page.pending.values())
        page.pending, page.scheduled = {}, False
        page.updating_thread = threading.get_ident()
    failed = []
    try:
        with hold(document), models_frozen(document):
            _make(actions, failed)
    finally:
        page.updating_thread = None
    if failed:
        raise failed[0]


@contextlib.contextmanager
def models_frozen(document: Document) -> Iterator[None]:
    """Bokeh's ``document.models.freeze()``, without its walk of the page when the page's
    models stayed the same.

    Leaving a freeze, Bokeh recomputes the set of the page's models by walking every model
    from the roots: 35–65 ms for this page, on every change. HoloViews freezes around each
    plot update, so updates made outside a freeze pay that walk once per chart; inside this
    one they pay it once, and not at all when no model entered or left the page. A chart
    updated in place changes column data, titles and ranges; it also takes its legend out
    of the figure and puts it back, and sets the legend's items anew — the same models. A
    chart drawn anew, a new pane or table changes the models (Bokeh calls ``invalidate``
    whenever a property that refers to models is set): the walk is made on leaving, as
    Bokeh's own freeze makes it, unless every such property refers, on leaving, to the
    models it referred to before its first change (:class:`_ReferenceChanges`), and the
    roots are the same.

    Parameters
    ----------
    document : bokeh.document.Document
        A served page, its lock held (the event loop's updates).
    """
    models = document.models
    changes = _ReferenceChanges()
    roots = list(document.roots)
    models.invalidate = changes.note  # frozen, Bokeh's own does nothing
    models._push_freeze()
    try:
        yield
    finally:
        del models.invalidate
        if changes.changed() or list(document.roots) != roots or models._freeze_count > 1:
            models._pop_freeze()  # recomputes the page's models once unfrozen
        else:
            models._freeze_count -= 1  # the same models: nothing to recompute


class _ReferenceChanges:
    """The properties referring to models set during a freeze, each with the models it
    referred to before its first change; it stands in for the document's ``invalidate``,
    which Bokeh's ``Model.trigger`` calls with the property's owner, name and old value in
    its frame. Whatever it cannot read counts as a change (the page is walked)."""

    def __init__(self):
        self._before: dict[tuple[str, str], tuple[Model, str, frozenset[str]]] = {}
        self._unknown = False

    def note(self) -> None:
        """Note the property being set (called by ``Model.trigger``)."""
        caller = sys._getframe(1).f_locals
        owner, name = caller.get("self"), caller.get("attr")
        if not isinstance(owner, Model) or not isinstance(name, str) or "old" not in caller:
            self._unknown = True
            return
        self._before.setdefault((owner.id, name), (owner, name, _referred(caller["old"])))

    def changed(self) -> bool:
        """Whether a noted property refers to other models now than before its first
        change (or a change could not be read)."""
        if self._unknown:
            return True
        try:
            return any(
                _referred(getattr(owner, name)) != before
                for owner, name, before in self._before.values()
            )
        except Exception:  # a property that cannot be read back: walk, as Bokeh does
            return True


def _referred(value) -> frozenset[str]:
    """The ids of the models a property value refers to directly."""
    ids: set[str] = set()
    visit_value_and_its_immediate_references(value, lambda model: ids.add(model.id))
    return frozenset(ids)


def _make(actions: list[Callable[[], None]], failed: list[Exception]) -> None:
    """Call every action, keeping the errors (raised once the others are made)."""
    for action in actions:
        try:
            action()
        except Exception as error:
            failed.append(error)


class WhenShown:
    """Run ``action`` whenever one of ``inputs`` changes, but only while it is shown.

    Changes made while hidden are remembered and the action runs once when shown again
    (the open tab of a dashboard: a filter change redraws what is on screen only).

    Parameters
    ----------
    action : callable
        Called with no argument.
    inputs : sequence of param.Parameter
        Parameters of live objects whose changes call for ``action``.
    shown_while : (param.Parameter, object), optional
        Shown while this parameter has this value; always shown without it (see also
        :meth:`show_while`).
    stale : bool, optional
        Whether ``action`` is due at once (as soon as shown), or only after a change.
    """

    def __init__(
        self,
        action: Callable[[], None],
        inputs: Sequence[param.Parameter],
        shown_while: tuple[param.Parameter, object] | None = None,
        stale: bool = True,
    ):
        self.inputs = list(inputs)
        self._action = action
        self._shown_while = None
        self._stale = stale
        for parameter in self.inputs:
            parameter.owner.param.watch(self._inputs_changed, parameter.name)
        if shown_while is not None:
            self.show_while(*shown_while)
        self._run_if_due()  # now: the page (or the notebook cell) is being made

    def show_while(self, parameter: param.Parameter, value: object) -> None:
        """From now on, shown only while ``parameter`` has ``value`` (shown again, a tab
        opened: the action runs then, while the tab's content is made)."""
        self._shown_while = (parameter, value)
        parameter.owner.param.watch(self._run_if_due, parameter.name)

    def _is_shown(self) -> bool:
        if self._shown_while is None:
            return True
        parameter, value = self._shown_while
        return getattr(parameter.owner, parameter.name) == value

    def _inputs_changed(self, *_events) -> None:
        self._stale = True
        self._run_if_due()

    def _run_if_due(self, *_events) -> None:
        if self._stale and self._is_shown():
            self._stale = False
            self._action()


class LiveChart(pn.viewable.Viewer):
    """A view redrawn from ``view(*inputs)`` whenever an input changes, in place if it can be.

    Parameters
    ----------
    view : callable
        Called with the current values of ``inputs``; returns a HoloViews object, or any
        Panel-displayable object (a "no data" alert, a column of charts), which is shown as is.
    inputs : sequence of param.Parameter
        Parameters of live objects (``model.param.monthly``) the view depends on.
    shown_while : (param.Parameter, object), optional
        Draw only while this parameter has this value (the open tab): changes while it does
        not are remembered and drawn when it does again.
    """

    updates = param.Integer(default=0, doc="Charts updated in place so far (for tests).")
    redraws = param.Integer(default=0, doc="Charts drawn anew so far (for tests).")

    def __init__(
        self,
        view: Callable,
        inputs: Sequence[param.Parameter],
        shown_while: tuple[param.Parameter, object] | None = None,
        **params,
    ):
        super().__init__(**params)
        self._draw_view = view
        self._inputs = list(inputs)
        self._refresh = Refresh()
        self._current = None
        self._signature: tuple | None = None
        self._drawn = None
        # inline style, no stylesheets=: a pane with its own stylesheet drawn when a tab opens
        # pointed Panel's stylesheets at the CDN
        self._title = SteadyHTML("", margin=0, sizing_mode="stretch_width")
        self._as_table = pn.widgets.Toggle(
            label="Show as table", width=130, height=30, margin=(0, 10, 6, 10)
        )
        self._table = pn.Column(sizing_mode="stretch_width", margin=0)
        self._as_table.param.watch(self._show_table, "value")
        self._note = SteadyHTML("", margin=0, sizing_mode="stretch_width", visible=False)
        self._holder = pn.Column(
            self._title, pn.Spacer(height=0), self._note, self._as_table, self._table,
            sizing_mode="stretch_width", margin=0,
        )  # fmt: skip
        self._trigger = WhenShown(self._draw_due, self._inputs, shown_while)  # now if shown

    def __panel__(self) -> pn.Column:
        return self._holder

    @property
    def title(self) -> str:
        """The title of the chart drawn now ("" for none)."""
        return chart_title(self._drawn)

    def _describe(self) -> None:
        """The chart's title above it, as text that wraps on a phone (a figure's own title
        is one canvas line per ``wrap_title`` line, cut at a phone's edge), with the text
        alternative: where its figures are as text. A result of several figures keeps their
        own titles, and the text alternative only."""
        if not isinstance(self._drawn, hv.core.Dimensioned):
            self._title.object = self._note.object = ""
            self._note.visible = False
            return
        title = html.escape(self.title or "Chart")
        where = (
            f'<span style="{SR_ONLY_STYLE}">Chart: {title}. Its figures: the "Show as table" '
            "button below it.</span>"
        )
        drawn_alone = _one_figure(self._drawn)
        if drawn_alone and self.title:
            self._title.object = (
                f'<div role="heading" aria-level="3" style="{TITLE_STYLE}">'
                f'<span aria-hidden="true">{title}</span>{where}</div>'
            )
        else:
            self._title.object = f"<div>{where}</div>"
        note = chart_note(self._drawn) if drawn_alone else ""
        self._note.object = f'<p style="{NOTE_STYLE}">{html.escape(note)}</p>' if note else ""
        self._note.visible = bool(note)

    def _show_table(self, *_events) -> None:
        if not self._as_table.value:
            self._table.objects = []
            return
        frame = chart_table(self._drawn)
        if frame.empty:
            self._table.objects = [pn.pane.Markdown("No figures to show.")]
            return
        self._table.objects = [
            pn.widgets.Tabulator(
                frame, disabled=True, show_index=False, pagination="local", page_size=12,
                sizing_mode="stretch_width", formatters=tabulator_number_formats(frame),
                widths=tabulator_widths(frame), configuration={"keybindings": False},
            )
        ]  # fmt: skip

    def _draw_due(self) -> None:
        if self._drawn is None:
            self._redraw()  # first drawing: now, as the page or the tab is made
        else:
            on_page(self._refresh, self._redraw, later=True)

    def _redraw(self) -> None:
        values = [getattr(p.owner, p.name) for p in self._inputs]
        self._draw(self._draw_view(*values))

    def _draw(self, obj) -> None:
        self._drawn = obj
        # a note in place of a chart (no data, no customer chosen) has no figures to show
        self._as_table.visible = self._table.visible = isinstance(obj, hv.core.Dimensioned)
        self._describe()
        if self._as_table.value:
            self._show_table()
        if not isinstance(obj, hv.core.Dimensioned):
            self._current = self._signature = None
            self._show(_tidy(obj))
            self.redraws += 1
            return
        signature = layout_signature(obj)
        in_place = self._current is not None and signature == self._signature
        self._current, self._signature = framewise(obj, _one_figure(obj)), signature
        if in_place:
            self._refresh.event()
            self.updates += 1
            return
        chart = hv.DynamicMap(self._frame, streams=[self._refresh])
        pane = pn.pane.HoloViews(chart, linked_axes=False, sizing_mode="stretch_width")
        self._show(pane)
        self.redraws += 1

    def _frame(self):
        return self._current

    def _show(self, drawn) -> None:
        """The drawn chart, under its title and above its note and its table toggle."""
        self._holder[1] = drawn


SR_ONLY_STYLE = (
    "position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;"
    "clip:rect(0,0,0,0);white-space:nowrap;border:0"
)
"""Text for screen readers only (the chart's text alternative)."""

TITLE_STYLE = (
    "font-weight:bold;font-size:1.15em;text-align:center;color:#222;line-height:1.3;"
    "margin:8px 12px 0 12px;overflow-wrap:anywhere"
)
"""A chart's title above it: as the figure drew it, but wrapping to the page's width."""

NOTE_STYLE = "font-size:1.05em;text-align:center;color:#333;margin:0 12px 6px 12px"
"""A chart's x-axis note under it (an axis label too long for a phone)."""

SKIPPED_COLUMNS = {"color", "x0", "x1", "y0", "y1", "low", "high", "text", "label_y"}
"""Drawing helpers, not figures: left out of a chart's table."""


def _one_figure(obj) -> bool:
    """Whether a view's result is drawn as one figure (an element or an overlay): its
    title and axis note then go to the page (a layout's figures keep their own)."""
    return isinstance(obj, hv.core.Dimensioned) and not isinstance(
        obj, hv.Layout | hv.NdLayout | hv.GridSpace
    )


def _holoviews_parts(obj) -> list:
    """The HoloViews objects of a view's result (itself, or those of a Panel layout)."""
    if isinstance(obj, hv.core.Dimensioned):
        return [obj]
    if isinstance(obj, pn.layout.ListLike):
        return [part for item in obj.objects for part in _holoviews_parts(item)]
    if isinstance(obj, pn.pane.HoloViews):
        return [obj.object]
    return []


def chart_title(obj) -> str:
    """The title of a view's result ("" when it has none), on one line: the line breaks
    :func:`dashboard.ui.style.wrap_title` put in for a phone become spaces again, which gives
    back the title as written.

    Parameters
    ----------
    obj : HoloViews object, Panel object or None

    Returns
    -------
    str
    """
    titles = []
    for part in _holoviews_parts(obj):
        title = hv.Store.lookup_options("bokeh", part, "plot").kwargs.get("title")
        if not title:
            for item in part.traverse(lambda x: x, [hv.core.Dimensioned]):
                title = hv.Store.lookup_options("bokeh", item, "plot").kwargs.get("title")
                if title:
                    break
        if title:
            titles.append(str(title).replace("\n", " "))
    return "; ".join(titles)


def chart_note(obj) -> str:
    """The x-axis label of a chart when it is a note too long for a phone's axis ("" when
    short or none), on one line.

    Parameters
    ----------
    obj : HoloViews object or None

    Returns
    -------
    str
    """
    if not isinstance(obj, hv.core.Dimensioned):
        return ""
    for item in obj.traverse(lambda x: x, [hv.core.Dimensioned]):
        label = hv.Store.lookup_options("bokeh", item, "plot").kwargs.get("xlabel")
        if label:
            return str(label).replace("\n", " ") if _is_note(label) else ""
    return ""


def chart_table(obj, max_rows: int = 2000) -> pd.DataFrame:
    """The figures a chart draws, as a table (its text alternative).

    Parameters
    ----------
    obj : HoloViews object, Panel object or None
        A view's result.
    max_rows : int
        Rows kept at most.

    Returns
    -------
    DataFrame
        The data of each drawn element (an overlay's series side by side in long form),
        dates as ``YYYY-MM`` text; empty when the chart draws nothing.
    """
    frames = []
    for part in _holoviews_parts(obj):
        items = list(part) if isinstance(part, hv.Overlay) else [part]
        for item in items:
            if isinstance(
                item, hv.VSpan | hv.HSpan | hv.VSpans | hv.HSpans | hv.VLine | hv.HLine | hv.Labels
            ):
                continue
            if isinstance(item, hv.NdOverlay | hv.HoloMap | hv.Element):
                frames.append(item.dframe())
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True).head(max_rows)
    frame = frame[[c for c in frame.columns if c not in SKIPPED_COLUMNS]]
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.strftime("%Y-%m")
        elif frame[column].dtype == object or isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str)
    return frame.drop_duplicates().reset_index(drop=True)


def tabulator_number_formats(frame: pd.DataFrame) -> dict:
    """Tabulator formatters rounding a chart table's floats to 4 significant places."""
    return {
        column: {"type": "money", "precision": 4, "thousand": ","}
        for column in frame.columns
        if pd.api.types.is_float_dtype(frame[column])
    }


def _tidy(obj):
    """A Panel result with its HoloViews charts drawn like the others (no toolbar)."""
    if isinstance(obj, pn.layout.ListLike):
        obj.objects = [
            framewise(item) if isinstance(item, hv.core.Dimensioned) else item
            for item in obj.objects
        ]
    return obj
