"""Service clients in the admin. Every write goes through ``oauth.services``.

A new client's secret, and a rotated one, is shown once in a warning message; the stored hash
is never shown.
"""

from django import forms
from django.contrib import admin

from core.admin import RevealOnceMixin
from core.domain_errors import Invalid
from oauth import services
from oauth.models import ServiceClient


class ScopesFormField(forms.CharField):
    """Scopes typed as ``agents:read, agents:write`` (or space separated)."""

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(value)
        return value

    def clean(self, value):
        value = super().clean(value)
        try:
            return services.scopes_normalise(value)
        except Invalid as exc:
            raise forms.ValidationError(exc.errors["scopes"]) from exc


class ServiceClientForm(forms.ModelForm):
    scopes = ScopesFormField(help_text="Comma or space separated, e.g. agents:read, read:all.")

    class Meta:
        model = ServiceClient
        fields = ["name", "tenant", "scopes", "is_active"]


@admin.register(ServiceClient)
class ServiceClientAdmin(RevealOnceMixin, admin.ModelAdmin):
    form = ServiceClientForm
    list_display = ["name", "client_id", "tenant", "scope_list", "is_active", "created_at"]
    list_filter = ["is_active", "created_at"]
    search_fields = ["name", "client_id"]
    list_select_related = ["tenant"]
    raw_id_fields = ["tenant"]
    actions = ["rotate_secret"]
    reveal_template = "admin/oauth/serviceclient/secret_revealed.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "tenant", "scopes"]
        return [
            "client_id",
            "name",
            "tenant",
            "scopes",
            "is_active",
            "created_by",
            "created_at",
            "secret_rotated_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["client_id", "tenant", "created_by", "created_at", "secret_rotated_at"]

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return " ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            current = ServiceClient.objects.get(pk=obj.pk)
            services.service_client_update(
                client=current,
                name=data["name"],
                scopes=data["scopes"],
                is_active=data["is_active"],
                request=request,
            )
            return
        client, secret = services.service_client_create(
            name=data["name"],
            scopes=data["scopes"],
            tenant=data.get("tenant"),
            created_by=request.user,
            request=request,
        )
        # The admin goes on with ``obj`` (its log entry and redirect): make it the new row.
        for field in ServiceClient._meta.concrete_fields:
            setattr(obj, field.attname, getattr(client, field.attname))
        obj._state.adding, obj._state.db = False, client._state.db
        obj.raw_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        return self._reveal(request, [(obj, obj.raw_secret)], title="Service client created")

    def delete_model(self, request, obj):
        services.service_client_delete(client=obj, request=request)

    def delete_queryset(self, request, queryset):
        for client in queryset:
            services.service_client_delete(client=client, request=request)

    @admin.action(description="Rotate secret (the new one is shown once)")
    def rotate_secret(self, request, queryset):
        rotated = [
            services.service_client_rotate_secret(client=client, request=request)
            for client in queryset
        ]
        return self._reveal(request, rotated, title="Client secrets rotated")

    def _reveal(self, request, created, *, title):
        """The one page that shows new secrets."""
        secrets = [{"client": client, "secret": secret} for client, secret in created]
        return self.reveal_once(request, secrets, title=title)
