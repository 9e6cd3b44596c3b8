from django.urls import path

from apikeys import views

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
]
