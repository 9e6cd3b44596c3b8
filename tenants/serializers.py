from rest_framework import serializers

from core.serializers import (
    StrictCharField,
    StrictEmailField,
    StrictModelSerializer,
    StrictSlugField,
    StrictUUIDField,
)
from tenants.models import Membership, Tenant, TenantInvitation


class TenantSerializer(StrictModelSerializer):
    role = serializers.ChoiceField(
        choices=Membership.Role.choices,
        read_only=True,
        allow_null=True,
        help_text="The caller's role in the tenant; null for staff who are not a member.",
    )

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "role", "created_at"]
        read_only_fields = fields


class TenantCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=150)
    slug = StrictSlugField(
        max_length=80, required=False, help_text="Derived from the name when omitted."
    )


class TenantUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=150, required=False)
    slug = StrictSlugField(max_length=80, required=False)


class TenantListFilterSerializer(serializers.Serializer):
    all = serializers.BooleanField(
        required=False, default=False, help_text="Every tenant (staff with the admin scope)."
    )


class MemberSerializer(StrictModelSerializer):
    user_id = serializers.IntegerField(source="user.pk", read_only=True)
    email = StrictEmailField(source="user.email", read_only=True)
    name = StrictCharField(source="user.get_full_name", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "name", "role", "joined_at"]
        read_only_fields = fields


class MemberAddSerializer(serializers.Serializer):
    email = StrictEmailField(
        max_length=254,
        help_text="The person to invite; they need not have an account yet. They become a "
        "member only when they accept.",
    )
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class InvitedSerializer(serializers.Serializer):
    """The answer to an invitation: the same whether or not the email has an account."""

    status = serializers.ChoiceField(choices=["invited"])
    invitation_id = StrictUUIDField()


class InvitationSerializer(StrictModelSerializer):
    """An open invitation as the tenant's owners and admins see it."""

    invited_by = StrictEmailField(
        source="invited_by.email", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = TenantInvitation
        fields = ["id", "email", "role", "invited_by", "created_at", "expires_at"]
        read_only_fields = fields


class InvitationTenantSerializer(StrictModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class UserInvitationSerializer(StrictModelSerializer):
    """An open invitation as the invited person sees it."""

    tenant = InvitationTenantSerializer(read_only=True)
    invited_by = StrictEmailField(
        source="invited_by.email", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = TenantInvitation
        fields = ["id", "tenant", "role", "invited_by", "created_at", "expires_at"]
        read_only_fields = fields


class InvitationAnswerSerializer(serializers.Serializer):
    """What became of an invitation its holder answered."""

    status = serializers.ChoiceField(choices=["accepted", "declined"])
    invitation_id = StrictUUIDField()
    tenant = InvitationTenantSerializer()
    role = serializers.ChoiceField(
        choices=Membership.Role.choices,
        allow_null=True,
        help_text="Your role in the tenant now; null after a decline.",
    )
