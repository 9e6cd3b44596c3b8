"""``deleteapikey KEY [--yes]``: delete a key for good, with its usage (the audit log keeps it)."""

import sys

from django.core.management.base import BaseCommand, CommandError

from apikeys.management.commands._common import KEY_HELP, key_from_argument, service_refusals
from apikeys.services import api_key_delete


class Command(BaseCommand):
    stealth_options = ("stdin",)  # a stand-in for sys.stdin, as createsuperuser takes (tests)
    help = "Delete an API key for good. Asks first, unless --yes; revokeapikey is reversible."

    def add_arguments(self, parser):
        parser.add_argument("key", metavar="KEY", help=KEY_HELP)
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, key, yes, **options):
        api_key = key_from_argument(key, stdin=options.get("stdin"))
        label = f"{api_key.key_prefix} ({api_key.pk}, {api_key.name!r}, owner {api_key.user.email})"
        if not yes and not self._confirmed(label):
            raise CommandError(f"Not deleted: {label}. Pass --yes to delete without asking.")
        with service_refusals():
            api_key_delete(api_key=api_key)
        self.stdout.write(f"Deleted {label}.")

    def _confirmed(self, label: str) -> bool:
        if not sys.stdin.isatty():
            return False
        answer = input(f"Delete API key {label} for good? Type 'yes' to confirm: ")
        return answer.strip().lower() == "yes"
