"""Tenants in the admin, members inline; changes go through ``tenants.services`` like the API's.

An operator acts as an owner of every tenant. The formset checks what the services would
refuse (no owner left, a member stranded without a tenant, an inactive user), so the operator
sees a form error rather than a failed save.
"""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet

from audit.services import audit_record
from tenants import services
from tenants.models import Membership, Tenant, TenantInvitation
from tenants.selectors import member_stranded_without

Role = Membership.Role


class MembershipFormSet(BaseInlineFormSet):
    def clean(self):
        """The API's membership rules, checked on the whole inline before anything is saved."""
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if not any(f.cleaned_data.get("role") == Role.OWNER for f in kept):
            raise ValidationError("A tenant needs at least one owner.")
        for form in kept:
            user = form.cleaned_data.get("user")
            if form.instance.pk is None and user is not None and not user.is_active:
                raise ValidationError(f"{user.email} is not an active user.")
        for form in self.deleted_forms:
            membership = form.instance
            if membership.pk is None:
                continue
            others = Membership.objects.filter(user_id=membership.user_id).exclude(pk=membership.pk)
            if not others.exists():
                raise ValidationError(services.ONLY_TENANT.format(email=membership.user.email))


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
        if change:
            stored = Tenant.objects.get(pk=obj.pk)
            services.tenant_update(
                tenant=stored, actor_role=Role.OWNER, name=obj.name, slug=obj.slug, request=request
            )
            return
        # A new tenant's owner arrives with the inline, saved next (``save_formset``); the
        # creation is recorded here, the owner's membership there.
        super().save_model(request, obj, form, change)
        audit_record(
            event_type="tenant.created",
            request=request,
            target=obj,
            tenant_id=obj.pk,
            data={"name": obj.name, "slug": obj.slug, "via": "admin"},
        )

    def save_formset(self, request, form, formset, change):
        """Members through the services, in an order that never leaves the tenant ownerless."""
        tenant = form.instance
        formset.save(commit=False)
        for membership in formset.new_objects:
            services.member_add(
                tenant=tenant,
                actor_role=Role.OWNER,
                email=membership.user.email,
                role=membership.role,
                request=request,
            )
        role_changes = [m for m, fields in formset.changed_objects if "role" in fields]
        role_changes.sort(key=lambda m: m.role != Role.OWNER)  # promotions before demotions
        for membership in role_changes:
            services.member_role_change(
                tenant=tenant,
                actor_role=Role.OWNER,
                user_id=membership.user_id,
                role=membership.role,
                request=request,
            )
        for membership in formset.deleted_objects:
            services.member_remove(
                tenant=tenant,
                actor=None,
                actor_role=Role.OWNER,
                user_id=membership.user_id,
                request=request,
            )

    def get_deleted_objects(self, objs, request):
        """Refuse, on the confirmation page, to delete a tenant that is a member's only one."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for tenant in objs:
            stranded = member_stranded_without(tenant=tenant)
            if stranded is not None:
                protected.append(f"{stranded.user.email}, whose only tenant is {tenant.name}")
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        services.tenant_delete(tenant=obj, actor_role=Role.OWNER, request=request)

    def delete_queryset(self, request, queryset):
        for tenant in queryset:
            services.tenant_delete(tenant=tenant, actor_role=Role.OWNER, request=request)


@admin.register(TenantInvitation)
class TenantInvitationAdmin(admin.ModelAdmin):
    """Read-only: invitations are made, answered and cancelled through the API and pages."""

    list_display = ("email", "tenant", "role", "status", "invited_by", "created_at", "expires_at")
    list_filter = ("status", "role", "created_at")
    search_fields = ("email", "tenant__name", "tenant__slug")
    list_select_related = ("tenant", "invited_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
