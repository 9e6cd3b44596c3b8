"""The admin for email users, and read-only views of refresh-token families."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    ReadOnlyPasswordHashField,
    ReadOnlyPasswordHashWidget,
    UserChangeForm,
)
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, identify_hasher

from accounts.models import RefreshTokenFamily, User
from audit.services import audit_record
from tenants.services import tenant_create_personal


class PasswordStatusWidget(ReadOnlyPasswordHashWidget):
    """Django's widget, minus the salt and hash fragments: the admin never shows a hash."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if value and not value.startswith(UNUSABLE_PASSWORD_PREFIX):
            try:
                algorithm = identify_hasher(value).algorithm
            except ValueError:
                return context  # Django's "unknown format" line, which holds no hash
            context["summary"] = [{"label": "Algorithm", "value": algorithm}]
        return context


class KeywardUserChangeForm(UserChangeForm):
    password = ReadOnlyPasswordHashField(
        label="Password",
        widget=PasswordStatusWidget,
        help_text="Raw passwords are not stored, so there is no way to see the user's password.",
    )

    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes = {}


class KeywardUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email", "first_name", "last_name")
        field_classes = {}


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = KeywardUserChangeForm
    add_form = KeywardUserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined", "credentials_valid_after")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "first_name",
                    "last_name",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    # Logins end through a new password or deactivation (or the user's own "sign out
    # everywhere"), never by editing when they ended.
    readonly_fields = ("last_login", "date_joined", "credentials_valid_after")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:
            if form.changed_data:
                fields = sorted(set(form.changed_data) - {"password"})
                audit_record(
                    event_type="user.updated",
                    request=request,
                    target=obj,
                    data={"fields": fields, "via": "admin"},
                )
            return
        # SPEC §4: every user belongs to at least one tenant, as registration ensures.
        tenant_create_personal(user=obj)
        audit_record(event_type="user.created", request=request, target=obj, data={"via": "admin"})


@admin.register(RefreshTokenFamily)
class RefreshTokenFamilyAdmin(admin.ModelAdmin):
    """One row per login that asked for tokens; revoked on reuse or logout."""

    list_display = ("user", "created_at", "revoked_at", "revoked_reason")
    list_filter = ("revoked_reason",)
    search_fields = ("user__email",)
    list_select_related = ("user",)
    readonly_fields = ("id", "user", "created_at", "revoked_at", "revoked_reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
