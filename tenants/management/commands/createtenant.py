"""``createtenant --name NAME [--slug S] --owner EMAIL``: print the new tenant's id alone."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug

from core.domain_errors import Invalid
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant owned by an existing user and print its id."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", help="default: derived from the name")
        parser.add_argument("--owner", required=True, metavar="EMAIL")

    def handle(self, *args, name, slug, owner, **options):
        name = name.strip()
        if not name or len(name) > 150:
            raise CommandError("--name must be 1 to 150 characters.")
        if slug is not None:
            try:
                validate_slug(slug)
            except DjangoValidationError as exc:
                raise CommandError(f"--slug: {' '.join(exc.messages)}") from exc
            if len(slug) > 80:
                raise CommandError("--slug must be at most 80 characters.")
        user_model = get_user_model()
        user = user_model.objects.filter(email=user_model.objects.normalize_email(owner)).first()
        if user is None:
            raise CommandError(f"No user has the email {owner!r}.")
        try:
            tenant = tenant_create(name=name, slug=slug, owner=user)
        except Invalid as exc:
            raise CommandError(f"--slug: {slug!r} is already taken.") from exc
        self.stdout.write(str(tenant.pk))
