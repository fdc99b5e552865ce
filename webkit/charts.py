"""Server-side SVG charts (pygal) to inline in the pages: a line chart of time series and a bar
chart of counts. No JavaScript is shipped: the SVG draws itself; values show on the bars and in
each point's <title>/<desc>.

The numbers arrive exact (int, Decimal, Fraction) and are converted to float only here, to place
marks on a picture; nothing computed from a chart is ever stored or compared.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pygal
from pygal.style import Style

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_POINTS = 2_000
"""Per series: a page stays light; callers downsample longer series first."""

FONT_STACK = ('"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", '
              '"WenQuanYi Micro Hei", system-ui, sans-serif')
COLOURS = ("#2563eb", "#1f9d55", "#b7791f", "#cc1f1a", "#7c3aed", "#0891b2", "#616e7c")

STYLE = Style(
    font_family=FONT_STACK,
    label_font_family=FONT_STACK, major_label_font_family=FONT_STACK, legend_font_family=FONT_STACK,
    title_font_family=FONT_STACK, value_font_family=FONT_STACK, value_label_font_family=FONT_STACK,
    tooltip_font_family=FONT_STACK, no_data_font_family=FONT_STACK,
    background="transparent", plot_background="transparent",
    foreground="#1f2933", foreground_strong="#1f2933", foreground_subtle="#616e7c",
    guide_stroke_color="#e4e7eb", major_guide_stroke_color="#cbd2d9",
    colors=COLOURS, opacity=".85", opacity_hover=".95", stroke_width="3", stroke_width_hover="4",
    # sizes are in the chart's own units and scale with it: render a narrower chart for phones
    label_font_size=15, major_label_font_size=15, legend_font_size=16, title_font_size=18,
    value_font_size=18, no_data_font_size=22,
)

Number = int | Decimal | Fraction
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)


@dataclass(frozen=True)
class TimeSeries:
    label: str
    points: Sequence[tuple[datetime, Number]]
    """(aware time, value) in time order."""
    dashed: bool = False
    """A reference line (a threshold, a target): dashed, without dots."""


X_PAD = 0.06  # of the time span, before the first moment


def padded_time_range(moments: Sequence[datetime]) -> tuple[datetime, datetime] | None:
    """The x range of a time chart over ``moments`` (sorted) with a little room before the first, so
    that its time label clears the value labels at the origin; None (pygal's own) for a single moment."""
    if len(moments) < 2 or moments[-1] == moments[0]:
        return None
    return moments[0] - (moments[-1] - moments[0]) * X_PAD, moments[-1]


def line_chart(
    series: Sequence[TimeSeries],
    *,
    title: str | None = None,
    y_title: str | None = None,
    y_range: tuple[Number, Number] | None = None,
    value_suffix: str = "",
    width: int = 800,
    height: int = 360,
    dots: bool = True,
) -> str:
    """A line chart of ``series`` against time (labelled in Asia/Shanghai), as inline SVG;
    ``dots``: mark each point (off for step lines, which repeat points)."""
    for one in series:
        if len(one.points) > MAX_POINTS:
            raise ValueError(f"series {one.label!r} has {len(one.points)} points; at most {MAX_POINTS} are drawn")
        if any(moment.tzinfo is None for moment, _ in one.points):
            raise ValueError(f"series {one.label!r} has a naive time; give aware datetimes")
    moments = sorted(moment.astimezone(UTC) for one in series for moment, _ in one.points)
    chart = pygal.DateTimeLine(
        **_common(title, y_title, width, height),
        x_value_formatter=_time_label(moments[-1] - moments[0] if moments else timedelta(0)),
        value_formatter=_formatter(value_suffix),
        x_label_rotation=0,
        show_x_guides=False,
        dots_size=3,
        show_dots=dots,
        range=None if y_range is None else (float(y_range[0]), float(y_range[1])),
        xrange=padded_time_range(moments),
        legend_at_bottom=True,
        margin_right=48,  # room for the last time label
        legend_at_bottom_columns=max(1, min(len(series), 3)),
        truncate_legend=-1,
    )
    if moments:
        chart.x_labels = _time_ticks(moments[0], moments[-1])
    for one in series:
        chart.add(one.label, [(moment.astimezone(UTC), float(value)) for moment, value in one.points],
                  **({"stroke_style": {"dasharray": "8,6", "width": 2}, "show_dots": False} if one.dashed else {}))
    return _svg(chart)


def bar_chart(
    counts: Sequence[tuple[str, Number]],
    *,
    series_label: str,
    title: str | None = None,
    y_title: str | None = None,
    value_suffix: str = "",
    width: int = 800,
    height: int = 320,
) -> str:
    """A bar chart with one bar per (label, count), values printed on the bars, as inline SVG."""
    if len(counts) > MAX_POINTS:
        raise ValueError(f"{len(counts)} bars; at most {MAX_POINTS} are drawn")
    top = _round_up(max((float(value) for _, value in counts), default=0) * 1.2)
    chart = pygal.Bar(
        **_common(title, y_title, width, height),
        value_formatter=_formatter(value_suffix),
        print_values=True,
        print_values_position="top",
        show_legend=False,
        truncate_label=-1,
        range=(0, top),
        y_labels=_count_ticks(top),
        show_minor_y_labels=True,
    )
    chart.x_labels = [label for label, _ in counts]
    chart.add(series_label, [float(value) for _, value in counts])
    return _svg(chart)


def _common(title: str | None, y_title: str | None, width: int, height: int) -> dict[str, object]:
    return {
        "style": STYLE,
        "title": title,
        "y_title": y_title,
        "width": width,
        "height": height,
        "explicit_size": False,  # viewBox only: the page's CSS sizes it
        "js": [],  # no script from a CDN
        "no_data_text": "暂无数据",
        "margin": 12,
        "spacing": 12,
        "include_x_axis": True,
    }


def _svg(chart: pygal.graph.graph.Graph) -> str:
    rendered: str = chart.render(is_unicode=True, disable_xml_declaration=True)
    # pygal always embeds its config for its optional tooltip script; without the script it is dead weight
    return _SCRIPT.sub("", rendered)


_TICK_STEPS = tuple(timedelta(minutes=m) for m in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720)) + tuple(
    timedelta(days=d) for d in (1, 2, 7, 14, 28))


def _time_ticks(first: datetime, last: datetime, most: int = 6) -> list[datetime]:
    """Round local times (whole minutes, hours, days in Shanghai) between first and last."""
    if last == first:
        return [first]
    step = next((step for step in _TICK_STEPS if (last - first) / step <= most - 1), _TICK_STEPS[-1])
    midnight = first.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    tick = midnight + step * math.ceil((first - midnight) / step)
    ticks: list[datetime] = []
    while tick <= last and len(ticks) < most + 1:
        ticks.append(tick.astimezone(UTC))
        tick += step
    return ticks or [first]


def _time_label(span: timedelta) -> Callable[[datetime], str]:
    pattern = "%H:%M" if span <= timedelta(hours=20) else "%m-%d %H:%M" if span <= timedelta(days=2) else "%m-%d"

    def label(moment: datetime) -> str:
        # pygal hands back naive UTC datetimes
        return moment.replace(tzinfo=UTC).astimezone(SHANGHAI).strftime(pattern)

    return label


def _round_up(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2, 5, 10, 20, 50...)."""
    top = 1.0
    while top < value:
        for factor in (2, 2.5, 2):
            top *= factor
            if top >= value:
                break
    return top


def _count_ticks(top: float) -> list[float]:
    step = max(1.0, top / 5)
    return [step * index for index in range(int(top / step) + 1)]


def _formatter(suffix: str) -> Callable[[float], str]:
    def format_value(value: float) -> str:
        shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
        return shown + suffix

    return format_value
