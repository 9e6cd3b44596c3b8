"""What the key commands share: finding a key, a user or a tenant, and service refusals as text.

Not a command itself (Django skips modules whose name starts with an underscore).
"""

import contextlib
import getpass
import re
import sys
import uuid
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.exceptions import APIException

from apikeys import crypto
from apikeys.models import ApiKey
from apikeys.selectors import api_key_get_by_id_or_prefix, api_key_get_for_authentication
from core.domain_errors import DomainError, Invalid

# Service field names as the commands' options spell them.
OPTION = {
    "key_type": "--type",
    "tenant_id": "--tenant",
    "expires_at": "--expires-in",
    "scopes": "--scopes",
    "name": "--name",
    "description": "--description",
    "grace_period_seconds": "--grace-period",
}
STDIN = "-"  # the KEY argument that reads a whole key from standard input
ID_LENGTH = 36  # a UUID as text: nothing that names a key on the command line is longer
KEY_HELP = "the key's id or key_prefix, or - to read the whole key from standard input"
DURATION = re.compile(r"(?P<amount>\d{1,9})(?P<unit>[smhd])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def key_from_argument(value: str, *, stdin=None) -> ApiKey:
    """The key named by its id or its 12-character prefix (as pages show it, ``…`` and all).

    ``-`` reads a whole key (a leaked one, say) from ``stdin``: a key on the command line would
    stay in the shell's history and show in ``ps``, so a whole key there is refused, unechoed.
    """
    value = value.strip()
    if value == STDIN:
        return _key_from_stdin(stdin if stdin is not None else sys.stdin)
    if len(value) > ID_LENGTH:  # every whole key is longer than an id
        raise CommandError(
            "That is longer than a key's id or prefix: name the key by its id or prefix, or "
            "pass - and give the whole key on standard input (a key typed on a command line "
            "stays in the shell's history; if it was real, treat it as leaked)."
        )
    prefix = value.removesuffix("…").removesuffix("...")
    api_key = api_key_get_by_id_or_prefix(prefix)
    if api_key is not None:
        return api_key
    if ApiKey.objects.filter(key_prefix=prefix).count() > 1:
        raise CommandError(f"Several keys share the prefix {prefix!r}: name the key by its id.")
    raise CommandError(f"No API key has the id or prefix {value!r}.")


def _key_from_stdin(stdin) -> ApiKey:
    """The key whose whole value is the first line of ``stdin`` (typed unechoed at a terminal)."""
    at_terminal = stdin.isatty()
    raw_key = (
        getpass.getpass("API key (not echoed): ") if at_terminal else stdin.readline()
    ).strip()
    # Never echoed back: at most its display prefix, which listings show anyway.
    if not crypto.is_well_formed(raw_key):
        raise CommandError("Standard input holds no well-formed API key.")
    api_key = api_key_get_for_authentication(raw_key)
    if api_key is None:
        raise CommandError(
            f"No API key matches the key on standard input ({crypto.display_prefix(raw_key)}…)."
        )
    return api_key


def user_from_email(email: str, option: str = "--user"):
    user_model = get_user_model()
    normalized = user_model.objects.normalize_email(email.strip())
    user = user_model.objects.filter(email__iexact=normalized).first()
    if user is None:
        raise CommandError(f"{option}: no user has the email {email!r}.")
    return user


def tenant_from_id(value: str):
    from tenants.models import Tenant

    try:
        tenant = Tenant.objects.filter(pk=uuid.UUID(value)).first()
    except ValueError:
        tenant = None
    if tenant is None:
        raise CommandError(f"--tenant: no tenant has the id {value!r}.")
    return tenant


def expiry_in(value: str) -> datetime:
    """The moment ``30d``, ``12h``, ``15m`` or ``90s`` from now."""
    match = DURATION.fullmatch(value.strip())
    if match is None:
        raise CommandError(f"--expires-in: {value!r} is not a duration like 90s, 15m, 12h or 30d.")
    seconds = int(match["amount"]) * UNIT_SECONDS[match["unit"]]
    if seconds <= 0:
        raise CommandError("--expires-in must be more than zero.")
    try:
        return timezone.now() + timedelta(seconds=seconds)
    except OverflowError as exc:
        raise CommandError(f"--expires-in: {value!r} is too far in the future.") from exc


@contextlib.contextmanager
def service_refusals(*, user=None, tenant=None):
    """Turn what a service refuses (``core.domain_errors``, or the shared cache's 503) into a
    ``CommandError`` that reads well.

    The API's message, not its machine code (issue 26: "already_rotated: …" read as a crash).
    An operator may know what the API hides from a caller: that the tenant exists and the
    owner (``user``) is simply not a member of it (``tenant``).
    """
    try:
        yield
    except Invalid as exc:
        raise CommandError(validation_text(exc.errors)) from exc
    except DomainError as exc:
        if exc.code == "tenant_not_found" and user is not None and tenant is not None:
            raise CommandError(
                f"--tenant: {user.email} is not a member of the tenant {tenant.name!r} "
                f"({tenant.pk}); a key can be bound only to a tenant its owner belongs to."
            ) from exc
        raise CommandError(exc.detail) from exc
    except APIException as exc:
        raise CommandError(str(exc.detail)) from exc


def validation_text(detail) -> str:
    if isinstance(detail, dict):
        return " ".join(
            f"{OPTION.get(field, field)}: {validation_text(errors)}"
            for field, errors in detail.items()
        )
    if isinstance(detail, list | tuple):
        return " ".join(validation_text(item) for item in detail)
    return str(detail)
