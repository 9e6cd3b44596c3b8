from django.urls import path

from tenants import api

urlpatterns = [
    path("tenants", api.TenantListView.as_view(), name="tenant-list"),
    # str, not uuid/int: a malformed id answers the same 404 as any tenant or member out of reach.
    path("tenants/<str:tenant_id>", api.TenantDetailView.as_view(), name="tenant-detail"),
    path("tenants/<str:tenant_id>/members", api.MemberListView.as_view(), name="member-list"),
    path(
        "tenants/<str:tenant_id>/members/<str:user_id>",
        api.MemberDetailView.as_view(),
        name="member-detail",
    ),
    path(
        "tenants/<str:tenant_id>/invitations",
        api.InvitationListView.as_view(),
        name="tenant-invitation-list",
    ),
    path(
        "tenants/<str:tenant_id>/invitations/<str:invitation_id>",
        api.InvitationDetailView.as_view(),
        name="tenant-invitation-detail",
    ),
    # The invited person's side lives here too, beside the rules it shares.
    path("user/invitations", api.UserInvitationListView.as_view(), name="user-invitation-list"),
    path(
        "user/invitations/<str:invitation_id>/accept",
        api.UserInvitationAcceptView.as_view(),
        name="user-invitation-accept",
    ),
    path(
        "user/invitations/<str:invitation_id>/decline",
        api.UserInvitationDeclineView.as_view(),
        name="user-invitation-decline",
    ),
]
