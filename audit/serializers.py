from rest_framework import serializers

from audit.models import AuditEvent
from core.serializers import StrictCharField, StrictModelSerializer, StrictUUIDField


class AuditEventSerializer(StrictModelSerializer):
    actor_id = serializers.IntegerField(source="actor.pk", read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "event_type",
            "outcome",
            "actor_id",
            "actor_email",
            "actor_key_prefix",
            "ip",
            "target_type",
            "target_id",
            "tenant_id",
            "data",
        ]
        read_only_fields = fields


class AuditEventFilterSerializer(serializers.Serializer):
    """Query parameters of ``GET /api/v1/audit-events``; bad values are a 400, never a 500.

    ``type``, ``target``, ``after`` and ``before`` are accepted as the short spellings of
    ``event_type``, ``target_id`` (or ``target_type:target_id``), ``since`` and ``until``.
    """

    actor = StrictCharField(
        required=False, max_length=254, help_text="actor user id, email or key prefix"
    )
    event_type = StrictCharField(required=False, max_length=64)
    type = StrictCharField(required=False, max_length=64, source="event_type")
    outcome = serializers.ChoiceField(choices=AuditEvent.Outcome.choices, required=False)
    target_type = StrictCharField(required=False, max_length=64)
    target_id = StrictCharField(required=False, max_length=64)
    target = StrictCharField(
        required=False, max_length=129, help_text="target id, or target_type:target_id"
    )
    tenant_id = StrictUUIDField(required=False)
    since = serializers.DateTimeField(required=False, help_text="created at or after")
    after = serializers.DateTimeField(required=False, source="since")
    until = serializers.DateTimeField(required=False, help_text="created before")
    before = serializers.DateTimeField(required=False, source="until")

    def validate_actor(self, value):
        # A user id beyond the database's integer range can name nobody; saying so beats the
        # overflow the query would raise.
        if value.isascii() and value.isdigit() and int(value) > MAX_USER_ID:
            raise serializers.ValidationError("No user has this id.")
        return value

    def validate(self, attrs):
        target = attrs.pop("target", None)
        if target:
            target_type, _, target_id = target.rpartition(":")
            attrs.setdefault("target_id", target_id)
            if target_type:
                attrs.setdefault("target_type", target_type)
        return attrs


MAX_USER_ID = 2**63 - 1
