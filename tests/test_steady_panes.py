"""Text panes updated in place keep the stylesheets they were drawn with
(:class:`dashboard.ui.style.SteadyHTML` and its Markdown and Alert kin): Panel sent a text
pane's stylesheets again with its new text, worked out for a pane standing alone, and the
first change after a served page loaded restyled every updated pane (430 ms against 220)."""

from __future__ import annotations

import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import ImportedStyleSheet

from dashboard.sources import DEFAULT_SOURCE
from dashboard.ui.style import SteadyAlert, SteadyHTML, SteadyMarkdown

from browser import (
    chromium_page,
    require_chromium,
    served_dashboard,
    titles,
    wait_for_change,
    wait_rendered,
)

DRAWN_WITH = ["page.css"]
"""Stylesheets a template gave a pane when the page was made (a pane standing alone would
get others)."""


def urls(model) -> list[str]:
    return [
        sheet.url if isinstance(sheet, ImportedStyleSheet) else sheet for sheet in model.stylesheets
    ]


def drawn_in_page(pane: pn.viewable.Viewable):
    """The pane's model in a document, with the stylesheets the page's template gave it."""
    document = Document()
    model = pane.get_root(document)
    document.add_root(model)
    model.stylesheets = [ImportedStyleSheet(url=url) for url in DRAWN_WITH]
    return model


@pytest.mark.parametrize(
    ("pane", "text"),
    [
        (SteadyHTML("<p>first</p>"), "<p>second</p>"),
        (SteadyMarkdown("**first**"), "**second**"),
        (SteadyAlert("first", alert_type="info"), "second"),
    ],
)
def test_a_steady_pane_gets_its_new_text_and_keeps_its_stylesheets(pane, text):
    model = drawn_in_page(pane)
    pane.object = text
    assert "second" in model.text
    assert urls(model) == DRAWN_WITH


def test_panels_own_pane_is_restyled_with_its_new_text():
    # what the steady panes avoid: the test would not see a difference without it
    pane = pn.pane.HTML("<p>first</p>")
    model = drawn_in_page(pane)
    pane.object = "<p>second</p>"
    assert urls(model) != DRAWN_WITH


def test_pn_panel_never_picks_a_steady_pane_for_a_string():
    assert type(pn.panel("some text")) is pn.pane.Markdown
    assert type(pn.panel("<p>html</p>")) in (pn.pane.Markdown, pn.pane.HTML)


STYLESHEETS_JS = """() => Object.fromEntries([...Bokeh.documents[0].all_models]
  .filter(m => typeof m.text === 'string' && Array.isArray(m.stylesheets))
  .map(m => [m.id, m.stylesheets.map(s => typeof s === 'string' ? s : s.id).join(' ')]))"""
"""Every text model of the page: id -> its stylesheets."""


CHOOSE_A_REGION_JS = """() => {
  const region = [...Bokeh.documents[0].all_models].find(m => m.title === 'Region'
    && Array.isArray(m.value));
  const first = region.options[0];
  region.value = [Array.isArray(first) ? first[0] : first];
}"""


@pytest.mark.browser
def test_the_first_change_of_a_served_page_restyles_no_text_pane():
    require_chromium()
    with served_dashboard(DEFAULT_SOURCE) as url, chromium_page() as (page, errors, _):
        page.goto(url)
        wait_rendered(page)
        before = page.evaluate(STYLESHEETS_JS)
        shown = titles(page)
        page.evaluate(CHOOSE_A_REGION_JS)  # as a click on a region does
        wait_for_change(page, titles, shown)
        page.wait_for_timeout(500)  # the tiles and notes come with the charts
        after = page.evaluate(STYLESHEETS_JS)
        kept = set(before) & set(after)
        assert len(kept) >= 4  # the header, tiles, notes and chart titles stayed
        assert {id_: after[id_] for id_ in kept} == {id_: before[id_] for id_ in kept}
        assert errors == []
