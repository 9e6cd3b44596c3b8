"""``endidlegraces``: end rotation graces whose old key has been quiet long enough.

For cron (every minute) where the task worker is not run; ``schedulesweeps`` makes the worker
run it every minute.
"""

from django.core.management.base import BaseCommand

from apikeys.expiry import api_key_end_idle_graces


class Command(BaseCommand):
    help = "End the grace of rotated-out keys idle for their end_grace_when_idle_seconds."

    def handle(self, *args, **options):
        ended = api_key_end_idle_graces()
        self.stdout.write(f"{ended} grace period{'s' if ended != 1 else ''} ended.")
