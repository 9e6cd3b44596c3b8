"""``createserviceclient --name NAME --scopes a,b [--tenant ID] [--created-by EMAIL]``.

Prints exactly two lines, ``client_id: <id>`` and ``client_secret: <secret>``; the secret is
shown this once.
"""

import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.domain_errors import Invalid
from oauth.services import service_client_create
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create a service client and print its client_id and (once) its client_secret."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help="comma or space separated")
        parser.add_argument("--tenant", metavar="ID", help="bind the client to this tenant")
        parser.add_argument("--created-by", metavar="EMAIL", dest="created_by")

    def handle(self, *args, name, scopes, tenant, created_by, **options):
        tenant_obj = None
        if tenant is not None:
            try:
                tenant_obj = Tenant.objects.filter(pk=uuid.UUID(tenant)).first()
            except ValueError:
                tenant_obj = None
            if tenant_obj is None:
                raise CommandError(f"--tenant: no tenant has the id {tenant!r}.")
        creator = None
        if created_by is not None:
            user_model = get_user_model()
            email = user_model.objects.normalize_email(created_by)
            creator = user_model.objects.filter(email__iexact=email).first()
            if creator is None:
                raise CommandError(f"--created-by: no user has the email {created_by!r}.")
        try:
            client, secret = service_client_create(
                name=name, scopes=scopes, tenant=tenant_obj, created_by=creator
            )
        except Invalid as exc:
            messages = [
                f"--{field}: {' '.join(str(m) for m in errors)}"
                for field, errors in exc.errors.items()
            ]
            raise CommandError(" ".join(messages)) from exc
        self.stdout.write(f"client_id: {client.client_id}")
        self.stdout.write(f"client_secret: {secret}")
