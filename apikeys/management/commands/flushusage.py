from django.core.management.base import BaseCommand

from apikeys.usage import usage_flush


class Command(BaseCommand):
    help = (
        "Move API-key usage buffered in the shared cache into the database now. The server "
        "does it itself every KEYWARD_USAGE_FLUSH_SECONDS; this is for an idle installation."
    )

    def handle(self, *args, **options):
        flushed = usage_flush()
        self.stdout.write(f"flushed {flushed} requests")
