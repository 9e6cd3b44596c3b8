"""How the OpenAPI schema describes an operation: in the view's own words only.

drf-spectacular falls back on a base class's docstring when a view has none, so the notes of
a mixin or a base endpoint (``SharedAuthenticators``' per-process authenticators, a base
class's CSRF reasoning) would be published as the description of every operation that
inherits them. Those are written for the project's engineers, not for an API's callers.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_doc


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema, describing an operation by its handler or its own view."""

    def get_description(self) -> str:
        handler = getattr(self.view, getattr(self.view, "action", self.method.lower()), None)
        return get_doc(handler) or own_doc(self.view.__class__)


def own_doc(view_class: type) -> str:
    """The docstring the class itself declares, never one it inherits."""
    if not view_class.__dict__.get("__doc__"):
        return ""
    return get_doc(view_class)
