"""The key page's proposals section (SPEC §12): suggest, apply and drop, by form POST.

The section itself is ``templates/apikeys/_proposals.html``, included in the key page; its rows
come from ``proposal_rows``. Every action goes through ``apikeys.shadow``, like the API.
"""

from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.views.decorators.http import require_POST
from rest_framework import exceptions

from apikeys import shadow
from apikeys.models import Proposal
from apikeys.selectors import api_key_get
from core.domain_errors import DomainError
from core.forms import refusal_messages
from core.views import see_other

RECENT_SHOWN = 10


def proposal_rows(api_key) -> list[dict]:
    """Each proposal with what would break: per rule, how many of the recent refusals, and the
    latest paths it would refuse."""
    rows = []
    for proposal in shadow.proposals_fresh(api_key):
        by_rule = Counter(entry["rule"] for entry in proposal.recent)
        rows.append(
            {
                "proposal": proposal,
                "breaks": [
                    {
                        "rule": rule,
                        "count": count,
                        "recent": [e for e in proposal.recent if e["rule"] == rule][:RECENT_SHOWN],
                    }
                    for rule, count in by_rule.most_common()
                ],
            }
        )
    return rows


@require_POST
@login_required
def proposal_suggest(request, key_id):
    """One click: the least-privilege suggestion of the last 30 days, as a shadow proposal."""
    api_key = _own_key(request, key_id)
    suggestion = shadow.suggestion_for(api_key, days=30)
    changes = shadow.suggestion_changes(api_key, suggestion)
    if not changes:
        messages.info(request, "Nothing to narrow: the key's traffic used all it holds.")
        return see_other(f"/keys/{api_key.pk}#proposals")
    try:
        shadow.proposal_create(
            api_key=api_key, changes=changes, actor=request.user, request=request
        )
    except (DomainError, exceptions.APIException) as exc:
        messages.error(request, f"Not proposed: {' '.join(refusal_messages(exc))}")
    else:
        messages.success(request, "Proposed: the narrowest scopes and grants of the last 30 days.")
    return see_other(f"/keys/{api_key.pk}#proposals")


@require_POST
@login_required
def proposal_apply(request, key_id, proposal_id):
    api_key, proposal = _own_proposal(request, key_id, proposal_id)
    try:
        shadow.proposal_apply(proposal=proposal, actor=request.user, request=request)
    except (DomainError, exceptions.APIException) as exc:
        messages.error(request, f"Not applied: {' '.join(refusal_messages(exc))}")
    else:
        messages.success(request, "Applied: the proposal is now the key's live rule.")
    return see_other(f"/keys/{api_key.pk}#proposals")


@require_POST
@login_required
def proposal_delete(request, key_id, proposal_id):
    api_key, proposal = _own_proposal(request, key_id, proposal_id)
    shadow.proposal_delete(proposal=proposal, actor=request.user, request=request)
    messages.success(request, "Proposal dropped.")
    return see_other(f"/keys/{api_key.pk}#proposals")


def _own_key(request, key_id):
    api_key = api_key_get(key_id=key_id, user=request.user)
    if api_key is None:
        raise Http404("No such key.")
    return api_key


def _own_proposal(request, key_id, proposal_id):
    api_key = _own_key(request, key_id)
    proposal = Proposal.objects.filter(api_key=api_key, pk=proposal_id).first()
    if proposal is None:
        raise Http404("No such proposal.")
    return api_key, proposal
