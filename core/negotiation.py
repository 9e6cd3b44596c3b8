"""Content negotiation: DRF's, answered at once when the client states no preference."""

from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's ``DefaultContentNegotiation``, short-cut for the request that accepts anything.

    A request with no ``Accept`` header (or ``*/*``) and no ``?format=`` gets the first
    renderer — JSON — exactly as DRF would answer, but without building the query dict, the
    header map and the parsed media types first: on a warm authenticated request that
    bookkeeping cost more than checking the key. Anything else is DRF's own negotiation.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        meta = request.META
        if (
            format_suffix is None
            and meta.get("HTTP_ACCEPT", "*/*").strip() == "*/*"  # an empty header is a 406
            and f"{self.settings.URL_FORMAT_OVERRIDE}=" not in meta.get("QUERY_STRING", "")
            and renderers
        ):
            renderer = renderers[0]
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
