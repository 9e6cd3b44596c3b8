"""OpenAPI security scheme for client-credentials tokens (a drf-spectacular extension).

Declared as an OAuth 2.0 ``clientCredentials`` flow, so the interactive docs can fetch a token
from ``/oauth2/token`` themselves. Imported by ``OAuthConfig.ready``.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ClientCredentialsScheme(OpenApiAuthenticationExtension):
    target_class = "oauth.authentication.ClientCredentialsAuthentication"
    name = "clientCredentials"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "description": "A service client's access token, as `Authorization: Bearer <jwt>`.",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": {}}},
        }
