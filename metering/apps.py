from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Rate limits and usage"

    def ready(self):
        import atexit

        from django.core import checks
        from django.core.signals import request_finished

        from metering.checks import check_redis_persistence, validate_rate_limit_settings
        from metering.usage import usage_flush_safely, usage_flush_when_due

        validate_rate_limit_settings()
        checks.register(check_redis_persistence, checks.Tags.caches, deploy=True)
        request_finished.connect(usage_flush_when_due, dispatch_uid="keyward.usage_flush")
        # Without Redis the buffer dies with the process: a clean exit writes it first.
        atexit.register(usage_flush_safely)
