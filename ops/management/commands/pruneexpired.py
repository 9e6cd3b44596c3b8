from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.services import access_token_revocations_prune, refresh_tokens_prune
from apikeys.services import api_key_prune_expired
from apikeys.shadow import api_key_routes_prune
from audit.services import audit_prune, audit_record
from oauth.services import client_token_revocations_prune
from tenants.services import invitation_prune_expired


class Command(BaseCommand):
    help = (
        "Delete what has outlived its use: audit events past retention, API keys expired for "
        "longer than the grace period, refresh tokens (and their blacklist rows) past expiry, "
        "access-token revocations (from logouts) once every token they name has expired, and "
        "tenant invitations left unanswered past expiry."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--audit-days",
            type=int,
            default=settings.KEYWARD_AUDIT_RETENTION_DAYS,
            help="keep audit events this many days (default: KEYWARD_AUDIT_RETENTION_DAYS, 365)",
        )
        parser.add_argument(
            "--expired-key-days",
            type=int,
            default=settings.KEYWARD_EXPIRED_KEY_RETENTION_DAYS,
            help="delete keys expired more than this many days ago (default: "
            "KEYWARD_EXPIRED_KEY_RETENTION_DAYS, 30)",
        )

    def handle(self, *args, audit_days, expired_key_days, **options):
        now = timezone.now()
        keys = api_key_prune_expired(before=now - timedelta(days=expired_key_days))
        tokens = refresh_tokens_prune(before=now)
        revocations = access_token_revocations_prune(before=now)
        client_revocations = client_token_revocations_prune(before=now)
        invitations = invitation_prune_expired(before=now)
        events = audit_prune(before=now - timedelta(days=audit_days))
        routes = api_key_routes_prune(today=now.date())
        audit_record(
            event_type="maintenance.pruned",
            data={
                "audit_events": events,
                "api_keys": keys,
                "refresh_tokens": tokens,
                "access_token_revocations": revocations,
                "client_token_revocations": client_revocations,
                "invitations": invitations,
                "api_key_routes": routes,
            },
        )
        self.stdout.write(
            f"pruned: {events} audit events, {keys} expired API keys, {tokens} refresh tokens, "
            f"{revocations} access-token revocations, "
            f"{client_revocations} client-token revocations, "
            f"{invitations} expired invitations, {routes} key routes past the suggestion's reach"
        )
