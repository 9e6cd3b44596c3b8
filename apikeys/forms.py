"""Forms of the API-key pages. Field shapes here; every rule about keys stays in ``services``.

Endpoint grants and allowed IPs are parsed with the API's own serializer fields, so a value the
API refuses is refused here with the same message.
"""

import json
from datetime import timedelta

from django import forms
from rest_framework import serializers

from apikeys.models import KeyType
from apikeys.rules import MAX_DESCRIPTION, MAX_ENDPOINTS, MAX_NAME_LENGTH
from apikeys.serializers import CidrListField, EndpointGrantSerializer, RateLimitSerializer
from core import usertime
from core.domain_errors import sentences
from core.forms import PageForm
from identity.limits import type_rate_limit

DEFAULT_EXPIRY_DAYS = 90

# The scopes offered as checkboxes; SPEC §3 allows any <resource>:read/write through the API.
SCOPE_CHOICES = [
    ("read:all", "read:all — GET, HEAD and OPTIONS everywhere"),
    ("write:all", "write:all — POST, PUT, PATCH and DELETE everywhere"),
    ("agents:read", "agents:read"),
    ("agents:write", "agents:write"),
    ("tenants:read", "tenants:read"),
    ("tenants:write", "tenants:write"),
    ("keys:read", "keys:read"),
    ("keys:write", "keys:write"),
    ("keys:verify", "keys:verify — verify other keys for your backends"),
    ("app:access", "app:access"),
]
ADMIN_SCOPE_CHOICE = ("admin", "admin — administrative endpoints (admin keys only)")

GRACE_PERIOD_CHOICES = [
    (0, "None: the old key stops working now"),
    (300, "5 minutes"),
    (3600, "1 hour"),
    (86400, "24 hours"),
    (7 * 86400, "7 days"),
]


# Where the service's error keys differ from the form's field names.
SERVICE_FIELD_NAMES = {
    "tenant_id": "tenant",
    "grace_period_seconds": "grace_period",
    "end_grace_when_idle_seconds": "end_grace_when_idle",
    "expires_at": "expires_on",
}
IDLE_GRACE_CHOICES = [
    ("", "Never: keep the whole grace period"),
    (600, "10 minutes"),
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
]

NO_ACCESS_CHOSEN = (
    "Choose what the key may do: tick at least one scope, add an endpoint grant, "
    "or choose full access."
)
FULL_ACCESS_AND_LIMITS = (
    "Full access takes no scopes or grants: untick full access, or clear the scopes and grants."
)


class TimeZoneField(forms.CharField):
    """The browser's IANA zone, filled in by static/time-zone.js; blank or unknown: UTC."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(required=False, max_length=usertime.MAX_ZONE_NAME, **kwargs)


class DatedForm(PageForm):
    """A form with an "expires on" day: the end of that day in the user's time zone."""

    time_zone = TimeZoneField()

    def __init__(self, *args, zone=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone or usertime.ZoneInfo("UTC")

    def clean_time_zone(self):
        self.zone = usertime.zone_named(self.cleaned_data["time_zone"]) or self.zone
        return self.zone.key

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is not None and day < usertime.today_in(self.zone):
            raise forms.ValidationError("Choose today or a later day.")
        return day

    def expires_at(self):
        day = self.cleaned_data["expires_on"]
        return None if day is None else usertime.end_of_day(day, self.zone)


def expires_on_field(help_text: str) -> forms.DateField:
    return forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=help_text,
    )


class ApiKeyCreateForm(DatedForm):
    service_field_names = SERVICE_FIELD_NAMES
    name = forms.CharField(label="Name", max_length=MAX_NAME_LENGTH)
    description = forms.CharField(
        label="Description",
        max_length=MAX_DESCRIPTION,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    key_type = forms.ChoiceField(label="Type", initial=KeyType.DEVELOPMENT)
    tenant = forms.ChoiceField(
        label="Tenant",
        required=False,
        help_text="A key bound to a tenant sees only that tenant's data. This cannot change.",
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick only what the key's program needs. Give scopes, endpoint grants, or both.",
    )
    endpoints = forms.CharField(
        label="Endpoint grants",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "GET,POST /api/v1/agents"}),
        help_text='One per line: "METHODS /path", e.g. "GET,POST /api/v1/agents". A path alone '
        "allows every method. A grant covers the path and everything below it.",
    )
    full_access = forms.BooleanField(
        label="Full access (no scopes, no grants)",
        required=False,
        help_text="⚠ The key can then do everything you can, on every endpoint. Choose it only "
        "when nothing narrower will do.",
    )
    expires_on = expires_on_field(
        "The key works until the end of this day, in your time zone. Empty: it never expires."
    )
    allowed_ips = forms.CharField(
        label="Allowed IPs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "203.0.113.0/24"}),
        help_text="IP addresses or CIDR ranges, one per line. Empty: any IP.",
    )
    key_manager = forms.BooleanField(
        label="Key manager",
        required=False,
        help_text="May call the key-management API to create and manage your other keys.",
    )

    def __init__(self, *args, user, tenants, current_tenant_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].initial = usertime.today_in(self.zone) + timedelta(
            days=DEFAULT_EXPIRY_DAYS
        )
        self.fields["key_type"].help_text = _key_type_help()
        self.tenants = {str(tenant.pk): tenant for tenant in tenants}
        self.fields["tenant"].choices = [("", "No tenant (name one per request)")] + [
            (str(tenant.pk), tenant.name) for tenant in tenants
        ]
        if current_tenant_id and str(current_tenant_id) in self.tenants:
            self.fields["tenant"].initial = str(current_tenant_id)
        types = (
            KeyType.choices
            if user.is_staff
            else [choice for choice in KeyType.choices if choice[0] != KeyType.ADMIN]
        )
        self.fields["key_type"].choices = types
        self.fields["scopes"].choices = SCOPE_CHOICES + (
            [ADMIN_SCOPE_CHOICE] if user.is_staff else []
        )

    def clean_tenant(self):
        value = self.cleaned_data["tenant"]
        return self.tenants[value] if value else None

    def clean(self):
        cleaned = super().clean()
        limits = cleaned.get("scopes") or cleaned.get("endpoints")
        # A canary reaches nothing by design (docs/apikeys.md): the service refuses it any
        # scope or grant, so there is no access to choose.
        canary = cleaned.get("key_type") == KeyType.CANARY
        if "scopes" in cleaned and "endpoints" in cleaned and not canary:
            if cleaned.get("full_access") and limits:
                self.add_error("full_access", FULL_ACCESS_AND_LIMITS)
            elif not cleaned.get("full_access") and not limits:
                self.add_error("scopes", NO_ACCESS_CHOSEN)
        return cleaned

    def clean_endpoints(self):
        return parse_endpoint_grants(self.cleaned_data["endpoints"])

    def clean_allowed_ips(self):
        values = self.cleaned_data["allowed_ips"].replace(",", " ").split()
        try:
            return CidrListField().to_internal_value(values)
        except serializers.ValidationError as exc:
            raise forms.ValidationError(sentences(exc.detail)) from exc

    def service_arguments(self) -> dict:
        """The cleaned data as ``api_key_create`` keywords."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "key_type": data["key_type"],
            "tenant": data["tenant"],
            "scopes": data["scopes"],
            "endpoints": data["endpoints"],
            "allowed_ips": data["allowed_ips"],
            "key_manager": data["key_manager"],
            "expires_at": self.expires_at(),
        }


def _key_type_help() -> str:
    """The types' limits as configured now (``KEYWARD_KEY_TYPE_RATE_LIMITS`` may change them)."""
    per_minute = {t: type_rate_limit(t).get("per_minute") for t in KeyType.values}
    return (
        f"Development {per_minute[KeyType.DEVELOPMENT]}/min · production "
        f"{per_minute[KeyType.PRODUCTION]}/min · restricted: for client-side code, needs scopes "
        "or endpoint grants."
    )


def parse_endpoint_grants(text: str) -> list[dict]:
    """``"GET,POST /api/v1/agents"`` per line → ``[{"path", "methods"}]``, or a form error."""
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    lines = [(number, line) for number, line in lines if line]
    if len(lines) > MAX_ENDPOINTS:  # counted before any line is parsed (SPEC §9)
        raise forms.ValidationError(f"At most {MAX_ENDPOINTS} endpoint grants (one per line).")
    grants, errors = [], []
    for number, line in lines:
        methods, _, path = line.rpartition(" ")
        methods = [m for m in methods.replace(",", " ").split() if m] or ["*"]
        if not path.startswith("/"):
            errors.append(f"Line {number} ({line[:80]!r}): give the path last, starting with /.")
            continue
        serializer = EndpointGrantSerializer(data={"path": path, "methods": methods})
        if serializer.is_valid():
            grants.append(serializer.validated_data)
        else:
            problems = "; ".join(
                " ".join(str(m) for m in _flatten(messages))  # normalise_path says why, for a path
                for messages in serializer.errors.values()
            )
            errors.append(f"Line {number} ({line[:80]!r}): {problems}")
    if errors:
        raise forms.ValidationError(errors)
    return grants


def _flatten(messages):
    if isinstance(messages, dict):
        for value in messages.values():
            yield from _flatten(value)
    elif isinstance(messages, list):
        for value in messages:
            yield from _flatten(value)
    else:
        yield messages


class RotateForm(DatedForm):
    service_field_names = SERVICE_FIELD_NAMES
    grace_period = forms.TypedChoiceField(
        label="Grace period",
        coerce=int,
        choices=GRACE_PERIOD_CHOICES,
        initial=3600,
        help_text="How long the old key keeps working, so you can deploy the new one.",
    )
    end_grace_when_idle = forms.TypedChoiceField(
        label="End the grace early when the old key goes quiet",
        coerce=int,
        empty_value=None,
        required=False,
        choices=IDLE_GRACE_CHOICES,
        initial="",
        help_text="Stop the old key once it has served no request for this long.",
    )
    expires_on = expires_on_field(
        "When the new key stops working: the end of this day, in your time zone. "
        "Empty: it never expires."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].initial = usertime.today_in(self.zone) + timedelta(
            days=DEFAULT_EXPIRY_DAYS
        )


class ApiKeyEditForm(DatedForm):
    """The changeable fields of a key (``services.UPDATABLE_FIELDS``), filled with its values.

    Only what differs from the key is sent to ``api_key_update``, whose rules decide: scopes
    and grants only narrow, an expired key's expiry stays, staff alone raise a rate limit.
    """

    service_field_names = SERVICE_FIELD_NAMES
    name = forms.CharField(label="Name", max_length=MAX_NAME_LENGTH)
    description = forms.CharField(
        label="Description",
        max_length=MAX_DESCRIPTION,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Untick a scope to take it away. Scopes can be removed, never added.",
    )
    endpoints = forms.CharField(
        label="Endpoint grants",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='One per line, "METHODS /path". Grants narrow or go; they never widen.',
    )
    expires_on = expires_on_field(
        "The key works until the end of this day, in your time zone. Empty: it never expires."
    )
    allowed_ips = forms.CharField(
        label="Allowed IPs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="IP addresses or CIDR ranges, one per line. Empty: any IP.",
    )
    rate_limit_per_minute = forms.IntegerField(
        label="Rate limit per minute",
        required=False,
        min_value=1,
        help_text="Empty: the key type's default. Only staff may go above the default.",
    )
    rate_limit_per_hour = forms.IntegerField(
        label="Rate limit per hour", required=False, min_value=1, help_text="Empty: the default."
    )
    metadata = forms.CharField(
        label="Metadata (JSON object)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text='For your own bookkeeping, e.g. {"team": "billing"}. Empty: none.',
    )

    def __init__(self, *args, api_key, **kwargs):
        super().__init__(*args, **kwargs)
        self.api_key = api_key
        offered = dict([*SCOPE_CHOICES, ADMIN_SCOPE_CHOICE])
        # Scopes only narrow: the key's own are offered, to untick.
        self.fields["scopes"].choices = [(s, offered.get(s, s)) for s in api_key.scopes]
        if not api_key.scopes:
            del self.fields["scopes"]
        rate_limit = api_key.rate_limit or {}
        self.initial.update(
            {
                "name": api_key.name,
                "description": api_key.description,
                "scopes": list(api_key.scopes),
                "endpoints": format_endpoint_grants(api_key.endpoints),
                "expires_on": api_key.expires_at
                and usertime.chosen_day(api_key.expires_at, self.zone),
                "allowed_ips": "\n".join(api_key.allowed_ips),
                "rate_limit_per_minute": rate_limit.get("per_minute"),
                "rate_limit_per_hour": rate_limit.get("per_hour"),
                "metadata": json.dumps(api_key.metadata, indent=2) if api_key.metadata else "",
            }
        )
        if api_key.is_expired():
            self.fields["expires_on"].disabled = True
            self.fields["expires_on"].help_text = "This key has expired: it stays expired (§9)."
        if api_key.full_access:
            self.fields["endpoints"].disabled = True
            self.fields[
                "endpoints"
            ].help_text = (
                "A full-access key cannot be narrowed here: create a narrower key instead."
            )

    def clean_expires_on(self):
        if self.fields["expires_on"].disabled:
            return self.initial["expires_on"]
        return super().clean_expires_on()

    def clean_endpoints(self):
        return parse_endpoint_grants(self.cleaned_data["endpoints"] or "")

    def clean_allowed_ips(self):
        values = self.cleaned_data["allowed_ips"].replace(",", " ").split()
        try:
            return CidrListField().to_internal_value(values)
        except serializers.ValidationError as exc:
            raise forms.ValidationError(sentences(exc.detail)) from exc

    def clean_metadata(self):
        text = self.cleaned_data["metadata"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('Give a JSON object, e.g. {"team": "billing"}.')
        return value

    def _rate_limit(self):
        data = self.cleaned_data
        windows = {
            "per_minute": data.get("rate_limit_per_minute"),
            "per_hour": data.get("rate_limit_per_hour"),
        }
        windows = {window: value for window, value in windows.items() if value is not None}
        if not windows:
            return None
        serializer = RateLimitSerializer(data=windows)
        if not serializer.is_valid():
            self.add_error("rate_limit_per_minute", sentences(serializer.errors))
            return None
        return dict(serializer.validated_data)

    def changes(self) -> dict:
        """The fields whose value differs from the key's: what ``api_key_update`` is given."""
        data, key = self.cleaned_data, self.api_key
        wanted = {
            "name": data["name"],
            "description": data["description"],
            "endpoints": data["endpoints"] if not key.full_access else key.endpoints,
            "allowed_ips": data["allowed_ips"],
            "rate_limit": self._rate_limit(),
            "metadata": data["metadata"],
        }
        if "scopes" in self.fields:
            wanted["scopes"] = data["scopes"]
        if not self.fields["expires_on"].disabled:
            wanted["expires_at"] = self.expires_at()
        current = {field: getattr(key, field) for field in wanted}
        current["rate_limit"] = key.rate_limit or None
        changed = {f: v for f, v in wanted.items() if v != current[f]}
        if "expires_at" in changed and _same_day(changed["expires_at"], key.expires_at, self):
            del changed["expires_at"]  # the day shown is the day kept: no drift by a zone
        return changed


def _same_day(new, old, form) -> bool:
    if new is None or old is None:
        return False
    return usertime.chosen_day(new, form.zone) == usertime.chosen_day(old, form.zone)


def format_endpoint_grants(grants) -> str:
    """``[{"path", "methods"}]`` → the form's ``"GET,POST /path"`` lines."""
    lines = []
    for grant in grants:
        methods = [m for m in grant.get("methods", []) if m != "*"]
        lines.append(f"{','.join(methods)} {grant['path']}".strip())
    return "\n".join(lines)
