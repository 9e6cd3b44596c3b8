"""A server-rendered SVG bar chart of a key's daily requests: no JavaScript, no CDN.

Each day's bar stacks three series (SPEC §13): calls served, calls over the rate limit and
calls the key's own rules refused, so a refused call never reads as a plain request.

The chart is plain markup so it prints, works with scripts off and reads out in a screen
reader: ``role="img"`` with ``<title>``/``<desc>`` naming what it shows, a ``<title>`` on each
bar (the browser's tooltip), and labelled axes. The key page also lists the same figures in a
table for anyone who would rather read numbers.
"""

from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


@dataclass(frozen=True)
class Geometry:
    """The drawing's size in user units, and the room kept for the title, labels and ticks."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    tick_size: int
    label_size: int
    title_size: int


# The wide drawing fills a desktop card; the compact one is for a phone, where the wide one
# would shrink its type below legibility. Both keep every day and the same figures.
WIDE = Geometry(720, 260, 56, 32, 36, 52, 11, 12, 14)
COMPACT = Geometry(360, 250, 44, 18, 34, 50, 12, 13, 14)


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times a power of ten that is at least ``value``: the y top."""
    ceiling = 1
    while True:
        for step in (1, 2, 5):
            if step * ceiling >= value:
                return step * ceiling
        ceiling *= 10


def y_ticks(y_max: int) -> list[int]:
    """Evenly spaced ticks from 0 to ``y_max`` (a :func:`nice_ceiling` value), 1 to 5 gaps,
    each gap itself 1, 2 or 5 times a power of ten (0, 5, 10, 15, 20 rather than 0, 4, 8…)."""
    for intervals in (5, 4, 2, 1):
        step, remainder = divmod(y_max, intervals)
        if not remainder and nice_ceiling(step) == step:
            return [step * n for n in range(intervals + 1)]
    return [0, y_max]


def usage_chart_svg(
    daily: list[dict], *, title: str, chart_id: str = "usage-chart", compact: bool = False
) -> SafeString:
    """An SVG bar chart of ``daily`` (``[{date, count, limited, refused}]``, oldest first)."""
    g = COMPACT if compact else WIDE
    days = len(daily)
    total = sum(day["count"] for day in daily)
    missed = {kind: sum(day.get(kind, 0) for day in daily) for kind in ("limited", "refused")}
    peak = max((_calls(day) for day in daily), default=0)
    y_max = nice_ceiling(max(peak, 1))
    # Room for the rotated axis label and the widest tick ("2,000"), at about 0.62 em a digit.
    left = max(g.left, g.label_size + 16 + round(len(f"{y_max:,}") * g.tick_size * 0.62))
    plot_w, plot_h = g.width - left - g.right, g.height - g.top - g.bottom
    slot = plot_w / max(days, 1)
    bar_w = max(slot * 0.7, 1)
    base_y = g.top + plot_h

    bars = []
    for n, day in enumerate(daily):
        label = _day_label(day)
        top = base_y
        for series, css in SERIES:
            value = day.get(series, 0)
            height = plot_h * value / y_max
            if value:
                height = max(height, 2)  # a day with one request must still show
            elif series != "count":
                continue  # the served bar is always drawn (0 high on a quiet day)
            top -= height
            bars.append(
                (
                    css,
                    f"{left + n * slot + (slot - bar_w) / 2:.1f}",
                    f"{top:.1f}",
                    f"{bar_w:.1f}",
                    f"{height:.1f}",
                    day["date"].isoformat(),
                    value,
                    series,
                    label,
                )
            )
    bar_markup = format_html_join(
        "\n",
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}" data-date="{}" data-count="{}"'
        ' data-series="{}"><title>{}</title></rect>',
        bars,
    )

    ticks = y_ticks(y_max)
    y_tick_markup = format_html_join(
        "\n",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
        '<text class="tick" x="{}" y="{}" text-anchor="end" dominant-baseline="middle"'
        ' font-size="{}">{}</text>',
        (
            (
                left,
                g.width - g.right,
                f"{base_y - plot_h * t / y_max:.1f}",
                f"{base_y - plot_h * t / y_max:.1f}",
                left - 6,
                f"{base_y - plot_h * t / y_max:.1f}",
                g.tick_size,
                f"{t:,}",
            )
            for t in ticks
        ),
    )
    # A date label every week, and always on the last day (today).
    labelled = set(range(days - 1, -1, -7))
    x_ticks = format_html_join(
        "\n",
        '<text class="tick" x="{}" y="{}" text-anchor="middle" font-size="{}">{}</text>',
        (
            (
                f"{left + n * slot + slot / 2:.1f}",
                base_y + 6 + g.tick_size,
                g.tick_size,
                f"{daily[n]['date']:%d %b}",
            )
            for n in sorted(labelled)
        ),
    )
    first, last = (daily[0]["date"], daily[-1]["date"]) if daily else (None, None)
    description = (
        f"Daily requests from {first:%d %B %Y} to {last:%d %B %Y} (UTC): {total:,} served, "
        f"{missed['limited']:,} rate-limited, {missed['refused']:,} refused; "
        f"at most {peak:,} in one day."
        if daily
        else "No days to show."
    )
    return format_html(
        '<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="xMidYMid meet" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title>'
        '<desc id="{id}-desc">{desc}</desc>'
        '<text class="chart-title" x="{cx}" y="20" text-anchor="middle" font-size="{title_size}">'
        "{title}</text>"
        "{y_ticks}"
        '<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{base}"></line>'
        '<line class="axis" x1="{left}" x2="{right}" y1="{base}" y2="{base}"></line>'
        "{bars}"
        "{x_ticks}"
        '<text class="axis-label" x="{cx}" y="{xl}" text-anchor="middle" font-size="{label_size}">'
        "Day (UTC)</text>"
        '<text class="axis-label" transform="rotate(-90)" x="{yl_x}" y="{label_size}" '
        'text-anchor="middle" font-size="{label_size}">Requests</text>'
        "</svg>",
        id=chart_id,
        w=g.width,
        h=g.height,
        title=title,
        desc=description,
        cx=f"{left + plot_w / 2:.1f}",
        y_ticks=y_tick_markup,
        title_size=g.title_size,
        label_size=g.label_size,
        left=left,
        right=g.width - g.right,
        top=g.top,
        base=base_y,
        bars=bar_markup,
        x_ticks=x_ticks,
        xl=g.height - 10,
        yl_x=f"{-(g.top + plot_h / 2):.1f}",
    )


# The stacked series, bottom up: the daily-usage field and the bar's CSS class.
SERIES = (("count", "bar"), ("limited", "bar bar-limited"), ("refused", "bar bar-refused"))


def _calls(day: dict) -> int:
    return day["count"] + day.get("limited", 0) + day.get("refused", 0)


def _day_label(day: dict) -> str:
    """The bar's tooltip: ``07 Dec 2026: 3 served, 1 rate-limited, 2 refused``."""
    return (
        f"{day['date']:%d %b %Y}: {day['count']} served, {day.get('limited', 0)} rate-limited, "
        f"{day.get('refused', 0)} refused"
    )
