"""When a user's logins end (``User.save``: a new password, a deactivation, "sign out
everywhere"), their refresh token families are revoked and every process re-reads the user.

A signal rather than a service call, so that a change made anywhere — the admin,
``changepassword``, a shell's ``set_password()`` + ``save()`` — ends the logins.
"""

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import RefreshTokenFamily, User
from accounts.services import user_token_families_revoke
from apikeys.signals import NARROWING_USER_FIELDS, retire_records_of
from core.bulk_writes import rows_written
from identity.policy import cache_key_of_user
from metering import verified


@receiver(rows_written, sender=User)
def _users_written(sender, before, fields, **kwargs):
    """Users written in bulk (``UserQuerySet``; ``before``: their ids): what a save of each
    would do. A write that may narrow access (a deactivation, lost staff rights, a new password
    or logins ended) is everywhere or nowhere; any other is re-read everywhere on a best-effort
    basis. New users have nothing cached."""
    if fields is None or not before:
        return
    if "credentials_valid_after" in fields:
        for user_id in before:
            user_token_families_revoke(
                user_id=user_id, reason=RefreshTokenFamily.RevokedReason.CREDENTIALS
            )
    narrows = bool(fields & NARROWING_FIELDS)
    invalidate = verified.retire_on_commit if narrows else verified.invalidate_on_commit
    retire_records_of(before, invalidate)


NARROWING_FIELDS = frozenset({*NARROWING_USER_FIELDS, "password", "credentials_valid_after"})


@receiver(post_save, sender=User)
def _logins_ended(sender, instance, created=False, update_fields=None, **kwargs):
    if created or not update_fields or "credentials_valid_after" not in update_fields:
        return
    user_token_families_revoke(
        user_id=instance.pk, reason=RefreshTokenFamily.RevokedReason.CREDENTIALS
    )
    verified.retire_on_commit(cache_key_of_user(instance.pk))  # everywhere or nowhere (SPEC §10)
