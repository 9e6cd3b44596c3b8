"""What the Prometheus counters say about refused credentials, refusals and rate limits."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.factories import StaffUserFactory, UserFactory, issued_key

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


def sample(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def outcomes(method, code) -> float:
    return sample("keyward_auth_outcomes_total", method=method, code=code)


def rate_limit_hits(route, bucket) -> float:
    return sample("keyward_rate_limit_hits_total", route=route, bucket=bucket)


def test_refused_api_key_is_counted_under_the_api_key_method(api_client):
    before = outcomes("api_key", "invalid_api_key")

    response = api_client.get("/api/v1/auth/verify", HTTP_X_API_KEY="kw_not-a-real-key")

    assert response.status_code == 401
    assert outcomes("api_key", "invalid_api_key") == before + 1


def test_refused_jwt_is_counted_under_the_jwt_method(api_client):
    before = outcomes("jwt", "invalid_token")

    response = api_client.get("/api/v1/auth/verify", HTTP_AUTHORIZATION="Bearer aaa.bbb.ccc")

    assert response.status_code == 401
    assert outcomes("jwt", "invalid_token") == before + 1


def test_key_refused_by_its_scopes_is_counted_with_the_refusal_code(api_client):
    _, raw = issued_key(user=StaffUserFactory(), name="reader", scopes=["read:all"])
    before = outcomes("api_key", "insufficient_permissions")

    response = api_client.get("/api/v1/status", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 403
    assert outcomes("api_key", "insufficient_permissions") == before + 1


def test_password_logins_are_counted_by_outcome(api_client):
    UserFactory(email="ada@example.com", password=PASSWORD)
    valid, refused = outcomes("password", "valid"), outcomes("password", "invalid_credentials")

    ok = api_client.post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}, format="json"
    )
    wrong = api_client.post(
        "/api/v1/auth/login", {"email": "ada@example.com", "password": "nope"}, format="json"
    )

    assert (ok.status_code, wrong.status_code) == (200, 401)
    assert outcomes("password", "valid") == valid + 1
    assert outcomes("password", "invalid_credentials") == refused + 1


def test_429_from_the_ip_bucket_is_counted_by_route_and_bucket(api_client, settings):
    settings.KEYWARD_ANON_RATE_PER_IP = "1/m"
    route = "api/v1/auth/verify"
    before = rate_limit_hits(route, "ip")

    first = api_client.get("/api/v1/auth/verify", HTTP_X_API_KEY="kw_not-a-real-key")
    second = api_client.get("/api/v1/auth/verify", HTTP_X_API_KEY="kw_not-a-real-key")

    assert (first.status_code, second.status_code) == (401, 429)
    assert rate_limit_hits(route, "ip") == before + 1


def test_429_from_a_keys_own_bucket_is_counted_under_api_key(api_client):
    _, raw = issued_key(
        user=UserFactory(), name="tight", rate_limit={"per_minute": 1, "per_hour": 100}
    )
    route = "api/v1/auth/verify"
    before = rate_limit_hits(route, "api_key")

    api_client.get("/api/v1/auth/verify", HTTP_X_API_KEY=raw)
    response = api_client.get("/api/v1/auth/verify", HTTP_X_API_KEY=raw)

    assert response.status_code == 429
    assert rate_limit_hits(route, "api_key") == before + 1


def test_basic_apikey_credential_reads_the_metrics(api_client):
    _, raw = issued_key(user=StaffUserFactory(), name="scraper", key_type="admin")
    basic = base64.b64encode(f"apikey:{raw}".encode()).decode()

    response = api_client.get("/api/v1/metrics", HTTP_AUTHORIZATION=f"Basic {basic}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")


def _metrics_dir_chosen_by_gunicorn_conf() -> str:
    env = {name: value for name, value in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"}
    script = (
        "import os, runpy; runpy.run_path('gunicorn.conf.py');"
        " print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_each_gunicorn_server_gets_its_own_metrics_directory():
    # Two servers on one machine sharing a directory would sum each other's samples, and the
    # second one's start would wipe the first one's files.
    first, second = _metrics_dir_chosen_by_gunicorn_conf(), _metrics_dir_chosen_by_gunicorn_conf()

    assert first != second
