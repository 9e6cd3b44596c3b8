"""Forms of the tenants and members pages. Rules (roles, last owner, slugs) stay in ``services``."""

from django import forms

from core.forms import PageForm
from tenants.models import Membership


class TenantCreateForm(PageForm):
    name = forms.CharField(label="Name", max_length=150)
    slug = forms.SlugField(
        label="Slug",
        max_length=80,
        required=False,
        help_text="Letters, digits and hyphens. Empty: made from the name.",
    )


class MemberInviteForm(PageForm):
    email = forms.EmailField(
        label="Email",
        max_length=254,
        help_text="With or without a Keyward account yet.",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial="member")


class MemberRoleForm(PageForm):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)
