from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is written by services, never edited by hand."""

    list_display = [
        "created_at",
        "event_type",
        "outcome",
        "actor_email",
        "actor_key_prefix",
        "ip",
        "target_type",
        "target_id",
        "tenant_id",
    ]
    list_filter = ["outcome", "event_type", "created_at"]
    search_fields = ["event_type", "actor_email", "actor_key_prefix", "target_id", "ip"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
