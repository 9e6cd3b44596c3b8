"""Django's internals, reached into where every API response pays for the public way.

``ResponseHeaders`` (Django 5.2) keeps ``lowercased name -> (name, value)`` in ``_store``:
* ``wsgi_headers``: Django hands a response's headers to the server through
  ``response.items()``, a generator that lower-cases each name again to look its value up, on
  every header of every response; ``_store.values`` already holds the pairs it yields.
* ``header_store``: setting a header checks its value for line breaks and for what the charset
  cannot encode; the rate-limit headers are ASCII digits and policy strings we format ourselves,
  which those checks can never refuse.

``lazy_messages``: Django's ``MessageMiddleware`` builds a cookie storage and a session storage
for every request into ``request._messages``, the attribute its messages API reads; an API
request never uses them. Built only when something touches them, nothing is stored back either.
"""

from django.contrib.messages.storage import default_storage
from django.utils.functional import SimpleLazyObject

from core.fastpath.guard import trick_enabled

WSGI_HEADERS = trick_enabled("wsgi_headers", "Django", "5.2.19")
HEADER_STORE = trick_enabled("header_store", "Django", "5.2.19")
LAZY_MESSAGES = trick_enabled("lazy_messages", "Django", "5.2.19")


def wsgi_headers_from_store(response) -> None:
    response.items = response.headers._store.values  # a live view: later headers are in it


def wsgi_headers_public(response) -> None:
    """Django's own ``response.items()``."""


def write_headers_to_store(response, pairs) -> None:
    store = response.headers._store
    for name, value in pairs:
        store[name.lower()] = (name, value)


def write_headers_public(response, pairs) -> None:
    headers = response.headers
    for name, value in pairs:
        headers[name] = value


_MESSAGES_BUILT = "keyward_messages_built"


def defer_messages_lazily(request) -> bool:
    """Put a message storage built on first use on ``request``; True when it did."""
    setattr(request, _MESSAGES_BUILT, False)

    def build():
        setattr(request, _MESSAGES_BUILT, True)
        return default_storage(request)

    request._messages = SimpleLazyObject(build)
    return True


def defer_messages_public(request) -> bool:
    return False  # Django's MessageMiddleware builds the storage itself


def messages_untouched_lazily(request) -> bool:
    return getattr(request, _MESSAGES_BUILT, True) is False


def messages_untouched_public(request) -> bool:
    return False


prepare_wsgi_headers = wsgi_headers_from_store if WSGI_HEADERS else wsgi_headers_public
write_headers = write_headers_to_store if HEADER_STORE else write_headers_public
defer_messages = defer_messages_lazily if LAZY_MESSAGES else defer_messages_public
messages_untouched = messages_untouched_lazily if LAZY_MESSAGES else messages_untouched_public
