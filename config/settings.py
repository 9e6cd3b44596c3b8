"""Keyward settings: everything comes from the environment (django-environ), with safe defaults.

The embedded default is SQLite plus the in-process cache, for one process. Production points
DATABASE_URL at PostgreSQL and REDIS_URL at Redis, and runs any number of processes.
Every variable is listed in README.md.
"""

import json
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured

from config.logging import logging_config
from core import redis_topology

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-debug-only-key-do-not-use-in-production-0123456789"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_ratelimit",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "accounts",
    "tenants",
    "apikeys",
    "audit",
    "agents",
    "oauth",
    "ops",
    "metering",
    "django_tasks",
    "django_tasks_db",
    "notifications",
]

MIDDLEWARE = [
    "ops.middleware.MetricsMiddleware",
    "metering.throttles.RateLimitHeadersMiddleware",
    "core.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "core.errors.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'keyward.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock up front so two
    # writers queue instead of failing with "database is locked" half-way through.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # Behind PgBouncer in transaction mode a session lasts one transaction: no named server-side
    # cursor may outlive it, and no statement may be prepared on a server connection the next
    # transaction may not get (Django's psycopg 3 defaults; pinned here). docs/deploy.md.
    if env.bool("DATABASE_PGBOUNCER", default=False):
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"]["OPTIONS"].update(prepare_threshold=None, server_side_binding=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: Redis in production, in-process for the embedded default ---------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_URL = env.str("CACHE_URL", default="")
if REDIS_URL:
    # One server, Sentinel (redis+sentinel://) or Cluster (redis+cluster://): core.redis_topology.
    REDIS_LOCATION, REDIS_TOPOLOGY_OPTIONS = redis_topology.cache_location(REDIS_URL)
    CACHES = {
        "default": {
            # django-redis: the Redis backend django-ratelimit supports (atomic incr).
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_LOCATION,
            "KEY_PREFIX": "kw",
            # Short socket timeouts: with Redis down a request fails fast (503/429) instead of
            # hanging a worker.
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
                "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=0.5),
                **REDIS_TOPOLOGY_OPTIONS,
            },
        }
    }
elif CACHE_URL:
    CACHES = {"default": env.cache_url("CACHE_URL")}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "keyward",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
# django-redis's default, named: it reads this on every request's end, and a setting left out
# costs a raised AttributeError inside Django's settings each time.
DJANGO_REDIS_CLOSE_CONNECTION = False
CACHE_IS_SHARED = CACHES["default"]["BACKEND"] not in (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
# django-ratelimit warns that an in-process cache does not count across processes. That is
# exactly the embedded default's contract (one process), so the check is silenced only there.
SILENCED_SYSTEM_CHECKS = (
    [] if CACHE_IS_SHARED else ["django_ratelimit.E003", "django_ratelimit.W001"]
)

# --- Accounts and passwords -------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "accounts.hashers.KeywardArgon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login"

# --- HTTPS and cookies ------------------------------------------------------------------
KEYWARD_HTTPS = env.bool("KEYWARD_HTTPS", default=not DEBUG)
# Sessions are read from the cache (Redis in production) and written through to the database,
# so a warm session request reads no table and a cache restart logs nobody out.
SESSION_ENGINE = "accounts.sessions"  # cached_db, telling every process of a change
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = KEYWARD_HTTPS
CSRF_COOKIE_SECURE = KEYWARD_HTTPS
SECURE_SSL_REDIRECT = KEYWARD_HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if KEYWARD_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = KEYWARD_HTTPS
SECURE_HSTS_PRELOAD = KEYWARD_HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Health checks come from load balancers over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
if env.bool("KEYWARD_BEHIND_TLS_PROXY", default=False):
    # Only behind a proxy that strips a client-sent X-Forwarded-Proto (see docs/deploy.md).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Static files (served by the app itself through WhiteNoise) -------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Django REST framework --------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apikeys.authentication.ApiKeyAuthentication",
        "oauth.authentication.ClientCredentialsAuthentication",
        "accounts.authentication.BearerJWTAuthentication",
        "accounts.authentication.CookieJWTAuthentication",
        "accounts.authentication.KeywardSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apikeys.permissions.IsAuthenticatedAndAllowed"],
    "DEFAULT_THROTTLE_CLASSES": ["metering.throttles.KeywardRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": [
        "core.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.ContentNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Keyward API",
    "DESCRIPTION": "Accounts, API keys, JWTs and tenants: who is calling, and may they do this?",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # JSON bodies only: the form and multipart parsers stay on (pages post forms, the browsable
    # API posts multipart), but a generated client must send JSON, so only JSON is declared.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "ENUM_NAME_OVERRIDES": {"ReachabilityEnum": ["ok", "unavailable"]},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ops.schema.postprocess_error_responses",
    ],
}

# --- Tokens (SimpleJWT) -----------------------------------------------------------------
KEYWARD_JWT_SIGNING_KEY = env.str("KEYWARD_JWT_SIGNING_KEY", default=SECRET_KEY)
if len(KEYWARD_JWT_SIGNING_KEY.encode()) < 32:
    raise ImproperlyConfigured("KEYWARD_JWT_SIGNING_KEY (or SECRET_KEY) must be at least 32 bytes.")
KEYWARD_ACCESS_TOKEN_LIFETIME = env.int("KEYWARD_ACCESS_TOKEN_LIFETIME", default=7200)
KEYWARD_REFRESH_TOKEN_LIFETIME = env.int("KEYWARD_REFRESH_TOKEN_LIFETIME", default=7 * 24 * 3600)
# Signing and verifying keys live in ``accounts.signing`` (SPEC §11): an asymmetric key by
# default, published at /.well-known/jwks.json; HS256 with KEYWARD_JWT_SIGNING_KEY only when
# KEYWARD_JWT_ALGORITHM says so. An empty private key means one generated once, in the key file.
KEYWARD_JWT_ALGORITHM = env.str("KEYWARD_JWT_ALGORITHM", default="ES256")
KEYWARD_JWT_PRIVATE_KEY = env.str("KEYWARD_JWT_PRIVATE_KEY", default="")
KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS = env.str("KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS", default="")
KEYWARD_JWT_KEY_FILE = env.str("KEYWARD_JWT_KEY_FILE", default=str(VAR_DIR / "jwt-private.pem"))
KEYWARD_JWT_AUDIENCE = env.str("KEYWARD_JWT_AUDIENCE", default="keyward")


def _default_issuer() -> str:
    """The site's origin: the first CSRF_TRUSTED_ORIGINS entry, else the first ALLOWED_HOSTS
    entry that names one host, under https when KEYWARD_HTTPS is on (docs/oauth.md)."""
    if CSRF_TRUSTED_ORIGINS and "*" not in CSRF_TRUSTED_ORIGINS[0]:
        return CSRF_TRUSTED_ORIGINS[0].rstrip("/")
    host = next((h for h in ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")), "")
    return f"{'https' if KEYWARD_HTTPS else 'http'}://{host or 'localhost'}"


KEYWARD_JWT_ISSUER = env.str("KEYWARD_JWT_ISSUER", default="") or _default_issuer()
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=KEYWARD_ACCESS_TOKEN_LIFETIME),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=KEYWARD_REFRESH_TOKEN_LIFETIME),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    # SimpleJWT's own backend is replaced by ``accounts.signing`` (AccountsConfig.ready); these
    # two name the HMAC key it would use, which HS256 (set explicitly) signs with.
    "ALGORITHM": "HS256",
    "SIGNING_KEY": KEYWARD_JWT_SIGNING_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "LEEWAY": 0,
}

# --- Keyward ----------------------------------------------------------------------------
KEYWARD_KEY_PREFIX = env.str("KEYWARD_KEY_PREFIX", default="kw")
# The pepper keys the HMAC that stores API keys. Defaults to a value derived from SECRET_KEY;
# set it explicitly in production so SECRET_KEY can rotate without invalidating every key.
KEYWARD_KEY_PEPPER = env.str("KEYWARD_KEY_PEPPER", default="")
KEYWARD_KEY_PEPPER_FALLBACKS = env.list("KEYWARD_KEY_PEPPER_FALLBACKS", default=[])


def _json_setting(name: str):
    try:
        return json.loads(env.str(name, default="{}"))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}") from exc


KEYWARD_KEY_TYPE_RATE_LIMITS = _json_setting("KEYWARD_KEY_TYPE_RATE_LIMITS")
KEYWARD_USER_RATE_LIMITS = _json_setting("KEYWARD_USER_RATE_LIMITS")
KEYWARD_LOGIN_RATE_PER_EMAIL = env.str("KEYWARD_LOGIN_RATE_PER_EMAIL", default="10/m")
KEYWARD_LOGIN_RATE_PER_IP = env.str("KEYWARD_LOGIN_RATE_PER_IP", default="60/m")
KEYWARD_REGISTER_RATE_PER_IP = env.str("KEYWARD_REGISTER_RATE_PER_IP", default="20/h")
KEYWARD_ANON_RATE_PER_IP = env.str("KEYWARD_ANON_RATE_PER_IP", default="300/m")
KEYWARD_TRUSTED_PROXIES = env.int("KEYWARD_TRUSTED_PROXIES", default=0)
KEYWARD_TENANT_HEADER = env.str("KEYWARD_TENANT_HEADER", default="X-Tenant-Id")
# GitHub's secret-scanning public keys, [{"key_identifier": "…", "key": "<PEM>"}]; unset, every
# report is refused (401). docs/apikeys.md "Leaked keys".
KEYWARD_SECRET_SCANNING_PUBLIC_KEYS = _json_setting("KEYWARD_SECRET_SCANNING_PUBLIC_KEYS")

# --- Browsers on other origins (CORS, django-cors-headers) -----------------------------------
# Only the API answers cross-origin, only to the origins listed (none by default), and without
# cookies: a single-page app on another origin sends its key or JWT in a header.
CORS_ALLOWED_ORIGINS = env.list("KEYWARD_CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOWED_ORIGIN_REGEXES: list[str] = []  # named, so that reading them per request is cheap
CORS_ALLOW_ALL_ORIGINS = False
CORS_URLS_REGEX = r"^/(api|oauth2)/"
CORS_ALLOW_HEADERS = (*cors_default_headers, "x-api-key", KEYWARD_TENANT_HEADER.lower())
CORS_EXPOSE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
    "Retry-After",
)
KEYWARD_BOOTSTRAP_ENABLED = env.bool("KEYWARD_BOOTSTRAP_ENABLED", default=True)
KEYWARD_CLIENT_TOKEN_LIFETIME = env.int("KEYWARD_CLIENT_TOKEN_LIFETIME", default=3600)
KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT = env.str("KEYWARD_OAUTH_TOKEN_RATE_PER_CLIENT", default="60/m")
KEYWARD_OAUTH_TOKEN_RATE_PER_IP = env.str("KEYWARD_OAUTH_TOKEN_RATE_PER_IP", default="300/m")
KEYWARD_AUDIT_RETENTION_DAYS = env.int("KEYWARD_AUDIT_RETENTION_DAYS", default=365)
KEYWARD_EXPIRED_KEY_RETENTION_DAYS = env.int("KEYWARD_EXPIRED_KEY_RETENTION_DAYS", default=30)
KEYWARD_BOOTSTRAP_RATE_PER_IP = env.str("KEYWARD_BOOTSTRAP_RATE_PER_IP", default="60/m")
KEYWARD_KEY_CREATE_RATE_PER_USER = env.str("KEYWARD_KEY_CREATE_RATE_PER_USER", default="60/m")
KEYWARD_LOCAL_METRICS_ENABLED = env.bool("KEYWARD_LOCAL_METRICS_ENABLED", default=False)
# Every server process moves the usage buffer (Redis, or without it the process's own) into the
# database every this many seconds (after a response, never in one), and on every read.
KEYWARD_USAGE_FLUSH_SECONDS = env.int("KEYWARD_USAGE_FLUSH_SECONDS", default=10)
# A shadow proposal's would-be refusals reaching this, then 10x, 100x… is an audit event
# (``api_key.proposal_would_refuse_spike``, docs/apikeys.md); 0 turns it off.
KEYWARD_PROPOSAL_SPIKE_THRESHOLD = env.int("KEYWARD_PROPOSAL_SPIKE_THRESHOLD", default=100)
# How long a worker busy-polls for the reply of the per-request Redis script before it blocks on
# the socket (core.fastpath.await_reply); 0, the default, blocks at once.
KEYWARD_REDIS_POLL_MICROSECONDS = env.int("KEYWARD_REDIS_POLL_MICROSECONDS", default=0)
# auth/check, keys/verify and a key's introspection answered, and keys never issued refused on
# every API route, by a WSGI app in front of Django's stack, with the same answers
# (config/lane.py, docs/performance.md); false sends them through Django.
KEYWARD_LANE = env.bool("KEYWARD_LANE", default=True)

# --- Notifications: background tasks, email, webhooks (docs/notifications.md) ----------------
# Django 6's Tasks framework (the django-tasks backport): tasks are rows in the database, run by
# `manage.py db_worker` (`make run` starts one beside the server). No broker.
TASKS = {
    "default": {
        "BACKEND": env.str("KEYWARD_TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="keyward@localhost")
# Webhooks to private, loopback or link-local addresses are refused (SSRF) unless this is on.
KEYWARD_WEBHOOK_ALLOW_PRIVATE = env.bool("KEYWARD_WEBHOOK_ALLOW_PRIVATE", default=False)
KEYWARD_WEBHOOK_TIMEOUT_SECONDS = env.int("KEYWARD_WEBHOOK_TIMEOUT_SECONDS", default=5)
# Seconds before each retry of a failed delivery; after the last one the delivery gives up.
KEYWARD_WEBHOOK_RETRY_SECONDS = [
    int(s)
    for s in env.list(
        "KEYWARD_WEBHOOK_RETRY_SECONDS", default=["60", "300", "1800", "7200", "43200"]
    )
]
# A key expiring within this many days and used within as many is flagged, its owner told once.
KEYWARD_EXPIRY_WARNING_DAYS = env.int("KEYWARD_EXPIRY_WARNING_DAYS", default=7)

# django-ratelimit: count in the default cache, take the client IP from our one function,
# and answer 429 (not its default 403) from plain Django views.
RATELIMIT_USE_CACHE = "default"
RATELIMIT_IP_META_KEY = "core.client_ip.client_ip"
RATELIMIT_VIEW = "core.views.rate_limited"
RATELIMIT_FAIL_OPEN = False

LOGGING = logging_config(env.str("LOG_LEVEL", default="INFO"))
CSRF_FAILURE_VIEW = "core.views.csrf_failure"
