"""Content negotiation: DRF's, answered at once when the client states no preference."""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.settings import api_settings


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's ``DefaultContentNegotiation``, short-cut for the request that accepts anything.

    A request with no ``Accept`` header (or ``*/*``) and no ``?format=`` gets the first
    renderer — JSON — exactly as DRF would answer, but without building the query dict, the
    header map and the parsed media types first: on a warm authenticated request that
    bookkeeping cost more than checking the key. Anything else is DRF's own negotiation.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        if format_suffix is None and renderers and states_no_preference(request.META):
            renderer = renderers[0]
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)


def states_no_preference(meta) -> bool:
    """No ``Accept`` (or ``*/*``) and no ``?format=``: the first renderer answers, and the query
    string is never read (the WSGI lane relies on both, ``config.lane``)."""
    return (
        meta.get("HTTP_ACCEPT", "*/*").strip() == "*/*"  # an empty header is a 406
        and f"{api_settings.URL_FORMAT_OVERRIDE}=" not in meta.get("QUERY_STRING", "")
    )
