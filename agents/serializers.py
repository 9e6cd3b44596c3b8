from rest_framework import serializers

from agents.models import Agent
from core.serializers import StrictCharField, StrictModelSerializer, StrictUUIDField


class AgentSerializer(StrictModelSerializer):
    tenant_id = StrictUUIDField(read_only=True)
    created_by = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="The creator's user id (null once that user is deleted).",
    )

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "description",
            "tenant_id",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "tenant_id", "created_by", "created_at", "updated_at"]


class AgentWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    description = StrictCharField(required=False, allow_blank=True, max_length=2000)


class AgentRunSerializer(serializers.Serializer):
    token = StrictCharField(
        required=False,
        write_only=True,
        help_text="An API key or access JWT, for clients that cannot send headers.",
    )
    input = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")
