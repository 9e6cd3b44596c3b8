import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audit.models import AuditEvent
from tenants.models import Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    superuser = get_user_model().objects.create_superuser(
        email="root@example.com", password="a long admin password"
    )
    client.force_login(superuser)
    return client


def test_createsuperuser_noinput_with_email_works(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long admin password")

    call_command("createsuperuser", "--noinput", "--email", "Root@Example.com", verbosity=0)

    user = get_user_model().objects.get(email="root@example.com")
    assert user.is_superuser and user.is_staff
    assert user.check_password("a long admin password")


def test_createsuperuser_gives_a_personal_tenant_like_registration(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long admin password")

    call_command("createsuperuser", "--noinput", "--email", "root@example.com", verbosity=0)

    membership = Membership.objects.get(user__email="root@example.com")
    assert membership.role == Membership.Role.OWNER


def test_admin_user_list_shows_email_names_and_flags(admin_client):
    UserFactory(email="ada@example.com")

    response = admin_client.get("/admin/accounts/user/")

    assert response.status_code == 200
    content = response.content.decode()
    assert "ada@example.com" in content
    for column in ("column-email", "column-first_name", "column-is_staff", "column-date_joined"):
        assert column in content


def test_admin_user_search_by_email(admin_client):
    UserFactory(email="ada@example.com")
    UserFactory(email="grace@example.com")

    response = admin_client.get("/admin/accounts/user/", {"q": "grace"})

    assert b"grace@example.com" in response.content
    assert b"ada@example.com" not in response.content


def test_admin_add_form_has_password1_and_password2_and_no_username(admin_client):
    response = admin_client.get("/admin/accounts/user/add/")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="email"' in content
    assert 'name="password1"' in content
    assert 'name="password2"' in content
    assert 'name="username"' not in content


def test_admin_add_creates_a_user_with_a_personal_tenant(admin_client):
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New@Example.com",
            "first_name": "New",
            "last_name": "User",
            "usable_password": "true",
            "password1": "a long user password",
            "password2": "a long user password",
        },
    )

    assert response.status_code == 302
    user = get_user_model().objects.get(email="new@example.com")
    assert user.check_password("a long user password")
    assert Membership.objects.filter(user=user, role=Membership.Role.OWNER).count() == 1
    event = AuditEvent.objects.get(event_type="user.created", target_id=str(user.pk))
    assert event.actor_email == "root@example.com"
    assert "a long user password" not in str(event.data)


def test_an_admin_change_of_a_user_is_audited_without_the_password(admin_client):
    user = UserFactory(email="ada@example.com", first_name="Ada")

    response = admin_client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "email": "ada@example.com",
            "first_name": "Augusta",
            "last_name": user.last_name,
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(event_type="user.updated", target_id=str(user.pk))
    assert event.data == {"fields": ["first_name"], "via": "admin"}


def test_admin_add_refuses_an_email_that_differs_only_in_case(admin_client):
    UserFactory(email="ada@example.com")

    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "ADA@example.com",
            "usable_password": "true",
            "password1": "a long user password",
            "password2": "a long user password",
        },
    )

    assert response.status_code == 200
    assert get_user_model().objects.filter(email__iexact="ada@example.com").count() == 1


def test_admin_change_page_never_shows_the_password_hash(admin_client):
    user = UserFactory()
    algorithm, _, rest = user.password.partition("$")

    response = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")

    assert response.status_code == 200
    content = response.content.decode()
    assert algorithm in content
    salt_and_hash = rest.split("$")
    for part in salt_and_hash:
        assert part[:6] not in content
