from rest_framework import serializers

from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
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
    """Query parameters of ``GET /api/v1/audit-events``; bad values are a 400, never a 500."""

    actor = serializers.CharField(required=False, help_text="actor user id or email")
    event_type = serializers.CharField(required=False, max_length=64)
    outcome = serializers.ChoiceField(choices=AuditEvent.Outcome.choices, required=False)
    target_type = serializers.CharField(required=False, max_length=64)
    target_id = serializers.CharField(required=False, max_length=64)
    tenant_id = serializers.UUIDField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
