from django.urls import path

from oauth import api

urlpatterns = [
    path("service-clients", api.ServiceClientListView.as_view(), name="service-client-list"),
    # str, not uuid: a malformed id answers the same 404 as an unknown one.
    path(
        "service-clients/<str:client_id>",
        api.ServiceClientDetailView.as_view(),
        name="service-client-detail",
    ),
    path(
        "service-clients/<str:client_id>/rotate-secret",
        api.ServiceClientRotateSecretView.as_view(),
        name="service-client-rotate-secret",
    ),
]
