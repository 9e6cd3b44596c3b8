from rest_framework import serializers

from tenants.models import Membership, Tenant


class TenantSerializer(serializers.ModelSerializer):
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
    name = serializers.CharField(max_length=150)
    slug = serializers.SlugField(
        max_length=80, required=False, help_text="Derived from the name when omitted."
    )


class TenantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150, required=False)
    slug = serializers.SlugField(max_length=80, required=False)


class TenantListFilterSerializer(serializers.Serializer):
    all = serializers.BooleanField(
        required=False, default=False, help_text="Every tenant (staff with the admin scope)."
    )


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.pk", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.get_full_name", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "name", "role", "joined_at"]
        read_only_fields = fields


class MemberAddSerializer(serializers.Serializer):
    email = serializers.EmailField(help_text="An existing user's email address.")
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)
