from rest_framework import serializers

from notifications.models import EVENT_TYPES, Delivery, Webhook


class WebhookSerializer(serializers.ModelSerializer):
    """A webhook as answers show it: never its secret."""

    tenant_id = serializers.UUIDField(read_only=True, allow_null=True)
    events = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Webhook
        fields = ["id", "url", "description", "events", "is_active", "tenant_id", "created_at"]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="Signs every delivery (Keyward-Signature). Shown this once only.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        required=False,
        allow_empty=False,
        max_length=len(EVENT_TYPES),
        help_text="Event types to send; all of them when left out.",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_type",
            "status",
            "attempts",
            "response_code",
            "last_error",
            "next_attempt_at",
            "created_at",
            "last_attempt_at",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields
