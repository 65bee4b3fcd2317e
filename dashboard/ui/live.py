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

from collections.abc import Callable, Sequence
from functools import partial
from weakref import WeakKeyDictionary

import holoviews as hv
import panel as pn
import param
from bokeh.document import Document
from panel.io.document import hold

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
        type, group, label, the values of its categorical key dimensions (the factors of a
        categorical axis) and its tick number formats. Numeric data, titles, axis labels,
        ranges and hover text may differ between two objects of equal signature.
    """
    parts = []
    for item in obj.traverse(lambda x: x, [hv.core.Dimensioned]):
        if isinstance(item, hv.Element):
            parts.append((type(item).__name__, item.group, item.label, *_element_shape(item)))
        else:
            parts.append((type(item).__name__, tuple(getattr(item, "keys", list)())))
    return tuple(parts)


def _element_shape(element: hv.Element) -> tuple:
    factors = []
    for dim in element.kdims:
        values = element.dimension_values(dim, expanded=False)
        if values.dtype.kind in "OUS":
            factors.append(tuple(map(str, values)))
    options = hv.Store.lookup_options("bokeh", element, "plot").kwargs
    formats = sorted(
        (name, str(getattr(value, "format", value)))
        for name, value in options.items()
        if name.endswith("formatter")
    )
    return tuple(factors), tuple(formats)


def framewise(obj):
    """``obj`` with ranges recomputed for every frame (not frozen at the first one).

    ``shared_axes=False`` (which the views set, so that charts side by side do not zoom
    together) also freezes a plot's ranges across frames; here it is turned back on, and
    :class:`LiveChart`'s pane does not link its axes with other panes instead. Axis text
    sizes are set explicitly (:data:`FONT_SIZES`).
    """
    names = {type(item).__name__ for item in obj.traverse(lambda x: x, [hv.core.Dimensioned])}
    norms = (getattr(hv.opts, name)(framewise=True) for name in sorted(names))
    return obj.opts(*norms).opts(shared_axes=True, fontsize=FONT_SIZES)


FONT_SIZES = {"labels": "1.25em", "xticks": "1.025em", "yticks": "1.025em"}
"""Axis label and tick sizes of the served page's theme, set explicitly: an in-place update
sets HoloViews' own sizes (13px, 11px), which would shrink the text of an updated chart."""


_PENDING: WeakKeyDictionary[Document, list[LiveChart]] = WeakKeyDictionary()
"""Charts of a served page waiting to be redrawn at the end of the current change."""


def _draw_later(document: Document, chart: LiveChart) -> None:
    """Redraw ``chart`` once the change being processed is over, with the page's other
    charts.

    Every in-place update of a HoloViews plot ends by walking the whole page's Bokeh model
    graph (``Document.models.recompute``, about 50 ms for this page). Drawing all of a
    change's charts inside one frozen hold walks it once; a chart that several outputs of
    the change touch is drawn once too.
    """
    pending = _PENDING.setdefault(document, [])
    if chart in pending:
        return
    pending.append(chart)
    if len(pending) == 1:
        document.add_next_tick_callback(partial(_draw_pending, document))


def _draw_pending(document: Document) -> None:
    charts = _PENDING.pop(document, [])
    with hold(document, freeze=True):
        for chart in charts:
            chart._redraw()


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
        self._run_if_due()

    def show_while(self, parameter: param.Parameter, value: object) -> None:
        """From now on, shown only while ``parameter`` has ``value``."""
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
        self._holder = pn.Column(sizing_mode="stretch_width", margin=0)
        self._trigger = WhenShown(self._draw_due, self._inputs, shown_while)  # draws now if shown

    def __panel__(self) -> pn.Column:
        return self._holder

    def _draw_due(self) -> None:
        document = pn.state.curdoc
        if self._current is None or document is None or document.session_context is None:
            self._redraw()  # first drawing, notebook, export: now
        else:
            _draw_later(document, self)

    def _redraw(self) -> None:
        values = [getattr(p.owner, p.name) for p in self._inputs]
        self._draw(self._draw_view(*values))

    def _draw(self, obj) -> None:
        if not isinstance(obj, hv.core.Dimensioned):
            self._current = self._signature = None
            self._holder.objects = [obj]
            self.redraws += 1
            return
        signature = layout_signature(obj)
        in_place = self._current is not None and signature == self._signature
        self._current, self._signature = framewise(obj), signature
        if in_place:
            self._refresh.event()
            self.updates += 1
            return
        chart = hv.DynamicMap(self._frame, streams=[self._refresh])
        pane = pn.pane.HoloViews(chart, linked_axes=False, sizing_mode="stretch_width")
        self._holder.objects = [pane]
        self.redraws += 1

    def _frame(self):
        return self._current
