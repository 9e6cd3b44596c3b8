from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("tenants", views.tenant_list, name="list"),
    path("tenants/switch", views.tenant_switch, name="switch"),
    path("tenants/<uuid:tenant_id>/members", views.tenant_members, name="members"),
    path(
        "tenants/<uuid:tenant_id>/members/<int:user_id>/role",
        views.member_role,
        name="member-role",
    ),
    path(
        "tenants/<uuid:tenant_id>/members/<int:user_id>/remove",
        views.member_remove,
        name="member-remove",
    ),
    path(
        "tenants/<uuid:tenant_id>/invitations/<uuid:invitation_id>/cancel",
        views.invitation_cancel,
        name="invitation-cancel",
    ),
    path(
        "invitations/<uuid:invitation_id>/accept", views.invitation_accept, name="invitation-accept"
    ),
    path(
        "invitations/<uuid:invitation_id>/decline",
        views.invitation_decline,
        name="invitation-decline",
    ),
]
