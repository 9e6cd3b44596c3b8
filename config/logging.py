"""The ``LOGGING`` setting: everything at ``LOG_LEVEL`` or above, and no line per refusal.

Refused requests (4xx) are counted in the metrics and the audit log's burst rows; a line each
on standard error would let anonymous traffic fill the logs and cost every refusal a write.
Django logs each 4xx answer as a ``django.request`` WARNING, and its own logging configuration
gives the ``django`` logger the level INFO, so ``LOG_LEVEL`` on the root logger alone would not
hold them back. ``django.request`` logs nothing below ERROR but those answers, so its level is
ERROR at least: a refusal is then not even made into a record, which a filter would do first.
Server errors (5xx, logged at ERROR) are logged as before.
"""

import logging


def logging_config(level: str) -> dict:
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"level": level},
            "django.request": {"level": _at_least(level, "ERROR")},
            "django.db.backends": {"level": _at_least(level, "WARNING")},
        },
    }


def _at_least(level: str, floor: str) -> str:
    levels = logging.getLevelNamesMapping()
    return level if levels.get(level, 0) > levels[floor] else floor
