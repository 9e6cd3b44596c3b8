from datetime import date, timedelta
from xml.etree import ElementTree

import pytest

from apikeys.charts import nice_ceiling, usage_chart_svg

SVG = "{http://www.w3.org/2000/svg}"


def _days(counts):
    start = date(2026, 1, 1)
    return [{"date": start + timedelta(days=n), "count": c} for n, c in enumerate(counts)]


@pytest.mark.parametrize("value, ceiling", [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (450, 500)])
def test_nice_ceiling_rounds_up_to_1_2_5(value, ceiling):
    assert nice_ceiling(value) == ceiling


def test_chart_is_well_formed_svg_with_title_desc_and_axis_labels():
    svg = ElementTree.fromstring(str(usage_chart_svg(_days([0, 3, 1]), title="Requests")))

    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Requests"
    assert "4 served, 0 rate-limited, 0 refused" in svg.find(f"{SVG}desc").text
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-label"]
    assert labels == ["Day (UTC)", "Requests"]


def test_chart_draws_one_bar_per_day_taller_for_more_requests():
    svg = ElementTree.fromstring(str(usage_chart_svg(_days([0, 5, 10]), title="t")))

    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
    heights = [float(bar.get("height")) for bar in bars]
    assert [bar.get("data-count") for bar in bars] == ["0", "5", "10"]
    assert heights[0] == 0 < heights[1] < heights[2]


def test_chart_escapes_its_title():
    assert "<script>" not in str(usage_chart_svg(_days([1]), title="<script>"))


def test_chart_stacks_served_rate_limited_and_refused_as_separate_series():
    day = {"date": date(2026, 1, 1), "count": 3, "limited": 2, "refused": 1}
    svg = ElementTree.fromstring(str(usage_chart_svg([day], title="t")))

    rects = {r.get("data-series"): r for r in svg.iter(f"{SVG}rect")}
    assert {series: r.get("data-count") for series, r in rects.items()} == {
        "count": "3",
        "limited": "2",
        "refused": "1",
    }
    assert rects["limited"].get("class") == "bar bar-limited"
    # Stacked bottom up: served, then rate-limited, then refused on top.
    tops = [float(rects[s].get("y")) for s in ("count", "limited", "refused")]
    assert tops[0] > tops[1] > tops[2]
    assert "3 served, 2 rate-limited, 1 refused" in rects["count"].find(f"{SVG}title").text
