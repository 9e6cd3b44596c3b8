"""Any change to a key or its owner retires the cached copies on every process.

Signals, not service calls, so that a change made anywhere — a service, the admin, a shell —
reaches every node. (``QuerySet.update`` sends no signal: code that updates keys in bulk calls
``metering.verified.invalidate_on_commit`` itself; ``metering.usage`` need not, as usage
is not part of what is cached.)
"""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from apikeys import known_keys
from apikeys.models import ApiKey
from metering import verified
from metering.policy import cache_key_of_key, cache_key_of_user
from tenants.models import Membership


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def _key_changed(sender, instance, created=False, **kwargs):
    if not created:
        verified.invalidate_on_commit(cache_key_of_key(instance.key_hash))


@receiver(post_save, sender=ApiKey)
def _key_saved(sender, instance, **kwargs):
    """A saved key may have a hash no process knows yet: created, rotated in, or re-hashed."""
    known_keys.keys_changed_on_commit()


@receiver(post_save, sender=get_user_model())
@receiver(post_delete, sender=get_user_model())
def _owner_changed(sender, instance, created=False, update_fields=None, **kwargs):
    """A user deactivated, or no longer staff, must stop acting through cached keys and JWTs."""
    if created or (update_fields is not None and set(update_fields) <= {"last_login", "password"}):
        return
    _retire_records_of(instance.pk)


@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def _membership_changed(sender, instance, **kwargs):
    """The cached user remembers their sole tenant (``accounts.selectors``): retire it."""
    _retire_records_of(instance.user_id)


def _retire_records_of(user_id) -> None:
    verified.invalidate_on_commit(cache_key_of_user(user_id))
    for key_hash in ApiKey.objects.filter(user_id=user_id).values_list("key_hash", flat=True):
        verified.invalidate_on_commit(cache_key_of_key(key_hash))
