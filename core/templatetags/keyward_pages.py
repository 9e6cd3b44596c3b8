"""Template tags of the pages: times as people read them, and the navigation's current page."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from core import usertime

register = template.Library()


@register.simple_tag
def when(value):
    """``<time>`` saying "3 minutes ago" / "in 29 days", the exact UTC time on hover."""
    if value is None:
        return mark_safe('<span class="muted">never</span>')
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        value.isoformat(),
        value.astimezone(usertime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        usertime.relative(value),
    )


@register.simple_tag(takes_context=True)
def expiry(context, value):
    """An expiry as chosen: relative, exact UTC on hover, and the day in the user's zone."""
    if value is None:
        return mark_safe('<span class="muted">never</span>')
    request = context.get("request")
    zone = usertime.user_zone(request) if request is not None else usertime.ZoneInfo("UTC")
    return format_html(
        '{} <span class="muted expiry-day">(end of {}, {})</span>',
        when(value),
        usertime.chosen_day(value, zone).isoformat(),
        zone.key,
    )


@register.simple_tag(takes_context=True)
def nav_link(context, href, label):
    """A navigation link, marked ``aria-current="page"`` on the page (or section) it names."""
    request = context.get("request")
    path = request.path if request is not None else ""
    current = path == href if href == "/" else path == href or path.startswith(href + "/")
    if current:
        return format_html('<a href="{}" aria-current="page">{}</a>', href, label)
    return format_html('<a href="{}">{}</a>', href, label)
