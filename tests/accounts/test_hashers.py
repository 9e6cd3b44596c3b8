import pytest
from argon2 import extract_parameters
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password

from tests.accounts.conftest import login_json
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PRODUCTION_HASHERS = [
    "accounts.hashers.KeywardArgon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


def _parameters(encoded: str):
    return extract_parameters("$" + encoded.split("$", 1)[1])


def test_new_passwords_use_argon2id_with_our_parameters(settings):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS

    encoded = make_password(DEFAULT_PASSWORD)

    params = _parameters(encoded)
    assert encoded.startswith("argon2$argon2id$")
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 19 * 1024, 1)


def test_login_upgrades_a_hash_made_with_djangos_default_argon2_parameters(settings, api_client):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    user = UserFactory()
    user.password = Argon2PasswordHasher().encode(DEFAULT_PASSWORD, Argon2PasswordHasher().salt())
    user.save(update_fields=["password"])
    django_default = Argon2PasswordHasher
    assert _parameters(user.password).memory_cost == django_default.memory_cost == 102400

    response = login_json(api_client, user)

    assert response.status_code == 200
    user.refresh_from_db()
    params = _parameters(user.password)
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 19 * 1024, 1)
    assert user.check_password(DEFAULT_PASSWORD)
