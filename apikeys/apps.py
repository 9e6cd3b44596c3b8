from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from apikeys import schema, signals  # noqa: F401  (OpenAPI schemes; cache invalidation)
