"""The first key of an installation (SPEC §3): issued once, ever, whoever asks first.

``POST /api/v1/api-keys/bootstrap`` and ``manage.py bootstrap`` call ``api_key_bootstrap``.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apikeys.models import ApiKey, InstallationState, KeyType
from apikeys.services import api_key_issue_material, api_key_summary
from audit.services import audit_record
from core.domain_errors import NotAllowed

BOOTSTRAP_EMAIL = "admin@keyward.invalid"


def bootstrap_disabled() -> NotAllowed:
    """403 ``bootstrap_disabled``, saying why: switched off, or a key was already issued."""
    reason = (
        "a key has already been issued"
        if settings.KEYWARD_BOOTSTRAP_ENABLED
        else "KEYWARD_BOOTSTRAP_ENABLED is off"
    )
    return NotAllowed(f"Bootstrap is disabled: {reason}.", code="bootstrap_disabled")


def api_key_bootstrap(*, name: str, description: str = "", request=None) -> tuple[ApiKey, str]:
    """Issue the first key of an installation: admin type, key manager, full access.

    Allowed only while ``KEYWARD_BOOTSTRAP_ENABLED`` and no key has ever been issued. The
    "used" flag is taken with one conditional UPDATE inside the transaction that issues the
    key, so of any number of concurrent calls exactly one wins; it survives restarts, and
    deleting every key does not reopen bootstrap.
    """
    if not settings.KEYWARD_BOOTSTRAP_ENABLED:
        raise bootstrap_disabled()
    with transaction.atomic():
        _installation_state_ensure()
        taken = InstallationState.objects.filter(pk=1, keys_ever_issued=False).update(
            keys_ever_issued=True, bootstrapped_at=timezone.now()
        )
        if not taken:
            raise bootstrap_disabled()
        owner = _bootstrap_owner()
        api_key = ApiKey(
            user=owner,
            name=name,
            description=description,
            key_type=KeyType.ADMIN,
            key_manager=True,
            created_by=owner,
        )
        raw_key = api_key_issue_material(api_key)
        audit_record(
            event_type="api_key.bootstrap",
            request=request,
            actor=owner,
            target=api_key,
            data={**api_key_summary(api_key), "owner": owner.email},
        )
    return api_key, raw_key


def bootstrap_available() -> bool:
    """True while bootstrap may still issue the first key."""
    return (
        settings.KEYWARD_BOOTSTRAP_ENABLED
        and not InstallationState.objects.filter(pk=1, keys_ever_issued=True).exists()
    )


def _installation_state_ensure() -> None:
    """Recreate the state row if it is gone (``manage.py flush`` empties every table).

    A migration creates it, but without it the conditional UPDATE matches nothing and
    bootstrap would stay closed for good on an installation that never issued a key. Keys in
    the table still count as issued.
    """
    if not InstallationState.objects.filter(pk=1).exists():
        InstallationState.objects.get_or_create(
            pk=1, defaults={"keys_ever_issued": ApiKey.objects.exists()}
        )


def _bootstrap_owner():
    """The first superuser, or a new one with no usable password (set one with the admin)."""
    User = get_user_model()
    owner = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if owner is None:
        owner = User.objects.create_superuser(email=BOOTSTRAP_EMAIL, password=None)
    return owner
