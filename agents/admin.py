from django.contrib import admin

from agents.models import Agent


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "created_by", "created_at", "updated_at")
    list_filter = ("created_at",)
    list_select_related = ("tenant", "created_by")
    search_fields = ("name", "tenant__name", "tenant__slug")
    raw_id_fields = ("tenant", "created_by")
    readonly_fields = ("id", "created_at", "updated_at")
