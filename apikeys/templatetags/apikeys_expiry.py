"""``{% expiring_soon_notice %}``: the dashboard's list of the user's keys expiring while in use."""

from django import template
from django.utils import timezone

from apikeys.expiry import expiring_soon_in_use_filter
from apikeys.selectors import api_key_list

register = template.Library()


@register.inclusion_tag("apikeys/_expiring_soon_notice.html", takes_context=True)
def expiring_soon_notice(context):
    user = context["request"].user
    keys = api_key_list(user=user).filter(expiring_soon_in_use_filter(timezone.now()))
    return {"keys": list(keys.order_by("expires_at")[:20])}
