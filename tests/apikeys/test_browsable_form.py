"""The browsable API's HTML form creates a key as a person fills it in."""

import pytest
from django.test import Client

from apikeys.models import ApiKey
from tests.apikeys.conftest import KEYS_URL
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user):
    client = Client()
    assert client.login(email=user.email, password=DEFAULT_PASSWORD)
    return client


def test_the_browsable_api_offers_empty_metadata_not_null(browser):
    page = browser.get(KEYS_URL, HTTP_ACCEPT="text/html").content.decode()

    assert 'name="metadata"' in page
    assert ">null</textarea>" not in page


def test_the_html_form_as_left_by_the_browsable_api_creates_a_key(browser, user):
    form = {
        "name": "from the form",
        "metadata": "null",
        "rate_limit.per_minute": "",
        "rate_limit.per_hour": "",
        "key_type": "development",
    }

    response = browser.post(KEYS_URL, form, HTTP_ACCEPT="application/json")

    assert response.status_code == 201, response.content
    stored = ApiKey.objects.get(user=user, name="from the form")
    assert (stored.metadata, stored.rate_limit) == ({}, {})


def test_json_null_metadata_means_none(user):
    from tests.apikeys.conftest import person_client

    response = person_client(user).post(KEYS_URL, {"name": "k", "metadata": None}, format="json")

    assert response.status_code == 201
    assert ApiKey.objects.get(user=user).metadata == {}
