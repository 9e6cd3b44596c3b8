from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import api_urls as accounts_api
from accounts.admin_login import AdminLoginForm, limited_login
from agents import api_urls as agents_api
from apikeys import api_urls as apikeys_api
from audit import api_urls as audit_api
from core.api_root import ApiRootView
from core.views import HealthView
from notifications import api_urls as notifications_api
from oauth import api_urls as oauth_api
from oauth import wellknown
from ops import api_urls as ops_api
from tenants import api_urls as tenants_api

# One flat list, not an ``include("")`` per app: every include is one more resolver level that
# each API request walks, and resolving is paid before any view runs. The resolver tries
# patterns in order, so the endpoints any API request may call come first (the cost measured
# is in docs/performance.md).
# What ``GET /api/v1/`` lists: label → URL name, in the order a newcomer meets them.
API_ROOT = {
    "register": "auth-register",
    "login": "auth-login",
    "refresh": "auth-refresh",
    "verify": "auth-verify",
    "api-keys": "apikey-list",
    "api-key-info": "apikey-info",
    "keys-verify": "key-verify",
    "auth-check": "auth-check",
    "tenants": "tenant-list",
    "invitations": "user-invitation-list",
    "agents": "agent-list",
    "service-clients": "service-client-list",
    "audit-events": "audit-event-list",
    "status": "status",
    "health": "health",
    "schema": "schema",
    "docs": "api-docs",
}

api_v1 = [
    path("health", HealthView.as_view(), name="health"),
    *accounts_api.hot_urlpatterns,
    *apikeys_api.hot_urlpatterns,
    *accounts_api.urlpatterns,
    *apikeys_api.urlpatterns,
    *tenants_api.urlpatterns,
    *agents_api.urlpatterns,
    *oauth_api.urlpatterns,
    *audit_api.urlpatterns,
    *notifications_api.urlpatterns,
    *ops_api.urlpatterns,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Last: a person's first stop, never on the path of an API call.
    path("", ApiRootView.as_view(resources=API_ROOT), name="api-root"),
]

# SPEC §9, every login door is one door: the admin checks passwords through the same service as
# the API and the pages. DRF's own login (``rest_framework.urls``) is not mounted: the browsable
# API links to ``/login`` instead (templates/rest_framework/api.html).
admin.site.login_form = AdminLoginForm
admin.site.login = limited_login(admin.site.login)  # over the login limits: 429, as elsewhere

urlpatterns = [
    path("api/v1/", include(api_v1)),
    # The split view serves its start-up script as a file: the page runs no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("oauth2/", include("oauth.urls")),
    # SPEC §11: what an offline verifier and a standard OAuth client fetch first.
    path(".well-known/jwks.json", wellknown.jwks, name="jwks"),
    path(
        ".well-known/oauth-authorization-server",
        wellknown.authorization_server_metadata,
        name="oauth-authorization-server",
    ),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, the API docs).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("", include("apikeys.urls")),
    path("", include("tenants.urls")),
    path("", include("notifications.urls")),
    path("", include("oauth.page_urls")),
    path("", include("accounts.urls")),
]

handler400 = "core.views.bad_request"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
