from django.urls import path

from notifications import api

# str, not uuid: a malformed id answers the same 404 as a webhook out of reach.
urlpatterns = [
    path("user/webhooks", api.UserWebhookListView.as_view(), name="webhook-list"),
    path(
        "user/webhooks/<str:webhook_id>",
        api.UserWebhookDetailView.as_view(),
        name="webhook-detail",
    ),
    path(
        "user/webhooks/<str:webhook_id>/deliveries",
        api.UserWebhookDeliveriesView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "tenants/<str:tenant_id>/webhooks",
        api.TenantWebhookListView.as_view(),
        name="tenant-webhook-list",
    ),
    path(
        "tenants/<str:tenant_id>/webhooks/<str:webhook_id>",
        api.TenantWebhookDetailView.as_view(),
        name="tenant-webhook-detail",
    ),
    path(
        "tenants/<str:tenant_id>/webhooks/<str:webhook_id>/deliveries",
        api.TenantWebhookDeliveriesView.as_view(),
        name="tenant-webhook-deliveries",
    ),
]
