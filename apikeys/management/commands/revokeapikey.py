"""``revokeapikey KEY``: disable a key (reversible); every node refuses it before this returns."""

from django.core.management.base import BaseCommand

from apikeys.management.commands._common import KEY_HELP, key_from_argument, service_refusals
from apikeys.services import api_key_revoke


class Command(BaseCommand):
    stealth_options = ("stdin",)  # a stand-in for sys.stdin, as createsuperuser takes (tests)
    help = "Revoke an API key, named by its id or 12-character prefix. activateapikey undoes it."

    def add_arguments(self, parser):
        parser.add_argument("key", metavar="KEY", help=KEY_HELP)

    def handle(self, *args, key, **options):
        api_key = key_from_argument(key, stdin=options.get("stdin"))
        with service_refusals():
            api_key_revoke(api_key=api_key)
        self.stdout.write(f"Revoked {api_key.key_prefix} ({api_key.pk}).")
