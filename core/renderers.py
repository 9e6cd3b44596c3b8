"""JSON rendering: DRF's renderer, with a body that never changes rendered only once."""

from rest_framework import renderers


class RenderedOnce(dict):
    """A response body that answers many requests unchanged, so its JSON is worked out once.

    Health's body is one; so is a cached key's ``auth/verify`` body, kept on its principal for
    as long as the key is cached. Shared between requests: nobody may change it once built.
    """

    __slots__ = ("json",)


class JSONRenderer(renderers.JSONRenderer):
    """DRF's ``JSONRenderer``, byte for byte (pinned by ``tests/core/test_renderers.py``).

    Rendering a small body costs more than checking a key: DRF parses the accepted media type
    for an ``indent`` parameter and builds a JSON encoder on every response.
    """

    def get_indent(self, accepted_media_type, renderer_context):
        if accepted_media_type and ";" not in accepted_media_type:
            return renderer_context.get("indent")  # no parameters to parse for an indent
        return super().get_indent(accepted_media_type, renderer_context)

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (
            type(data) is not RenderedOnce
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        rendered = getattr(data, "json", None)
        if rendered is None:
            rendered = data.json = super().render(data, accepted_media_type, renderer_context)
        return rendered
