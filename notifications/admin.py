from django.contrib import admin

from notifications.models import Delivery, Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Webhooks are added through the API or the page, where the secret is shown once.

    The encrypted secret is never a field here; an admin may switch a webhook off or delete it.
    """

    list_display = ["url", "user", "tenant", "is_active", "created_at"]
    list_filter = ["is_active", "created_at"]
    search_fields = ["url", "user__email", "tenant__name"]
    fields = ["url", "description", "user", "tenant", "events", "is_active", "created_at"]
    readonly_fields = ["url", "user", "tenant", "events", "created_at"]
    list_select_related = ["user", "tenant"]

    def has_add_permission(self, request):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only: the delivery log is written by the task worker."""

    list_display = [
        "created_at",
        "event_type",
        "webhook",
        "status",
        "attempts",
        "response_code",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type", "created_at"]
    search_fields = ["event_type", "webhook__url"]
    date_hierarchy = "created_at"
    list_select_related = ["webhook"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
