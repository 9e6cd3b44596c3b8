"""``bootstrap [--name NAME] [--description TEXT]``: issue an installation's first key.

The same service as ``POST /api/v1/api-keys/bootstrap``: an admin key, key manager, full
access, owned by the first superuser (created if there is none). Allowed only while
``KEYWARD_BOOTSTRAP_ENABLED`` and no key has ever been issued. Prints the key alone on stdout.
"""

from django.core.management.base import BaseCommand, CommandError

from apikeys.bootstrap import api_key_bootstrap
from apikeys.management.commands._common import service_refusals, validation_text
from apikeys.serializers import BootstrapSerializer


class Command(BaseCommand):
    help = "Issue the first API key of an installation and print it alone on stdout (once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="Bootstrap admin key")
        parser.add_argument("--description", default="")

    def handle(self, *args, name, description, **options):
        data = {"name": name, **({"description": description} if description else {})}
        fields = BootstrapSerializer(data=data)
        if not fields.is_valid():
            raise CommandError(validation_text(fields.errors))
        with service_refusals():
            api_key, raw_key = api_key_bootstrap(**fields.validated_data)
        self.stdout.write(raw_key)
        self.stderr.write(
            f"Bootstrap key {api_key.key_prefix}… (id {api_key.pk}) issued for "
            f"{api_key.user.email}; bootstrap is now closed for good. Store the key now."
        )
