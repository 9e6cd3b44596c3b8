from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts import (  # noqa: F401  (OpenAPI security schemes; logins' end; key checks)
            checks,
            schema,
            signals,
        )
        from accounts.signing import install

        install()
