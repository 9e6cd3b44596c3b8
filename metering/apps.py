from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Rate limits and usage"

    def ready(self):
        from metering.checks import validate_rate_limit_settings

        validate_rate_limit_settings()
