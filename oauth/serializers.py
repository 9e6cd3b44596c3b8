from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from core.domain_errors import Invalid
from core.serializers import StrictCharField, StrictModelSerializer, StrictUUIDField
from oauth.models import ServiceClient
from oauth.services import NAME_MAX_LENGTH, scopes_normalise
from tenants.models import Tenant


@extend_schema_field(serializers.ListField(child=StrictCharField()))
class ScopesField(serializers.Field):
    """A list of scopes, or one space/comma separated string (SPEC §3).

    Also read under the name ``allowed_scopes`` (SPEC §5 calls them "allowed scopes"), and a
    form may repeat the field once per scope.
    """

    ALIAS = "allowed_scopes"

    def get_value(self, dictionary):
        for name in (self.field_name, self.ALIAS):
            if html.is_html_input(dictionary):
                values = dictionary.getlist(name)
                if values:
                    return values if len(values) > 1 else values[0]
            elif name in dictionary:
                return dictionary[name]
        return empty

    def to_internal_value(self, data):
        try:
            return scopes_normalise(data)
        except Invalid as exc:
            raise serializers.ValidationError(exc.errors["scopes"]) from exc

    def to_representation(self, value):
        return list(value)


class ServiceClientSerializer(StrictModelSerializer):
    id = StrictUUIDField(source="client_id", read_only=True, help_text="The same as client_id.")
    tenant_id = StrictUUIDField(read_only=True, allow_null=True)
    scopes = serializers.ListField(child=StrictCharField(), read_only=True)
    allowed_scopes = serializers.ListField(
        source="scopes",
        child=StrictCharField(),
        read_only=True,
        help_text="The same as scopes.",
    )
    created_by = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="The creator's user id (null when created by a command).",
    )

    class Meta:
        model = ServiceClient
        fields = [
            "id",
            "client_id",
            "name",
            "tenant_id",
            "scopes",
            "allowed_scopes",
            "is_active",
            "created_by",
            "created_at",
            "secret_rotated_at",
        ]
        read_only_fields = fields


class ServiceClientWithSecretSerializer(ServiceClientSerializer):
    client_secret = StrictCharField(
        read_only=True, help_text="Shown this once; only its keyed hash is stored."
    )

    class Meta(ServiceClientSerializer.Meta):
        fields = [*ServiceClientSerializer.Meta.fields, "client_secret"]
        read_only_fields = fields


class ServiceClientCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    scopes = ScopesField(help_text='e.g. ["agents:read"] or "agents:read agents:write"')
    tenant_id = StrictUUIDField(
        required=False, allow_null=True, help_text="Bind the client to one tenant, for good."
    )

    def validate_tenant_id(self, value):
        if value is None:
            return None
        tenant = Tenant.objects.filter(pk=value).first()
        if tenant is None:
            raise serializers.ValidationError("No tenant has this id.")
        return tenant


class ServiceClientUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH, required=False)
    scopes = ScopesField(required=False)
    is_active = serializers.BooleanField(required=False)
    tenant_id = StrictUUIDField(required=False, allow_null=True, write_only=True)

    def validate_tenant_id(self, value):
        """Echoing the current tenant back is fine; naming another is not."""
        if value != self.context["client"].tenant_id:
            raise serializers.ValidationError(
                "A client's tenant is set at creation and never changes."
            )
        return value


class ServiceClientFilterSerializer(serializers.Serializer):
    """Query parameters of ``GET /api/v1/service-clients``; bad values are a 400."""

    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)
    tenant_id = StrictUUIDField(required=False)


class TokenRequestSerializer(serializers.Serializer):
    """The url-encoded form body of a token request (RFC 6749 §4.4.2)."""

    # Documentation only: ``oauth.protocol`` parses the body, strictly.

    grant_type = serializers.ChoiceField(choices=["client_credentials"])
    scope = StrictCharField(
        required=False, help_text="Space-separated; a subset of the client's scopes (default all)."
    )
    client_id = StrictCharField(
        required=False, help_text="With client_secret, instead of HTTP Basic; never both."
    )
    client_secret = StrictCharField(required=False)


class TokenResponseSerializer(serializers.Serializer):
    access_token = StrictCharField()
    token_type = serializers.ChoiceField(choices=["bearer"])
    expires_in = serializers.IntegerField()
    scope = StrictCharField()


class OAuthErrorSerializer(serializers.Serializer):
    error = StrictCharField(help_text="RFC 6749 §5.2 error code")
    error_description = StrictCharField()
    detail = StrictCharField(help_text="SPEC §8: the same description")
    code = StrictCharField(help_text="SPEC §8: the same code as error")
    retry_after = serializers.IntegerField(required=False, help_text="429 only")


class ErrorSerializer(serializers.Serializer):
    detail = StrictCharField()
    code = StrictCharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=StrictCharField()), required=False
    )


class RevocationRequestSerializer(serializers.Serializer):
    """The url-encoded form body of a revocation request (RFC 7009 §2.1)."""

    token = StrictCharField()
    token_type_hint = StrictCharField(required=False, help_text="Accepted and not needed.")
    client_id = StrictCharField(required=False)
    client_secret = StrictCharField(required=False)


class IntrospectionRequestSerializer(RevocationRequestSerializer):
    """The url-encoded form body of an introspection request (RFC 7662 §2.1): a revocation's,
    and what an API key's introspection spends of its credits."""

    cost = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=1_000_000,
        help_text="Credits an API key's introspection spends (default 1; SPEC §12).",
    )


class IntrospectionResponseSerializer(serializers.Serializer):
    """RFC 7662 §2.2; an inactive token is ``{"active": false}`` with no other member."""

    active = serializers.BooleanField()
    scope = StrictCharField(required=False, help_text="Clients and keys; not a user's JWT")
    client_id = StrictCharField(required=False, help_text="A client's token only")
    sub = StrictCharField(required=False, help_text="User id, or the client id")
    username = StrictCharField(required=False, help_text="The user's email")
    tenant_id = StrictUUIDField(required=False, allow_null=True)
    exp = serializers.IntegerField(required=False)
    iat = serializers.IntegerField(required=False)
    jti = StrictCharField(required=False)
    token_type = serializers.ChoiceField(
        choices=["access_token", "refresh_token", "api_key"], required=False
    )
    key_prefix = StrictCharField(required=False, help_text="An API key only")
