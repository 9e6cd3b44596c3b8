"""``notifyexpiring``: tell the owners of keys expiring soon and in use, once each.

For cron (daily) where the task worker is not run; with the worker, ``schedulesweeps`` makes the
worker run the same sweep daily.
"""

from django.core.management.base import BaseCommand

from apikeys.expiry import api_key_warn_expiring


class Command(BaseCommand):
    help = "Warn the owners of keys expiring within 7 days that were used within 7 days (once)."

    def handle(self, *args, **options):
        warned = api_key_warn_expiring()
        self.stdout.write(f"{warned} key{'s' if warned != 1 else ''} warned.")
