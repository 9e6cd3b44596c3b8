"""Web pages for API keys: list, create, reveal once, key page with usage, and the actions.

Every page needs a session login and answers another user's key with 404 (SPEC §3). Each
change goes through ``apikeys.services``, like the API; a service's refusal is shown on the
page, beside the field it names. Every change answers with a redirect (POST/redirect/GET): the
raw key of a new or rotated key is shown once on its reveal page (``apikeys.reveal``), and a
reload shows it gone rather than making another key.
"""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q, Sum
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework import exceptions

from accounts.views import error_page
from apikeys import services
from apikeys.charts import usage_chart_svg
from apikeys.forms import ApiKeyCreateForm, ApiKeyEditForm, RotateForm
from apikeys.limits import key_create_limit
from apikeys.models import ApiKey, ApiKeyDailyUsage
from apikeys.selectors import api_key_fresh, api_key_get, api_key_list, daily_usage
from apikeys.shadow_views import proposal_rows
from apikeys.usage import usage_flush_quietly
from audit.models import AuditEvent
from core import usertime
from core.domain_errors import DomainError, Invalid, NotFound
from core.errors import RateLimitExceeded, ServiceUnavailable, status_of
from core.forms import refusal_messages
from core.nostore import no_store
from core.reveal import reveal_forget_cookie, reveal_stash, reveal_take
from core.views import see_other
from identity.limits import rate_limits_hit
from metering.credits import credits_state
from tenants.selectors import tenants_for_user
from tenants.views import current_tenant

USAGE_DAYS = 30
AUDIT_TRAIL_LENGTH = 50


def key_status(api_key: ApiKey, now=None, *, rotated: bool = False) -> str:
    """``active``, ``revoked``, ``expired`` or ``rotated``: what a caller would meet.

    ``rotated`` is a key that has a successor and no longer works: it is neither to be
    activated again (its successor replaced it) nor rotated a second time.
    """
    now = now or timezone.now()
    if not api_key.is_active or api_key.is_expired(now):
        if rotated:
            return "rotated"
        return "revoked" if not api_key.is_active else "expired"
    return "active"


def _with_rotated(queryset):
    return queryset.annotate(rotated=Exists(ApiKey.objects.filter(rotated_from=OuterRef("pk"))))


def _own_key(request, key_id) -> ApiKey:
    api_key = api_key_get(key_id=key_id, user=request.user)
    if api_key is None:
        raise Http404("No such key.")
    return api_key


def _to_reveal(request, api_key: ApiKey, raw_key: str, *, rotated_from=None):
    """303 to the key's reveal page, which shows ``raw_key`` once."""
    path = _reveal_path(api_key.pk)
    response = see_other(path)
    extra = str(rotated_from.pk) if rotated_from else None
    reveal_stash(request, response, path=path, secret=raw_key, extra=extra)
    return response


def _reveal_path(key_id) -> str:
    return f"/keys/{key_id}/reveal"


@never_cache
@require_GET
@login_required
def key_reveal(request, key_id):
    """The one page that ever shows a raw key, once; nothing may cache or store it."""
    api_key = _own_key(request, key_id)
    path = _reveal_path(api_key.pk)
    taken = reveal_take(request, path=path)
    rotated_from = None
    if taken is not None and taken[1]:
        rotated_from = api_key_get(key_id=taken[1], user=request.user)
    response = render(
        request,
        "apikeys/reveal.html",
        {
            "api_key": api_key,
            "raw_key": taken[0] if taken else None,
            "rotated_from": rotated_from,
        },
    )
    reveal_forget_cookie(response, path=path)
    response["Referrer-Policy"] = "no-referrer"
    return no_store(response)


@require_GET
@login_required
def settings_redirect(request):
    """``/settings/api-keys`` (SPEC §2's name for the page) leads to the key list."""
    return see_other("/keys")


def keys_in_context(request):
    """The user's keys in the current tenant: bound to it, or to none (they name one per call).

    ``?all=1`` lists every key of the user, whatever its tenant. Returns the queryset, the
    tenant and whether the list is narrowed to it.
    """
    keys = api_key_list(user=request.user)
    tenant = current_tenant(request)
    narrowed = tenant is not None and request.GET.get("all") != "1"
    if narrowed:
        keys = keys.filter(Q(tenant=tenant) | Q(tenant__isnull=True))
    return keys, tenant, narrowed


EXPIRING_SOON_DAYS = 14


def key_counts(request) -> dict:
    """The dashboard's figures, over the keys of the current tenant (``keys_in_context``)."""
    keys, tenant, _ = keys_in_context(request)
    key_ids = list(keys.values_list("pk", flat=True))
    usage_flush_quietly(key_ids=key_ids)
    now = timezone.now()
    live = keys.filter(is_active=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    soon = now + timedelta(days=EXPIRING_SOON_DAYS)
    today = ApiKeyDailyUsage.objects.filter(api_key_id__in=key_ids, date=now.date())
    return {
        "tenant": tenant,
        "keys": len(key_ids),
        "active": live.count(),
        "expiring_soon": live.filter(expires_at__lte=soon).count(),
        "expiring_soon_days": EXPIRING_SOON_DAYS,
        "requests_today": today.aggregate(total=Sum("count"))["total"] or 0,
    }


@require_GET
@login_required
def key_list(request):
    keys, tenant, narrowed = keys_in_context(request)
    usage_flush_quietly(key_ids=list(keys.values_list("pk", flat=True)))
    keys = list(_with_rotated(keys.select_related("tenant")))
    now = timezone.now()
    for key in keys:
        key.status = key_status(key, now, rotated=key.rotated)
    hidden = 0
    if narrowed:
        hidden = api_key_list(user=request.user).count() - len(keys)
    return render(
        request,
        "apikeys/list.html",
        {"keys": keys, "tenant": tenant, "narrowed": narrowed, "hidden": hidden},
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def key_create(request):
    tenants = list(tenants_for_user(user=request.user).order_by("name"))
    current = current_tenant(request)
    form_kwargs = {
        "user": request.user,
        "tenants": tenants,
        "current_tenant_id": current.pk if current else None,
        "zone": usertime.zone_remember(request, request.POST.get("time_zone")),
    }
    if request.method != "POST":
        return render(request, "apikeys/create.html", {"form": ApiKeyCreateForm(**form_kwargs)})
    form = ApiKeyCreateForm(request.POST, **form_kwargs)
    if form.is_valid():
        try:
            rate_limits_hit(request, key_create_limit(request.user))
        except (RateLimitExceeded, ServiceUnavailable) as exc:
            return error_page(request, exc)
        try:
            api_key, raw_key = services.api_key_create(
                user=request.user,
                created_by=request.user,
                request=request,
                **form.service_arguments(),
            )
        except NotFound:  # the user left the tenant while the form was open
            form.add_error("tenant", "You are not a member of this tenant.")
        except DomainError as exc:
            form.add_domain_error(exc)
        except exceptions.APIException as exc:
            form.add_error(None, str(exc.detail))
        else:
            return _to_reveal(request, api_key, raw_key)
    return render(request, "apikeys/create.html", {"form": form}, status=400)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def key_edit(request, key_id):
    """Change a key through ``api_key_update``, the service and rules the API uses."""
    api_key = api_key_fresh(_own_key(request, key_id))
    zone = usertime.zone_remember(request, request.POST.get("time_zone"))
    if request.method != "POST":
        form = ApiKeyEditForm(api_key=api_key, zone=zone)
        return render(request, "apikeys/edit.html", {"form": form, "api_key": api_key})
    form = ApiKeyEditForm(request.POST, api_key=api_key, zone=zone)
    if form.is_valid():
        changes = form.changes()
        if form.is_valid():  # the rate limit is checked while the changes are gathered
            if not changes:
                messages.info(request, "Nothing changed.")
                return see_other(f"/keys/{api_key.pk}")
            try:
                services.api_key_update(
                    api_key=api_key, changes=changes, actor=request.user, request=request
                )
            except Invalid as exc:
                form.add_service_errors(_rate_limit_errors(exc.errors))
            except DomainError as exc:
                form.add_domain_error(exc)
            except exceptions.APIException as exc:
                form.add_error(None, str(exc.detail))
            else:
                messages.success(request, f"Key {api_key.key_prefix} is saved.")
                return see_other(f"/keys/{api_key.pk}")
    return render(request, "apikeys/edit.html", {"form": form, "api_key": api_key}, status=400)


def _rate_limit_errors(detail):
    """The service names ``rate_limit``; the form has a box per window, the first takes it."""
    if isinstance(detail, dict) and "rate_limit" in detail:
        detail = {**detail, "rate_limit_per_minute": detail["rate_limit"]}
        del detail["rate_limit"]
    return detail


@require_GET
@login_required
def key_detail(request, key_id):
    api_key = api_key_fresh(_own_key(request, key_id))
    today = timezone.now().date()
    daily = daily_usage(api_key=api_key, days=USAGE_DAYS, today=today)
    audit_trail = AuditEvent.objects.filter(
        Q(target_type="apikeys.apikey", target_id=str(api_key.pk))
        | Q(event_type="api_key.rotated", data__successor_id=str(api_key.pk))
    )[:AUDIT_TRAIL_LENGTH]
    successor = ApiKey.objects.filter(rotated_from=api_key).only("id", "key_prefix").first()
    chart_title = f"Requests per day, last {USAGE_DAYS} days"
    return render(
        request,
        "apikeys/detail.html",
        {
            "api_key": api_key,
            "status": key_status(api_key, rotated=successor is not None),
            "daily": daily,
            "usage_total": sum(day["count"] for day in daily),
            "usage_limited": sum(day["limited"] for day in daily),
            "usage_refused": sum(day["refused"] for day in daily),
            "chart": usage_chart_svg(daily, title=chart_title, chart_id="usage-chart"),
            # A phone gets a narrower drawing with larger type, rather than a sideways scroll
            # that would hide today's bar off screen.
            "chart_compact": usage_chart_svg(
                daily, title=chart_title, chart_id="usage-chart-compact", compact=True
            ),
            "audit_trail": audit_trail,
            "successor": successor,
            "credits": credits_state(api_key),
            "proposals": proposal_rows(api_key),  # templates/apikeys/_proposals.html
        },
    )


# --- actions: a confirmation page on GET, the change on POST -------------------------------

ACTIONS = {
    "revoke": {
        "title": "Revoke",
        "explain": "Calls with this key will be refused (401) at once, on every server. "
        "You can activate it again later.",
        "button": "Revoke key",
        "danger": True,
    },
    "activate": {
        "title": "Activate",
        "explain": "Calls with this key will be accepted again.",
        "button": "Activate key",
        "danger": False,
    },
    "rotate": {
        "title": "Rotate",
        "explain": "A new key with the same settings is issued and shown to you once. "
        "The old key keeps working for the grace period, then stops.",
        "button": "Rotate key",
        "danger": False,
    },
    "delete": {
        "title": "Delete",
        "explain": "The key and its usage are deleted for good; calls with it are refused. "
        "The audit log keeps its prefix. This cannot be undone.",
        "button": "Delete key for good",
        "danger": True,
    },
}


def _confirm(request, api_key, action, *, form=None, error=None, status=200):
    return render(
        request,
        "apikeys/confirm.html",
        {"api_key": api_key, "action": action, **ACTIONS[action], "form": form, "error": error},
        status=status,
    )


def _error_status(exc) -> int:
    code = status_of(exc)
    return code if 400 <= code < 500 else 400


def _error_text(exc) -> str:
    return " ".join(refusal_messages(exc))


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def key_revoke(request, key_id):
    api_key = _own_key(request, key_id)
    if request.method != "POST":
        return _confirm(request, api_key, "revoke")
    services.api_key_revoke(api_key=api_key, actor=request.user, request=request)
    messages.success(request, f"Key {api_key.key_prefix} is revoked.")
    return see_other(f"/keys/{api_key.pk}")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def key_activate(request, key_id):
    api_key = _own_key(request, key_id)
    if request.method != "POST":
        return _confirm(request, api_key, "activate")
    try:
        services.api_key_activate(api_key=api_key, actor=request.user, request=request)
    except (DomainError, exceptions.APIException) as exc:
        return _confirm(
            request, api_key, "activate", error=_error_text(exc), status=_error_status(exc)
        )
    messages.success(request, f"Key {api_key.key_prefix} is active again.")
    return see_other(f"/keys/{api_key.pk}")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def key_rotate(request, key_id):
    api_key = _own_key(request, key_id)
    zone = usertime.zone_remember(request, request.POST.get("time_zone"))
    if request.method != "POST":
        return _confirm(request, api_key, "rotate", form=RotateForm(zone=zone))
    form = RotateForm(request.POST, zone=zone)
    if not form.is_valid():
        return _confirm(request, api_key, "rotate", form=form, status=400)
    try:
        successor, raw_key = services.api_key_rotate(
            api_key=api_key,
            grace_period_seconds=form.cleaned_data["grace_period"],
            end_grace_when_idle_seconds=form.cleaned_data["end_grace_when_idle"],
            expires_at=form.expires_at(),
            actor=request.user,
            request=request,
        )
    except Invalid as exc:
        form.add_domain_error(exc)
        return _confirm(request, api_key, "rotate", form=form, status=400)
    except (DomainError, exceptions.APIException) as exc:
        return _confirm(
            request, api_key, "rotate", form=form, error=_error_text(exc), status=_error_status(exc)
        )
    return _to_reveal(request, successor, raw_key, rotated_from=api_key)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def key_delete(request, key_id):
    api_key = _own_key(request, key_id)
    if request.method != "POST":
        return _confirm(request, api_key, "delete")
    services.api_key_delete(api_key=api_key, actor=request.user, request=request)
    messages.success(request, f"Key {api_key.key_prefix} ({api_key.name}) is deleted.")
    return see_other("/keys")
