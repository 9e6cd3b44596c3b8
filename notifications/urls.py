from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("webhooks", views.webhook_page, name="webhooks"),
    path("webhooks/<uuid:webhook_id>/delete", views.webhook_delete, name="webhook-delete"),
]
