"""Server-side SVG charts: parse what pygal drew and check the series, labels, values and fonts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from webkit.charts import FONT_STACK, MAX_POINTS, TimeSeries, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element, css_class: str | None = None) -> list[str]:
    found = []
    for node in root.iter(f"{SVG}text"):
        if css_class is None or css_class in (node.get("class") or "").split():
            found.append("".join(node.itertext()))
    return found


def groups(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [node for node in root.iter(f"{SVG}g") if css_class in (node.get("class") or "").split()]


def series_names(root: ET.Element) -> set[str]:
    return {name for group in groups(root, "series") for name in (group.get("class") or "").split()
            if name.startswith("serie-")}


def dots(root: ET.Element, series: str) -> int:
    return sum(len(groups(group, "dots")) for group in groups(root, series))


def values(root: ET.Element) -> list[str]:
    """Each point's value as pygal writes it for people: "<x label>: <value>"."""
    return [node.text or "" for node in root.iter(f"{SVG}desc") if node.get("class") == "value"]


def hourly(values: list[int]) -> list[tuple[datetime, int]]:
    return [(START + timedelta(hours=hour), value) for hour, value in enumerate(values)]


def test_a_line_chart_draws_each_series_with_its_chinese_label_and_every_point() -> None:
    svg = line_chart([TimeSeries("参与面积比例", hourly([0, 20, 45, 60])),
                      TimeSeries("参与人数比例", hourly([0, 25, 50, 70]))],
                     title="参与率变化", y_range=(0, 100), value_suffix="%")
    root = parse(svg)
    assert root.tag == f"{SVG}svg" and root.get("viewBox") == "0 0 800 360"
    assert "参与率变化" in texts(root)
    legend = [text for group in groups(root, "legend") for text in texts(group)]
    assert legend == ["参与面积比例", "参与人数比例"]
    assert series_names(root) == {"serie-0", "serie-1"}
    assert [dots(root, name) for name in ("serie-0", "serie-1")] == [4, 4], "a dot per point"
    assert values(root)[:4] == ["09:00: 0%", "10:00: 20%", "11:00: 45%", "12:00: 60%"]


def test_time_labels_are_shanghai_wall_clock_times() -> None:
    root = parse(line_chart([TimeSeries("温度", hourly([1, 2, 3, 4]))]))
    axis = [text for group in groups(root, "x") for text in texts(group)]
    assert axis[0] == "09:00" and "12:00" in axis, axis


def test_a_dashed_reference_line_has_no_dots() -> None:
    svg = line_chart([TimeSeries("参与", hourly([10, 20])),
                      TimeSeries("门槛 2/3", hourly([66, 66]), dashed=True)])
    root = parse(svg)
    assert dots(root, "serie-0") == 2 and dots(root, "serie-1") == 0
    assert "stroke-dasharray:8,6" in svg.replace(" ", "")


def test_exact_values_are_accepted_and_drawn() -> None:
    svg = line_chart([TimeSeries("面积", [(START, Decimal("89.37")), (START + timedelta(hours=1), Fraction(2, 3))])])
    assert values(parse(svg))[:2] == ["09:00: 89.37", "10:00: 0.67"]


def test_a_bar_chart_draws_one_bar_per_count_with_its_value_and_label() -> None:
    svg = bar_chart([("同意", 8), ("反对", 1), ("弃权", 0)], series_label="户数", title="各选项的户数")
    root = parse(svg)
    assert "各选项的户数" in texts(root)
    assert [text for group in groups(root, "x") for text in texts(group)] == ["同意", "反对", "弃权"]
    assert texts(root, "value") == ["8", "1", "0"]
    bars = [rect for rect in root.iter(f"{SVG}rect") if "rect" in (rect.get("class") or "").split()]
    heights = [float(rect.get("height", "0")) for rect in bars]
    assert len(bars) == 3 and heights[0] > heights[1] > heights[2] == 0
    ticks = [text for group in groups(root, "y") for text in texts(group)]
    assert all(tick.isdigit() for tick in ticks), f"counts are whole numbers: {ticks}"


def test_charts_carry_a_chinese_font_stack_and_no_script() -> None:
    for svg in (line_chart([TimeSeries("参与", hourly([1, 2]))]), bar_chart([("同意", 1)], series_label="户数")):
        assert "Noto Sans CJK SC" in FONT_STACK and FONT_STACK.replace('"', "&quot;") not in svg
        assert "Noto Sans CJK SC" in svg
        assert "<script" not in svg and "http" not in svg.split("-->")[-1], "nothing fetched, nothing run"


def test_an_empty_chart_says_so_in_chinese() -> None:
    assert "暂无数据" in texts(parse(line_chart([TimeSeries("参与", [])])))


def test_naive_times_and_oversized_series_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        line_chart([TimeSeries("参与", [(datetime(2026, 12, 1), 1)])])
    with pytest.raises(ValueError, match="at most"):
        line_chart([TimeSeries("参与", [(START + timedelta(seconds=i), i) for i in range(MAX_POINTS + 1)])])


def test_a_time_chart_leaves_room_before_its_first_moment_for_its_label() -> None:
    from webkit.charts import X_PAD, padded_time_range

    first = datetime(2026, 11, 17, 4, tzinfo=UTC)
    moments = [first + timedelta(days=day) for day in range(7)]

    assert padded_time_range(moments) == (first - timedelta(days=6) * X_PAD, moments[-1])
    assert padded_time_range(moments[:1]) is None
    assert padded_time_range([first, first]) is None
