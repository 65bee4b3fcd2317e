"""What makes the served page usable on a phone, with a keyboard and while it works.

* :class:`BusyIndicator` — this session's "Updating…" note: the browser turns it on as soon
  as a control changes (no round trip), the server turns it off once this session's change
  is computed and drawn. Panel's own indicator is process-wide.
* :func:`answer_at_once` — a control whose change the server takes in as it comes (Panel
  holds each change 50 ms, waiting for more of the same widget).
* :func:`month_slider` — the bill-month range slider, by whole months.
* :func:`checked_entry` — a text entry of the *Advanced* card checked before it reaches the
  model: a value it would refuse gets an inline message (and no traceback in the log).
* :func:`helper` — a script that names inputs and slider handles, gives the tabs their roles
  and arrow keys (the tab bar first in the keyboard order), shows the keyboard focus inside
  every component, keeps Tab from leaving the focus nowhere (a table and a multi-select are
  one tab stop each) and folds the sidebar away on a narrow screen; :data:`PAGE_CSS` the
  responsive rules.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from typing import ClassVar

import pandas as pd
import panel as pn
import param
from bokeh.models import CustomJSTickFormatter
from panel.custom import JSComponent

from dashboard.ui.live import on_page
from dashboard.ui.style import SteadyHTML

SETTLE_MS = 300
"""How often a busy note checks whether this session's change is over."""

BUSY_TIMEOUT_S = 8.0
"""A busy note with no change to wait for is cleared after this long."""


def answer_at_once(widget: pn.widgets.Widget) -> pn.widgets.Widget:
    """Have the server take ``widget``'s changes in as they come; return ``widget``.

    Panel holds every change from the browser for 50 ms (a widget's ``_debounce``), waiting
    for more of the same widget: a slider's drag, a field's keys. A click on a choice, a
    radio button or a tab, a slider's release, an entry's Enter come alone: there the hold
    is a pure delay, a tenth of what a filter change took at 1,000,000 customers. Only for
    controls whose every change is one event (not a slider bound to its moving ``value``).

    Parameters
    ----------
    widget : panel.widgets.Widget

    Returns
    -------
    panel.widgets.Widget
    """
    widget._debounce = 0
    return widget


class _SpinnerShownFromTheBrowser(pn.indicators.LoadingSpinner):
    """A loading spinner whose ``visible``, set by a JavaScript callback in the browser,
    reaches the server. (An indicator's properties otherwise only go from the server to the
    browser: the server still held the note hidden once the browser had shown it, and
    hiding it again sent nothing — the note stayed on after every change.) Taken in at
    once, as the controls' changes are (:func:`answer_at_once`): held back, the browser's
    "shown" overtaken by the change it announces, it reached the server after the change
    was drawn, and the note stayed on for another check (:data:`SETTLE_MS`)."""

    _linked_properties = ("visible",)
    _debounce: ClassVar[int] = 0


class BusyIndicator(pn.viewable.Viewer):
    """This session's "Updating…" note (see the module's docstring).

    Attach it to every control with :meth:`watching`, and call :meth:`changed` whenever the
    model has taken a change in (the note clears once the page is redrawn).
    """

    def __init__(self, **params):
        super().__init__(**params)
        self.spinner = _SpinnerShownFromTheBrowser(
            value=True,  # spinning whenever shown
            visible=False,
            name="Updating…",
            size=22,
            color="light",
            bgcolor="dark",
            margin=(10, 10),
        )
        self._since = 0.0
        self._last_done = 0.0
        self.spinner.param.watch(self._on_busy, "visible")

    def __panel__(self) -> pn.indicators.LoadingSpinner:
        return self.spinner

    def watching(self, widget: pn.widgets.Widget) -> pn.widgets.Widget:
        """Turn the note on in the browser whenever ``widget`` changes; return ``widget``.

        Parameters
        ----------
        widget : panel.widgets.Widget

        Returns
        -------
        panel.widgets.Widget
        """
        widget.jscallback(value="busy.visible = true;", args={"busy": self.spinner})
        return widget

    def changed(self, *_events) -> None:
        """The model took a change in: clear the note with the change's page updates (made
        together on the event loop, :func:`dashboard.ui.live.on_page`), after them."""
        document = pn.state.curdoc
        if document is None or document.session_context is None:
            return
        on_page(self, self._done, later=True)

    def _done(self) -> None:
        self._last_done = time.monotonic()
        self._clear()

    def _clear(self) -> None:
        self.spinner.visible = False  # no message when already hidden

    def _on_busy(self, event) -> None:
        if not event.new:
            return
        self._since = time.monotonic()
        document = pn.state.curdoc
        if document is not None and document.session_context is not None:
            document.add_timeout_callback(self._settle, SETTLE_MS)

    def _settle(self) -> None:
        """Clear a note whose change is already over (or that waits for nothing)."""
        if not self.spinner.visible:
            return
        now = time.monotonic()
        if now - self._last_done < 2.0 or now - self._since > BUSY_TIMEOUT_S:
            self._clear()
            return
        pn.state.curdoc.add_timeout_callback(self._settle, SETTLE_MS)


# --- the bill-month slider ------------------------------------------------------------------


def month_labels(months: pd.DatetimeIndex) -> list[str]:
    """``"Jan 2022"`` ... for each month."""
    return [f"{month:%b %Y}" for month in months]


def month_slider(model) -> pn.widgets.IntRangeSlider:
    """A range slider over the cube's months that moves by whole months, kept in step with
    ``model.period`` both ways.

    Parameters
    ----------
    model : CollectionsModel

    Returns
    -------
    panel.widgets.IntRangeSlider
    """
    months = model.cube.months
    labels = month_labels(months)
    formatter = CustomJSTickFormatter(
        code=f"const m = {json.dumps(labels)}; return m[Math.round(tick)] ?? '';"
    )
    slider = pn.widgets.IntRangeSlider(
        name="Bill months",
        start=0,
        end=max(len(months) - 1, 1),
        value=_indexes(model, months),
        step=1,
        format=formatter,
        sizing_mode="stretch_width",
    )

    def to_model(event) -> None:
        low, high = event.new
        period = (months[low].to_pydatetime(), months[high].to_pydatetime())
        if model.period != period:
            model.period = period

    def to_slider(*_events) -> None:
        value = _indexes(model, months)
        if tuple(slider.value) != value:
            with param.edit_constant(slider):  # value_throttled is the browser's to set
                slider.param.update(value=value, value_throttled=value)

    slider.param.watch(to_model, "value_throttled")  # on release, one event: at once
    answer_at_once(slider)
    model.param.watch(to_slider, "period")
    return slider


def _indexes(model, months: pd.DatetimeIndex) -> tuple[int, int]:
    start, end = model.month_range
    if start is None:
        return 0, len(months) - 1
    low = int(months.searchsorted(start))
    high = int(months.searchsorted(end, side="right")) - 1
    return min(low, len(months) - 1), max(min(high, len(months) - 1), 0)


# --- checked entries ------------------------------------------------------------------------


def checked_entry(
    model, name: str, label: str, parse: Callable[[str], object], disabled: bool = False
) -> pn.Column:
    """A text entry for ``model.<name>`` that only passes values the model accepts.

    Parameters
    ----------
    model : param.Parameterized
    name : str
        The parameter set.
    label : str
        The entry's visible name.
    parse : callable
        ``parse(text)`` -> the value, or ValueError with what is wrong.
    disabled : bool
        Read only (the build settings of ``serve --fixed-window``).

    Returns
    -------
    panel.Column
        The entry and its message (empty while the value is fine).
    """
    entry = answer_at_once(
        pn.widgets.TextInput(
            name=label, value=_shown(getattr(model, name)), disabled=disabled,
            sizing_mode="stretch_width",
        )
    )  # fmt: skip
    message = SteadyHTML("", margin=(0, 10), sizing_mode="stretch_width")

    def apply(event) -> None:
        try:
            value = parse(event.new)
            if value != getattr(model, name):
                setattr(model, name, value)
        except (ValueError, TypeError) as error:  # param and SourceError are ValueErrors
            message.object = _error_html(label, error)
            return
        message.object = ""

    def follow(*_events) -> None:
        shown = _shown(getattr(model, name))
        if entry.value != shown and not message.object:
            entry.value = shown

    entry.param.watch(apply, "value")
    model.param.watch(follow, name)
    return pn.Column(entry, message, sizing_mode="stretch_width", margin=0)


def _shown(value) -> str:
    return "" if value is None else str(value)


def _error_html(label: str, error: Exception) -> str:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return (
        f'<div role="alert" style="color:#b71c1c;font-size:13px">{html.escape(label)}: '
        f"{html.escape(reason)}. The figures still use the previous value.</div>"
    )


# --- the page helper (accessibility and small screens) --------------------------------------

FOCUS_CSS = """
:focus-visible { outline: 3px solid #0b5394 !important; outline-offset: 2px !important; }
.noUi-handle:focus-visible, .bk-tab:focus-visible { outline: 3px solid #0b5394 !important; }
.bk-header { overflow-x: auto; overflow-y: hidden; flex-wrap: nowrap; scrollbar-width: thin;
  max-width: 100%; min-width: 0; }
.bk-header .bk-tab { white-space: nowrap; flex: 0 0 auto; }
@media (min-width: 801px) {
  .bk-header, .bk-header .bk-headers-wrapper { overflow: visible; flex-wrap: wrap; }
  .bk-header .bk-headers-wrapper { flex: 1 1 100%; min-width: 0; row-gap: 2px; }
}
@media (max-width: 800px) {
  .bk-btn-group { flex-wrap: wrap; row-gap: 2px; }
  .bk-btn-group > .bk-btn { flex: 1 0 auto; white-space: normal; }
}
"""
"""Added to every shadow root of the page: visible keyboard focus, a tab bar that wraps
onto a second row on a wider screen (every tab in sight) and scrolls sideways on a phone
(one row; a wrapped bar would push the charts a screen down), and radio buttons that wrap
onto more rows on a phone (one row cut "Early (41)" to "Early (4"). (Not as
``stylesheets=`` of the components: those are sent again with each update, from the CDN
when made in a worker thread.)"""

HELPER_JS = """
const FOCUS_CSS = __FOCUS_CSS__;
function titleOf(root) {
  const t = root.querySelector('.bk-slider-title, label, .bk-input-group > label');
  return t ? t.textContent.replace(/[:\\s]+$/, '').trim() : '';
}
function nameInputs(root) {
  const title = titleOf(root);
  for (const input of root.querySelectorAll('input, select, textarea')) {
    if (input.type === 'hidden' || input.getAttribute('aria-label')) continue;
    const own = input.id && root.querySelector(`label[for="${input.id}"]`);
    if (own && own.textContent.trim()) continue;
    const label = input.closest('label');
    if (label && label.textContent.trim()) continue;
    input.setAttribute('aria-label', title || input.placeholder || 'value');
  }
  for (const handle of root.querySelectorAll('.noUi-handle')) {
    if (handle.getAttribute('aria-label')) continue;
    const upper = handle.classList.contains('noUi-handle-upper');
    const many = root.querySelectorAll('.noUi-handle').length > 1;
    const base = title || 'slider';
    handle.setAttribute('aria-label', many ? `${base}: ${upper ? 'to' : 'from'}` : base);
  }
}
let openedTab = null;
function keepTabFocus() {
  // opening a tab draws the tab bar again: the tab that had the focus is gone, and the
  // focus with it. The new tab of that name takes it back (for a few seconds after).
  if (!openedTab || Date.now() > openedTab.until) { openedTab = null; return; }
  const lost = !document.activeElement || document.activeElement === document.body;
  if (!lost || !document.hasFocus()) return;  // focused elsewhere, or out of the page
  for (const root of roots()) {
    for (const tab of root.querySelectorAll('.bk-tab')) {
      if (tab.isConnected && tab.textContent.trim() === openedTab.name) { tab.focus(); return; }
    }
  }
}
function tabOpened(tab) {
  openedTab = { name: tab.textContent.trim(), until: Date.now() + 5000 };
}
function tabRoles(root) {
  for (const header of root.querySelectorAll('.bk-header')) {
    const tabs = [...header.querySelectorAll('.bk-tab')];
    if (!tabs.length) continue;
    header.setAttribute('role', 'tablist');
    if (!root.__tabsWatched) {
      // a tab bar drawn again: in order, named and focused again at once
      root.__tabsWatched = true;
      new MutationObserver(() => { tabRoles(root); keepTabFocus(); }).observe(
        root, { childList: true, subtree: true }
      );
    }
    // Bokeh puts the tab bar after the open tab's content (a grid area draws it above):
    // first in the document too, so that Tab reaches the tabs before what they show
    const first = [...header.parentNode.children].find((c) => c.tagName === 'DIV');
    const active = header.getRootNode().activeElement;
    if (first !== header && !(active && header.contains(active))) {
      header.parentNode.insertBefore(header, first);
    }
    tabs.forEach((tab, i) => {
      const active = tab.classList.contains('bk-active');
      tab.setAttribute('role', 'tab');
      tab.setAttribute('aria-selected', active ? 'true' : 'false');
      tab.setAttribute('tabindex', active ? '0' : '-1');
      if (tab.dataset.keys) return;
      tab.dataset.keys = '1';
      tab.addEventListener('keydown', (event) => {
        const all = [...header.querySelectorAll('.bk-tab')];
        let next = null;
        if (event.key === 'ArrowRight') next = all[(i + 1) % all.length];
        else if (event.key === 'ArrowLeft') next = all[(i - 1 + all.length) % all.length];
        else if (event.key === 'Home') next = all[0];
        else if (event.key === 'End') next = all[all.length - 1];
        else if (event.key === 'Enter' || event.key === ' ') {
          tabOpened(tab); tab.click(); event.preventDefault();
        }
        if (next) { tabOpened(next); next.click(); next.focus(); event.preventDefault(); }
      });
      tab.addEventListener('click', () => tabOpened(tab));
    });
  }
}
function focusStyle(root) {
  // a component drawn again empties its shadow root: the rule is added back then
  if (!(root instanceof ShadowRoot) || root.__focusStyle?.parentNode === root) return;
  const style = document.createElement('style');
  style.textContent = FOCUS_CSS;
  root.appendChild(style);
  root.__focusStyle = style;
}
function styleFocused() {
  // the focused element's shadow roots get the focus rule at once: a component drawn
  // since the last round of fix() (every 0.7 s) shows its keyboard focus too
  let node = document.activeElement;
  while (node && node.shadowRoot) {
    focusStyle(node.shadowRoot);
    untabbable(node.shadowRoot);
    node = node.shadowRoot.activeElement;
  }
}
function sidebarButton() {
  const button = document.getElementById('sidebar-button');
  if (!button) return;
  const sidebar = document.getElementById('sidebar');
  const open = sidebar && !sidebar.classList.contains('hidden');
  button.setAttribute('aria-expanded', open ? 'true' : 'false');
  if (button.dataset.keys) return;
  button.dataset.keys = '1';
  button.setAttribute('role', 'button');
  button.setAttribute('tabindex', '0');
  button.setAttribute('aria-label', 'Show or hide the controls');
  button.setAttribute('aria-controls', 'sidebar');
  button.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { button.click(); event.preventDefault(); }
  });
}
function roots() {
  const found = [document];
  const walk = (root) => {
    for (const node of root.querySelectorAll('*')) {
      if (node.shadowRoot) { found.push(node.shadowRoot); walk(node.shadowRoot); }
    }
  };
  walk(document);
  return found;
}
function charts(root) {
  // a chart's event layer takes the focus for tools the charts do not have: out of the
  // tab order (each chart's figures are one "Show as table" button away)
  for (const layer of root.querySelectorAll('.bk-events[tabindex]:not([tabindex="-1"])')) {
    layer.setAttribute('tabindex', '-1');
  }
}
function untabbable(root) {
  // Tables (all read-only here: disabled=True): Tabulator makes every cell a tab stop
  // (tabindex 0, for its editors) and blurs it as soon as it takes the focus, which left
  // the focus nowhere once per cell; the table's scrolling body stays the table's one tab
  // stop (and its page buttons). Choices.js option
  // lists scroll, and Chromium makes a scrolling box a tab stop: the list closes when the
  // input loses the focus, taking the focus with it. Both go out of the tab order.
  for (const node of root.querySelectorAll(
    '.tabulator-cell[tabindex]:not([tabindex="-1"]), .choices__list[role="listbox"]:not([tabindex])'
  )) {
    node.setAttribute('tabindex', '-1');
  }
}
function watch(root) {
  // cells are drawn again on each page, sort and update: fixed at once, not on the next
  // round of fix() (a Tab press in between would land on them); so are a table's ARIA
  // roles (a table given new rows, as the watch list once its score is computed, was a
  // grid without rows to a screen reader until then)
  if (root.__watched || !root.querySelector('.tabulator, .choices')) return;
  root.__watched = true;
  new MutationObserver(() => { untabbable(root); tables(root); }).observe(
    root, { subtree: true, childList: true, attributes: true, attributeFilter: ['tabindex'] }
  );
}
function tables(root) {
  // Tabulator's grid holds its focusable scrolling body and its page buttons directly:
  // give ARIA a row group and a row with a cell, as a grid must own
  for (const body of root.querySelectorAll('.tabulator-tableholder:not([role])')) {
    body.setAttribute('role', 'rowgroup');
    for (const inner of body.querySelectorAll(':scope > .tabulator-table')) {
      inner.setAttribute('role', 'none');
    }
  }
  for (const footer of root.querySelectorAll('.tabulator-footer:not([role])')) {
    footer.setAttribute('role', 'row');
    for (const part of footer.querySelectorAll(':scope > *')) part.setAttribute('role', 'gridcell');
  }
}
function landmarks() {
  const main = document.getElementById('main');
  if (main && !main.getAttribute('role')) main.setAttribute('role', 'main');
  const sidebar = document.getElementById('sidebar');
  if (sidebar && !sidebar.getAttribute('role')) {
    sidebar.setAttribute('role', 'complementary');
    sidebar.setAttribute('aria-label', 'Controls');
  }
  // the template's sidebar list holds divs, not list items: not a list
  for (const list of document.querySelectorAll('#sidebar ul:not([role])')) {
    list.setAttribute('role', 'none');
  }
}
function fix() {
  sidebarButton();
  landmarks();
  for (const root of roots()) {
    focusStyle(root); nameInputs(root); tabRoles(root); tables(root); charts(root);
    untabbable(root); watch(root);
  }
  keepTabFocus();
}
export function render({ model, el }) {
  if (window.__collectionsHelper) return;
  window.__collectionsHelper = true;
  if (window.matchMedia('(max-width: 800px)').matches && typeof closeNav === 'function') {
    const sidebar = document.getElementById('sidebar');
    if (sidebar && !sidebar.classList.contains('hidden')) closeNav();
  }
  fix();
  setInterval(fix, 700);
  window.addEventListener('focusin', styleFocused, true);
  window.addEventListener('keyup', styleFocused, true);
  // the user moved on from the tab opened: its focus is not brought back any more
  window.addEventListener('pointerdown', (event) => {
    if (!event.composedPath().some((n) => n.classList?.contains('bk-tab'))) openedTab = null;
  }, true);
  window.addEventListener('keydown', (event) => {
    if (event.key === 'Tab') openedTab = null;
  }, true);
}
""".replace("__FOCUS_CSS__", json.dumps(FOCUS_CSS))


class PageHelper(JSComponent):
    """Runs :data:`HELPER_JS` in the page once (it draws nothing)."""

    _esm = HELPER_JS


def helper() -> PageHelper:
    """The page helper (see the module's docstring): add it once to the page."""
    return PageHelper(height=0, width=0, margin=0)


PAGE_CSS = """
html, body { overflow-x: hidden; }
#main .card-margin, #main .bk-panel-models-layout-Column { max-width: 100%; }
@media (max-width: 800px) {
  #header .title { overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
    font-size: 1.1rem; }
  #sidebar:not(.hidden) { position: fixed; z-index: 100; top: 48px; bottom: 0; left: 0;
    overflow-y: auto; background: white; box-shadow: 2px 0 8px rgba(0,0,0,.3); }
  .main .card-margin, #main > * { margin: 0 !important; }
  #main { padding: 4px !important; }
}
"""
"""Page rules: nothing wider than the screen; on a phone the sidebar opens over the page."""
