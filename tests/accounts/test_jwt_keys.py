"""Tokens another service verifies offline (SPEC §11): asymmetric keys, kid, iss/aud/sub, JWKS,
rotation without a flag day, HS256 only when set, and the deploy warning for a generated key."""

import os
import stat
import threading

import jwt
import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts import signing
from tests.accounts.conftest import login_json
from tests.factories import ServiceClientFactory
from tests.oauth.conftest import access_token_for, bearer

PROBE = "/api/v1/auth/verify"
JWKS = "/.well-known/jwks.json"


def new_private_pem(algorithm: str = "ES256") -> str:
    return signing.private_pem(signing.generate_private_key(algorithm))


def public_pem_of(private_pem: str) -> str:
    return signing.public_pem(signing.load_private_key(private_pem).public_key())


def login(user) -> dict:
    response = login_json(APIClient(), user)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def service_client(db):
    return ServiceClientFactory(scopes=["agents:read", "probe:read"])


@pytest.fixture
def private_key(settings):
    settings.KEYWARD_JWT_PRIVATE_KEY = new_private_pem()
    return settings.KEYWARD_JWT_PRIVATE_KEY


def jwks_key(kid: str) -> dict:
    keys = {key["kid"]: key for key in APIClient().get(JWKS).json()["keys"]}
    return keys[kid]


def test_access_token_is_es256_with_kid_and_the_standard_claims(user, private_key, settings):
    tokens = login(user)

    header = jwt.get_unverified_header(tokens["access_token"])
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert header["alg"] == "ES256"
    assert header["typ"] == "JWT"
    assert header["kid"] == signing.key_ring().kid
    assert claims["iss"] == settings.KEYWARD_JWT_ISSUER
    assert claims["aud"] == "keyward"
    assert claims["sub"] == str(user.pk)
    assert {"jti", "iat", "exp", "family"} <= claims.keys()


def test_access_token_verifies_with_the_public_jwk_alone(user, private_key, settings):
    tokens = login(user)
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]

    public_key = jwt.PyJWK(jwks_key(kid)).key
    claims = jwt.decode(
        tokens["access_token"],
        public_key,
        algorithms=["ES256"],
        audience="keyward",
        issuer=settings.KEYWARD_JWT_ISSUER,
    )

    assert claims["sub"] == str(user.pk)


def test_client_token_follows_rfc_9068(service_client, private_key, settings):
    token = access_token_for(service_client, scope="agents:read")

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["typ"] == "at+jwt"
    assert header["kid"] == signing.key_ring().kid
    assert claims["client_id"] == claims["sub"] == str(service_client.client_id)
    assert claims["scope"] == "agents:read"
    assert claims["iss"] == settings.KEYWARD_JWT_ISSUER
    assert claims["aud"] == "keyward"
    assert {"jti", "iat", "exp"} <= claims.keys()


def test_a_client_token_retyped_as_a_user_jwt_is_refused(service_client, private_key):
    token = access_token_for(service_client)
    claims = jwt.decode(token, options={"verify_signature": False})
    ring = signing.key_ring()
    retyped = jwt.encode(
        claims, ring.signing_key, algorithm="ES256", headers={"kid": ring.kid, "typ": "JWT"}
    )

    assert bearer(retyped).get(PROBE).status_code == 401


@pytest.fixture
def signature_checks(monkeypatch):
    """How many times a token's signature is checked (each decode by Keyward's backend)."""
    calls = []
    decode = signing.KeywardTokenBackend.decode

    def counted(self, token, verify=True):
        calls.append(token)
        return decode(self, token, verify)

    monkeypatch.setattr(signing.KeywardTokenBackend, "decode", counted)
    return calls


def test_an_es256_user_token_is_verified_once_per_process(user, private_key, signature_checks):
    token = login(user)["access_token"]

    for _ in range(3):
        assert bearer(token).get(PROBE).status_code == 200

    assert signature_checks == [token]


def test_an_es256_client_token_is_verified_once_per_process(
    service_client, private_key, signature_checks
):
    token = access_token_for(service_client)

    for _ in range(3):
        assert bearer(token).get(PROBE).status_code == 200

    assert signature_checks == [token]


def test_jwks_publishes_the_public_key_cacheably(private_key):
    response = APIClient().get(JWKS)

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public, max-age=")
    [key] = response.json()["keys"]
    assert key["kid"] == signing.key_ring().kid
    assert key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert key["kty"] == "EC"
    assert "d" not in key  # never the private part


def test_kid_is_the_rfc_7638_thumbprint_of_the_public_key():
    # RFC 7638 §3.1's example key and thumbprint.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
    }

    assert signing._thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_token_signed_with_the_previous_key_verifies_until_it_expires(user, settings):
    old = new_private_pem()
    settings.KEYWARD_JWT_PRIVATE_KEY = old
    old_token = login(user)["access_token"]

    settings.KEYWARD_JWT_PRIVATE_KEY = new_private_pem()
    settings.KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS = public_pem_of(old).replace("\n", "\\n")
    new_token = login(user)["access_token"]

    assert (
        jwt.get_unverified_header(old_token)["kid"] != jwt.get_unverified_header(new_token)["kid"]
    )
    assert bearer(old_token).get(PROBE).status_code == 200
    assert bearer(new_token).get(PROBE).status_code == 200
    assert len(APIClient().get(JWKS).json()["keys"]) == 2


def test_a_token_of_a_key_no_longer_configured_gets_401(user, settings):
    settings.KEYWARD_JWT_PRIVATE_KEY = new_private_pem()
    old_token = login(user)["access_token"]

    settings.KEYWARD_JWT_PRIVATE_KEY = new_private_pem()

    response = bearer(old_token).get(PROBE)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("claim", "value"), [("iss", "https://elsewhere.example"), ("aud", "another-service")]
)
def test_a_token_for_another_issuer_or_audience_gets_401(user, private_key, claim, value):
    claims = jwt.decode(login(user)["access_token"], options={"verify_signature": False})
    ring = signing.key_ring()
    forged = jwt.encode(
        {**claims, claim: value}, ring.signing_key, algorithm="ES256", headers={"kid": ring.kid}
    )

    assert bearer(forged).get(PROBE).status_code == 401


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_other_asymmetric_algorithms_sign_and_verify(user, settings, algorithm):
    settings.KEYWARD_JWT_ALGORITHM = algorithm
    settings.KEYWARD_JWT_PRIVATE_KEY = new_private_pem(algorithm)

    token = login(user)["access_token"]

    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert bearer(token).get(PROBE).status_code == 200
    assert APIClient().get(JWKS).json()["keys"][0]["alg"] == algorithm


def test_hs256_set_explicitly_signs_with_the_signing_key_and_publishes_nothing(user, settings):
    settings.KEYWARD_JWT_ALGORITHM = "HS256"

    token = login(user)["access_token"]

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert "kid" in jwt.get_unverified_header(token)
    jwt.decode(
        token,
        settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithms=["HS256"],
        audience="keyward",
        issuer=settings.KEYWARD_JWT_ISSUER,
    )
    assert bearer(token).get(PROBE).status_code == 200
    assert APIClient().get(JWKS).json() == {"keys": []}


def test_an_hs256_token_is_refused_under_the_asymmetric_default(user, settings):
    settings.KEYWARD_JWT_ALGORITHM = "HS256"
    token = login(user)["access_token"]

    settings.KEYWARD_JWT_ALGORITHM = "ES256"
    settings.KEYWARD_JWT_PRIVATE_KEY = new_private_pem()

    assert bearer(token).get(PROBE).status_code == 401


def test_the_generated_key_is_private_to_its_owner_and_kept(settings, tmp_path):
    settings.KEYWARD_JWT_PRIVATE_KEY = ""
    settings.KEYWARD_JWT_KEY_FILE = str(tmp_path / "var" / "jwt-private.pem")

    kid = signing.key_ring().kid
    signing.key_ring.cache_clear()

    mode = stat.S_IMODE(os.stat(settings.KEYWARD_JWT_KEY_FILE).st_mode)
    assert mode == 0o600
    assert signing.key_ring().kid == kid
    assert signing.key_ring().generated
    assert os.listdir(tmp_path / "var") == ["jwt-private.pem"]  # no temporary file left


def test_processes_generating_the_key_at_once_agree_on_one(tmp_path):
    path = tmp_path / "jwt-private.pem"
    start = threading.Barrier(8)
    pems = []

    def generate():
        start.wait()
        pems.append(signing._generated_private_pem(path, "ES256"))

    threads = [threading.Thread(target=generate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(pems)) == 1
    assert pems[0] == path.read_text()


def deploy_warnings() -> set[str]:
    return {m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith("keyward")}


def test_a_generated_key_warns_at_deploy(settings):
    settings.KEYWARD_JWT_PRIVATE_KEY = ""

    assert "keyward.W012" in deploy_warnings()


def test_a_configured_key_does_not_warn(private_key):
    assert "keyward.W012" not in deploy_warnings()


def test_rotatejwtkey_prints_the_new_key_and_keeps_the_current_one(user, private_key, settings):
    from io import StringIO

    old_token = login(user)["access_token"]
    out = StringIO()

    call_command("rotatejwtkey", stdout=out)

    lines = dict(
        line.split("=", 1) for line in out.getvalue().splitlines() if not line.startswith("#")
    )
    settings.KEYWARD_JWT_PRIVATE_KEY = lines["KEYWARD_JWT_PRIVATE_KEY"].strip('"')
    settings.KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS = lines["KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS"].strip('"')
    new_token = login(user)["access_token"]
    assert lines["KEYWARD_JWT_PRIVATE_KEY"] != private_key
    assert bearer(old_token).get(PROBE).status_code == 200
    assert bearer(new_token).get(PROBE).status_code == 200


BROKEN_PUBLIC_PEM = "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----"


def check_errors() -> set[str]:
    return {m.id for m in run_checks() if m.id.startswith("keyward.E")}


@pytest.mark.parametrize(
    "configuration",
    [
        {"KEYWARD_JWT_ALGORITHM": "none"},
        {"KEYWARD_JWT_PRIVATE_KEY": "not a pem"},
        {"KEYWARD_JWT_ALGORITHM": "RS256", "KEYWARD_JWT_PRIVATE_KEY": new_private_pem("ES256")},
        {"KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS": BROKEN_PUBLIC_PEM},
        {"KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS": "no pem block"},
    ],
    ids=["algorithm", "private-key", "key-of-another-algorithm", "previous-key", "previous-text"],
)
def test_a_key_that_cannot_be_used_is_a_check_error(settings, configuration):
    for name, value in configuration.items():
        setattr(settings, name, value)

    assert check_errors() == {"keyward.E012"}


def test_good_keys_pass_the_check(private_key, settings):
    settings.KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS = public_pem_of(new_private_pem())

    assert check_errors() == set()
