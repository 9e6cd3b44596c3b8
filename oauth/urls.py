from django.urls import path

from oauth.api import TokenView
from oauth.introspection_api import IntrospectView, RevokeView

urlpatterns = [
    path("token", TokenView.as_view(), name="oauth2-token"),
    path("introspect", IntrospectView.as_view(), name="oauth2-introspect"),
    path("revoke", RevokeView.as_view(), name="oauth2-revoke"),
]
