"""A minimal Django project serving the peers Keyward is measured against, on the same machine,
database server and gunicorn shape: djangorestframework-api-key, django-rest-knox, SimpleJWT."""

import os
from datetime import timedelta

import environ

SECRET_KEY = "bench-only-secret-key-0123456789-0123456789-abcdef"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_api_key",
    "knox",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "bench.peers.urls"
DATABASES = {"default": environ.Env.db_url_config(os.environ["PEER_DATABASE_URL"])}
DATABASES["default"]["CONN_MAX_AGE"] = 60
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}
SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(hours=2), "SIGNING_KEY": SECRET_KEY}
