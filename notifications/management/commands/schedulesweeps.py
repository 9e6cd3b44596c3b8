"""``schedulesweeps``: start the task worker's periodic sweeps (idempotent).

django-tasks has no scheduler: each periodic task enqueues its own next run. This enqueues the
first run of each chain unless one is already waiting, so running it on every start (``make
run`` does) keeps exactly one chain of each.
"""

from django.core.management.base import BaseCommand

from notifications.tasks import PERIODIC, schedule


class Command(BaseCommand):
    help = "Enqueue the periodic sweeps (expiry warnings daily, idle graces every minute)."

    def handle(self, *args, **options):
        for periodic_task, seconds in PERIODIC:
            started = schedule(periodic_task, 0)
            state = "scheduled" if started else "already waiting"
            self.stdout.write(f"{periodic_task.name}: {state} (every {seconds} s)")
