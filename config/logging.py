"""The ``LOGGING`` setting: everything at ``LOG_LEVEL`` or above, and no line per refusal.

Refused requests (4xx) are counted in the metrics and the audit log's burst rows; a line each
on standard error would let anonymous traffic fill the logs and cost every refusal a write.
Django logs each 4xx answer as a ``django.request`` WARNING, and its own logging configuration
gives the ``django`` logger the level INFO, so ``LOG_LEVEL`` on the root logger alone would not
hold them back. Server errors (5xx) are logged as before.
"""

import logging


def logging_config(level: str) -> dict:
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "no_client_errors": {
                "()": "django.utils.log.CallbackFilter",
                "callback": is_not_a_client_error,
            },
        },
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"level": level},
            "django.request": {"filters": ["no_client_errors"]},
            "django.db.backends": {"level": _at_least(level, "WARNING")},
        },
    }


def is_not_a_client_error(record: logging.LogRecord) -> bool:
    status = getattr(record, "status_code", None)
    return status is None or not 400 <= status < 500


def _at_least(level: str, floor: str) -> str:
    levels = logging.getLevelNamesMapping()
    return level if levels.get(level, 0) > levels[floor] else floor
