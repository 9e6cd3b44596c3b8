"""The WSGI handler: Django's, handing a response's headers to the server without a detour."""

from django.core.handlers import wsgi

from core import fastpath


class WSGIHandler(wsgi.WSGIHandler):
    """Django's ``WSGIHandler``, listing a response's headers straight from its header map.

    ``core.fastpath.prepare_wsgi_headers`` says why; ``tests/core/test_wsgi.py`` pins that the
    server is sent exactly what Django's own handler sends.
    """

    def get_response(self, request):
        response = super().get_response(request)
        fastpath.prepare_wsgi_headers(response)
        return response
