from django.urls import path

from accounts import api

# The resolver tries patterns in order: the endpoint every API request may call comes first.
urlpatterns = [
    path("auth/verify", api.VerifyView.as_view(), name="auth-verify"),
    path("auth/register", api.RegisterView.as_view(), name="auth-register"),
    path("auth/login", api.LoginView.as_view(), name="auth-login"),
    path("auth/logout", api.LogoutView.as_view(), name="auth-logout"),
    path("auth/refresh", api.RefreshView.as_view(), name="auth-refresh"),
]
