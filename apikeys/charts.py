"""A server-rendered SVG bar chart of a key's daily requests: no JavaScript, no CDN.

The chart is plain markup so it prints, works with scripts off and reads out in a screen
reader: ``role="img"`` with ``<title>``/``<desc>`` naming what it shows, a ``<title>`` on each
bar (the browser's tooltip), and labelled axes. The key page also lists the same figures in a
table for anyone who would rather read numbers.
"""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 36, 52  # room for the y labels, the title and the x labels


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times a power of ten that is at least ``value``: the y top."""
    ceiling = 1
    while True:
        for step in (1, 2, 5):
            if step * ceiling >= value:
                return step * ceiling
        ceiling *= 10


def usage_chart_svg(daily: list[dict], *, title: str, chart_id: str = "usage-chart") -> SafeString:
    """An SVG bar chart of ``daily`` (``[{date, count}]``, oldest first)."""
    days = len(daily)
    total = sum(day["count"] for day in daily)
    peak = max((day["count"] for day in daily), default=0)
    y_max = nice_ceiling(max(peak, 1))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(days, 1)
    bar_w = max(slot * 0.7, 1)
    base_y = TOP + plot_h

    bars = []
    for n, day in enumerate(daily):
        height = plot_h * day["count"] / y_max
        if day["count"]:
            height = max(height, 2)  # a day with one request must still show
        label = f"{day['date']:%d %b %Y}: {day['count']} request{'s' if day['count'] != 1 else ''}"
        bars.append(
            (
                f"{LEFT + n * slot + (slot - bar_w) / 2:.1f}",
                f"{base_y - height:.1f}",
                f"{bar_w:.1f}",
                f"{height:.1f}",
                day["date"].isoformat(),
                day["count"],
                label,
            )
        )
    bar_markup = format_html_join(
        "\n",
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}" data-date="{}" data-count="{}">'
        "<title>{}</title></rect>",
        bars,
    )

    ticks = sorted({0, y_max // 2, y_max}) if y_max > 1 else [0, 1]
    y_ticks = format_html_join(
        "\n",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
        '<text class="tick" x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>',
        (
            (
                LEFT,
                WIDTH - RIGHT,
                f"{base_y - plot_h * t / y_max:.1f}",
                f"{base_y - plot_h * t / y_max:.1f}",
                LEFT - 6,
                f"{base_y - plot_h * t / y_max:.1f}",
                f"{t:,}",
            )
            for t in ticks
        ),
    )
    # A date label every week, and always on the last day (today).
    labelled = set(range(days - 1, -1, -7))
    x_ticks = format_html_join(
        "\n",
        '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (f"{LEFT + n * slot + slot / 2:.1f}", base_y + 16, f"{daily[n]['date']:%d %b}")
            for n in sorted(labelled)
        ),
    )
    first, last = (daily[0]["date"], daily[-1]["date"]) if daily else (None, None)
    description = (
        f"Daily requests from {first:%d %B %Y} to {last:%d %B %Y} (UTC): {total:,} in all, "
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
        '<text class="chart-title" x="{cx}" y="20" text-anchor="middle">{title}</text>'
        "{y_ticks}"
        '<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{base}"></line>'
        '<line class="axis" x1="{left}" x2="{right}" y1="{base}" y2="{base}"></line>'
        "{bars}"
        "{x_ticks}"
        '<text class="axis-label" x="{cx}" y="{xl}" text-anchor="middle">Day (UTC)</text>'
        '<text class="axis-label" transform="rotate(-90)" x="{yl_x}" y="14" '
        'text-anchor="middle">Requests</text>'
        "</svg>",
        id=chart_id,
        w=WIDTH,
        h=HEIGHT,
        title=title,
        desc=description,
        cx=f"{LEFT + plot_w / 2:.1f}",
        y_ticks=y_ticks,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        base=base_y,
        bars=bar_markup,
        x_ticks=x_ticks,
        xl=HEIGHT - 10,
        yl_x=f"{-(TOP + plot_h / 2):.1f}",
    )
