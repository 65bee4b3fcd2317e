"""Strings from the data are shown as text: no markup from a region or band name runs."""

from __future__ import annotations

import json
import urllib.parse

import pandas as pd
import pytest

from dashboard.sources import DEFAULT_SOURCE

from browser import chromium_page, served_dashboard, titles, wait_rendered, wait_until

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__xss = 1</script>"
IMAGE = '"><img src=x onerror="window.__xss = 2">'


@pytest.fixture(scope="module")
def hostile_source(tmp_path_factory):
    """The demo set with markup in region and income band names."""
    folder = tmp_path_factory.mktemp("hostile")
    for table in ("bills", "payments", "collections_actions"):
        (folder / f"{table}.csv").write_bytes((DEFAULT_SOURCE / f"{table}.csv").read_bytes())
    customers = pd.read_csv(DEFAULT_SOURCE / "customers.csv", dtype=str)
    customers.loc[customers["region"] == "Reading", "region"] = SCRIPT
    customers.loc[customers["income_band"] == "<£15k", "income_band"] = IMAGE
    customers.to_csv(folder / "customers.csv", index=False)
    return folder


def test_markup_in_the_data_is_shown_as_text(hostile_source):
    query = urllib.parse.urlencode(
        {"segment_by": "region", "region": json.dumps([SCRIPT]), "income_band": json.dumps([IMAGE])}
    )
    with served_dashboard(hostile_source) as url, chromium_page() as (page, errors, outside):
        page.goto(f"{url}?{query}")
        wait_rendered(page)
        wait_until(page, lambda p: any(SCRIPT in t for t in titles(p)), what="filter in titles")
        page.get_by_text("Segments", exact=True).first.click()
        page.wait_for_timeout(2000)
        assert page.evaluate("() => window.__xss") is None
        text = page.evaluate("() => document.body.innerText")
        header = page.locator("text=window.__xss = 1").count()
        assert header >= 1 or SCRIPT in text, "the region name should be visible as text"
        cells = page.locator(".tabulator-cell[tabulator-field='Region']").all_inner_texts()
        assert SCRIPT in cells
        assert page.locator("img[src='x']").count() == 0
        assert outside == []
