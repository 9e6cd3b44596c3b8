"""OpenAPI security schemes for API keys: the four presentations of SPEC §3.

Imported by ``ApiKeysConfig.ready``. Descriptions are Markdown (Swagger's *Authorize* dialog
renders them): each placeholder sits in a code span, where ``<key>`` is text, not a tag. One
authentication class accepts all four, so one extension declares four schemes, any one of
which satisfies an operation.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

SCHEMES = {
    "apiKeyBearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "kw_<secret><checksum>",
        "description": "`Authorization: Bearer <key>`",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "`X-API-Key: <key>`",
    },
    "apiKeyBasic": {
        "type": "http",
        "scheme": "basic",
        "description": '`Authorization: Basic base64("apikey:" + <key>)`, for scrapers and '
        "`curl -u apikey:<key>`.",
    },
    "apiKeyBare": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Authorization: <key>` (bare, without a scheme).",
    },
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeyAuthentication"
    name = list(SCHEMES)

    def get_security_definition(self, auto_schema):
        return list(SCHEMES.values())

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in SCHEMES]
