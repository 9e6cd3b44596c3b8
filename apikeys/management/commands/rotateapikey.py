"""``rotateapikey KEY [--grace-period SECONDS] [--end-grace-when-idle SECONDS]``: print the
successor key alone on stdout."""

from django.core.management.base import BaseCommand

from apikeys.management.commands._common import KEY_HELP, key_from_argument, service_refusals
from apikeys.services import api_key_rotate


class Command(BaseCommand):
    stealth_options = ("stdin",)  # a stand-in for sys.stdin, as createsuperuser takes (tests)
    help = (
        "Issue a successor with the same settings and print it (shown this once) alone on "
        "stdout; the old key stops at once, or after the grace period."
    )

    def add_arguments(self, parser):
        parser.add_argument("key", metavar="KEY", help=KEY_HELP)
        parser.add_argument(
            "--grace-period",
            type=int,
            default=0,
            metavar="SECONDS",
            help="how long the old key keeps working (0 to 604800; default 0)",
        )
        parser.add_argument(
            "--end-grace-when-idle",
            type=int,
            default=None,
            metavar="SECONDS",
            help="end the grace early once the old key has served no request this long (60+)",
        )

    def handle(self, *args, key, grace_period, end_grace_when_idle, **options):
        api_key = key_from_argument(key, stdin=options.get("stdin"))
        with service_refusals():
            successor, raw_key = api_key_rotate(
                api_key=api_key,
                grace_period_seconds=grace_period,
                end_grace_when_idle_seconds=end_grace_when_idle,
            )
        self.stdout.write(raw_key)
        api_key.refresh_from_db()
        ends = (
            f"works until {api_key.expires_at.isoformat()}"
            if api_key.is_active
            else "no longer works"
        )
        self.stderr.write(
            f"Rotated {api_key.key_prefix}… into {successor.key_prefix}… (id {successor.pk}); "
            f"the old key {ends}. Store the new key now: it is not shown again."
        )
