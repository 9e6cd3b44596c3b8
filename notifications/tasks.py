"""The background work of notifications, on Django's Tasks framework (the django-tasks backport).

Tasks are rows in the database (``django_tasks_db``), run by ``manage.py db_worker``; retries and
the periodic sweeps are tasks enqueued with ``run_after``. django-tasks has no scheduler ("beat"),
so a periodic task enqueues its own next run; ``manage.py schedulesweeps`` starts the chains
(``make run`` does), and each sweep is also a management command for cron instead.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task

from apikeys.expiry import api_key_end_idle_graces, api_key_warn_expiring
from notifications import services
from notifications.models import Delivery

logger = logging.getLogger(__name__)

EXPIRY_SWEEP_SECONDS = 24 * 3600
IDLE_GRACE_SWEEP_SECONDS = 60


def enqueue_quietly(task_, *args, run_after=None, **kwargs) -> bool:
    """Enqueue ``task_``; on any failure log it and return False, never raise.

    A notification that cannot be queued must not fail the request (or the change) that caused
    it. The enqueue runs in a savepoint: with the database backend the task row commits with the
    change that caused it (no lost or phantom notification), and a failed insert rolls back the
    savepoint only, not the caller's transaction.
    """
    try:
        with transaction.atomic():
            (task_.using(run_after=run_after) if run_after else task_).enqueue(*args, **kwargs)
    except Exception:
        logger.exception("could not enqueue %s; carrying on without it", task_.module_path)
        return False
    return True


@task()
def notify_event(event_id: int) -> int:
    """Fan one audit event out into webhook deliveries and the owner's email."""
    deliveries = services.notification_fan_out(event_id=event_id)
    for delivery in deliveries:
        enqueue_quietly(deliver_webhook, str(delivery.pk))
    return len(deliveries)


@task()
def deliver_webhook(delivery_id: str) -> str | None:
    """One attempt; a failure enqueues the next one at its backoff time."""
    delivery = services.delivery_attempt(delivery_id=delivery_id)
    if delivery is None:
        return None
    if delivery.status == Delivery.Status.RETRYING:
        enqueue_quietly(deliver_webhook, str(delivery.pk), run_after=delivery.next_attempt_at)
    return delivery.status


@task()
def record_rate_limit_exhausted(key_id: str, limit: int, window: str, window_ends_at: str) -> None:
    services.rate_limit_exhausted_record(
        key_id=key_id,
        limit=limit,
        window=window,
        window_ends_at=datetime.fromisoformat(window_ends_at),
    )


@task()
def warn_expiring_keys(reschedule: bool = False) -> int:
    """Tell owners of keys expiring soon and in use (once each); daily when ``reschedule``."""
    if reschedule:
        schedule(warn_expiring_keys, EXPIRY_SWEEP_SECONDS)
    return api_key_warn_expiring()


@task()
def end_idle_graces(reschedule: bool = False) -> int:
    """End rotation graces whose old key has gone quiet; every minute when ``reschedule``."""
    if reschedule:
        schedule(end_idle_graces, IDLE_GRACE_SWEEP_SECONDS)
    return api_key_end_idle_graces()


PERIODIC = ((warn_expiring_keys, EXPIRY_SWEEP_SECONDS), (end_idle_graces, IDLE_GRACE_SWEEP_SECONDS))


def schedule(periodic_task, seconds: int, *, now=None) -> bool:
    """Enqueue the next run of ``periodic_task`` in ``seconds``, unless one is already waiting.

    Rescheduling first, before the sweep runs, keeps the chain alive when a sweep fails. The
    check keeps one chain however often ``schedulesweeps`` runs (each ``make run`` does).
    """
    if _waiting(periodic_task):
        return False
    run_after = (now or timezone.now()) + timedelta(seconds=seconds)
    return enqueue_quietly(periodic_task, reschedule=True, run_after=run_after)


def _waiting(periodic_task) -> bool:
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # another backend: it keeps no queue we can read
        return False
    return DBTaskResult.objects.filter(
        task_path=periodic_task.module_path, status=TaskResultStatus.READY
    ).exists()
