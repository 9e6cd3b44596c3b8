"""``listapikeys [--user EMAIL] [--all | --active] [--json]``: keys as a table or as JSON.

The JSON is a list of the API's key objects (``GET /api/v1/user/api-keys``); usage figures are
exact (buffered usage is merged first). Never a secret or a hash. ``FLAG`` says
``EXPIRING-IN-USE`` for a key expiring within 7 days that was used within 7 days (SPEC §12).
"""

import json

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from apikeys.management.commands._common import user_from_email
from apikeys.selectors import api_key_list
from apikeys.serializers import ApiKeySerializer
from apikeys.usage import usage_flush_quietly
from metering.credits import credits_state

COLUMNS = (
    "ID",
    "PREFIX",
    "NAME",
    "OWNER",
    "TENANT",
    "TYPE",
    "SCOPES",
    "ACTIVE",
    "EXPIRES",
    "FLAG",
    "LAST USED",
    "REQUESTS",
    "CREDITS",
)


class Command(BaseCommand):
    help = "List API keys (every user's, or one user's) as a table or, with --json, as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--user", metavar="EMAIL", help="only this owner's keys")
        which = parser.add_mutually_exclusive_group()
        which.add_argument(
            "--all", action="store_true", help="every key, revoked and expired too (the default)"
        )
        which.add_argument(
            "--active", action="store_true", help="only keys that work: active and not expired"
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print JSON instead of a table"
        )

    def handle(self, *args, user, active, as_json, **options):
        owner = user_from_email(user) if user else None
        keys = api_key_list(user=owner, all_users=owner is None).select_related("tenant")
        if active:
            keys = keys.filter(is_active=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
            )
        key_ids = list(keys.values_list("pk", flat=True))
        usage_flush_quietly(key_ids=key_ids)
        keys = list(keys)  # read after the flush, so the figures are exact
        if as_json:
            self.stdout.write(_json(ApiKeySerializer(keys, many=True).data))
        elif keys:
            self.stdout.write(_table([_row(key) for key in keys]))
        else:
            self.stderr.write("No API keys.")


def _json(data) -> str:
    return json.dumps(data, cls=JSONEncoder, indent=2)


def _row(api_key) -> tuple[str, ...]:
    return (
        str(api_key.pk),
        api_key.key_prefix,
        api_key.name,
        api_key.user.email,
        api_key.tenant.slug if api_key.tenant else "-",
        api_key.key_type,
        ",".join(api_key.scopes) or _reach_word(api_key),
        _status(api_key),
        _moment(api_key.expires_at),
        "EXPIRING-IN-USE" if api_key.expiring_soon_in_use else "-",
        _moment(api_key.last_used_at),
        str(api_key.request_count),
        _credits(api_key),
    )


def _credits(api_key) -> str:
    """The live balance (``-``: unlimited), and the refill: ``40/100 daily``."""
    state = credits_state(api_key)
    if state is None:
        return "-"
    refill = state["refill"]
    return (
        f"{state['remaining']}/{refill['amount']} {refill['interval']}"
        if refill
        else str(state["remaining"])
    )


def _reach_word(api_key) -> str:
    """What a key without scopes may do, in a word."""
    if api_key.is_canary:
        return "(canary)"  # it may do nothing: every use is refused and recorded
    return "FULL ACCESS" if api_key.full_access else "(grants)"


def _status(api_key) -> str:
    if api_key.is_expired():
        return "expired"
    return "yes" if api_key.is_active else "revoked"


def _moment(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(rows) -> str:
    widths = [max(len(row[i]) for row in (COLUMNS, *rows)) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in (COLUMNS, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)
