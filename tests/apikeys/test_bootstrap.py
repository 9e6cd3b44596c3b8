"""Bootstrap (SPEC §3): the first key of an installation, once ever, even under concurrent calls."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from apikeys.models import ApiKey, InstallationState
from audit.models import AuditEvent
from tests.apikeys.conftest import BOOTSTRAP_URL, INFO_URL, KEYS_URL, key_client, make_api_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CALLERS = 20


def bootstrap(**body):
    return APIClient().post(BOOTSTRAP_URL, body, format="json")


def assert_disabled(response):
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "bootstrap_disabled"


def test_bootstrap_issues_the_first_key_once(db):
    response = bootstrap(name="first", description="set-up")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"api_key", "id", "name", "description", "message", "note"}
    assert (body["name"], body["description"]) == ("first", "set-up")
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.key_prefix == body["api_key"][:12]


def test_bootstrap_key_is_an_admin_key_manager_with_full_access_of_a_superuser(db):
    raw = bootstrap(name="first").json()["api_key"]

    info = key_client(raw).get(INFO_URL).json()

    assert (info["key_type"], info["key_manager"], info["full_access"]) == ("admin", True, True)
    owner = get_user_model().objects.get(pk=info["owner"]["id"])
    assert owner.is_superuser and owner.is_staff
    assert key_client(raw).get(KEYS_URL, {"all": "true"}).status_code == 200


def test_bootstrap_key_belongs_to_the_existing_superuser(db):
    admin = get_user_model().objects.create_superuser(email="root@example.com", password="x" * 12)

    body = bootstrap(name="first").json()

    assert ApiKey.objects.get(pk=body["id"]).user == admin


def test_second_bootstrap_gets_403_bootstrap_disabled(db):
    bootstrap(name="first")

    assert_disabled(bootstrap(name="second"))
    assert ApiKey.objects.count() == 1


def test_bootstrap_is_disabled_once_any_key_was_issued(user):
    make_api_key(user)

    assert_disabled(bootstrap(name="late"))


def test_bootstrap_stays_disabled_after_every_key_is_deleted(db):
    bootstrap(name="first")
    ApiKey.objects.all().delete()

    assert_disabled(bootstrap(name="again"))


def test_bootstrap_stays_disabled_after_a_key_issued_normally_is_deleted(user):
    api_key, _ = make_api_key(user)
    api_key.delete()

    assert_disabled(bootstrap(name="again"))


def test_bootstrap_is_disabled_by_setting(db, settings):
    settings.KEYWARD_BOOTSTRAP_ENABLED = False

    response = bootstrap(name="first")

    assert_disabled(response)
    assert "KEYWARD_BOOTSTRAP_ENABLED" in response.json()["detail"]
    assert not ApiKey.objects.exists()


def test_bootstrap_works_after_the_installation_state_row_is_lost(db):
    """``manage.py flush`` empties every table: a fresh installation, so bootstrap reopens."""
    InstallationState.objects.all().delete()

    assert bootstrap(name="first").status_code == 201
    assert_disabled(bootstrap(name="second"))


def test_bootstrap_after_the_state_row_is_lost_stays_closed_while_keys_exist(user):
    make_api_key(user)
    InstallationState.objects.all().delete()

    assert_disabled(bootstrap(name="late"))


def test_bootstrap_is_audited_without_the_secret(db):
    raw = bootstrap(name="first").json()["api_key"]

    event = AuditEvent.objects.get(event_type="api_key.bootstrap")
    assert event.data["key_prefix"] == raw[:12]
    assert raw not in str(event.data)


@pytest.mark.parametrize("body", [{"name": "x" * 101}, {"name": ["a"]}, {"description": {}}])
def test_bootstrap_with_a_malformed_body_gets_400_and_stays_available(db, body):
    response = bootstrap(**body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert bootstrap(name="first").status_code == 201


def test_bootstrap_ignores_credentials(db):
    _, raw = make_api_key(UserFactory())

    assert_disabled(key_client(raw).post(BOOTSTRAP_URL, {"name": "x"}, format="json"))


def test_a_spent_bootstrap_answers_403_however_often_it_is_called(db, settings):
    settings.KEYWARD_BOOTSTRAP_RATE_PER_IP = "2/m"
    client = APIClient()
    assert client.post(BOOTSTRAP_URL, {"name": "first"}, format="json").status_code == 201

    answers = [client.post(BOOTSTRAP_URL, {"name": "again"}, format="json") for _ in range(4)]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(403, "bootstrap_disabled")] * 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_bootstraps_issue_exactly_one_key():
    InstallationState.objects.update_or_create(pk=1, defaults={"keys_ever_issued": False})
    barrier = threading.Barrier(CALLERS)
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def call(n):
        try:
            client = APIClient()  # one deploy script, one client IP
            barrier.wait(timeout=10)
            response = client.post(BOOTSTRAP_URL, {"name": f"race {n}"}, format="json")
            with lock:
                answers.append((response.status_code, response.json().get("code")))
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(n,)) for n in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answers, key=lambda a: a[0]) == [(201, None)] + [(403, "bootstrap_disabled")] * (
        CALLERS - 1
    )
    assert ApiKey.objects.count() == 1
    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_the_bootstrap_owner_it_creates_has_a_personal_tenant(db):
    from tenants.models import Membership

    response = APIClient().post(BOOTSTRAP_URL, {"name": "first"}, format="json")

    owner = ApiKey.objects.get(pk=response.json()["id"]).user
    assert Membership.objects.filter(user=owner, role=Membership.Role.OWNER).count() == 1
