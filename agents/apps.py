from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents (demo tenant-scoped resource)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from agents import schema  # noqa: F401  (registers the OpenAPI extension)
