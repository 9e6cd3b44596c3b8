"""Forms of the API-key pages. Field shapes here; every rule about keys stays in ``services``.

Endpoint grants and allowed IPs are parsed with the API's own serializer fields, so a value the
API refuses is refused here with the same message.
"""

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.utils import timezone
from rest_framework import serializers

from apikeys.models import KeyType
from apikeys.rules import MAX_DESCRIPTION, MAX_ENDPOINTS, MAX_NAME_LENGTH
from apikeys.serializers import CidrListField, EndpointGrantSerializer
from core.forms import PageForm, error_messages
from identity.limits import type_rate_limit

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
}
IDLE_GRACE_CHOICES = [
    ("", "Never: keep the whole grace period"),
    (600, "10 minutes"),
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
]


class ApiKeyCreateForm(PageForm):
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
        help_text="Leave every scope unticked and every grant empty for a full-access key.",
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key works until the end of this day (UTC). Empty: it never expires.",
    )
    endpoints = forms.CharField(
        label="Endpoint grants",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "GET,POST /api/v1/agents"}),
        help_text='One per line: "METHODS /path", e.g. "GET,POST /api/v1/agents". A path alone '
        "allows every method. A grant covers the path and everything below it.",
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

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is not None and day < timezone.now().date():
            raise forms.ValidationError("Choose today or a later day.")
        return day

    def clean_endpoints(self):
        return parse_endpoint_grants(self.cleaned_data["endpoints"])

    def clean_allowed_ips(self):
        values = self.cleaned_data["allowed_ips"].replace(",", " ").split()
        try:
            return CidrListField().to_internal_value(values)
        except serializers.ValidationError as exc:
            raise forms.ValidationError(error_messages(exc.detail)) from exc

    def service_arguments(self) -> dict:
        """The cleaned data as ``api_key_create`` keywords."""
        data = self.cleaned_data
        expires_at = None
        if data["expires_on"] is not None:
            expires_at = datetime.combine(data["expires_on"] + timedelta(days=1), time(), UTC)
        return {
            "name": data["name"],
            "description": data["description"],
            "key_type": data["key_type"],
            "tenant": data["tenant"],
            "scopes": data["scopes"],
            "endpoints": data["endpoints"],
            "allowed_ips": data["allowed_ips"],
            "key_manager": data["key_manager"],
            "expires_at": expires_at,
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


class RotateForm(PageForm):
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
