"""The webhooks page: the signed-in person's webhooks, their delivery log, add and delete.

The secret of a new webhook is rendered straight into the answer of the request that made it,
never stored in the session, and the answer is not cached (as a new API key's is).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from core.domain_errors import Invalid
from core.nostore import no_store
from core.views import see_other
from notifications import services
from notifications.forms import WebhookForm
from notifications.selectors import delivery_list_for_user, webhook_get, webhook_list


def _page(request, form, *, status=200, created=None, secret=None):
    context = {
        "webhooks": webhook_list(user=request.user),
        "deliveries": delivery_list_for_user(user=request.user),
        "form": form,
        "created": created,
        "secret": secret,
    }
    return no_store(render(request, "notifications/webhooks.html", context, status=status))


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def webhook_page(request):
    if request.method != "POST":
        return _page(request, WebhookForm())
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        webhook, secret = services.webhook_create(
            user=request.user, actor=request.user, request=request, **form.cleaned_data
        )
    except Invalid as exc:
        form.add_domain_error(exc)
        return _page(request, form, status=400)
    response = _page(request, WebhookForm(), status=201, created=webhook, secret=secret)
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_POST
@login_required
def webhook_delete(request, webhook_id):
    webhook = webhook_get(webhook_id=webhook_id, user=request.user)
    if webhook is None:
        raise Http404("No such webhook.")
    services.webhook_delete(webhook=webhook, actor=request.user, request=request)
    messages.success(request, f"Webhook {webhook.url} deleted.")
    return see_other("/webhooks")
