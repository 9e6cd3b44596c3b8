"""``check --deploy`` warns when the API keys' pepper or the JWT signing key falls back to
``SECRET_KEY`` (SPEC §9), and says nothing when each has its own value.

The signing key signs only under HS256 (set explicitly); the asymmetric default's own warning
(``keyward.W012``) is in tests/accounts/test_jwt_keys.py."""

import pytest
from django.core.checks import run_checks
from django.test import override_settings

SECRET = "the-secret-key-0123456789-0123456789-0123456789"
PEPPER = "a-pepper-of-its-own-0123456789-0123456789-0123456789"
SIGNING = "a-signing-key-of-its-own-0123456789-0123456789-0123"


@pytest.fixture(autouse=True)
def _hs256(settings):
    settings.KEYWARD_JWT_ALGORITHM = "HS256"


def deploy_warnings() -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith("keyward")}


def jwt(signing_key):
    from django.conf import settings

    return {**settings.SIMPLE_JWT, "SIGNING_KEY": signing_key}


@override_settings(SECRET_KEY=SECRET, KEYWARD_KEY_PEPPER=PEPPER, SIMPLE_JWT=jwt(SIGNING))
def test_no_warning_when_the_pepper_and_the_signing_key_are_their_own():
    assert deploy_warnings() == set()


@pytest.mark.parametrize("pepper", ["", SECRET])
@override_settings(SECRET_KEY=SECRET, SIMPLE_JWT=jwt(SIGNING))
def test_a_pepper_falling_back_to_the_secret_key_warns(pepper):
    with override_settings(KEYWARD_KEY_PEPPER=pepper):
        assert deploy_warnings() == {"keyward.W010"}


@override_settings(SECRET_KEY=SECRET, KEYWARD_KEY_PEPPER=PEPPER, SIMPLE_JWT=jwt(SECRET))
def test_a_signing_key_falling_back_to_the_secret_key_warns():
    assert deploy_warnings() == {"keyward.W011"}


@override_settings(SECRET_KEY=SECRET, KEYWARD_KEY_PEPPER="", SIMPLE_JWT=jwt(SECRET))
def test_the_warnings_are_for_deployment_only():
    ordinary = {m.id for m in run_checks() if m.id.startswith("keyward")}

    assert ordinary == set()
    assert deploy_warnings() == {"keyward.W010", "keyward.W011"}
