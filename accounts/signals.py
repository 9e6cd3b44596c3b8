"""When a user's logins end (``User.save``: a new password, a deactivation, "sign out
everywhere"), their refresh token families are revoked and every process re-reads the user.

A signal rather than a service call, so that a change made anywhere — the admin,
``changepassword``, a shell's ``set_password()`` + ``save()`` — ends the logins.
"""

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts import sessions
from accounts.models import RefreshTokenFamily, User
from accounts.services import user_token_families_revoke
from identity.policy import cache_key_of_user
from metering import verified


@receiver(post_save, sender=User)
def _logins_ended(sender, instance, created=False, update_fields=None, **kwargs):
    if created or not update_fields or "credentials_valid_after" not in update_fields:
        return
    user_token_families_revoke(
        user_id=instance.pk, reason=RefreshTokenFamily.RevokedReason.CREDENTIALS
    )
    sessions.forget_sessions_of(str(instance.pk))
    verified.retire_on_commit(cache_key_of_user(instance.pk))  # everywhere or nowhere (SPEC §10)
