from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # OpenAPI schemes; cache invalidation; the secret-scanning keys' system check.
        from apikeys import schema, secret_scanning, signals  # noqa: F401
