"""API keys in the admin. Every write goes through ``apikeys.services``, as the API's do.

A new key (add form, rotate action) is shown once, in the page rendered by the request that
created it: it is put in no message, session or cookie, and never in the change form. The key
hash is excluded from every page.

Field shapes (scope names, endpoint grants, CIDRs, rate limits, metadata) are checked by the
API's serializers, and the key rules by the service itself: the forms run the service in a
savepoint that is always rolled back, so a refusal lands beside its field, and ``save_model``
then makes the same call for real.
"""

import datetime
import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince, timeuntil
from rest_framework.exceptions import APIException

from apikeys import services
from apikeys.admin_forms import ApiKeyAddForm, ApiKeyChangeForm, RotateForm, issue_refusal
from apikeys.bootstrap import bootstrap_available
from apikeys.models import ApiKey, InstallationState, Proposal
from apikeys.selectors import daily_usage
from apikeys.shadow import proposals_fresh, shadow_flush_quietly
from apikeys.usage import usage_flush_quietly
from apikeys.views import key_status
from core.admin import RevealOnceMixin
from core.domain_errors import DomainError
from core.forms import refusal_messages

USAGE_DAYS = 14


class ExpiredFilter(admin.SimpleListFilter):
    title = "expired"
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return [("yes", "Expired"), ("no", "Not expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "no":
            return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        return queryset


def _moment(when, now, *, never="—"):
    """A time as people read it ("in 29 days", "3 minutes ago"), the exact UTC on hover."""
    if when is None:
        return never
    relative = (
        f"in {timeuntil(when, now, depth=1)}"
        if when > now
        else (f"{timesince(when, now, depth=1)} ago")
    )
    return format_html(
        '<time class="kw-nowrap" datetime="{}" title="{} UTC">{}</time>',
        when.isoformat(),
        when.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        relative,
    )


STATUS_LABEL = {
    "active": "Active",
    "revoked": "Revoked",
    "expired": "Expired",
    "rotated": "Rotated",
}


class StatusFilter(admin.SimpleListFilter):
    """The status column's four answers; ``is_active`` alone would list expired keys as active."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return list(STATUS_LABEL.items())

    def queryset(self, request, queryset):
        now = timezone.now()
        expired = Q(expires_at__lte=now)
        dead = Q(is_active=False) | expired
        return {
            "active": queryset.filter(~dead),
            "revoked": queryset.filter(is_active=False, rotated=False),
            "expired": queryset.filter(expired, is_active=True, rotated=False),
            "rotated": queryset.filter(dead, rotated=True),
        }.get(self.value(), queryset)


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    """Read only, with the recent would-be refusals the inline leaves out."""

    list_display = ["id", "api_key", "judged", "would_refuse", "created_at", "applied_at"]
    list_select_related = ["api_key"]
    search_fields = ["api_key__key_prefix", "api_key__name"]
    readonly_fields = [
        "id",
        "api_key",
        "changes",
        "created_at",
        "created_by",
        "judged",
        "would_refuse",
        "recent",
        "applied_at",
        "spike_level",
    ]

    def get_object(self, request, object_id, from_field=None):
        """The proposal with its buffered figures merged in, so the page shows them exact."""
        proposal = super().get_object(request, object_id, from_field)
        if proposal is not None:
            shadow_flush_quietly(proposal.api_key_id)
            proposal.refresh_from_db()
        return proposal

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(RevealOnceMixin, admin.ModelAdmin):
    # Eight short columns fit a 1280-pixel screen beside the filters (issue 26): owner and
    # tenant share a cell, as do type and scopes ("access"); status replaces is_active, which an
    # expired key still has.
    list_display = [
        "prefix",
        "name",
        "owner_email",
        "access",
        "status",
        "expires",
        "last_used",
        "request_count",
    ]
    list_display_links = ["prefix", "name"]
    list_filter = [
        StatusFilter,
        "key_type",
        ("tenant", admin.RelatedOnlyFieldListFilter),
        "key_manager",
        ExpiredFilter,
    ]
    search_fields = ["name", "key_prefix", "user__email"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]
    exclude = ["key_hash"]
    actions = ["revoke_keys", "activate_keys", "rotate_keys"]
    reveal_template = "admin/apikeys/apikey/key_revealed.html"
    rotate_template = "admin/apikeys/apikey/rotate_confirmation.html"
    revoke_template = "admin/apikeys/apikey/revoke_confirmation.html"

    class Media:
        css = {"all": ["admin-apikeys.css"]}

    def get_urls(self):
        """The change page's *Revoke*, *Activate* and *Rotate* buttons, one page each."""
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/revoke/", wrap(self.revoke_view), name=f"{name}_revoke"),
            path("<path:object_id>/activate/", wrap(self.activate_view), name=f"{name}_activate"),
            path("<path:object_id>/rotate/", wrap(self.rotate_view), name=f"{name}_rotate"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        """The list without the admin's navigation sidebar: at 1280 pixels the sidebar and the
        filters left the table 631 pixels, and status, expiry and usage fell off the screen."""
        return super().changelist_view(
            request, {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        )

    def get_queryset(self, request):
        rotated = Exists(ApiKey.objects.filter(rotated_from=OuterRef("pk")))
        return super().get_queryset(request).annotate(rotated=rotated)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ApiKeyChangeForm if obj is not None else ApiKeyAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user  # a fresh class per call, so this is this request's
        return form

    def get_changeform_initial_data(self, request):
        """The owner defaults to the staff user adding the key: another owner is a choice."""
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["user", "name", "description"]}),
                ("What it may do", {"fields": ["key_type", "tenant", "scopes", "endpoints"]}),
                (
                    "Limits",
                    {"fields": ["key_manager", "allowed_ips", "rate_limit", "expires_at"]},
                ),
                (None, {"fields": ["metadata"]}),
            ]
        return [
            (None, {"fields": ["id", "key_prefix", "owner", "name", "description", "status"]}),
            (
                "What it may do",
                {"fields": ["key_type", "tenant", "full_access", "scopes", "endpoints"]},
            ),
            ("Limits", {"fields": ["key_manager", "allowed_ips", "rate_limit", "expires_at"]}),
            (None, {"fields": ["metadata", "created_at", "created_by", "rotated_from"]}),
            (
                "Traffic-aware expiry",
                {"fields": ["end_grace_when_idle_seconds", "expiry_warning_sent_at"]},
            ),
            (
                "Usage",
                {"fields": ["last_used_at", "last_used_ip", "request_count", "daily_requests"]},
            ),
            ("Shadow proposals", {"fields": ["proposals"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        editable = set(services.UPDATABLE_FIELDS)
        fields = [f for _, options in self.get_fieldsets(request, obj) for f in options["fields"]]
        return [f for f in fields if f not in editable]

    def get_object(self, request, object_id, from_field=None):
        """The key with its buffered usage merged in, so the change page's figures are exact."""
        key_id = _pk(object_id)
        usage_flush_quietly(key_ids=[key_id] if key_id else [])
        return super().get_object(request, object_id, from_field)

    def get_changelist_instance(self, request):
        """The changelist, with the page's buffered usage merged in before it is read."""
        changelist = super().get_changelist_instance(request)
        # result_list is a lazy queryset: flushed first, its rows are read fresh afterwards.
        usage_flush_quietly(key_ids=list(changelist.result_list.values_list("pk", flat=True)))
        return changelist

    @admin.display(description="prefix", ordering="key_prefix")
    def prefix(self, obj):
        """Whole and as typed: never capitalised, so what is copied here works in a command."""
        return format_html('<code class="kw-nowrap">{}</code>', obj.key_prefix)

    @admin.display(description="proposals (read only; made and applied by the key's owner)")
    def proposals(self, obj):
        """Each proposal and its figures, linked to its read-only page with the recent list."""
        rows = proposals_fresh(obj)
        if not rows:
            return "—"
        return format_html_join(
            "",
            '<a href="{}">{}</a>: {} — would refuse {} of {} judged{}<br>',
            (
                (
                    reverse("admin:apikeys_proposal_change", args=[p.pk]),
                    str(p.pk)[:8],
                    json.dumps(p.changes),
                    p.would_refuse,
                    p.judged,
                    " (applied)" if p.applied_at else "",
                )
                for p in rows
            ),
        )

    @admin.display(description="owner · tenant", ordering="user__email")
    def owner_email(self, obj):
        if obj.tenant_id is None:
            return obj.user.email
        return format_html("{}<br><small>{}</small>", obj.user.email, obj.tenant.name)

    @admin.display(description="access")
    def access(self, obj):
        """The type, then full access as a warning or what the key is narrowed to."""
        if obj.full_access:
            reach = mark_safe(  # constant markup, no data in it
                '<strong class="kw-warning" title="No scopes or grants: it may do '
                'everything its owner may">⚠ full access</strong>'
            )
        else:
            grants = len(obj.endpoints)
            parts = [
                *obj.scopes,
                *([f"{grants} grant{'s' if grants != 1 else ''}"] if grants else []),
            ]
            reach = " ".join(parts)
        return format_html("{}<br><small>{}</small>", reach, obj.key_type)

    @admin.display(description="status")
    def status(self, obj):
        """What a caller meets: an expired key is never "active", whatever ``is_active`` says."""
        status = key_status(obj, rotated=getattr(obj, "rotated", False))
        return format_html(
            '<span class="kw-status kw-status-{}">{}</span>', status, STATUS_LABEL[status]
        )

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, obj):
        return _moment(obj.expires_at, timezone.now(), never="never")

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj):
        return _moment(obj.last_used_at, timezone.now(), never="never")

    @admin.display(description="owner")
    def owner(self, obj):
        url = reverse("admin:accounts_user_change", args=[obj.user_id])
        return format_html('<a href="{}">{}</a>', url, obj.user.email)

    @admin.display(description="full access")
    def full_access(self, obj):
        if obj.full_access:
            return mark_safe(  # constant markup, no data in it
                '<strong class="kw-warning">⚠ Full access</strong>: no scopes or endpoint '
                "grants, so this key may do everything its owner may. Narrow it below."
            )
        return "No: limited to its scopes and endpoint grants."

    @admin.display(description=f"requests, last {USAGE_DAYS} days (UTC)")
    def daily_requests(self, obj):
        days = daily_usage(api_key=obj, days=USAGE_DAYS, today=timezone.now().date())
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", ((d["date"], d["count"]) for d in days)
        )
        return format_html("<table><tr><th>day</th><th>requests</th></tr>{}</table>", rows)

    # --- writes, all through the services -------------------------------------------------

    def save_model(self, request, obj, form, change):
        if change:
            if form.changes:
                services.api_key_update(
                    api_key=obj, changes=form.changes, actor=request.user, request=request
                )
            return
        api_key, raw_key = services.api_key_create(**form.service_kwargs, request=request)
        # The admin goes on with ``obj`` (its log entry and response): make it the new row.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(api_key, field.attname))
        obj._state.adding, obj._state.db = False, api_key._state.db
        obj.raw_key = raw_key

    def response_add(self, request, obj, post_url_continue=None):
        return self._reveal(request, [(obj, obj.raw_key)], title="API key created")

    def delete_model(self, request, obj):
        services.api_key_delete(api_key=obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for api_key in queryset:
            services.api_key_delete(api_key=api_key, actor=request.user, request=request)

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        self._each(request, queryset, services.api_key_revoke, "Revoked")

    @admin.action(description="Activate selected API keys", permissions=["change"])
    def activate_keys(self, request, queryset):
        self._each(request, queryset, services.api_key_activate, "Activated")

    # Rotating changes the old key (it stops working), so it needs ``change``; the successor
    # is a new credential of the old key's owner, so issuing it follows the add form's rule.
    @admin.action(
        description="Rotate selected API keys (the new keys are shown once)",
        permissions=["change"],
    )
    def rotate_keys(self, request, queryset):
        return self._rotate(request, queryset, action="rotate_keys")

    def _rotate(self, request, queryset, *, action=None):
        """Ask for the grace period (the pages' default, an hour), then rotate and reveal."""
        form = RotateForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Rotate API keys",
                "opts": self.model._meta,
                "queryset": queryset,
                "form": form,
                "action": action,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, self.rotate_template, context)
        grace = form.cleaned_data["grace_period_seconds"]
        rotated = []
        for api_key in queryset.select_related("user"):
            refusal = issue_refusal(
                actor=request.user, owner=api_key.user, key_type=api_key.key_type
            )
            if refusal is not None:
                messages.error(request, f"{api_key.key_prefix}: not rotated: {refusal}")
                continue
            try:
                rotated.append(
                    services.api_key_rotate(
                        api_key=api_key,
                        grace_period_seconds=grace,
                        end_grace_when_idle_seconds=form.cleaned_data[
                            "end_grace_when_idle_seconds"
                        ],
                        actor=request.user,
                        request=request,
                    )
                )
            except (DomainError, APIException) as exc:
                reason = " ".join(refusal_messages(exc))
                messages.error(request, f"{api_key.key_prefix}: not rotated: {reason}")
        if rotated:
            return self._reveal(request, rotated, title="API keys rotated")
        return None

    # --- the change page's buttons ----------------------------------------------------------

    def rotate_view(self, request, object_id):
        api_key = self._changeable(request, object_id)
        response = self._rotate(request, ApiKey.objects.filter(pk=api_key.pk))
        return response or self._back_to(api_key)

    def revoke_view(self, request, object_id):
        return self._confirmed(request, object_id, services.api_key_revoke, "revoke")

    def activate_view(self, request, object_id):
        return self._confirmed(request, object_id, services.api_key_activate, "activate")

    def _confirmed(self, request, object_id, service, verb):
        """A confirmation page on GET; the service on POST, then back to the key's page."""
        api_key = self._changeable(request, object_id)
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "title": f"{verb.capitalize()} API key",
                "opts": self.model._meta,
                "api_key": api_key,
                "verb": verb,
            }
            return TemplateResponse(request, self.revoke_template, context)
        try:
            service(api_key=api_key, actor=request.user, request=request)
            messages.success(request, f"{verb.capitalize()}d {api_key.key_prefix}.")
        except (DomainError, APIException) as exc:
            messages.error(request, f"{api_key.key_prefix}: {' '.join(refusal_messages(exc))}")
        return self._back_to(api_key)

    def _changeable(self, request, object_id) -> ApiKey:
        api_key = self.get_object(request, object_id)
        if api_key is None:
            raise Http404("No such API key.")
        if not self.has_change_permission(request, api_key):
            raise PermissionDenied
        return api_key

    def _back_to(self, api_key):
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[api_key.pk])
        )

    def _each(self, request, queryset, service, verb):
        done = 0
        for api_key in queryset:
            try:
                service(api_key=api_key, actor=request.user, request=request)
                done += 1
            except (DomainError, APIException) as exc:
                reason = " ".join(refusal_messages(exc))
                messages.error(request, f"{api_key.key_prefix}: {reason}")
        if done:
            messages.success(request, f"{verb} {done} API key{'s' if done != 1 else ''}.")

    def _reveal(self, request, created, *, title):
        """The one page that shows new keys."""
        keys = [{"api_key": key, "raw_key": raw} for key, raw in created]
        return self.reveal_once(request, keys, title=title)


def _pk(object_id):
    try:
        return ApiKey._meta.pk.to_python(unquote(object_id))
    except DjangoValidationError:
        return None  # a malformed id: the admin answers it with its own "not found"


@admin.register(InstallationState)
class InstallationStateAdmin(admin.ModelAdmin):
    """Read-only: the bootstrap flag is taken once by the service and must never be reset here.

    Shown so an operator can see whether bootstrap is still open and when it was used.
    """

    list_display = ["keys_ever_issued", "bootstrapped_at", "bootstrap_open"]
    readonly_fields = ["keys_ever_issued", "bootstrapped_at", "bootstrap_open"]
    fields = readonly_fields

    @admin.display(description="bootstrap open", boolean=True)
    def bootstrap_open(self, obj):
        return bootstrap_available()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
