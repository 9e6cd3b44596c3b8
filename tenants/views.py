"""Web pages for tenants: list and create, switch the current tenant, manage members and
invitations, and answer one's own invitations (shown on the dashboard).

Pages show only tenants the user belongs to; any other tenant answers 404, as the API does.
Changes go through ``tenants.services``, whose role rules decide; a refusal is shown on the
page beside the field it concerns, or as a message when it concerns no field.

The "current tenant" is the context the pages work in (SPEC §13): kept in the session (id and
name, so the header can show it without a query), set at login, checked against the user's
memberships whenever a page reads it. Lists and the dashboard show that tenant's keys, the key
form preselects it, and session calls to the API that name no tenant act in it
(``tenants.resolution``). Creating a tenant does not switch to it: only "Switch" does.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework import exceptions

from core.domain_errors import DomainError, Invalid, NotAllowed, NotFound
from core.errors import status_of
from core.views import see_other
from tenants import services
from tenants.forms import MemberInviteForm, MemberRoleForm, TenantCreateForm
from tenants.models import Membership, Tenant
from tenants.resolution import CURRENT_TENANT_SESSION_KEY as SESSION_KEY
from tenants.selectors import invitation_list_live, member_get, member_list, membership_get


def current_tenant(request, user=None) -> Tenant | None:
    """The tenant the pages work in: the one chosen, else the user's first; ``None``: none.

    ``user`` defaults to ``request.user``; login passes it, as a test client's bare request has
    no ``user`` yet.
    """
    user = user or request.user
    chosen = request.session.get(SESSION_KEY) or {}
    membership = None
    if chosen.get("id"):
        membership = membership_get(user=user, tenant_id=chosen["id"])
    if membership is None:
        membership = (
            Membership.objects.filter(user=user)
            .select_related("tenant")
            .order_by("created_at", "id")
            .first()
        )
    tenant = membership.tenant if membership is not None else None
    current_tenant_set(request, tenant)
    return tenant


def current_tenant_set(request, tenant: Tenant | None) -> None:
    value = {"id": str(tenant.pk), "name": tenant.name} if tenant is not None else None
    if request.session.get(SESSION_KEY) != value:
        request.session[SESSION_KEY] = value


def _membership_or_404(request, tenant_id) -> Membership:
    membership = membership_get(user=request.user, tenant_id=tenant_id)
    if membership is None:
        raise Http404("No such tenant.")
    return membership


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def tenant_list(request):
    form = TenantCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                tenant = services.tenant_create(
                    name=form.cleaned_data["name"],
                    slug=form.cleaned_data["slug"] or None,
                    owner=request.user,
                    actor=request.user,
                    request=request,
                )
            except Invalid as exc:
                form.add_domain_error(exc)
            else:
                current = current_tenant(request)
                still = f" You are still working in “{current.name}”." if current else ""
                messages.success(
                    request,
                    f"Tenant “{tenant.name}” created; you are its owner.{still} "
                    "Use Switch to work in it.",
                )
                return see_other("/tenants")
        status = 400
    current = current_tenant(request)
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("tenant")
        .annotate(member_count=Count("tenant__memberships"))
        .order_by("tenant__name")
    )
    return render(
        request,
        "tenants/list.html",
        {"memberships": memberships, "form": form, "current": current},
        status=status,
    )


@require_POST
@login_required
def tenant_switch(request):
    membership = _membership_or_404(request, request.POST.get("tenant_id", ""))
    current_tenant_set(request, membership.tenant)
    messages.success(request, f"You are now working in “{membership.tenant.name}”.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/tenants"
    return see_other(next_url)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def tenant_members(request, tenant_id):
    membership = _membership_or_404(request, tenant_id)
    tenant = membership.tenant
    form = MemberInviteForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                invitation = services.invitation_create(
                    tenant=tenant,
                    actor=request.user,
                    actor_role=membership.role,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    request=request,
                )
            except Invalid as exc:
                form.add_domain_error(exc)
            except NotAllowed as exc:
                form.add_domain_error(exc)
                status = 403
            else:
                messages.success(
                    request,
                    f"{invitation.email} is invited to join as {_role_phrase(invitation.role)}; "
                    "they become a member when they accept.",
                )
                return see_other(f"/tenants/{tenant.pk}/members")
        status = status if status == 403 else 400
    can_manage = membership.role in services.MANAGERS
    return render(
        request,
        "tenants/members.html",
        {
            "tenant": tenant,
            "my_role": membership.role,
            "can_manage": can_manage,
            "members": member_list(tenant=tenant),
            "invitations": invitation_list_live(tenant=tenant) if can_manage else (),
            "roles": Membership.Role.choices,
            "form": form,
        },
        status=status,
    )


@require_POST
@login_required
def invitation_cancel(request, tenant_id, invitation_id):
    membership = _membership_or_404(request, tenant_id)
    try:
        invitation = services.invitation_cancel(
            tenant=membership.tenant,
            actor_role=membership.role,
            invitation_id=invitation_id,
            request=request,
        )
    except NotFound as exc:
        raise Http404("No such invitation.") from exc
    except (DomainError, exceptions.APIException) as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(request, f"The invitation of {invitation.email} is cancelled.")
    return see_other(f"/tenants/{membership.tenant_id}/members")


@require_POST
@login_required
def invitation_accept(request, invitation_id):
    try:
        invitation, joined = services.invitation_accept(
            user=request.user, invitation_id=invitation_id, request=request
        )
    except NotFound as exc:
        raise Http404("No such invitation.") from exc
    messages.success(
        request, f"You joined “{invitation.tenant.name}” as {_role_phrase(joined.role)}."
    )
    return see_other("/")


@require_POST
@login_required
def invitation_decline(request, invitation_id):
    try:
        invitation = services.invitation_decline(
            user=request.user, invitation_id=invitation_id, request=request
        )
    except NotFound as exc:
        raise Http404("No such invitation.") from exc
    messages.success(request, f"You declined the invitation to “{invitation.tenant.name}”.")
    return see_other("/")


@require_POST
@login_required
def member_role(request, tenant_id, user_id):
    membership = _membership_or_404(request, tenant_id)
    target = member_get(tenant=membership.tenant, user_id=user_id)
    if target is None:
        raise Http404("No such member.")
    form = MemberRoleForm(request.POST)
    back = f"/tenants/{membership.tenant_id}/members"
    if not form.is_valid():
        messages.error(request, "Choose a role: owner, admin or member.")
        return see_other(back)
    try:
        services.member_role_change(
            tenant=membership.tenant,
            actor_role=membership.role,
            user_id=target.user_id,
            role=form.cleaned_data["role"],
            request=request,
        )
    except (DomainError, exceptions.APIException) as exc:
        messages.error(request, _message(exc))
    else:
        messages.success(
            request, f"{target.user.email} is now {_role_phrase(form.cleaned_data['role'])}."
        )
    return see_other(back)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def member_remove(request, tenant_id, user_id):
    membership = _membership_or_404(request, tenant_id)
    target = member_get(tenant=membership.tenant, user_id=user_id)
    if target is None:
        raise Http404("No such member.")
    context = {"tenant": membership.tenant, "target": target, "leaving": target.pk == membership.pk}
    if request.method != "POST":
        return render(request, "tenants/member_remove.html", context)
    try:
        services.member_remove(
            tenant=membership.tenant,
            actor=request.user,
            actor_role=membership.role,
            user_id=target.user_id,
            request=request,
        )
    except (DomainError, exceptions.APIException) as exc:
        context["error"] = _message(exc)
        return render(request, "tenants/member_remove.html", context, status=status_of(exc))
    if context["leaving"]:
        messages.success(request, f"You have left “{membership.tenant.name}”.")
        return see_other("/tenants")
    messages.success(request, f"{target.user.email} is no longer a member.")
    return see_other(f"/tenants/{membership.tenant_id}/members")


def _role_phrase(role: str) -> str:
    """``"an owner"``, ``"an admin"``, ``"a member"``: the role with its article."""
    label = Membership.Role(role).label.lower()
    return f"{'an' if label[0] in 'aeiou' else 'a'} {label}"


def _message(exc) -> str:
    """A refusal's words, without the field names a page has no use for."""
    if isinstance(exc, DomainError):
        detail = exc.errors if isinstance(exc, Invalid) else exc.detail
    else:
        detail = exc.detail
    if isinstance(detail, dict):
        return " ".join(str(m) for messages in detail.values() for m in _listed(messages))
    return " ".join(str(m) for m in _listed(detail))


def _listed(value):
    return value if isinstance(value, list) else [value]
