"""OpenAPI security schemes for accounts' authentication classes (drf-spectacular extensions).

Imported by ``AccountsConfig.ready`` so the schema names how each credential is presented.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object

from accounts.authentication import ACCESS_COOKIE


class BearerJWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer", bearer_format="JWT"
        )


class CookieJWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.CookieJWTAuthentication"
    name = "jwtCookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": ACCESS_COOKIE}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.KeywardSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
