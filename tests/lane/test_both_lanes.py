"""The WSGI lane answers byte for byte as Django's stack does (issue 24).

Each case sends one request to Django's own WSGI handler, forgets every counter and cached
record (as between two tests), then sends the same request to the lane composed over Django,
and compares status, headers (in order) and body, and what each added to the Prometheus
metrics. Only the seconds until a rate-limit window resets (in the headers, and in a verdict's
body) may differ, by the second that can tick between the two calls, or a new minute's window
begin. A case the lane must leave to Django checks that it did.

The endpoints' own tests also run through the lane: ``pytest --through-lane <files>``
(``test_endpoint_tests_pass_through_the_lane`` below runs them).
"""

import base64
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import time_machine
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from django.utils import timezone

from apikeys.services import api_key_revoke
from config.lane import Lane
from tenants.models import Membership
from tests.apikeys.conftest import forged_key
from tests.conftest import forget_everything
from tests.factories import MembershipFactory, TenantFactory, UserFactory, issued_key
from tests.lane.harness import (
    answer,
    comparable,
    environ_for,
    lane_over_django,
    metrics_added,
    metrics_now,
    same_answer,
)
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/auth/check"
VERIFY = "/api/v1/keys/verify"
INTROSPECT = "/oauth2/introspect"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def user(db):
    user = UserFactory()
    MembershipFactory(user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def verifier(user):
    return issued_key(user, scopes=["keys:verify"])[1]


def check(raw_key=None, uri="/api/v1/agents", method="GET", how="x-api-key", **meta):
    headers = {"HTTP_X_ORIGINAL_METHOD": method, "HTTP_X_ORIGINAL_URI": uri, **meta}
    if raw_key is not None:
        headers.update(_presented(raw_key, how))
    return lambda: environ_for("GET", CHECK, **headers)


def verify(raw_verifier, body, content_type="application/json", **meta):
    raw_body = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda: environ_for(
        "POST",
        VERIFY,
        body=raw_body,
        CONTENT_TYPE=content_type,
        HTTP_AUTHORIZATION=f"Bearer {raw_verifier}",
        **meta,
    )


def _presented(raw_key, how):
    if how == "bearer":
        return {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
    if how == "bare":
        return {"HTTP_AUTHORIZATION": raw_key}
    if how == "basic":
        return {
            "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"apikey:{raw_key}".encode()).decode()
        }
    return {"HTTP_X_API_KEY": raw_key}


# --- auth/check -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["x-api-key", "bearer", "bare", "basic"])
def test_check_with_a_valid_key(user, how):
    _, raw = issued_key(user, scopes=["agents:read"])

    got = same_answer(check(raw, how=how))

    assert got.status == "200 OK"


def test_check_with_a_warm_key_answers_alike_on_its_second_use(user):
    _, raw = issued_key(user)
    environ_of = check(raw)

    def twice(app):
        answer(app, environ_of())
        return answer(app, environ_of())

    django_answer = twice(WSGIHandler())
    forget_everything()
    lane_answer = twice(lane_over_django())

    assert lane_answer.by_lane
    assert comparable(lane_answer) == comparable(django_answer)


def test_check_with_an_invented_key(user):
    _, raw = issued_key(user)

    got = same_answer(check(forged_key(raw)))

    assert got.status == "401 Unauthorized"


def test_check_with_a_mistyped_key(user):
    _, raw = issued_key(user)

    same_answer(check(raw[:-1] + ("A" if raw[-1] != "A" else "B")))


def test_check_with_a_revoked_key(user):
    api_key, raw = issued_key(user)
    api_key_revoke(api_key=api_key, actor=user)

    got = same_answer(check(raw))

    assert json.loads(got.body)["code"] == "api_key_disabled"


def test_check_with_an_expired_key(user):
    _, raw = issued_key(user, expires_at=timezone.now() + timedelta(minutes=1))

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        got = same_answer(check(raw))

    assert json.loads(got.body)["code"] == "api_key_expired"


def test_check_from_an_address_outside_the_allowlist(user):
    _, raw = issued_key(user, allowed_ips=["10.0.0.0/8"])

    got = same_answer(check(raw))

    assert json.loads(got.body)["code"] == "ip_not_allowed"


def test_check_within_and_outside_the_endpoint_grants(user):
    _, raw = issued_key(user, endpoints=[{"path": "/api/v1/orders", "methods": ["GET"]}])

    assert same_answer(check(raw, uri="/api/v1/orders/5")).status == "200 OK"
    forget_everything()
    assert same_answer(check(raw, uri="/api/v1/invoices")).status == "403 Forbidden"


@pytest.mark.parametrize(
    "uri", ["/api/v1/orders/../admin", "/api/v1/orders/./5", "/api/v1/orders/..%2Fadmin"]
)
def test_check_judges_the_normal_form_of_the_path(user, uri):
    _, raw = issued_key(user, endpoints=[{"path": "/api/v1/orders", "methods": ["GET"]}])

    same_answer(check(raw, uri=uri))


def test_check_over_the_keys_rate_limit(user):
    _, raw = issued_key(user, rate_limit={"per_minute": 1})
    environ_of = check(raw)

    def twice(app):
        answer(app, environ_of())
        before = metrics_now()
        return answer(app, environ_of()), metrics_added(before, metrics_now())

    django_answer, django_metrics = twice(WSGIHandler())
    forget_everything()
    lane_answer, lane_metrics = twice(lane_over_django())

    assert lane_answer.status == "429 Too Many Requests"
    assert lane_answer.by_lane
    assert comparable(lane_answer) == comparable(django_answer)
    assert lane_metrics == django_metrics


def test_check_naming_another_tenant_than_the_keys(user):
    tenant = TenantFactory()
    MembershipFactory(user=user, tenant=tenant)
    _, raw = issued_key(user, tenant=tenant)

    same_answer(check(raw, HTTP_X_TENANT_ID=str(TenantFactory().pk)))


def test_check_from_an_allowed_origin_carries_the_cors_headers(user):
    _, raw = issued_key(user)

    with override_settings(CORS_ALLOWED_ORIGINS=["https://app.example"]):
        got = same_answer(check(raw, HTTP_ORIGIN="https://app.example"))

    assert ("access-control-allow-origin", "https://app.example") in got.headers


def test_check_over_https_carries_hsts(user):
    _, raw = issued_key(user)

    with override_settings(SECURE_HSTS_SECONDS=3600):
        got = same_answer(check(raw, **{"wsgi.url_scheme": "https"}))

    assert any(name == "Strict-Transport-Security" for name, _ in got.headers)


def test_check_of_an_original_request_too_long_is_refused_alike(user):
    _, raw = issued_key(user)

    same_answer(check(raw, uri="/" + "a" * 2100))


def test_check_without_a_credential_is_left_to_django(db):
    same_answer(check(), by_lane=False)


def test_check_with_a_jwt_is_left_to_django(user):
    from tests.tenants.helpers import jwt_for

    same_answer(check(jwt_for(user), how="bearer"), by_lane=False)


def test_check_with_a_session_cookie_or_a_query_is_left_to_django(user):
    _, raw = issued_key(user)

    same_answer(check(raw, HTTP_COOKIE="sessionid=abc"), by_lane=False)
    forget_everything()
    same_answer(lambda: {**check(raw)(), "QUERY_STRING": "format=json"}, by_lane=False)


def test_check_with_a_well_formed_csrf_cookie_is_the_lanes(user):
    _, raw = issued_key(user)

    same_answer(check(raw, HTTP_COOKIE="csrftoken=" + "a" * 32))


def test_check_with_a_malformed_csrf_cookie_is_left_to_django(user):
    """Django's CSRF middleware answers a malformed cookie with a fresh one."""
    _, raw = issued_key(user)
    environ_of = check(raw, HTTP_COOKIE="csrftoken=short")

    through_django = answer(WSGIHandler(), environ_of())
    forget_everything()
    through_lane = answer(lane_over_django(), environ_of())

    assert not through_lane.by_lane
    assert through_lane.status == through_django.status == "200 OK"
    assert any(name == "Set-Cookie" for name, _ in through_lane.headers)


def test_check_with_a_malformed_authorization_is_left_to_django(db):
    same_answer(lambda: environ_for("GET", CHECK, HTTP_AUTHORIZATION="Basic !!!"), by_lane=False)


def test_check_asking_for_html_is_left_to_django(user):
    """The browsable API's page carries a fresh CSRF token, so only its status is compared."""
    _, raw = issued_key(user)
    environ_of = check(raw, HTTP_ACCEPT="text/html")

    through_django = answer(WSGIHandler(), environ_of())
    forget_everything()
    through_lane = answer(lane_over_django(), environ_of())

    assert not through_lane.by_lane
    assert through_lane.status == through_django.status == "200 OK"


def test_lane_switched_off_leaves_everything_to_django(user):
    _, raw = issued_key(user)

    same_answer(check(raw), by_lane=False, lane_options={"enabled": False})


def test_lane_stands_aside_for_a_middleware_list_it_does_not_know(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]

    assert not Lane(WSGIHandler()).enabled


@pytest.mark.parametrize(
    "setting",
    [
        {"FORCE_SCRIPT_NAME": "/auth"},
        {"DISALLOWED_USER_AGENTS": [re.compile("curl")]},
        {"PREPEND_WWW": True},
        {"CSRF_USE_SESSIONS": True},
    ],
)
def test_lane_stands_aside_under_settings_that_change_djangos_answer(setting):
    with override_settings(**setting):
        assert not Lane(WSGIHandler()).enabled


def test_lane_stands_aside_when_each_request_is_a_transaction(monkeypatch):
    from django.conf import settings

    # The one key the lane reads, set on the live dict: overriding DATABASES would warn.
    monkeypatch.setitem(settings.DATABASES["default"], "ATOMIC_REQUESTS", True)

    assert not Lane(WSGIHandler()).enabled


def test_lane_is_on_with_the_projects_settings():
    assert Lane(WSGIHandler()).enabled


# --- keys/verify ------------------------------------------------------------------------------


def test_verify_a_valid_key(user, verifier):
    _, raw = issued_key(user, scopes=["agents:read"])

    got = same_answer(verify(verifier, {"key": raw, "method": "get", "path": "/api/v1/agents"}))

    assert json.loads(got.body)["valid"] is True


def test_verify_an_invented_key(user, verifier):
    _, raw = issued_key(user)

    got = same_answer(verify(verifier, {"key": forged_key(raw)}))

    assert json.loads(got.body)["code"] == "invalid_api_key"


def test_verify_a_path_with_dot_segments(user, verifier):
    _, raw = issued_key(user, endpoints=[{"path": "/api/v1/orders", "methods": ["GET"]}])

    same_answer(verify(verifier, {"key": raw, "path": "/api/v1/orders/../admin"}))


def test_verify_a_path_normalise_path_refuses(user, verifier):
    _, raw = issued_key(user)

    got = same_answer(verify(verifier, {"key": raw, "path": "/a/%2F/b"}))

    assert got.status == "400 Bad Request"


def test_verify_by_a_caller_without_the_scope(user):
    _, caller = issued_key(user, scopes=["read:all"])
    _, raw = issued_key(user)

    got = same_answer(verify(caller, {"key": raw}))

    assert got.status == "403 Forbidden"


def test_verify_by_an_invented_verifier(user):
    _, raw = issued_key(user)

    same_answer(verify(forged_key(raw), {"key": raw}))


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"key": ["a"]}',
        b'{"key": "kw_x", "method": "FETCH"}',
        b'{"key": "kw_x", "cost": 3}',
        b'{"key": "\\ud800"}',
    ],
)
def test_verify_with_a_body_the_lane_does_not_read_is_left_to_django(verifier, body):
    same_answer(verify(verifier, body), by_lane=False)


def test_verify_with_a_form_body_is_left_to_django(user, verifier):
    _, raw = issued_key(user)

    same_answer(
        verify(verifier, f"key={raw}".encode(), "application/x-www-form-urlencoded"),
        by_lane=False,
    )


# --- /oauth2/introspect -----------------------------------------------------------------------


def introspect(raw_verifier, form: dict | bytes, content_type=FORM, **meta):
    raw_body = form if isinstance(form, bytes) else urlencode(form).encode()
    return lambda: environ_for(
        "POST",
        INTROSPECT,
        body=raw_body,
        CONTENT_TYPE=content_type,
        HTTP_AUTHORIZATION=f"Bearer {raw_verifier}",
        **meta,
    )


def test_introspect_a_valid_key(user, verifier):
    _, raw = issued_key(user, scopes=["agents:read"])

    got = same_answer(introspect(verifier, {"token": raw}))

    assert json.loads(got.body)["active"] is True


def test_introspect_an_invented_key(user, verifier):
    _, raw = issued_key(user)

    got = same_answer(introspect(verifier, {"token": forged_key(raw)}))

    assert json.loads(got.body) == {"active": False}


def test_introspect_a_persons_access_token(user, verifier):
    got = same_answer(introspect(verifier, {"token": jwt_for(user)}))

    assert json.loads(got.body)["active"] is True


def test_introspect_a_token_that_decodes_to_nothing_known(verifier):
    got = same_answer(introspect(verifier, b"token=%ff"))

    assert json.loads(got.body) == {"active": False}


def test_introspect_without_a_token(verifier):
    got = same_answer(introspect(verifier, {"token_type_hint": "access_token"}))

    assert json.loads(got.body)["error"] == "invalid_request"


def test_introspect_by_a_caller_without_the_scope(user):
    _, caller = issued_key(user, scopes=["read:all"])
    _, raw = issued_key(user)

    got = same_answer(introspect(caller, {"token": raw}))

    assert got.status == "403 Forbidden"


def test_introspect_by_an_invented_verifier(user):
    _, raw = issued_key(user)

    same_answer(introspect(forged_key(raw), {"token": raw}))


@pytest.mark.parametrize(
    "form, content_type",
    [
        (b"token=a&token=b", FORM),  # a repeated parameter: the view's own 400
        (b"token=abc&client_id=x&client_secret=y", FORM),  # a service client's credentials
        (b'{"token": "abc"}', "application/json"),
        (b"token=abc", f"{FORM}; charset=latin-1"),
    ],
)
def test_introspect_with_a_body_the_lane_does_not_read_is_left_to_django(
    verifier, form, content_type
):
    same_answer(introspect(verifier, form, content_type), by_lane=False)


# --- the endpoints' own tests ------------------------------------------------------------------

ENDPOINT_TESTS = (
    "tests/apikeys/test_verification.py",
    "tests/apikeys/test_paths.py",
    "tests/apikeys/test_escalation.py",
    "tests/apikeys/test_refusals.py",
    "tests/apikeys/test_unknown_keys.py",
    "tests/apikeys/test_presentation.py",
    "tests/apikeys/test_refusal_logging.py",
    "tests/metering/test_rate_limit_headers.py",
    "tests/core/test_challenges.py",
    "tests/oauth/test_introspection.py",
)


def test_endpoint_tests_pass_through_the_lane():
    """Every request of the endpoints' own tests, answered by the lane where it answers."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ}
    if env.get("DATABASE_URL", "").startswith("postgres"):
        # A database of its own: this run's test database is open in this process.
        env["DATABASE_URL"] += "_through_lane"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--through-lane",
            "-p",
            "no:randomly",
            *ENDPOINT_TESTS,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    served = re.search(r"through the lane: (\d+) answered by the lane", run.stdout)
    assert served is not None and int(served.group(1)) > 50, run.stdout[-2000:]
