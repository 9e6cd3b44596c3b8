"""Web pages for service clients (staff only): list, create (secret shown once), revoke.

The same ``oauth.services`` functions as ``createserviceclient`` and the admin. A user who is
not staff gets 404, as for any page that is not theirs. The secret is shown once on the
client's reveal page after a redirect (``core.reveal``), like a new API key.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.domain_errors import Invalid
from core.forms import PageForm
from core.nostore import no_store
from core.reveal import reveal_forget_cookie, reveal_stash, reveal_take
from core.views import see_other
from oauth import services
from oauth.selectors import service_client_get, service_client_list
from tenants.models import Tenant


class ServiceClientCreateForm(PageForm):
    name = forms.CharField(label="Name", max_length=services.NAME_MAX_LENGTH)
    scopes = forms.CharField(
        label="Scopes",
        help_text="The scopes its tokens may be granted, separated by spaces or commas, "
        "e.g. agents:read keys:verify.",
    )
    tenant = forms.ChoiceField(
        label="Tenant",
        required=False,
        help_text="The one tenant the client acts in. This cannot change.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenants = {str(t.pk): t for t in Tenant.objects.order_by("name")[:500]}
        self.fields["tenant"].choices = [("", "No tenant")] + [
            (pk, tenant.name) for pk, tenant in self.tenants.items()
        ]

    def clean_tenant(self):
        value = self.cleaned_data["tenant"]
        return self.tenants[value] if value else None


def _staff_only(request) -> None:
    if not request.user.is_staff:
        raise Http404("No such page.")


def _reveal_path(client_id) -> str:
    return f"/service-clients/{client_id}/secret"


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def client_list(request):
    _staff_only(request)
    form = ServiceClientCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                client, secret = services.service_client_create(
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    tenant=form.cleaned_data["tenant"],
                    created_by=request.user,
                    request=request,
                )
            except Invalid as exc:
                form.add_domain_error(exc)
            else:
                path = _reveal_path(client.client_id)
                response = see_other(path)
                reveal_stash(request, response, path=path, secret=secret)
                return response
        status = 400
    clients = service_client_list()
    return render(request, "oauth/clients.html", {"clients": clients, "form": form}, status=status)


@never_cache
@require_GET
@login_required
def client_secret(request, client_id):
    _staff_only(request)
    client = service_client_get(client_id=client_id)
    if client is None:
        raise Http404("No such client.")
    path = _reveal_path(client.client_id)
    taken = reveal_take(request, path=path)
    response = render(
        request,
        "oauth/client_secret.html",
        {"client": client, "secret": taken[0] if taken else None},
    )
    reveal_forget_cookie(response, path=path)
    response["Referrer-Policy"] = "no-referrer"
    return no_store(response)


@require_POST
@login_required
def client_set_active(request, client_id, active: bool):
    _staff_only(request)
    client = service_client_get(client_id=client_id)
    if client is None:
        raise Http404("No such client.")
    services.service_client_update(
        client=client, is_active=active, actor=request.user, request=request
    )
    state = "active again" if active else "revoked: its tokens are refused from now on"
    messages.success(request, f"Service client “{client.name}” is {state}.")
    return see_other("/service-clients")
