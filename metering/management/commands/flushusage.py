from django.core.management.base import BaseCommand

from metering.usage import usage_flush


class Command(BaseCommand):
    help = "Move API-key usage buffered in the shared cache into the database (run every minute)."

    def handle(self, *args, **options):
        flushed = usage_flush()
        self.stdout.write(f"flushed {flushed} requests")
