"""django-cors-headers stepped around while it allows no origin.

``cors_idle``: with no origin allowed, its middleware still matches the URL, sends its
``check_request_enabled`` signal and adds ``Vary: origin`` to every API response, to allow
nobody. The three settings are read from Django's settings, not django-cors-headers' ``conf``
(which looks each one and its old alias up on every read); which settings allow an origin is
that version's, hence the guard.
"""

from django.conf import settings

from core.fastpath.guard import trick_enabled

CORS_IDLE = trick_enabled("cors_idle", "django-cors-headers", "4.9.0")


def cors_allows_nobody_by_settings() -> bool:
    return not (
        settings.CORS_ALLOWED_ORIGINS
        or settings.CORS_ALLOWED_ORIGIN_REGEXES
        or settings.CORS_ALLOW_ALL_ORIGINS
    )


def cors_allows_nobody_public() -> bool:
    return False  # django-cors-headers decides on every request


cors_allows_nobody = cors_allows_nobody_by_settings if CORS_IDLE else cors_allows_nobody_public
