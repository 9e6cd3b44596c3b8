from django.urls import path

from oauth import pages

app_name = "service_clients"

urlpatterns = [
    path("service-clients", pages.client_list, name="list"),
    path("service-clients/<uuid:client_id>/secret", pages.client_secret, name="secret"),
    path(
        "service-clients/<uuid:client_id>/revoke",
        pages.client_set_active,
        {"active": False},
        name="revoke",
    ),
    path(
        "service-clients/<uuid:client_id>/activate",
        pages.client_set_active,
        {"active": True},
        name="activate",
    ),
]
