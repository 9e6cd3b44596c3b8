"""Shapes of the key-management API (SPEC §3). Field rules here; key rules in ``services``."""

import ipaddress
import json

from django.core.validators import ProhibitNullCharactersValidator
from django.utils.html import escape
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from apikeys.models import ApiKey, KeyType
from apikeys.rules import (
    MAX_ALLOWED_IPS,
    MAX_DESCRIPTION,
    MAX_ENDPOINTS,
    MAX_GRANT_METHODS,
    MAX_METADATA_BYTES,
    MAX_NAME_LENGTH,
    MAX_SCOPES,
    parse_scopes,
)
from apikeys.services import MAX_GRACE_PERIOD, MIN_IDLE_GRACE
from core.serializers import (
    StrictCharField,
    StrictEmailField,
    StrictIPAddressField,
    StrictModelSerializer,
    StrictUUIDField,
)
from identity.paths import InvalidPath, normalise_path
from metering.credits import INTERVALS, MAX_COST, MAX_CREDITS, credits_state

HTTP_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "*")
SCOPE_SHAPE = (
    "read:all, write:all, admin, app:access, keys:verify, or <resource>:read / <resource>:write"
)
MAX_METADATA_DEPTH = 32


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "string", "description": "space or comma separated"},
        ]
    }
)
class ScopesField(serializers.Field):
    """A list of scopes, or one space/comma separated string of them."""

    default_error_messages = {
        "invalid": "Give scopes as a list of strings or a space/comma separated string.",
        "unknown": "Unknown scope {scope!r}: use " + SCOPE_SHAPE + ".",
        "too_many": f"At most {MAX_SCOPES} scopes.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str | list) or (
            isinstance(data, list) and not all(isinstance(s, str) for s in data)
        ):
            self.fail("invalid")
        scopes = parse_scopes(data)
        if len(scopes) > MAX_SCOPES:
            self.fail("too_many")
        for scope in scopes:
            if not _valid_scope(scope):
                self.fail("unknown", scope=scope[:64])
        return scopes

    def to_representation(self, value):
        return list(value)


def _valid_scope(scope: str) -> bool:
    if scope in ("read:all", "write:all", "admin", "app:access", "keys:verify"):
        return True
    resource, sep, action = scope.partition(":")
    return bool(
        sep
        and action in ("read", "write")
        and 0 < len(resource) <= 64
        and resource.replace("_", "").replace("-", "").isalnum()
        and resource.islower()
    )


class PathField(StrictCharField):
    """A request path as sent, for ``normalise_path`` to judge (SPEC §9).

    Not trimmed, and without CharField's NUL and surrogate validators: ``normalise_path``
    refuses those itself, so each door answers them with its own code (``invalid_path``).
    """

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(
                validator, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator
            )
        ]


class EndpointGrantSerializer(serializers.Serializer):
    path = PathField(
        max_length=256,
        help_text="Stored in normal form (SPEC §9): dot segments removed, // collapsed.",
    )
    methods = serializers.ListField(
        child=serializers.ChoiceField(choices=HTTP_METHODS),
        min_length=1,
        max_length=MAX_GRANT_METHODS,
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("methods"), list):
            if len(data["methods"]) > MAX_GRANT_METHODS:  # before touching each one
                raise serializers.ValidationError(
                    {"methods": [f"At most {MAX_GRANT_METHODS} methods per grant."]}
                )
            data = {**data, "methods": [str(m).upper() for m in data["methods"]]}
        value = super().to_internal_value(data)
        return {"path": value["path"], "methods": sorted(set(value["methods"]))}

    def validate_path(self, value):
        """The grant as it will be judged: a request path is compared in this same form."""
        try:
            return normalise_path(value)
        except InvalidPath as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc


class RateLimitSerializer(serializers.Serializer):
    per_minute = serializers.IntegerField(min_value=1, max_value=10_000_000, allow_null=True)
    per_hour = serializers.IntegerField(min_value=1, max_value=100_000_000, allow_null=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False

    def to_internal_value(self, data):
        if html.is_html_input(data):
            # The browsable API's form sends every window, blank when left empty: a blank box
            # means "the type's default", not "no limit" (JSON null), which only staff may set.
            data = {window: value for window, value in data.items() if value != ""}
        if isinstance(data, dict) and (unknown := sorted(map(str, set(data) - set(self.fields)))):
            raise serializers.ValidationError(
                f"Unknown window {', '.join(unknown)}: the windows are per_minute and per_hour."
            )
        return super().to_internal_value(data)

    def to_representation(self, instance):
        """Only the windows the key sets: an absent one follows the type's default, whereas
        ``null`` means "no limit", so filling it in would misstate the key's limits."""
        data = super().to_representation(instance)
        return {window: value for window, value in data.items() if window in instance}


class CidrListField(serializers.ListField):
    child = StrictCharField(max_length=64)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_ALLOWED_IPS)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        # ListField checks max_length only after validating every item: check it first.
        if isinstance(data, list) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        cidrs, errors = [], {}
        for index, value in enumerate(super().to_internal_value(data)):
            try:
                cidrs.append(str(ipaddress.ip_network(value.strip(), strict=False)))
            except ValueError:
                # By index, as ListField names its child's errors: "allowed_ips.1" (SPEC §11).
                errors[index] = [f"{value[:64]!r} is not an IP or CIDR."]
        if errors:
            raise serializers.ValidationError(errors)
        return sorted(set(cidrs))


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": f"Your own JSON object, at most {MAX_METADATA_BYTES} bytes.",
        "example": {"team": "billing", "ticket": "OPS-1234"},
    }
)
class MetadataField(serializers.JSONField):
    """A key's metadata: any JSON object, declared as one (not "any value") in the schema."""


def _validate_metadata(value):
    if value is None:
        return value  # no metadata (an HTML form's "null" arrives here, past allow_null)
    if not isinstance(value, dict):
        raise serializers.ValidationError("Must be a JSON object.")
    depth, has_null_character, too_big = _json_shape(value)
    if too_big:
        raise serializers.ValidationError(f"At most {MAX_METADATA_BYTES} bytes of JSON.")
    if depth > MAX_METADATA_DEPTH:
        # Checked before json.dumps, which would overflow the stack on deep nesting (a 500).
        raise serializers.ValidationError(f"At most {MAX_METADATA_DEPTH} levels of nesting.")
    if has_null_character:
        # PostgreSQL's jsonb refuses \u0000 (the insert would fail with a 500), as text fields do.
        raise serializers.ValidationError("Null characters are not allowed.")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise serializers.ValidationError(f"At most {MAX_METADATA_BYTES} bytes of JSON.")
    return value


def _json_shape(value) -> tuple[int, bool, bool]:
    """The nesting depth of a parsed JSON value, whether any string holds a NUL, and whether
    it is surely longer than ``MAX_METADATA_BYTES`` as JSON.

    Walked with a stack, not recursion: the parser admits nesting deeper than our stack. The
    walk counts a lower bound of the JSON's length (each string's characters and quotes, one
    character per other value) and stops once that passes the limit, so a megabyte of metadata
    costs no more than four kilobytes of it.
    """
    deepest, has_null_character, length = 0, False, 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            has_null_character = has_null_character or "\x00" in item
            length += len(item) + 2
        elif isinstance(item, dict):
            deepest = max(deepest, depth)
            length += 1 + len(item)  # the braces, and a colon or comma per member
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            length += 1 + len(item)
            pending.extend((child, depth + 1) for child in item)
        else:
            length += 1
        if length > MAX_METADATA_BYTES:
            return deepest, has_null_character, True
    return deepest, has_null_character, False


def size_errors(data) -> dict:
    """SPEC §9's bounds on a write's raw input, checked before any field looks at an item.

    Counting is all that happens here (a set of the scopes, to count them once each), so a
    body of any size up to the request limit is refused in the time it took to parse.
    """
    errors = {}
    for name, limit in (("name", MAX_NAME_LENGTH), ("description", MAX_DESCRIPTION)):
        if isinstance(data.get(name), str) and len(data[name]) > limit:
            errors[name] = [f"Ensure this field has no more than {limit} characters."]
    scopes = data.get("scopes")
    if isinstance(scopes, str):
        scopes = scopes.replace(",", " ").split()
    if isinstance(scopes, list) and len(set(map(str, scopes))) > MAX_SCOPES:
        errors["scopes"] = [f"At most {MAX_SCOPES} scopes."]
    endpoints = data.get("endpoints")
    if isinstance(endpoints, list):
        if len(endpoints) > MAX_ENDPOINTS:
            errors["endpoints"] = [f"At most {MAX_ENDPOINTS} endpoint grants."]
        elif any(
            isinstance(grant, dict)
            and isinstance(grant.get("methods"), list)
            and len(grant["methods"]) > MAX_GRANT_METHODS
            for grant in endpoints
        ):
            errors["endpoints"] = [f"At most {MAX_GRANT_METHODS} methods per grant."]
    allowed_ips = data.get("allowed_ips")
    if isinstance(allowed_ips, list) and len(allowed_ips) > MAX_ALLOWED_IPS:
        errors["allowed_ips"] = [f"At most {MAX_ALLOWED_IPS} IPs or CIDRs."]
    return errors


class CreditRefillSerializer(serializers.Serializer):
    amount = serializers.IntegerField(
        min_value=1, max_value=MAX_CREDITS, help_text="What a refill sets `remaining` to."
    )
    interval = serializers.ChoiceField(
        choices=INTERVALS, help_text="At the start of each UTC day or month."
    )


class CreditsSerializer(serializers.Serializer):
    """A key's credits (SPEC §12): each admitted request spends one (or ``cost``)."""

    remaining = serializers.IntegerField(min_value=0, max_value=MAX_CREDITS)
    refill = CreditRefillSerializer(required=False, allow_null=True, default=None)


class CreditsStateSerializer(serializers.Serializer):
    remaining = serializers.IntegerField(help_text="Exact at once: the live balance.")
    refill = CreditRefillSerializer(allow_null=True)
    refills_at = serializers.DateTimeField(
        allow_null=True, help_text="When `remaining` is next set to the refill amount."
    )


class ApiKeySerializer(StrictModelSerializer):
    """The key object of every answer. Never the secret, never the hash."""

    tenant_id = StrictUUIDField(read_only=True, allow_null=True)
    created_by = serializers.SerializerMethodField()
    scopes = ScopesField(read_only=True)
    endpoints = EndpointGrantSerializer(many=True, read_only=True)
    rate_limit = RateLimitSerializer(read_only=True, allow_null=True)
    full_access = serializers.BooleanField(read_only=True)
    rotated_from = StrictUUIDField(source="rotated_from_id", read_only=True, allow_null=True)
    owner = serializers.SerializerMethodField()
    credits = serializers.SerializerMethodField()
    expiring_soon_in_use = serializers.BooleanField(
        read_only=True,
        help_text="Expires within 7 days and was used within 7 days: its owner is told once.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "description",
            "key_prefix",
            "scopes",
            "key_type",
            "tenant_id",
            "endpoints",
            "key_manager",
            "allowed_ips",
            "rate_limit",
            "metadata",
            "is_active",
            "expires_at",
            "created_at",
            "created_by",
            "owner",
            "last_used_at",
            "last_used_ip",
            "request_count",
            "full_access",
            "rotated_from",
            "credits",
            "expiring_soon_in_use",
            "end_grace_when_idle_seconds",
        ]
        read_only_fields = fields

    def get_created_by(self, api_key) -> int | None:
        return api_key.created_by_id

    @extend_schema_field(CreditsStateSerializer(allow_null=True))
    def get_credits(self, api_key) -> dict | None:
        """``null``: unlimited. ``remaining`` is the live balance (SPEC §12)."""
        return credits_state(api_key)

    def get_owner(self, api_key) -> dict:
        return {"id": api_key.user_id, "email": api_key.user.email}


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = StrictCharField(read_only=True, help_text="The raw key. Shown this once only.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyWriteSerializer(serializers.Serializer):
    """Fields a caller may set; shared by create and update (where each is optional)."""

    name = StrictCharField(max_length=MAX_NAME_LENGTH)
    description = StrictCharField(max_length=MAX_DESCRIPTION, required=False, allow_blank=True)
    scopes = ScopesField(
        required=False,
        # Escaped: the browsable API shows help text as HTML and Swagger as Markdown, where a
        # bare "<resource>" is an unknown tag and vanishes (issue 26).
        help_text=escape(f"List or space/comma separated, at most {MAX_SCOPES}: " + SCOPE_SHAPE),
    )
    endpoints = EndpointGrantSerializer(many=True, required=False, max_length=MAX_ENDPOINTS)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    allowed_ips = CidrListField(required=False, help_text="CIDRs; empty = any IP.")
    rate_limit = RateLimitSerializer(required=False, allow_null=True)
    metadata = MetadataField(
        required=False, allow_null=True, initial=dict, validators=[_validate_metadata]
    )
    credits = CreditsSerializer(
        required=False,
        allow_null=True,
        help_text="`{remaining, refill?: {amount, interval}}`; null: unlimited. Replaced whole.",
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and (errors := size_errors(data)):
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def validate_metadata(self, value):
        return {} if value is None else value  # null: no metadata


class ApiKeyCreateSerializer(ApiKeyWriteSerializer):
    key_type = serializers.ChoiceField(choices=KeyType.choices, default=KeyType.DEVELOPMENT)
    tenant_id = StrictUUIDField(required=False, allow_null=True)
    key_manager = serializers.BooleanField(default=False)


class ApiKeyUpdateSerializer(ApiKeyWriteSerializer):
    FROZEN = ("key_type", "tenant_id", "key_manager", "key", "key_prefix", "id", "user")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False

    def validate(self, attrs):
        errors = {
            name: ["This field cannot be changed; create a new key."]
            for name in self.FROZEN
            if name in self.initial_data
        }
        if "is_active" in self.initial_data:
            # Ignored, it would answer 200 and leave a key the caller meant to revoke working.
            errors["is_active"] = ["Use POST …/revoke or …/activate to change this."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ApiKeyListFilterSerializer(serializers.Serializer):
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
    tenant_id = StrictUUIDField(required=False)
    key_type = serializers.ChoiceField(choices=KeyType.choices, required=False)
    all = serializers.BooleanField(
        required=False, default=False, help_text="Every user's keys (admin scope)."
    )


class RotateSerializer(serializers.Serializer):
    grace_period_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_GRACE_PERIOD, default=0
    )
    end_grace_when_idle_seconds = serializers.IntegerField(
        min_value=MIN_IDLE_GRACE,
        max_value=MAX_GRACE_PERIOD,
        required=False,
        allow_null=True,
        default=None,
        help_text="End the grace early once the old key has served no request for this long.",
    )


class UsageQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=30)


class DailyCountSerializer(serializers.Serializer):
    date = serializers.DateField()
    count = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    key_id = StrictUUIDField()
    key_prefix = StrictCharField()
    days = serializers.IntegerField()
    request_count = serializers.IntegerField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    last_used_ip = StrictIPAddressField(allow_null=True)
    daily = DailyCountSerializer(many=True)


class BootstrapSerializer(serializers.Serializer):
    name = StrictCharField(max_length=MAX_NAME_LENGTH, default="Bootstrap admin key")
    description = StrictCharField(
        max_length=MAX_DESCRIPTION, required=False, default="", allow_blank=True
    )


class BootstrapResponseSerializer(serializers.Serializer):
    api_key = StrictCharField()
    id = StrictUUIDField()
    name = StrictCharField()
    description = StrictCharField()
    message = StrictCharField()
    note = StrictCharField()


class KeyVerifyRequestSerializer(serializers.Serializer):
    key = StrictCharField(max_length=512, trim_whitespace=True)
    method = serializers.ChoiceField(choices=HTTP_METHODS[:-1], required=False, default="GET")
    path = PathField(
        max_length=2048,
        required=False,
        default=None,
        allow_blank=True,  # judged by normalise_path, which answers 400 invalid_path
        help_text="The request to judge, judged in normal form (SPEC §9); without it, only the "
        "key itself (and ip) is judged.",
    )
    tenant_id = StrictUUIDField(required=False, allow_null=True)
    ip = StrictIPAddressField(
        required=False, allow_null=True, help_text="The end client's IP, to apply allowed_ips."
    )
    cost = serializers.IntegerField(
        required=False,
        default=1,
        min_value=0,
        max_value=MAX_COST,
        help_text="Credits this use spends, for a key with credits (0: only check some are left).",
    )

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            data = {**data, "method": data["method"].upper()}
        return super().to_internal_value(data)


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = StrictEmailField()


class RateLimitStateSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    reset = serializers.IntegerField()


class CreditBalanceSerializer(serializers.Serializer):
    remaining = serializers.IntegerField()
    retry_after = serializers.IntegerField(
        allow_null=True, help_text="Seconds until the refill when exhausted; null: no refill."
    )


class KeyVerifyResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    code = StrictCharField()
    key_id = StrictUUIDField(allow_null=True)
    key_prefix = StrictCharField(allow_null=True)
    owner = OwnerSerializer(allow_null=True)
    tenant_id = StrictUUIDField(allow_null=True)
    scopes = serializers.ListField(child=StrictCharField())
    ratelimit = RateLimitStateSerializer(allow_null=True)
    credits = CreditBalanceSerializer(allow_null=True, required=False)
    reason = StrictCharField()
