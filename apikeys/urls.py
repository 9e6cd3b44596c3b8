from django.urls import path

from apikeys import shadow_views, views

app_name = "apikeys"

urlpatterns = [
    path("keys", views.key_list, name="list"),
    path("keys/new", views.key_create, name="create"),
    path("keys/<uuid:key_id>", views.key_detail, name="detail"),
    path("keys/<uuid:key_id>/reveal", views.key_reveal, name="reveal"),
    path("keys/<uuid:key_id>/edit", views.key_edit, name="edit"),
    path("keys/<uuid:key_id>/revoke", views.key_revoke, name="revoke"),
    path("keys/<uuid:key_id>/activate", views.key_activate, name="activate"),
    path("keys/<uuid:key_id>/rotate", views.key_rotate, name="rotate"),
    path("keys/<uuid:key_id>/delete", views.key_delete, name="delete"),
    path("settings/api-keys", views.settings_redirect, name="settings"),
    path(
        "keys/<uuid:key_id>/proposals/suggest",
        shadow_views.proposal_suggest,
        name="proposal-suggest",
    ),
    path(
        "keys/<uuid:key_id>/proposals/<uuid:proposal_id>/apply",
        shadow_views.proposal_apply,
        name="proposal-apply",
    ),
    path(
        "keys/<uuid:key_id>/proposals/<uuid:proposal_id>/delete",
        shadow_views.proposal_delete,
        name="proposal-delete",
    ),
]
