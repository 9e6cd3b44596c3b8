"""Leak response (SPEC §12): GitHub's secret-scanning partner reports.

Each test signs its report with a P-256 key pair it makes itself, configured as GitHub's public
key would be. A bad or missing signature is 401 and nothing is done; a real key is revoked
through the one revocation path and recorded once; repeats change nothing.
"""

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from rest_framework.test import APIClient

from apikeys import crypto, secret_scanning
from apikeys.models import ApiKey
from audit.models import AuditEvent
from tests.apikeys.conftest import INFO_URL, key_client, make_api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/secret-scanning/reports"
KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"
LEAK_URL = "https://github.com/octo/app/blob/1f2e/config.py#L3"


@pytest.fixture(scope="module")
def github_key():
    return ec.generate_private_key(ec.SECP256R1())


def pem_of(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(autouse=True)
def github_configured(settings, github_key):
    settings.KEYWARD_SECRET_SCANNING_PUBLIC_KEYS = [
        {"key_identifier": KEY_ID, "key": pem_of(github_key)}
    ]


def sign(private_key, body: bytes) -> str:
    return base64.b64encode(private_key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()


def finding(token: str, url: str = LEAK_URL) -> dict:
    return {"token": token, "type": "keyward_api_key", "url": url, "source": "content"}


def report(body, *, signed_by=None, key_id: str = KEY_ID, signature: str | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER": key_id}
    if signature is None and signed_by is not None:
        signature = sign(signed_by, raw)
    if signature is not None:
        headers["HTTP_GITHUB_PUBLIC_KEY_SIGNATURE"] = signature
    return APIClient().post(URL, raw, content_type="application/json", **headers)


def leaks_of(api_key) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(event_type=secret_scanning.LEAK_EVENT, target_id=str(api_key.pk))
    )


# --- the signature ---------------------------------------------------------------------------


def test_a_signed_report_of_a_real_key_revokes_it_and_says_true_positive(user, github_key):
    api_key, raw = make_api_key(user)

    response = report([finding(raw)], signed_by=github_key)

    assert response.status_code == 200, response.content
    assert response.json() == [
        {"token_raw": raw, "token_type": "keyward_api_key", "label": "true_positive"}
    ]
    api_key.refresh_from_db()
    assert api_key.is_active is False
    assert response["Cache-Control"] == "no-store"


def test_a_revoked_leaked_key_is_refused_at_once(user, github_key):
    _, raw = make_api_key(user)
    client = key_client(raw)
    assert client.get(INFO_URL).status_code == 200  # warm in this process

    report([finding(raw)], signed_by=github_key)

    response = client.get(INFO_URL)
    assert (response.status_code, response.json()["code"]) == (401, "api_key_disabled")


def test_a_report_revokes_through_the_one_revocation_path(user, github_key):
    api_key, raw = make_api_key(user)

    report([finding(raw)], signed_by=github_key)

    assert AuditEvent.objects.filter(
        event_type="api_key.revoked", target_id=str(api_key.pk)
    ).exists()


@pytest.mark.parametrize(
    "headers",
    [
        {},  # neither header
        {"signature": None, "key_id": KEY_ID},  # no signature
        {"signature": "bm90IGEgc2lnbmF0dXJl", "key_id": KEY_ID},  # not a DER signature
        {"signature": "%%% not base64 %%%", "key_id": KEY_ID},
        {"key_id": "an-unknown-identifier", "sign": True},
    ],
)
def test_a_missing_or_bad_signature_is_401_and_nothing_is_done(user, github_key, headers):
    api_key, raw = make_api_key(user)
    body = [finding(raw)]

    if headers.pop("sign", False):
        response = report(body, signed_by=github_key, **headers)
    elif not headers:
        response = APIClient().post(URL, body, format="json")
    else:
        response = report(body, **headers)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert response["WWW-Authenticate"]
    api_key.refresh_from_db()
    assert api_key.is_active is True
    assert leaks_of(api_key) == []


def test_a_report_signed_by_another_key_is_refused(user):
    api_key, raw = make_api_key(user)
    impostor = ec.generate_private_key(ec.SECP256R1())

    response = report([finding(raw)], signed_by=impostor)

    assert response.status_code == 401
    api_key.refresh_from_db()
    assert api_key.is_active is True


def test_a_body_changed_after_signing_is_refused(user, github_key):
    api_key, raw = make_api_key(user)
    signed = json.dumps([finding("kw_something_else")]).encode()

    response = report([finding(raw)], signature=sign(github_key, signed))

    assert response.status_code == 401
    api_key.refresh_from_db()
    assert api_key.is_active is True


def test_without_configured_keys_every_report_is_refused(settings, user, github_key):
    settings.KEYWARD_SECRET_SCANNING_PUBLIC_KEYS = {}
    api_key, raw = make_api_key(user)

    response = report([finding(raw)], signed_by=github_key)

    assert response.status_code == 401
    api_key.refresh_from_db()
    assert api_key.is_active is True


def test_githubs_own_public_keys_document_is_accepted(settings, user, github_key):
    settings.KEYWARD_SECRET_SCANNING_PUBLIC_KEYS = {
        "public_keys": [{"key_identifier": KEY_ID, "key": pem_of(github_key), "is_current": True}]
    }
    _, raw = make_api_key(user)

    assert report([finding(raw)], signed_by=github_key).status_code == 200


def test_a_malformed_key_setting_is_reported_by_check(settings):
    settings.KEYWARD_SECRET_SCANNING_PUBLIC_KEYS = [{"key_identifier": "x", "key": "not a pem"}]

    errors = secret_scanning.check_public_keys()

    assert [error.id for error in errors] == ["keyward.E020"]


def test_the_endpoint_needs_no_csrf_token_and_no_session(user, github_key):
    _, raw = make_api_key(user)
    client = APIClient(enforce_csrf_checks=True)
    body = json.dumps([finding(raw)]).encode()

    response = client.post(
        URL,
        body,
        content_type="application/json",
        HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER=KEY_ID,
        HTTP_GITHUB_PUBLIC_KEY_SIGNATURE=sign(github_key, body),
    )

    assert response.status_code == 200


# --- verdicts --------------------------------------------------------------------------------


def test_tokens_that_are_not_real_keys_are_false_positives(user, github_key):
    _, raw = make_api_key(user)
    invented = crypto.generate_key()  # well formed, never issued
    mistyped = raw[:-1] + ("A" if raw[-1] != "A" else "B")

    response = report(
        [finding(invented), finding(mistyped), finding("ghp_notours"), finding(raw)],
        signed_by=github_key,
    )

    assert [verdict["label"] for verdict in response.json()] == [
        "false_positive",
        "false_positive",
        "false_positive",
        "true_positive",
    ]
    assert [verdict["token_raw"] for verdict in response.json()] == [
        invented,
        mistyped,
        "ghp_notours",
        raw,
    ]


def test_a_leak_is_recorded_for_the_owner_without_the_token(user, github_key):
    api_key, raw = make_api_key(user, name="deploy bot")

    report([finding(raw)], signed_by=github_key)

    [event] = leaks_of(api_key)
    assert event.data["key_id"] == str(api_key.pk)
    assert event.data["key_prefix"] == api_key.key_prefix
    assert event.data["url"] == LEAK_URL
    assert event.data["source"] == "content"
    assert event.data["revoked"] is True and event.data["was_active"] is True
    assert raw not in json.dumps(event.data) and raw[12:] not in json.dumps(event.data)


def test_an_already_revoked_key_is_still_a_true_positive_and_recorded(user, github_key):
    api_key, raw = make_api_key(user, is_active=False)

    response = report([finding(raw)], signed_by=github_key)

    assert response.json()[0]["label"] == "true_positive"
    [event] = leaks_of(api_key)
    assert event.data["revoked"] is False and event.data["was_active"] is False


def test_a_leaked_canary_is_reported_but_left_to_go_on_reporting(user, github_key):
    api_key, raw = make_api_key(user, key_type="canary")

    response = report([finding(raw)], signed_by=github_key)

    assert response.json()[0]["label"] == "true_positive"
    api_key.refresh_from_db()
    assert api_key.is_active is True
    assert leaks_of(api_key)[0].data["canary"] is True


# --- idempotent on repeats -------------------------------------------------------------------


def test_the_same_report_twice_answers_the_same_and_records_once(user, github_key):
    api_key, raw = make_api_key(user)
    body = [finding(raw), finding(crypto.generate_key())]

    first = report(body, signed_by=github_key)
    second = report(body, signed_by=github_key)

    assert first.json() == second.json()
    assert len(leaks_of(api_key)) == 1
    assert AuditEvent.objects.filter(event_type="api_key.revoked").count() == 1


def test_a_token_repeated_inside_one_report_is_recorded_once(user, github_key):
    api_key, raw = make_api_key(user)

    response = report([finding(raw), finding(raw)], signed_by=github_key)

    assert [v["label"] for v in response.json()] == ["true_positive", "true_positive"]
    assert len(leaks_of(api_key)) == 1


def test_a_repeat_does_not_revoke_a_key_its_owner_chose_to_reactivate(user, github_key):
    from apikeys.services import api_key_activate

    api_key, raw = make_api_key(user)
    report([finding(raw)], signed_by=github_key)
    api_key_activate(api_key=api_key)

    report([finding(raw)], signed_by=github_key)

    api_key.refresh_from_db()
    assert api_key.is_active is True


def test_the_same_key_found_at_a_new_url_is_a_new_leak(user, github_key):
    api_key, raw = make_api_key(user)
    report([finding(raw)], signed_by=github_key)
    from apikeys.services import api_key_activate

    api_key_activate(api_key=api_key)

    report([finding(raw, url="https://gist.github.com/octo/abc")], signed_by=github_key)

    api_key.refresh_from_db()
    assert api_key.is_active is False
    assert len(leaks_of(api_key)) == 2


# --- bounded, and never a 500 ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"token": "kw_x"}',
        b"[1, 2]",
        b'[{"token": 42}]',
        b'[{"type": "keyward_api_key"}]',
        b"\xff\xfe",
    ],
)
def test_a_signed_body_of_the_wrong_shape_is_400(github_key, body):
    response = report(body, signed_by=github_key)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_a_report_over_the_finding_limit_is_400_and_nothing_is_done(user, github_key):
    api_key, raw = make_api_key(user)
    body = [finding(raw)] + [finding("x")] * secret_scanning.MAX_FINDINGS

    response = report(body, signed_by=github_key)

    assert response.status_code == 400
    api_key.refresh_from_db()
    assert api_key.is_active is True


def test_a_body_over_the_request_limit_is_413(settings, github_key):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps([finding("x" * 2000)]).encode()

    response = report(body, signed_by=github_key)

    assert response.status_code == 413


def test_reports_are_limited_per_caller_address(settings, github_key):
    settings.KEYWARD_ANON_RATE_PER_IP = "3/m"
    body = [finding(crypto.generate_key())]

    codes = [report(body, signed_by=github_key).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]


def test_bad_signatures_spend_the_callers_anonymous_budget(settings):
    settings.KEYWARD_ANON_RATE_PER_IP = "2/m"

    codes = [report([finding("x")], signature="AAAA").status_code for _ in range(3)]

    assert codes == [401, 401, 429]


def test_the_endpoint_is_in_the_schema():
    from io import StringIO

    out = StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)

    assert "/api/v1/secret-scanning/reports" in json.loads(out.getvalue())["paths"]


def test_nothing_is_revoked_when_the_change_cannot_reach_every_node(user, github_key, monkeypatch):
    from metering.verified import ChangeNotPropagated

    api_key, raw = make_api_key(user)

    def unconfirmed(*args, **kwargs):
        raise ChangeNotPropagated()

    monkeypatch.setattr("metering.verified.retire", unconfirmed)

    response = report([finding(raw)], signed_by=github_key)

    assert response.status_code == 503
    api_key.refresh_from_db()
    assert api_key.is_active is True
    assert leaks_of(api_key) == []
    assert ApiKey.objects.filter(pk=api_key.pk, is_active=True).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_report_record_the_leak_once(github_key):
    """GitHub may deliver a report twice at once: the key's row lock makes one of them a repeat."""
    import threading

    from django.db import connection

    from tests.factories import UserFactory

    api_key, raw = make_api_key(UserFactory())
    body = json.dumps([finding(raw)]).encode()
    signature = sign(github_key, body)
    start, statuses = threading.Barrier(4), []

    def deliver():
        try:
            start.wait()
            statuses.append(report(body, signature=signature).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert statuses == [200] * 4
    assert len(leaks_of(api_key)) == 1
    assert (
        AuditEvent.objects.filter(event_type="api_key.revoked", target_id=str(api_key.pk)).count()
        == 1
    )
