"""The arrears tabs in a real browser: Debian's Chromium driven by Playwright.

One server on the demo data for the module. Each test opens a fresh page (a new session),
opens one tab, records what it shows (chart titles and data through Bokeh's models, table
rows through the Tabulator's data source), then chooses Region "Reading" in the sidebar's
MultiChoice, as a user does, and checks that the tab now shows Reading only. The last test
opens the Arrears tab in two sessions at once, as two users would.
"""

from __future__ import annotations

import csv
import re

import pytest

from dashboard.sources import DEFAULT_SOURCE

from browser import (
    chart_data,
    chromium_page,
    require_chromium,
    served_dashboard,
    titles,
    wait_rendered,
    wait_until,
)

pytestmark = pytest.mark.browser

ALL = "all customers"
READING = "Region: Reading"
TABLE_JS = """column => { const found = [...Bokeh.documents[0].all_models].filter(
    m => m.data !== undefined && m.selected !== undefined && (m.data instanceof Map ?
    m.data.has(column) : column in m.data)); if (!found.length) return null;
    const data = found[found.length - 1].data; const out = {};
    for (const [k, v] of (data instanceof Map ? data.entries() : Object.entries(data))) {
        if (k !== 'index') out[k] = Array.from(v).map(x => typeof x === 'number' ?
            Math.round(x * 1e6) / 1e6 : String(x)); }
    return out; }"""
"""The latest data source holding ``column`` (a Tabulator's rows), in full, or null."""

MULTICHOICE_JS = """title => [...Bokeh.documents[0].all_models].find(m => m.title === title &&
    m.options !== undefined && Array.isArray(m.value)).value"""


@pytest.fixture(scope="module")
def served():
    require_chromium()
    with served_dashboard(DEFAULT_SOURCE) as url:
        with chromium_page() as (page, errors, outside):
            yield url, page, errors, outside


@pytest.fixture
def fresh(served):
    """The module's page reloaded on the unfiltered dashboard (a new session)."""
    url, page, errors, outside = served
    page.goto(url)
    wait_rendered(page)
    errors.clear()
    outside.clear()
    return page, errors, outside


# --- helpers --------------------------------------------------------------------------------


def settled_chart_data(page) -> list[dict]:
    """The charts' data once a change's titles arrived (its data comes in the same batch)."""
    page.wait_for_timeout(300)
    return chart_data(page)


def open_tab(page, name: str) -> None:
    """Click the tab ``name`` and wait until it is the active one."""
    tab = page.locator(".bk-tab").filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
    tab.click()
    wait_until(
        page,
        lambda p: "bk-active" in (tab.get_attribute("class") or ""),
        what=f"the {name} tab active",
    )


def wait_tab_shown(page, name: str) -> None:
    """Wait until a page (a link just opened) shows the tab ``name`` as the open one."""
    tab = page.locator(".bk-tab.bk-active")
    wait_until(
        page,
        lambda p: tab.count() == 1 and tab.inner_text().strip() == name,
        what=f"the {name} tab open",
    )


def shown_titles(
    page, prefixes: tuple[str, ...], selection: str, timeout_s: float = 40
) -> dict[str, str]:
    """Wait until a chart title starting with each prefix ends with ``selection``."""

    def matches(p) -> dict[str, str]:
        found = {}
        for title in titles(p):
            for prefix in prefixes:
                if title.startswith(prefix) and title.endswith(f"· {selection}"):
                    found[prefix] = title
        return found

    wait_until(
        page,
        lambda p: len(matches(p)) == len(prefixes),
        timeout_s=timeout_s,
        what=f"charts {prefixes} drawn for {selection!r}",
    )
    return matches(page)


def assert_clean(errors: list[str], outside: list[str]) -> None:
    """No console error and no request leaving 127.0.0.1 since the page was opened."""
    assert errors == [], errors
    assert outside == [], outside


def sources_with(sources: list[dict], *columns: str) -> list[dict]:
    """The data sources having every one of ``columns``."""
    return [s for s in sources if all(c in s for c in columns)]


def choose_measure(page, label: str) -> None:
    """Click the button ``label`` of a tab's measure choice (radio buttons)."""
    button = page.locator(".bk-btn-group .bk-btn").filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")
    )
    button.click()
    wait_until(
        page,
        lambda p: "bk-active" in (button.get_attribute("class") or ""),
        what=f"the {label} button chosen",
    )


def choose_in_sidebar(page, title: str, value: str) -> None:
    """Pick ``value`` in the sidebar MultiChoice titled ``title`` (Choices.js, by the mouse)."""
    label = page.locator("label").filter(has_text=re.compile(rf"^\s*{re.escape(title)}\s*$"))
    widget = page.locator(".bk-input-group").filter(has=label)
    widget.locator("input.choices__input--cloned").click()
    widget.locator(".choices__item--choice").filter(
        has_text=re.compile(rf"^\s*{re.escape(value)}\s*$")
    ).first.click()
    page.keyboard.press("Escape")
    wait_until(
        page,
        lambda p: p.evaluate(MULTICHOICE_JS, title) == [value],
        what=f"the {title} MultiChoice holding {value!r}",
    )
    assert widget.locator(".choices__item--selectable").all_inner_texts()[0].startswith(value)


def table_rows(page, column: str) -> dict[str, list] | None:
    """Columns of the Tabulator whose data has ``column`` (every row the browser holds)."""
    return page.evaluate(TABLE_JS, column)


def changed_table(page, column: str, before: dict) -> dict:
    """Wait until the Tabulator with ``column`` holds other rows than ``before``."""
    wait_until(
        page,
        lambda p: (rows := table_rows(p, column)) is not None and rows != before,
        what=f"the table with {column!r} redrawn",
    )
    page.wait_for_timeout(300)  # a patch may come in parts
    return table_rows(page, column)


def worklist_summary(page) -> str:
    """The line above the worklist: how many customers owe how much, and the filters."""
    summary = page.get_by_text(re.compile(r"customers\s+in arrears on")).first
    wait_until(page, lambda p: summary.count() > 0, what="the worklist summary")
    return summary.inner_text()


def worklist_total(page) -> int:
    """The number of customers the worklist summary announces."""
    return int(re.search(r"([\d,]+) customers", worklist_summary(page)).group(1).replace(",", ""))


def download_worklist(page) -> list[dict[str, str]]:
    """Click "Download worklist CSV"; the downloaded file's rows."""
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name="Download worklist CSV").click()
    with open(info.value.path(), encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def cohort_sizes(sources: list[dict]) -> dict[str, int]:
    """Cohort -> customers from the vintage rows' labels, e.g. ``"2022 Q1 (1,374)"``."""
    sizes = {}
    for source in sources_with(sources, "months_on_book", "row"):
        for label in source["row"]:
            cohort, size = re.fullmatch(r"(.+) \(([\d,]+)\)", label).groups()
            sizes[cohort] = int(size.replace(",", ""))
    return sizes


# --- tests ----------------------------------------------------------------------------------

ARREARS = (
    "Arrears £ by days past due at each month-end",
    "Share of customers on book who are in arrears",
    "Arrears £ by income band",
)
AVERAGE_ARREARS = "Average arrears per customer in arrears"


def test_arrears_tab_follows_the_region_filter(fresh):
    page, errors, outside = fresh
    open_tab(page, "Arrears")
    shown = shown_titles(page, ARREARS, ALL)
    # the demo book's months run to the as-of month (its latest payment, February 2026)
    assert all("Jan 2022 – Feb 2026" in t for t in shown.values()), shown
    before = chart_data(page)

    choose_in_sidebar(page, "Region", "Reading")
    shown_titles(page, ARREARS, READING)
    after = settled_chart_data(page)

    def share(sources):
        (source,) = sources_with(sources, "share_in_arrears", "customers", "in_arrears")
        return source

    all_share, reading_share = share(before), share(after)
    assert len(all_share["month"]) == len(reading_share["month"]) == 49  # complete months
    pairs = list(zip(all_share["customers"], reading_share["customers"], strict=True))
    assert all(r <= a for a, r in pairs) and sum(r for _, r in pairs) < sum(a for a, _ in pairs)

    def known_shares(source):  # a share wherever customers are on book (opening balances)
        return [v for v in source["share_in_arrears"] if v == v]

    assert len(known_shares(all_share)) == len(known_shares(reading_share)) == 49
    assert known_shares(reading_share) != known_shares(all_share)
    assert 0 < max(known_shares(reading_share)) < 1

    # the trend's other measure, one figure in place of the share, same selection and months
    choose_measure(page, "Average arrears £")
    shown_titles(page, (AVERAGE_ARREARS, ARREARS[0], ARREARS[2]), READING)  # waits for them
    assert ARREARS[1] not in " ".join(titles(page))
    (average,) = sources_with(settled_chart_data(page), "average_arrears", "in_arrears")
    assert list(average["in_arrears"]) == list(reading_share["in_arrears"])  # same customers
    for mean, owed, count in zip(
        average["average_arrears"], average["arrears"], average["in_arrears"], strict=True
    ):
        assert (mean != mean) if count == 0 else abs(mean * count - owed) < 0.01

    def top(sources):  # the stacked areas: the highest edge is the total arrears
        return max(max(s["y"]) for s in sources_with(sources, "x", "y"))

    assert 0 < top(after) < top(before)
    by_band = [sum(s["arrears"]) for s in sources_with(after, "Income_band", "arrears")]
    all_bands = [sum(s["arrears"]) for s in sources_with(before, "Income_band", "arrears")]
    assert len(by_band) == len(all_bands) == 4
    assert 0 < sum(by_band) < sum(all_bands)
    assert_clean(errors, outside)


ROLL = (
    "Roll and cure: where customers move in a month (rows = 100%)",
    "Cure and forward roll rates by month",
)


def test_roll_and_cure_tab_follows_the_region_filter(fresh):
    page, errors, outside = fresh
    open_tab(page, "Roll & cure")
    shown_titles(page, ROLL, ALL)
    before = chart_data(page)

    choose_in_sidebar(page, "Region", "Reading")
    shown_titles(page, ROLL, READING)
    after = settled_chart_data(page)

    def matrix(sources):
        # HoloViews keeps the colour as numbers (zvalues) and hover columns as text
        (heat,) = sources_with(sources, "from_bucket", "to_bucket", "zvalues", "customers")
        return heat

    for heat in (matrix(before), matrix(after)):
        assert len(heat["from_bucket"]) == 25  # 5 buckets x 5 buckets
        rows: dict[str, float] = {}
        for source, percent in zip(heat["from_bucket"], heat["zvalues"], strict=True):
            rows[source] = rows.get(source, 0) + percent
        assert all(abs(total - 100) < 0.01 or total == 0 for total in rows.values()), rows

    def moves(sources):
        return sum(float(n) for n in matrix(sources)["customers"])

    assert 0 < moves(after) < moves(before)

    def rates(sources):
        """Each rate's line (its longest source: a rate of few customers also has a source
        of faded points, fewer rows)."""
        lines = {}
        for s in sources_with(sources, "month", "rate", "value"):
            if len(s["month"]) > len(lines.get(s["rate"][0], {}).get("month", [])):
                lines[s["rate"][0]] = s
        return sorted((rate, s["value"]) for rate, s in lines.items())

    assert [r for r, _ in rates(before)] == [r for r, _ in rates(after)]
    assert len(rates(after)) == 3
    assert rates(after) != rates(before)
    assert_clean(errors, outside)


VINTAGE_DEFAULT = (
    "Cumulative default rate by months on book: back book, then new customers by quarter of "
    "first bill"
)
VINTAGE_ARREARS = (
    "Share in arrears by months on book: back book, then new customers by quarter of first bill"
)
COHORTS = (VINTAGE_DEFAULT, "Arrears-entry cohorts by ")


def test_cohorts_tab_follows_the_region_filter(fresh):
    page, errors, outside = fresh
    open_tab(page, "Cohorts")
    shown = shown_titles(page, COHORTS, ALL)
    assert " · all months · " in shown[COHORTS[0]]  # vintage ignores the period
    before = chart_data(page)

    choose_in_sidebar(page, "Region", "Reading")
    shown = shown_titles(page, COHORTS, READING)
    assert shown[COHORTS[0]].endswith("· all months · Region: Reading")
    after = settled_chart_data(page)
    choose_measure(page, "Share in arrears")  # the other vintage measure, same selection
    shown_titles(page, (VINTAGE_ARREARS, COHORTS[1]), READING)
    assert cohort_sizes(settled_chart_data(page)) == cohort_sizes(after)  # the same cohorts

    all_sizes, reading_sizes = cohort_sizes(before), cohort_sizes(after)
    common = set(all_sizes) & set(reading_sizes)
    assert common, (all_sizes, reading_sizes)
    assert all(reading_sizes[c] <= all_sizes[c] for c in common)
    assert sum(reading_sizes[c] for c in common) < sum(all_sizes[c] for c in common)

    def entered(sources):
        (source,) = sources_with(sources, "after", "entry", "entered")
        # a hover column, as text; "-" where the grid has no cohort
        return sum(float(n) for n in source["entered"] if n != "-")

    assert 0 < entered(after) < entered(before)
    assert_clean(errors, outside)


OUTCOMES = {
    "Paid in 30 days": "Paid ≥ min(£10, arrears) in 30 days",
    "Cleared in 60 days": "Cleared arrears in 60 days",
}
EFFECTIVENESS = (
    "Paid ≥ min(£10, arrears) in 14 days",
    "Collections funnel: customers reaching each stage in the period",
)


def test_effectiveness_tab_follows_the_region_filter(fresh):
    page, errors, outside = fresh
    open_tab(page, "Effectiveness")
    shown_titles(page, EFFECTIVENESS, ALL)
    before = chart_data(page)
    wait_until(page, lambda p: table_rows(p, "Actions") is not None, what="the outcome table")
    table_before = table_rows(page, "Actions")

    choose_in_sidebar(page, "Region", "Reading")
    shown_titles(page, EFFECTIVENESS, READING)
    after = settled_chart_data(page)
    table_after = changed_table(page, "Actions", table_before)

    def bars(sources):  # actions on customers in arrears, vulnerable customers apart
        found = sources_with(sources, "action", "Vulnerable", "in_arrears")
        assert len(found) == 1  # one outcome shown at a time
        assert all(set(s["Vulnerable"]) == {"Yes", "No"} for s in found)
        return sum(found[0]["in_arrears"])

    assert 0 < bars(after) < bars(before)

    def funnel(sources):
        (source,) = sources_with(sources, "stage", "customers")
        return dict(zip(source["stage"], source["customers"], strict=True))

    all_stages, reading_stages = funnel(before), funnel(after)
    assert set(reading_stages) == set(all_stages) and "Reminder Sent" in all_stages
    assert all(reading_stages[s] <= all_stages[s] for s in all_stages)
    assert sum(reading_stages.values()) < sum(all_stages.values())

    assert 0 < sum(table_after["Actions"]) < sum(table_before["Actions"])
    for label, title in OUTCOMES.items():  # the other outcomes, for the same selection
        choose_measure(page, label)
        shown_titles(page, (title, *EFFECTIVENESS[1:]), READING)
        assert bars(settled_chart_data(page)) == bars(after)  # the same actions counted
    assert sum(table_after["In arrears"]) < sum(table_before["In arrears"])
    assert_clean(errors, outside)


def test_worklist_tab_follows_the_region_filter_and_keeps_vulnerable_out_of_escalation(fresh):
    page, errors, outside = fresh
    open_tab(page, "Worklist")
    wait_until(page, lambda p: table_rows(p, "Queue") is not None, what="the worklist table")
    assert page.get_by_text("priority = 60 ×", exact=False).count() >= 1
    assert page.get_by_text("Support (never escalated)", exact=False).count() >= 1
    assert page.get_by_role("button", name="Download worklist CSV").is_visible()

    rows = table_rows(page, "Queue")
    total = worklist_total(page)
    assert len(rows["Queue"]) == min(total, 25)  # one page of 25
    assert len(set(rows["Region"])) > 1
    assert rows["Priority"] == sorted(rows["Priority"], reverse=True)  # most urgent first

    listed = download_worklist(page)
    assert len(listed) == total
    vulnerable = [r for r in listed if r["Vulnerable"] == "Yes"]
    escalated = [r for r in listed if r["Queue"] == "Escalation"]
    assert vulnerable and escalated, "the demo worklist has vulnerable and escalated customers"
    # vulnerable customers are never escalated: Support, or Arrangement while one is active
    assert {r["Queue"] for r in vulnerable if r["Arrangement"] != "Active"} == {"Support"}
    assert {r["Queue"] for r in listed if r["Arrangement"] == "Active"} <= {"Arrangement"}
    assert {r["Vulnerable"] for r in escalated} == {"No"}
    assert [int(r["Priority"]) for r in listed] == sorted(
        (int(r["Priority"]) for r in listed), reverse=True
    )

    # queue buttons carry their counts
    escalation_button = page.locator(".bk-btn-group .bk-btn").filter(
        has_text=re.compile(r"^Escalation \(")
    )
    assert escalation_button.inner_text().strip() == f"Escalation ({len(escalated):,})"
    all_button = page.locator(".bk-btn-group .bk-btn").filter(has_text=re.compile(r"^All \("))
    assert all_button.inner_text().strip() == f"All ({total:,})"
    escalation_button.click()
    rows_escalation = changed_table(page, "Queue", rows)
    assert set(rows_escalation["Queue"]) == {"Escalation"}
    assert set(rows_escalation["Vulnerable"]) == {"No"}
    wait_until(page, lambda p: worklist_total(p) == len(escalated), what="the Escalation count")
    assert "queue=Escalation" in page.url  # the queue is kept in the link
    all_button.click()
    changed_table(page, "Queue", rows_escalation)
    wait_until(page, lambda p: worklist_total(p) == total, what="the whole worklist again")

    all_rows = table_rows(page, "Queue")
    choose_in_sidebar(page, "Region", "Reading")
    reading_rows = changed_table(page, "Queue", all_rows)
    assert set(reading_rows["Region"]) == {"Reading"}
    assert set(reading_rows["Queue"]) <= {"Support", "Escalation", "Early"}
    wait_until(page, lambda p: worklist_total(p) < total, what="a shorter worklist")
    reading_total = worklist_total(page)
    assert 0 < reading_total < total
    assert READING in worklist_summary(page)

    reading_listed = download_worklist(page)
    assert len(reading_listed) == reading_total
    assert {r["Region"] for r in reading_listed} == {"Reading"}
    assert {r["Customer"] for r in reading_listed} < {r["Customer"] for r in listed}
    for row in reading_listed:
        assert not (row["Vulnerable"] == "Yes" and row["Queue"] == "Escalation"), row
    assert_clean(errors, outside)


def test_a_worklist_row_opens_the_customer_view(fresh):
    page, errors, outside = fresh
    open_tab(page, "Worklist")
    wait_until(page, lambda p: table_rows(p, "Queue") is not None, what="the worklist table")
    early = page.locator(".bk-btn-group .bk-btn").filter(has_text=re.compile(r"^Early \("))
    count = int(re.search(r"\(([\d,]+)\)", early.inner_text()).group(1).replace(",", ""))
    rows = table_rows(page, "Queue")
    early.click()
    rows = changed_table(page, "Queue", rows)
    assert set(rows["Queue"]) == {"Early"} and len(rows["Queue"]) == min(count, 25)
    assert all(1 <= int(d) <= 90 for d in rows["Days past due"])
    customer = rows["Customer"][0]
    page.locator(".tabulator-row .tabulator-cell").filter(has_text=customer).first.click()
    wait_until(page, lambda p: f"customer={customer}" in p.url, what="the customer in the URL")
    wait_until(
        page,
        lambda p: p.get_by_text(f"Customer {customer} on", exact=False).count() >= 1,
        what="the customer's summary",
    )
    wait_until(
        page,
        lambda p: any(t.startswith(f"Customer {customer}: balance") for t in titles(p)),
        what="the customer's balance chart",
    )
    events = table_rows(page, "Balance after £")
    assert events and "Bill" in events["Event"]
    # the link alone opens the same customer, on the same tab, in a new session
    assert "tab=Customer" in page.url
    page.goto(page.url)
    wait_tab_shown(page, "Customer")
    wait_until(
        page,
        lambda p: p.get_by_text(f"Customer {customer} on", exact=False).count() >= 1,
        what="the linked customer",
    )
    assert_clean(errors, outside)


def test_tariffs_tab_follows_the_region_filter_and_the_link_reopens_it(fresh):
    page, errors, outside = fresh
    open_tab(page, "Tariffs")
    wait_until(
        page, lambda p: table_rows(p, "Average arrears £") is not None, what="the tariff table"
    )
    assert page.get_by_text("Per tariff", exact=False).count() >= 1
    before = table_rows(page, "Average arrears £")
    assert len(before["Tariff"]) == 4 and sum(before["Customers"]) > 0

    choose_in_sidebar(page, "Region", "Reading")
    after = changed_table(page, "Average arrears £", before)
    all_customers = dict(zip(before["Tariff"], before["Customers"], strict=True))
    reading = dict(zip(after["Tariff"], after["Customers"], strict=True))
    assert set(reading) <= set(all_customers)
    assert all(reading[t] <= all_customers[t] for t in reading)
    assert 0 < sum(reading.values()) < sum(all_customers.values())
    assert sum(after["Arrears £"]) < sum(before["Arrears £"])

    # the view can be shared: the URL holds the filter, and the link shows the same table
    wait_until(page, lambda p: "region=" in p.url, what="the region in the URL")
    page.goto(page.url)  # a new session from the link alone, on the tab it names
    wait_tab_shown(page, "Tariffs")
    assert page.evaluate(MULTICHOICE_JS, "Region") == ["Reading"]
    wait_until(
        page,
        lambda p: table_rows(p, "Average arrears £") == after,
        what="the linked view's tariff table",
    )
    assert_clean(errors, outside)


def test_arrears_tab_draws_in_two_sessions_at_once(served):
    """Two users on the Arrears tab: each page must draw every chart without an error."""
    url, page, errors, _ = served
    second = page.context.browser.new_page(viewport={"width": 1500, "height": 1600})
    second_errors: list[str] = []
    second.on("console", lambda m: second_errors.append(m.text) if m.type == "error" else None)
    second.on("pageerror", lambda exc: second_errors.append(str(exc)))
    try:
        drawn = {}
        for name, view, page_errors in (("first", page, errors), ("second", second, second_errors)):
            view.goto(url)
            wait_rendered(view)
            page_errors.clear()
            open_tab(view, "Arrears")
            wait_until(  # all four charts, or an error: then stop waiting
                view,
                lambda v, e=page_errors: (
                    bool(e)
                    or sum(t.startswith(ARREARS) and t.endswith(ALL) for t in titles(v))
                    == len(ARREARS)
                ),
                timeout_s=30,
                what="the Arrears charts or an error",
            )
            view.wait_for_timeout(500)  # an error may follow the last chart
            drawn[name] = (
                sorted(t for t in titles(view) if t.startswith(ARREARS)),
                list(page_errors),
            )
        for name, (shown, page_errors) in drawn.items():
            assert len(shown) == len(ARREARS) and page_errors == [], (name, shown, page_errors)
    finally:
        second.close()
