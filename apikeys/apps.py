from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "API keys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        import atexit

        from django.core.signals import request_finished

        # OpenAPI schemes; cache invalidation; the secret-scanning keys' system check.
        from apikeys import schema, secret_scanning, signals  # noqa: F401
        from apikeys.usage import usage_flush_safely, usage_flush_when_due

        # Usage moves from the shared cache into the database after a response, now and then.
        request_finished.connect(usage_flush_when_due, dispatch_uid="keyward.usage_flush")
        # Without Redis the buffer dies with the process: a clean exit writes it first.
        atexit.register(usage_flush_safely)
