"""The admin's forms for API keys: field shapes by the API's serializers, key rules by a dry run.

The forms run the real service in a savepoint that is always rolled back, so a refusal lands
beside its field; ``ApiKeyAdmin.save_model`` then makes the same call for real.
"""

import json

from django import forms
from django.db import transaction
from rest_framework.exceptions import APIException

from apikeys import rules, services
from apikeys.models import ApiKey, KeyType
from apikeys.serializers import ApiKeyCreateSerializer, ApiKeyUpdateSerializer
from core.domain_errors import DomainError, Invalid, sentences

# Service and serializer field names that the admin form calls differently.
FORM_FIELD = {"tenant_id": "tenant"}
# Refusals that are not field validation, placed beside the field they concern.
CODE_FIELD = {"tenant_not_found": ("tenant", "The owner is not a member of this tenant.")}
# What an emptied JSON or list field means: the model's default, never NULL.
EMPTY = {"scopes": list, "endpoints": list, "allowed_ips": list, "metadata": dict}


# The permission that lets a staff user issue a key owned by someone else (apikeys.models).
ISSUE_FOR_OTHERS = "apikeys.add_apikey_for_others"


def issue_refusal(*, actor, owner, key_type: str) -> str | None:
    """Why ``actor`` may not issue (add or rotate) a key that ``owner`` holds, or ``None``.

    A new key is a working credential of its owner, handed to the one who issues it: for
    another owner that is acting as them. It needs a superuser or ``add_apikey_for_others``;
    an ``admin``-type key for another owner (the owner's administrative reach) a superuser.
    """
    if actor.is_superuser or owner.pk == actor.pk:
        return None
    if key_type == KeyType.ADMIN:
        return "Only a superuser may issue an admin key owned by another user."
    if not actor.has_perm(ISSUE_FOR_OTHERS):
        return (
            "You may issue keys only for yourself: a key owned by another user needs a "
            'superuser or the permission "Can add API keys owned by other users".'
        )
    return None


class WordListField(forms.CharField):
    """A list typed as words separated by commas or spaces (scopes, CIDRs)."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value):
        return rules.parse_scopes(super().to_python(value))

    def has_changed(self, initial, data):
        return rules.parse_scopes(initial) != rules.parse_scopes(data)


class _LinesField(forms.CharField):
    """A JSON value typed and shown as readable lines, one item a line (issue 26: no raw JSON).

    Text that starts like JSON (``[`` or ``{``) is still read as JSON, for pasting what the API
    returns. Shapes are checked afterwards by the API's serializers, as before.
    """

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60, "spellcheck": "false"})
    empty = None

    def __init__(self, *, encoder=None, decoder=None, **kwargs):
        super().__init__(**kwargs)  # the model's JSONField offers its JSON (en|de)coder: unused

    def prepare_value(self, value):
        if isinstance(value, str):  # a bound form shows what was typed
            return value
        return "\n".join(self.lines(value)) if value else ""

    def to_python(self, value):
        text = (super().to_python(value) or "").strip()
        if not text:
            return self.empty() if self.empty else None
        if text[0] in "[{":
            try:
                return json.loads(text)
            except ValueError as exc:
                raise forms.ValidationError("Enter valid JSON, or one item a line.") from exc
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return self.parse(lines)

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != (initial if initial else self.to_python(""))
        except forms.ValidationError:
            return True

    def lines(self, value) -> list[str]:
        raise NotImplementedError

    def parse(self, lines: list[str]):
        raise NotImplementedError


class EndpointsField(_LinesField):
    """Endpoint grants as ``GET POST /api/v1/orders``: the methods, then the path."""

    empty = list

    def lines(self, value):
        return [f"{' '.join(grant.get('methods', []))} {grant.get('path', '')}" for grant in value]

    def parse(self, lines):
        grants = []
        for line in lines:
            *methods, path = line.replace(",", " ").split()
            grants.append({"path": path, "methods": [m.upper() for m in methods]})
        return grants


class WindowsField(_LinesField):
    """A rate limit as ``per_minute: 600`` lines; ``none`` is no limit (staff only, §9)."""

    def lines(self, value):
        return [f"{window}: {'none' if n is None else n}" for window, n in value.items()]

    def parse(self, lines):
        windows = {}
        for line in lines:
            window, _, amount = line.partition(":")
            amount = amount.strip()
            if amount.lower() == "none":
                windows[window.strip()] = None
                continue
            try:
                windows[window.strip()] = int(amount)
            except ValueError as exc:
                raise forms.ValidationError(
                    f"{line!r}: write each window as per_minute: 600 or per_hour: 10000."
                ) from exc
        return windows


class MetadataField(_LinesField):
    """Metadata as ``key: value`` lines; a value that reads as JSON (a number, a list) is one."""

    empty = dict

    def lines(self, value):
        return [f"{key}: {_metadata_text(item)}" for key, item in value.items()]

    def parse(self, lines):
        metadata = {}
        for line in lines:
            key, colon, text = line.partition(":")
            if not colon:
                raise forms.ValidationError(f"{line!r}: write each entry as key: value.")
            text = text.strip()
            try:
                metadata[key.strip()] = json.loads(text)
            except ValueError:
                metadata[key.strip()] = text
        return metadata


def _metadata_text(value) -> str:
    """A string as itself unless it would read back as something else (``"2"``, ``"true"``)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value)


SMALL_TEXTAREA = forms.Textarea(attrs={"rows": 3, "cols": 60})
WIDGETS = {"description": SMALL_TEXTAREA}
FIELD_CLASSES = {"endpoints": EndpointsField, "rate_limit": WindowsField, "metadata": MetadataField}
HELP = {
    "endpoints": "One grant a line: the methods, then the path, e.g. <code>GET POST "
    "/api/v1/orders</code>. Empty: no grants.",
    "rate_limit": "One window a line, e.g. <code>per_minute: 600</code> and <code>per_hour: "
    "10000</code>; <code>none</code> is no limit. Empty: the key type's limits.",
    "metadata": "One entry a line, <code>key: value</code>, e.g. <code>team: billing</code>.",
}
WORDS = forms.TextInput(attrs={"class": "vTextField"})


class _ServiceForm(forms.ModelForm):
    """A form whose last check is the service's own, so its refusals show beside the fields.

    ``actor`` (the staff user) is set by ``ApiKeyAdmin.get_form`` for each request.
    """

    actor = None
    input_serializer = None

    def _validated(self, payload: dict, **kwargs) -> dict | None:
        serializer = self.input_serializer(data=payload, **kwargs)
        if serializer.is_valid():
            return dict(serializer.validated_data)
        self._add_errors(serializer.errors)
        return None

    def _check_with_service(self, call) -> None:
        """Run ``call`` in a savepoint that is always rolled back; keep only its refusal."""
        try:
            with transaction.atomic():
                call()
                raise _DryRunDone
        except _DryRunDone:
            pass
        except Invalid as exc:
            self._add_errors(exc.errors)
        except DomainError as exc:
            field, message = CODE_FIELD.get(exc.code, (None, exc.detail))
            self._add_errors({field: [message]})
        except APIException as exc:  # the shared cache could not confirm (503)
            self._add_errors({None: [str(exc.detail)]})

    def _cleaned_with_defaults(self) -> dict:
        cleaned = super().clean()
        for name, empty in EMPTY.items():
            if name in cleaned and cleaned[name] is None:
                cleaned[name] = empty()
        return cleaned

    def _add_errors(self, detail) -> None:
        if not isinstance(detail, dict):
            detail = {None: detail}
        for field, errors in detail.items():
            field = FORM_FIELD.get(field, field)
            self.add_error(field if field in self.fields else None, sentences(errors))


class _DryRunDone(Exception):
    pass


def _plain(rate_limit):
    return dict(rate_limit) if rate_limit else None


class ApiKeyAddForm(_ServiceForm):
    input_serializer = ApiKeyCreateSerializer
    scopes = WordListField(
        required=False,
        widget=WORDS,
        help_text="Comma or space separated, e.g. <code>agents:read, read:all</code>. "
        "Leave empty, with no endpoint grants, for the owner's full access.",
    )
    allowed_ips = WordListField(
        required=False,
        widget=WORDS,
        label="Allowed IPs",
        help_text="CIDRs, comma separated; empty = any IP.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "user",
            "name",
            "description",
            "key_type",
            "tenant",
            "scopes",
            "endpoints",
            "key_manager",
            "allowed_ips",
            "rate_limit",
            "metadata",
            "expires_at",
        ]
        labels = {"user": "Owner"}
        widgets = WIDGETS
        field_classes = FIELD_CLASSES
        help_texts = HELP

    def clean(self):
        cleaned = self._cleaned_with_defaults()
        if self.errors:
            return cleaned
        refusal = issue_refusal(
            actor=self.actor, owner=cleaned["user"], key_type=cleaned["key_type"]
        )
        if refusal is not None:
            # Beside the owner: the settings may be fine, the owner is what this user may not pick.
            self.add_error("user", refusal)
            return cleaned
        fields = ApiKeyCreateSerializer().fields
        validated = self._validated({k: v for k, v in cleaned.items() if k in fields})
        if validated is None:
            return cleaned
        validated["rate_limit"] = _plain(validated.get("rate_limit"))
        self.service_kwargs = {
            **validated,
            "user": cleaned["user"],
            "tenant": cleaned.get("tenant"),
            "created_by": self.actor,
        }
        cleaned.update(validated)
        self._check_with_service(lambda: services.api_key_create(**self.service_kwargs))
        return cleaned


class ApiKeyChangeForm(_ServiceForm):
    input_serializer = ApiKeyUpdateSerializer
    scopes = WordListField(
        required=False,
        widget=WORDS,
        help_text="Comma or space separated. Scopes and grants can only be narrowed.",
    )
    allowed_ips = WordListField(
        required=False,
        widget=WORDS,
        label="Allowed IPs",
        help_text="CIDRs, comma separated; empty = any IP.",
    )

    class Meta:
        model = ApiKey
        fields = list(services.UPDATABLE_FIELDS)
        widgets = WIDGETS
        field_classes = FIELD_CLASSES
        help_texts = HELP

    def clean(self):
        cleaned = self._cleaned_with_defaults()
        self.changes = {}
        if self.errors:
            return cleaned
        payload = {k: v for k, v in cleaned.items() if k in services.UPDATABLE_FIELDS}
        validated = self._validated(payload, partial=True)
        if validated is None:
            return cleaned
        validated["rate_limit"] = _plain(validated.get("rate_limit"))
        # The instance still holds the stored values: the form copies its own in after clean().
        self.changes = {
            name: value
            for name, value in validated.items()
            if getattr(self.instance, name) != value
        }
        cleaned.update(validated)
        if self.changes:
            self._check_with_service(
                lambda: services.api_key_update(
                    api_key=self.instance, changes=self.changes, actor=self.actor
                )
            )
        return cleaned


class RotateForm(forms.Form):
    grace_period_seconds = forms.IntegerField(
        min_value=0,
        max_value=services.MAX_GRACE_PERIOD,
        # The pages' default: one click must not break a running integration (issue 26).
        initial=services.DEFAULT_GRACE_PERIOD,
        label="Grace period (seconds)",
        help_text="How long the old keys keep working: 3600 is 1 hour, 86400 a day; 0 "
        f"revokes them at once. At most {services.MAX_GRACE_PERIOD} (7 days).",
    )
    end_grace_when_idle_seconds = forms.IntegerField(
        min_value=services.MIN_IDLE_GRACE,
        max_value=services.MAX_GRACE_PERIOD,
        required=False,
        label="End the grace when idle (seconds)",
        help_text="Optional: stop an old key once it has served no request for this long "
        "(docs/apikeys.md).",
    )
