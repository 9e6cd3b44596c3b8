"""The WSGI handler: Django's, handing a response's headers to the server without a detour."""

from django.core.handlers import wsgi


class WSGIHandler(wsgi.WSGIHandler):
    """Django's ``WSGIHandler``, listing a response's headers straight from its header map.

    Django lists them for the server through ``response.items()``: a generator over its
    case-insensitive map, which lower-cases each name again to look its value up — three
    Python frames per header, on every response (an API answer carries eight to thirteen).
    The map keeps ``lowercased name -> (name, value)`` in ``_store`` (Django 5.2), whose values
    are those pairs already; ``tests/core/test_wsgi.py`` pins that the server is sent exactly
    what Django's own handler sends.
    """

    def get_response(self, request):
        response = super().get_response(request)
        response.items = response.headers._store.values  # a live view: later headers are in it
        return response
