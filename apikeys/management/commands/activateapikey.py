"""``activateapikey KEY``: re-enable a revoked key (an expired key stays dead)."""

from django.core.management.base import BaseCommand

from apikeys.management.commands._common import KEY_HELP, key_from_argument, service_refusals
from apikeys.services import api_key_activate


class Command(BaseCommand):
    stealth_options = ("stdin",)  # a stand-in for sys.stdin, as createsuperuser takes (tests)
    help = "Re-enable a revoked API key, named by its id or 12-character prefix."

    def add_arguments(self, parser):
        parser.add_argument("key", metavar="KEY", help=KEY_HELP)

    def handle(self, *args, key, **options):
        api_key = key_from_argument(key, stdin=options.get("stdin"))
        with service_refusals():
            api_key_activate(api_key=api_key)
        self.stdout.write(f"Activated {api_key.key_prefix} ({api_key.pk}).")
