"""The touches of a canary key, for its page (``templates/apikeys/_canary.html``)."""

from django import template

from apikeys.canary import TOUCH_WINDOW_SECONDS, canary_touch_count, canary_touches

register = template.Library()

TOUCHES_SHOWN = 50


@register.simple_tag
def canary_touch_table(api_key) -> dict:
    """The latest touches and how many were recorded in all."""
    return {
        "touches": list(canary_touches(api_key=api_key, limit=TOUCHES_SHOWN)),
        "count": canary_touch_count(api_key=api_key),
        "window_seconds": TOUCH_WINDOW_SECONDS,
    }
