from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "oauth"
    verbose_name = "OAuth 2.0 service clients"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from oauth import schema  # noqa: F401  (registers the OpenAPI security scheme)
