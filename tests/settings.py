"""Test settings: the real settings, with a throwaway secret and plain HTTP.

``DATABASE_URL`` and ``REDIS_URL`` pass through, so the same suite runs on SQLite with the
in-process cache and on PostgreSQL with Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-hs256-signing")
os.environ.setdefault("KEYWARD_HTTPS", "false")
os.environ.setdefault("DEBUG", "false")
# One issuer for the tokens the tests mint and for the servers they start (tests/multinode,
# tests/faults), whose ALLOWED_HOSTS differ and would otherwise derive another default issuer.
os.environ.setdefault("KEYWARD_JWT_ISSUER", "http://keyward.test")

from config.settings import *  # noqa: F403

# Argon2 at production cost makes a suite of hundreds of logins slow; the hasher's own tests
# use it explicitly.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    *PASSWORD_HASHERS,  # noqa: F405
]

# Tests count buffered usage exactly; they flush when they mean to (the periodic flush has its
# own tests, which turn it on).
KEYWARD_USAGE_FLUSH_SECONDS = 0
