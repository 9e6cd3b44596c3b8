"""``GET /api/v1/``: the API's front page, as DRF's routers make one (SPEC §13).

A browser gets the browsable API with a link per resource; an API client gets the same links
as JSON. The URL names are the composition root's to choose (``config/urls.py``), so this
module knows no app.
"""

from django.urls import NoReverseMatch
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse

from core.views import ApiView


@extend_schema(exclude=True)  # a map of the schema's own paths, not an operation of its own
class ApiRootView(ApiView):
    """Keyward's API: accounts, API keys, JWTs and tenants. Each link below is a resource.

    Interactive docs: /api/docs/ · the OpenAPI schema: /api/v1/schema/. Authenticate with
    `Authorization: Bearer <key or access_token>` or `X-API-Key: <key>`.
    """

    permission_classes = [AllowAny]
    resources: dict[str, str] = {}

    def get_view_name(self):
        return "Keyward API"

    def get(self, request):
        links = {}
        for label, url_name in self.resources.items():
            try:
                links[label] = reverse(url_name, request=request)
            except NoReverseMatch:
                continue  # a resource switched off in this deployment's URLs
        return Response(links)
