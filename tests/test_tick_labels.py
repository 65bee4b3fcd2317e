"""Tick labels that do not run into each other at a phone's width or a laptop's
(:func:`dashboard.ui.live._labels_that_fit_a_phone`): number and date axes leave out a label
that would overlap; a category axis slants its labels only where the drawn figure is too
narrow for them side by side."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import param
import pytest
from bokeh.models import CategoricalAxis, CustomJS, NoOverlap, Plot
from test_live import drawn

from dashboard.sources import DEFAULT_SOURCE
from dashboard.ui.live import LiveChart

from browser import chromium_page, require_chromium, served_dashboard

hv.extension("bokeh")


class Inputs(param.Parameterized):
    scale = param.Number(default=1.0, doc="Multiplies the chart's values.")


BANDS = ["<£15k", "£15k-£30k", "£30k-£50k", "£50k+"]


def band_bars(scale: float):
    frame = pd.DataFrame({"band": BANDS, "rate": [0.04 * scale, 0.02, 0.019, 0.021]})
    return hv.Bars(frame, "band", "rate").opts(title=f"Rate by band ×{scale}")


def monthly_curve(scale: float):
    months = pd.date_range("2024-01-01", periods=18, freq="MS")
    return hv.Curve((months, [scale * i for i in range(18)]), "month", "arrears").opts(
        title=f"Arrears ×{scale}"
    )


def figure(document) -> Plot:
    (plot,) = [p for p in document.select({"type": Plot}) if p.renderers]
    return plot


def test_number_and_date_axes_leave_out_labels_that_would_overlap():
    inputs = Inputs()
    _, document = drawn(LiveChart(monthly_curve, [inputs.param.scale]))
    plot = figure(document)
    policies = [axis.major_label_policy for axis in [*plot.xaxis, *plot.yaxis]]
    assert all(isinstance(policy, NoOverlap) for policy in policies)
    assert not plot.js_property_callbacks  # no category axis: nothing to slant
    inputs.scale = 2.0  # updated in place: the same models, none made anew
    assert figure(document) is plot
    assert [axis.major_label_policy for axis in [*plot.xaxis, *plot.yaxis]] == policies


def test_a_category_axis_slants_in_the_browser_when_narrow_and_keeps_every_label():
    inputs = Inputs()
    _, document = drawn(LiveChart(band_bars, [inputs.param.scale]))
    plot = figure(document)
    (axis,) = plot.xaxis
    assert isinstance(axis, CategoricalAxis)
    assert axis.major_label_policy.__class__.__name__ == "AllLabels"  # no label left out
    assert isinstance(plot.yaxis[0].major_label_policy, NoOverlap)
    (slant,) = plot.js_property_callbacks["change:inner_width"]
    assert isinstance(slant, CustomJS) and slant.args["axes"] == [axis]
    inputs.scale = 2.0  # updated in place: one callback still
    assert figure(document) is plot
    assert plot.js_property_callbacks["change:inner_width"] == [slant]


ORIENTATIONS_JS = """() => window.Bokeh === undefined || Bokeh.documents.length === 0 ? []
  : [...Bokeh.documents[0].all_models]
  .filter(m => m.type === 'CategoricalAxis' || m.constructor.name === 'CategoricalAxis')
  .map(m => String(m.major_label_orientation))"""


@pytest.mark.browser
@pytest.mark.parametrize(("width", "slanted"), [(390, True), (1280, False)])
def test_income_bands_slant_on_a_phone_and_stay_level_on_a_laptop(width, slanted):
    require_chromium()
    with served_dashboard(DEFAULT_SOURCE) as url, chromium_page(width, 844) as (page, errors, _):
        page.goto(f"{url}?tab=Segments")
        page.wait_for_function(f"() => ({ORIENTATIONS_JS})().length > 0", timeout=60_000)
        page.wait_for_timeout(1000)  # drawn and laid out
        orientations = page.evaluate(ORIENTATIONS_JS)
        assert orientations, "no category axis drawn"
        assert all((o != "horizontal") == slanted for o in orientations), orientations
        assert errors == []
