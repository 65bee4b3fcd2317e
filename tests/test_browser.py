"""The served dashboard in a real browser: Debian's Chromium driven by Playwright.

One server and one page for the module: the page must render with no console error and
no request leaving 127.0.0.1, and each control must change what the charts show.
"""

from __future__ import annotations

import urllib.parse

import pytest

from dashboard.sources import DEFAULT_SOURCE

from browser import (
    chart_data,
    chromium_page,
    require_chromium,
    served_dashboard,
    titles,
    wait_for_change,
    wait_rendered,
    wait_until,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard_page():
    require_chromium()
    with served_dashboard(DEFAULT_SOURCE) as url:
        with chromium_page() as (page, errors, outside):
            page.goto(f"{url}?tab=Trends")  # the tab of the metric and the segmentation
            wait_rendered(page)
            yield page, errors, outside


def trend_title(page) -> str:
    return [t for t in titles(page) if " by month ·" in t][-1]


def test_page_renders_offline_without_errors(dashboard_page):
    page, errors, outside = dashboard_page
    assert trend_title(page).startswith("Default rate by month")
    assert errors == []
    assert outside == []
    # the header states the as-of date and the counting rule
    assert page.get_by_text("rates count mature bills only", exact=False).count() >= 1


def test_changing_the_segment_redraws_the_segment_charts(dashboard_page):
    page, errors, _ = dashboard_page
    before = titles(page)
    assert any("by month and income band" in t for t in before)
    segment = page.locator("select").filter(
        has=page.locator("option", has_text="Prefers direct debit")
    )
    segment.select_option(label="Region")
    after = wait_for_change(page, titles, before)
    assert any("by month and region" in t for t in after)
    legend = page.evaluate(
        "() => [...Bokeh.documents[0].all_models].filter(m => m.type === 'LegendItem')"
        ".map(m => m.label && m.label.value)"
    )
    assert "Reading" in legend
    assert errors == []


def test_changing_the_metric_changes_the_trend_data(dashboard_page):
    page, errors, _ = dashboard_page
    before = chart_data(page)
    page.get_by_text("Collection rate", exact=True).first.click()
    wait_until(
        page,
        lambda p: sum(t.startswith("Collection rate by month") for t in titles(p)) == 2,
        what="both trend charts show the collection rate",
    )
    assert "metric=collection_rate" in page.url  # the view can be shared as a link
    assert chart_data(page) != before
    assert errors == []


def test_changing_the_date_range_changes_the_months_drawn(dashboard_page):
    page, errors, _ = dashboard_page

    page.wait_for_timeout(1500)  # let earlier changes finish redrawing
    before = chart_data(page)
    page.evaluate(  # the bill-month slider moves by whole months: its values are month numbers
        """() => {
        const slider = [...Bokeh.documents[0].all_models].find(
            m => m.title === 'Bill months' && Array.isArray(m.value));
        slider.value = [24, 35];
        slider.value_throttled = [24, 35];
    }"""
    )
    wait_until(page, lambda p: "Jan 2024 – Dec 2024" in " ".join(titles(p)))
    page.wait_for_timeout(1000)  # let every chart of the tab redraw
    drawn = [d for d in chart_data(page) if d.get("month")]  # a trend keeps empty layers
    assert drawn != [d for d in before if d.get("month")]
    assert {len(set(d["month"])) for d in drawn} == {12}, [
        {k: v[:3] for k, v in d.items() if k != "__id__"} for d in drawn
    ]
    assert any("Jan 2024 – Dec 2024" in t for t in titles(page))
    wait_until(page, lambda p: "period=" in p.url, what="the period in the URL")
    assert errors == []


def test_a_shared_link_reopens_the_same_view(dashboard_page):
    page, errors, _ = dashboard_page
    base = page.url.split("?")[0]
    page.goto(f'{base}?tab=Trends&segment_by=tariff&metric=billed&region=["Reading"]')
    wait_rendered(page)
    assert page.locator(".bk-tab.bk-active").inner_text().strip() == "Trends"
    wait_until(
        page,
        lambda p: any(t.startswith("Billed £ by month and tariff") for t in titles(p)),
        what="the linked metric and segment",
    )
    assert any("Region: Reading" in t for t in titles(page))
    page.locator(".bk-tab").filter(has_text="Worklist").click()  # the open tab is in the link
    wait_until(page, lambda p: "tab=Worklist" in p.url, what="the Worklist tab in the link")
    assert errors == []


def query_of(page) -> dict[str, list[str]]:
    """The page's address's query parameters, each with its values as written."""
    return urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)


@pytest.mark.parametrize(
    ("asked", "shown"), [("", "Debt"), ("Roll & cure", "Roll & cure"), ("No such tab", "Debt")]
)
def test_a_link_opens_the_tab_it_names_or_the_first(dashboard_page, asked, shown):
    page, errors, _ = dashboard_page
    base = page.url.split("?")[0]
    page.goto(f"{base}?tab={urllib.parse.quote(asked)}" if asked else base)
    wait_rendered(page)
    assert page.locator(".bk-tab.bk-active").inner_text().strip() == shown

    # the link names the tab shown; a name the page has no tab of leaves the address
    expected = [asked] if asked and asked == shown else []
    wait_until(
        page, lambda p: query_of(p).get("tab", []) == expected, what="the link naming the tab"
    )
    assert len(titles(page)) >= 1  # its charts drawn
    page.goto(f"{base}?tab=Trends")  # as the module's other tests expect it
    wait_rendered(page)
    assert errors == []


def test_a_link_naming_no_tab_keeps_its_other_settings(dashboard_page):
    page, errors, _ = dashboard_page
    base = page.url.split("?")[0]
    page.goto(f'{base}?region=["Reading"]&tab=Nowhere&metric=billed')
    wait_rendered(page)
    assert page.locator(".bk-tab.bk-active").inner_text().strip() == "Debt"
    wait_until(page, lambda p: "tab" not in query_of(p), what="the bad tab name out of the link")
    assert query_of(page) == {"region": ['["Reading"]'], "metric": ["billed"]}
    assert any("Region: Reading" in t for t in titles(page))  # the filter still applied
    page.goto(f"{base}?tab=Trends")  # as the module's other tests expect it
    wait_rendered(page)
    assert errors == []
