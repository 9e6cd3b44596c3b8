from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Rate limits and usage"

    def ready(self):
        from django.core import checks

        from metering.checks import check_redis_persistence, validate_rate_limit_settings

        validate_rate_limit_settings()
        checks.register(check_redis_persistence, checks.Tags.caches, deploy=True)
