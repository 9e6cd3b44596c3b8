from django.urls import path

from oauth.api import TokenView

urlpatterns = [
    path("token", TokenView.as_view(), name="oauth2-token"),
]
