"""The pages' current tenant is chosen at login, so the navigation shows it from the first page."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver


@receiver(user_logged_in)
def _choose_current_tenant(sender, request, user, **kwargs):
    from tenants.views import current_tenant

    if request is not None and hasattr(request, "session"):
        current_tenant(request, user)
