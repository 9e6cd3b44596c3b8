"""Forms of the tenants and members pages. Rules (roles, last owner, slugs) stay in ``services``."""

from django import forms

from tenants.models import Membership


class _PageForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, detail) -> None:
        """Put a service's ``ValidationError`` detail beside the fields it names."""
        if not isinstance(detail, dict):
            detail = {None: detail}
        for key, messages in detail.items():
            messages = messages if isinstance(messages, list) else [messages]
            field = key if key in self.fields else None
            self.add_error(field, [str(message) for message in messages])


class TenantCreateForm(_PageForm):
    name = forms.CharField(label="Name", max_length=150)
    slug = forms.SlugField(
        label="Slug",
        max_length=80,
        required=False,
        help_text="Letters, digits and hyphens. Empty: made from the name.",
    )


class MemberInviteForm(_PageForm):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        help_text="The person must already have a Keyward account.",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial="member")


class MemberRoleForm(_PageForm):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)
