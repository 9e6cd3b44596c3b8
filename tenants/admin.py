"""Tenants in the admin, members inline. Every change is written to the audit log."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet

from audit.services import audit_record
from tenants.models import Membership, Tenant


class MembershipFormSet(BaseInlineFormSet):
    def clean(self):
        """A tenant keeps at least one owner, in the admin as through the API."""
        super().clean()
        owners = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("role") == Membership.Role.OWNER
        ]
        if not owners:
            raise ValidationError("A tenant needs at least one owner.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 1
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "id", "member_count", "created_at")
    list_filter = ("created_at",)
    # Operators look a tenant up by a member's email as often as by its name.
    search_fields = ("name", "slug", "memberships__user__email")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("id", "created_at")
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and not form.changed_data:
            return
        audit_record(
            event_type="tenant.updated" if change else "tenant.created",
            request=request,
            target=obj,
            tenant_id=obj.pk,
            data={"fields": sorted(form.changed_data), "via": "admin"},
        )

    def save_formset(self, request, form, formset, change):
        tenant = form.instance
        # Deleting clears an instance's pk, so note who leaves before saving.
        leaving = [f.instance for f in formset.deleted_forms if f.instance.pk is not None]
        leaving = [(m.pk, m.user_id, m.role) for m in leaving]
        formset.save()
        for membership in formset.new_objects:
            _audit_member(request, "member.added", tenant, membership.pk, membership)
        for membership, fields in formset.changed_objects:
            if "role" in fields:
                _audit_member(request, "member.role_changed", tenant, membership.pk, membership)
        for pk, user_id, role in leaving:
            audit_record(
                event_type="member.removed",
                request=request,
                target_type=Membership._meta.label_lower,
                target_id=str(pk),
                tenant_id=tenant.pk,
                data={"user_id": user_id, "role": role, "via": "admin"},
            )

    def delete_model(self, request, obj):
        _audit_tenant_deleted(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for tenant in queryset:
            _audit_tenant_deleted(request, tenant)
        super().delete_queryset(request, queryset)


def _audit_member(request, event_type, tenant, pk, membership):
    audit_record(
        event_type=event_type,
        request=request,
        target_type=Membership._meta.label_lower,
        target_id=str(pk),
        tenant_id=tenant.pk,
        data={"user_id": membership.user_id, "role": membership.role, "via": "admin"},
    )


def _audit_tenant_deleted(request, tenant):
    audit_record(
        event_type="tenant.deleted",
        request=request,
        target=tenant,
        tenant_id=tenant.pk,
        data={"name": tenant.name, "slug": tenant.slug, "via": "admin"},
    )
