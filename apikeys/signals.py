"""Any change to a key or its owner retires the cached copies on every process.

Signals, not service calls, so that a change made anywhere — a service, the admin, a shell —
reaches every node. (``QuerySet.update`` sends no signal: code that updates keys in bulk calls
``keycache.invalidate_on_commit`` itself, as ``metering.usage`` needs not: usage is not cached.)
"""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apikeys import keycache
from apikeys.models import ApiKey


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def _key_changed(sender, instance, created=False, **kwargs):
    if not created:
        keycache.invalidate_on_commit(instance.key_hash)


@receiver(post_save, sender=get_user_model())
@receiver(post_delete, sender=get_user_model())
def _owner_changed(sender, instance, created=False, update_fields=None, **kwargs):
    """An owner deactivated, or no longer staff, must stop acting through cached keys."""
    if created or (update_fields is not None and set(update_fields) <= {"last_login", "password"}):
        return
    for key_hash in ApiKey.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True):
        keycache.invalidate_on_commit(key_hash)
