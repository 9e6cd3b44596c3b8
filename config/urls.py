from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.views import HealthView

api_v1 = [
    path("health", HealthView.as_view(), name="health"),
    path("", include("accounts.api_urls")),
    path("", include("apikeys.api_urls")),
    path("", include("tenants.api_urls")),
    path("", include("agents.api_urls")),
    path("", include("oauth.api_urls")),
    path("", include("audit.api_urls")),
    path("", include("ops.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("admin/", admin.site.urls),
    path("oauth2/", include("oauth.urls")),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, the API docs).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("", include("apikeys.urls")),
    path("", include("tenants.urls")),
    path("", include("accounts.urls")),
]

handler400 = "core.views.bad_request"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
