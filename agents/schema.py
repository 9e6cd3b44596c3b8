"""OpenAPI for the body-token credential (drf-spectacular extension, loaded in ``ready``).

OpenAPI has no security scheme for a credential inside the body, so this one adds no security
requirement of its own; ``token`` is documented as a field of the run request instead.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BodyTokenScheme(OpenApiAuthenticationExtension):
    target_class = "agents.authentication.BodyTokenAuthentication"
    name = []

    def get_security_requirement(self, auto_schema):
        return []

    def get_security_definition(self, auto_schema):
        return []
