"""``createapikey --user EMAIL --name NAME [--scopes a,b] [--type TYPE] [--tenant ID]
[--expires-in 30d] [--key-manager] [--description TEXT]``.

Prints the new key alone on stdout, for scripts (``KEY=$(manage.py createapikey …)``); what
a person wants to read goes to stderr. The key is shown this once.
"""

from django.core.management.base import BaseCommand, CommandError

from apikeys.management.commands._common import (
    expiry_in,
    service_refusals,
    tenant_from_id,
    user_from_email,
    validation_text,
)
from apikeys.models import KeyType
from apikeys.serializers import ApiKeyCreateSerializer
from apikeys.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user and print the key (shown this once) alone on stdout."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="EMAIL", help="the key's owner")
        parser.add_argument("--name", required=True)
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--scopes", default="", help="comma or space separated; none = full access"
        )
        parser.add_argument(
            "--type", dest="key_type", choices=KeyType.values, default=KeyType.DEVELOPMENT
        )
        parser.add_argument("--tenant", metavar="ID", help="bind the key to this tenant")
        parser.add_argument("--expires-in", metavar="DURATION", help="e.g. 90s, 15m, 12h, 30d")
        parser.add_argument(
            "--key-manager", action="store_true", help="let the key manage other keys"
        )

    def handle(self, *args, **options):
        user = user_from_email(options["user"])
        tenant = tenant_from_id(options["tenant"]) if options["tenant"] else None
        expires_at = expiry_in(options["expires_in"]) if options["expires_in"] else None
        # The API's own field rules: scope names, name and description lengths.
        fields = ApiKeyCreateSerializer(
            data={
                "name": options["name"],
                "description": options["description"],
                "scopes": options["scopes"],
                "key_type": options["key_type"],
                "key_manager": options["key_manager"],
                "expires_at": expires_at,
            }
        )
        if not fields.is_valid():
            raise CommandError(validation_text(fields.errors))
        with service_refusals(user=user, tenant=tenant):
            api_key, raw_key = api_key_create(user=user, tenant=tenant, **fields.validated_data)
        self.stdout.write(raw_key)
        self.stderr.write(
            f"Created API key {api_key.key_prefix}… (id {api_key.pk}) for {user.email}. "
            "Store it now: it is not shown again."
        )
