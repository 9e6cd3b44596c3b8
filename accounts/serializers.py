"""Request and response bodies of the auth API (JSON; the same fields arrive as form posts)."""

from rest_framework import serializers

from accounts.forms import PASSWORD_MAX_LENGTH, PASSWORD_MISMATCH
from accounts.models import User
from core.serializers import (
    StrictCharField,
    StrictEmailField,
    StrictModelSerializer,
    StrictUUIDField,
)


def _password_field(**kwargs) -> StrictCharField:
    return StrictCharField(
        write_only=True,
        trim_whitespace=False,
        max_length=PASSWORD_MAX_LENGTH,
        style={"input_type": "password"},
        **kwargs,
    )


class UserSerializer(StrictModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name"]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    password = _password_field()
    confirm_password = _password_field()
    first_name = StrictCharField(max_length=150, required=False, allow_blank=True)
    last_name = StrictCharField(max_length=150, required=False, allow_blank=True)

    def validate(self, attrs):
        if attrs["password"] != attrs["confirm_password"]:
            raise serializers.ValidationError({"confirm_password": [PASSWORD_MISMATCH]})
        return attrs


class RegisterResponseSerializer(serializers.Serializer):
    user = UserSerializer()


class LoginSerializer(serializers.Serializer):
    email = StrictCharField(max_length=254)
    password = _password_field()


class TokenPairSerializer(serializers.Serializer):
    access_token = StrictCharField()
    refresh_token = StrictCharField()
    token_type = StrictCharField(default="bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class LoginResponseSerializer(TokenPairSerializer):
    user = UserSerializer()


class RefreshSerializer(serializers.Serializer):
    refresh_token = StrictCharField()


class LogoutSerializer(serializers.Serializer):
    refresh_token = StrictCharField(required=False, allow_blank=True)


class LogoutAllSerializer(serializers.Serializer):
    keys = serializers.BooleanField(default=False, help_text="Also revoke every API key you own.")


class LogoutAllResponseSerializer(serializers.Serializer):
    keys_revoked = serializers.IntegerField(help_text="How many API keys were revoked.")


class VerifyUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = StrictEmailField()


class VerifyResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    auth_method = serializers.ChoiceField(
        choices=["api_key", "jwt", "session", "client_credentials"]
    )
    user = VerifyUserSerializer(allow_null=True)
    tenant_id = StrictUUIDField(allow_null=True)
    scopes = serializers.ListField(child=StrictCharField())
    expires_at = serializers.DateTimeField(allow_null=True)
    key_prefix = StrictCharField(required=False, help_text="Only for API keys.")
    client_id = StrictUUIDField(required=False, help_text="Only for service clients.")


class AuthErrorSerializer(serializers.Serializer):
    detail = StrictCharField()
    code = StrictCharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=StrictCharField()), required=False
    )
    retry_after = serializers.IntegerField(required=False)
