from django.urls import path

from accounts import api

# Listed first in ``config.urls``: the endpoint any API request may call.
hot_urlpatterns = [
    path("auth/verify", api.VerifyView.as_view(), name="auth-verify"),
]
urlpatterns = [
    path("auth/register", api.RegisterView.as_view(), name="auth-register"),
    path("auth/login", api.LoginView.as_view(), name="auth-login"),
    path("auth/logout", api.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all", api.LogoutAllView.as_view(), name="auth-logout-all"),
    path("auth/refresh", api.RefreshView.as_view(), name="auth-refresh"),
]
