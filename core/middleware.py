"""Django's and django-cors-headers' middleware, doing nothing for a request they have no part in.

Every API request passes through the whole stack, so a middleware that builds something the
request never uses costs every request (measured in docs/performance.md).
"""

from corsheaders import middleware as cors
from corsheaders.conf import conf as cors_conf
from django.contrib.messages import middleware as messages
from django.contrib.messages.storage import default_storage
from django.utils.functional import SimpleLazyObject, empty


class MessageMiddleware(messages.MessageMiddleware):
    """Django's, building the message storage only for a request that reads or adds a message.

    Django builds a cookie storage and a session storage for every request (~15 µs); an API
    request never uses them. Until something touches ``request._messages`` nothing is built,
    and then there is nothing to store in the response either.
    """

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        stored = getattr(request, "_messages", None)
        if isinstance(stored, SimpleLazyObject) and stored._wrapped is empty:
            return response
        return super().process_response(request, response)


class CorsMiddleware(cors.CorsMiddleware):
    """django-cors-headers, out of the way until an origin is allowed (it is off by default).

    With no origin allowed it would still match the URL, send its ``check_request_enabled``
    signal and add ``Vary: origin`` to every API response (~17 µs), to allow nobody.
    """

    def __call__(self, request):
        if not (
            cors_conf.CORS_ALLOWED_ORIGINS
            or cors_conf.CORS_ALLOWED_ORIGIN_REGEXES
            or cors_conf.CORS_ALLOW_ALL_ORIGINS
        ):
            return self.get_response(request)
        return super().__call__(request)
