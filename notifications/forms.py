from django import forms

from core.forms import PageForm
from notifications.models import EVENT_TYPES

EVENT_LABELS = {
    "api_key.expiring": "A key expires within 7 days while still in use",
    "api_key.leaked": "A key was found exposed (and revoked)",
    "api_key.canary_touched": "A canary key was used",
    "api_key.proposal_would_refuse_spike": "A shadow proposal would refuse a spike of requests",
    "rate_limit.exhausted": "A key used up its rate limit (once per window)",
}


class WebhookForm(PageForm):
    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[(event, EVENT_LABELS[event]) for event in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        initial=list(EVENT_TYPES),
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
