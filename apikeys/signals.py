"""Any change to a key or its owner retires the cached copies on every process.

Signals, not service calls, so that a change made anywhere — a service, the admin, a shell —
reaches every node. Inside a transaction (every service's, the admin's) the change is retired
in the shared cache before it commits, or refused with 503 and rolled back
(``metering.verified.narrowing_change``). ``QuerySet.update``, ``bulk_update`` and
``bulk_create`` send no ``post_save``: the key's and the user's querysets send
``core.bulk_writes.rows_written`` instead, so a bulk write reaches every process too (the usage
flush writes only fields no record holds, and sends nothing).
"""

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from apikeys import known_keys
from apikeys.models import ApiKey
from core.bulk_writes import rows_written
from identity.policy import cache_key_of_key, cache_key_of_user
from metering import verified
from tenants.models import Membership


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def _key_changed(sender, instance, created=False, **kwargs):
    if not created:
        verified.retire_on_commit(cache_key_of_key(instance.key_hash))


NARROWING_USER_FIELDS = ("is_active", "is_staff", "is_superuser")


@receiver(pre_save, sender=get_user_model())
def _owner_changing(sender, instance, update_fields=None, **kwargs):
    """Note whether this save takes something away (deactivation, staff or superuser lost)."""
    instance._keyward_narrows = False
    if instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(NARROWING_USER_FIELDS):
        return  # e.g. last_login on every login: no query for what cannot narrow
    before = sender.objects.filter(pk=instance.pk).values(*NARROWING_USER_FIELDS).first()
    instance._keyward_narrows = before is not None and any(
        before[name] and not getattr(instance, name) for name in NARROWING_USER_FIELDS
    )


# Written in bulk, these change nothing a key's verified record lets it do (a name, its
# proposals' copy, a hash moved to the current pepper): re-read everywhere on a best-effort
# basis. Every other field may narrow access, so it is retired everywhere or not written.
BEST_EFFORT_FIELDS = frozenset({"name", "description", "metadata", "shadow", "key_hash"})


@receiver(rows_written, sender=ApiKey)
def _keys_written(sender, before, fields, **kwargs):
    """Keys written in bulk; ``before``: their stored hashes before the write."""
    if fields is None or "key_hash" in fields:
        known_keys.keys_changed_on_commit()  # new hashes: every process reads them again
    if before:
        narrows = fields is None or not fields <= BEST_EFFORT_FIELDS
        invalidate = verified.retire_on_commit if narrows else verified.invalidate_on_commit
        invalidate(*(cache_key_of_key(key_hash) for key_hash in before))


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def _key_saved_or_deleted(sender, instance, **kwargs):
    """A saved key may have a hash no process knows yet (created, rotated in, re-hashed); a
    deleted one leaves a hash every process still knows, which would cost each later use of
    that key a query. Either way every process reads the stored hashes again."""
    known_keys.keys_changed_on_commit()


@receiver(post_save, sender=get_user_model())
@receiver(post_delete, sender=get_user_model())
def _owner_changed(sender, instance, created=False, update_fields=None, **kwargs):
    """A user deactivated, or no longer staff, must stop acting through cached keys and JWTs.

    Such a change (and deleting a user) is everywhere or nowhere; any other change to a user is
    re-read everywhere on a best-effort basis, as it takes nothing away.
    """
    if created or (update_fields is not None and set(update_fields) <= {"last_login", "password"}):
        return
    narrows = kwargs["signal"] is post_delete or getattr(instance, "_keyward_narrows", True)
    invalidate = verified.retire_on_commit if narrows else verified.invalidate_on_commit
    retire_records_of([instance.pk], invalidate)


@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def _membership_changed(sender, instance, created=False, **kwargs):
    """The cached user remembers their sole tenant (``accounts.selectors``): retire it.

    Joining takes nothing away, so a new membership stands even if the cache cannot confirm;
    a change of role or a removal narrows, so it is everywhere or nowhere.
    """
    invalidate = verified.invalidate_on_commit if created else verified.retire_on_commit
    retire_records_of([instance.user_id], invalidate)


def retire_records_of(user_ids, invalidate) -> None:
    """``invalidate`` (retire, or re-read) the cached records of users and of their keys."""
    key_hashes = ApiKey.objects.filter(user_id__in=user_ids).values_list("key_hash", flat=True)
    invalidate(
        *(cache_key_of_user(user_id) for user_id in user_ids),
        *(cache_key_of_key(h) for h in key_hashes),
    )
