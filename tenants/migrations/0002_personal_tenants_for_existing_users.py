"""Give every user who belongs to no tenant a personal tenant, owned by them (SPEC §4).

Users created before tenants existed (or by ``createsuperuser``) would otherwise get
400 tenant_id_required on every tenant-scoped endpoint. Uses the historical models, so it keeps
working whatever the services become; the name and slug follow ``tenant_create_personal``.
"""

from django.conf import settings
from django.db import migrations
from django.utils.text import slugify


def personal_tenants_create(apps, schema_editor):
    User = apps.get_model(settings.AUTH_USER_MODEL)
    Tenant = apps.get_model("tenants", "Tenant")
    Membership = apps.get_model("tenants", "Membership")
    taken = set(Tenant.objects.values_list("slug", flat=True))
    for user in list(User.objects.filter(memberships__isnull=True).order_by("pk")):
        full_name = f"{user.first_name} {user.last_name}".strip()
        name = f"{full_name or user.email.split('@', 1)[0]}'s workspace"
        base = slugify(name)[:60] or "tenant"
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        tenant = Tenant.objects.create(name=name[:150], slug=slug)
        Membership.objects.create(tenant=tenant, user=user, role="owner")


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(personal_tenants_create, migrations.RunPython.noop, elidable=True),
    ]
