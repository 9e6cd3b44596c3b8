"""Webhooks and the notifications that audit events become (SPEC §12, docs/notifications.md).

Writes here; the request path only ever *enqueues* (``notifications.tasks.enqueue_quietly``),
and the task worker runs these: fan an event out into deliveries and an email, POST each
delivery signed, retry with backoff, give up after the last delay.
"""

import json
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apikeys.models import ApiKey
from audit.models import AuditEvent
from audit.services import audit_record
from core.domain_errors import Invalid
from notifications import crypto, destinations
from notifications.models import EVENT_TYPES, Delivery, Webhook

logger = logging.getLogger(__name__)

MAX_WEBHOOKS_PER_OWNER = 10
# Events the key's owner is also told about by email; the others go to webhooks only (a rate
# limit exhausted every minute or a spike of would-be refusals would flood an inbox).
EMAIL_EVENTS = frozenset({"api_key.expiring", "api_key.leaked", "api_key.canary_touched"})


# --- webhooks ------------------------------------------------------------------------------


def _check_events(events) -> list[str]:
    events = list(dict.fromkeys(events or EVENT_TYPES))
    unknown = [event for event in events if event not in EVENT_TYPES]
    if unknown:
        raise Invalid({"events": [f"Unknown event: {', '.join(unknown)}."]})
    return events


@transaction.atomic
def webhook_create(
    *, url: str, events=(), user=None, tenant=None, description: str = "", actor=None, request=None
) -> tuple[Webhook, str]:
    """Register a webhook for ``user`` or ``tenant``; return it with its secret (shown once)."""
    try:
        destinations.check_url(url)
    except destinations.DestinationRefused as exc:
        raise Invalid({"url": [str(exc)]}) from exc
    owner = Q(user=user) if user is not None else Q(tenant=tenant)
    if Webhook.objects.filter(owner).count() >= MAX_WEBHOOKS_PER_OWNER:
        raise Invalid({"non_field_errors": [f"At most {MAX_WEBHOOKS_PER_OWNER} webhooks each."]})
    secret = crypto.generate_secret()
    webhook = Webhook.objects.create(
        user=user,
        tenant=tenant,
        url=url,
        description=description,
        events=_check_events(events),
        secret_encrypted=crypto.encrypt_secret(secret),
        created_by=actor,
    )
    audit_record(
        event_type="webhook.created",
        request=request,
        actor=actor,
        target=webhook,
        tenant_id=webhook.tenant_id,
        data={"url": url, "events": webhook.events},
    )
    return webhook, secret


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor=None, request=None) -> None:
    """Delete the webhook and its delivery log; deliveries still queued find nothing to send."""
    webhook_id, tenant_id, url = webhook.pk, webhook.tenant_id, webhook.url
    webhook.delete()
    audit_record(
        event_type="webhook.deleted",
        request=request,
        actor=actor,
        target_type="notifications.webhook",
        target_id=str(webhook_id),
        tenant_id=tenant_id,
        data={"url": url},
    )


# --- events into notifications --------------------------------------------------------------


def _key_of(event: AuditEvent) -> ApiKey | None:
    if event.target_type != "apikeys.apikey" or not event.target_id:
        return None
    try:
        return ApiKey.objects.select_related("user").filter(pk=event.target_id).first()
    except (ValueError, TypeError):  # not a UUID
        return None


def _payload(delivery_id, event: AuditEvent, api_key: ApiKey | None) -> dict:
    return {
        "id": str(delivery_id),
        "type": event.event_type,
        "created_at": event.created_at.isoformat(),
        "tenant_id": str(event.tenant_id) if event.tenant_id else None,
        "api_key": (
            {"id": str(api_key.pk), "key_prefix": api_key.key_prefix, "name": api_key.name}
            if api_key is not None
            else None
        ),
        "data": event.data,
    }


def notification_fan_out(*, event_id: int) -> list[Delivery]:
    """Turn one audit event into deliveries (one per subscribed webhook) and an owner's email.

    Webhooks of the key's owner and of the key's tenant hear about the key. The caller (the
    ``notify_event`` task) queues the deliveries.
    """
    event = AuditEvent.objects.filter(pk=event_id).first()
    if event is None or event.event_type not in EVENT_TYPES:
        return []
    api_key = _key_of(event)
    owner = api_key.user if api_key is not None else None
    tenant_id = event.tenant_id or (api_key.tenant_id if api_key is not None else None)
    whose = Q(pk__in=[])
    if owner is not None:
        whose |= Q(user=owner)
    if tenant_id is not None:
        whose |= Q(tenant_id=tenant_id)
    deliveries = []
    for webhook in Webhook.objects.filter(whose, is_active=True):
        if event.event_type not in webhook.events:
            continue
        delivery_id = uuid.uuid4()
        deliveries.append(
            Delivery.objects.create(
                id=delivery_id,
                webhook=webhook,
                event_type=event.event_type,
                audit_event_id=event.pk,
                payload=_payload(delivery_id, event, api_key),
            )
        )
    if event.event_type in EMAIL_EVENTS and owner is not None and owner.email:
        _email_owner(owner, event, api_key)
    return deliveries


EMAIL_SUBJECTS = {
    "api_key.expiring": "Your API key {name} ({prefix}…) expires soon and is still in use",
    "api_key.leaked": "Your API key {name} ({prefix}…) was found exposed and has been revoked",
    "api_key.canary_touched": "Your canary key {name} ({prefix}…) was used",
}


def _email_owner(owner, event: AuditEvent, api_key: ApiKey | None) -> None:
    name = api_key.name if api_key is not None else event.data.get("name", "")
    prefix = api_key.key_prefix if api_key is not None else event.data.get("key_prefix", "")
    subject = EMAIL_SUBJECTS[event.event_type].format(name=f"“{name}”", prefix=prefix)
    lines = [subject + ".", ""]
    lines += [f"{field}: {value}" for field, value in sorted(event.data.items())]
    if api_key is not None:
        lines += ["", f"The key's page: {settings.KEYWARD_JWT_ISSUER}/keys/{api_key.pk}"]
    lines += ["", "— Keyward"]
    try:
        send_mail(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, [owner.email])
    except Exception:
        logger.exception("could not email the owner about %s", event.event_type)


# --- delivering -----------------------------------------------------------------------------


def delivery_body(delivery: Delivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def delivery_attempt(*, delivery_id) -> Delivery | None:
    """POST the delivery once, signed; on failure set the next try (``RETRYING``), or give up.

    Retries wait ``KEYWARD_WEBHOOK_RETRY_SECONDS`` in turn (1 min, 5 min, 30 min, 2 h, 12 h by
    default); the delivery fails for good after the last. Any 2xx is success; anything else,
    a timeout, a refused connection or a refused destination is a failure.
    """
    delivery = Delivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (Delivery.Status.SUCCEEDED, Delivery.Status.FAILED):
        return delivery
    webhook = delivery.webhook
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.next_attempt_at = None
    code, error = None, ""
    if not webhook.is_active:
        error = "The webhook is inactive."
    else:
        body = delivery_body(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Keyward-Webhooks/1",
            "Keyward-Event": delivery.event_type,
            "Keyward-Delivery": str(delivery.pk),
            crypto.SIGNATURE_HEADER: crypto.signature_header(
                crypto.decrypt_secret(webhook.secret_encrypted), body
            ),
        }
        try:
            destination = destinations.resolve(webhook.url)
            code = destinations.post(
                destination, body, headers, timeout=settings.KEYWARD_WEBHOOK_TIMEOUT_SECONDS
            )
        except destinations.DestinationRefused as exc:
            error = str(exc)
        except OSError as exc:
            error = f"Could not deliver: {type(exc).__name__}."
        else:
            if not 200 <= code < 300:
                error = f"The receiver answered {code}."
    delivery.response_code = code
    delivery.last_error = error[:300]
    if not error:
        delivery.status = Delivery.Status.SUCCEEDED
        delivery.delivered_at = now
    else:
        delays = settings.KEYWARD_WEBHOOK_RETRY_SECONDS
        if webhook.is_active and delivery.attempts <= len(delays):
            delivery.status = Delivery.Status.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=delays[delivery.attempts - 1])
        else:
            delivery.status = Delivery.Status.FAILED
    delivery.save()
    return delivery


# --- rate limits ----------------------------------------------------------------------------


def rate_limit_exhausted_record(*, key_id: str, limit: int, window: str, window_ends_at) -> None:
    """Record ``rate_limit.exhausted`` for a key: called once per key and window, off the path."""
    api_key = ApiKey.objects.filter(pk=key_id).first()
    if api_key is None:
        return
    audit_record(
        event_type="rate_limit.exhausted",
        outcome=AuditEvent.Outcome.FAILURE,
        target=api_key,
        tenant_id=api_key.tenant_id,
        data={
            "key_prefix": api_key.key_prefix,
            "name": api_key.name,
            "limit": limit,
            "window": window.strip('"'),
            "window_ends_at": window_ends_at.isoformat(),
        },
    )
