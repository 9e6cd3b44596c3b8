"""Reads of webhooks and their deliveries, always through their owner (a user or a tenant)."""

import uuid

from django.db.models import QuerySet

from notifications.models import Delivery, Webhook


def webhook_list(*, user=None, tenant=None) -> QuerySet:
    if tenant is not None:
        return Webhook.objects.filter(tenant=tenant)
    return Webhook.objects.filter(user=user, tenant__isnull=True)


def webhook_get(*, webhook_id, user=None, tenant=None) -> Webhook | None:
    """The owner's webhook with this id; ``None`` for a malformed id or someone else's."""
    try:
        webhook_id = uuid.UUID(str(webhook_id))
    except ValueError:
        return None
    return webhook_list(user=user, tenant=tenant).filter(pk=webhook_id).first()


def delivery_list(*, webhook: Webhook) -> QuerySet:
    return Delivery.objects.filter(webhook=webhook)


def delivery_list_for_user(*, user, limit: int = 50) -> list[Delivery]:
    """The latest deliveries of the user's own webhooks, newest first (the page's log)."""
    return list(Delivery.objects.filter(webhook__user=user).select_related("webhook")[:limit])
