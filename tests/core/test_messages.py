"""Flash messages are for pages and the browser's form posts; an API read gets no storage."""

import pytest
from django.contrib import messages
from django.contrib.messages.api import MessageFailure

pytestmark = pytest.mark.django_db


def test_an_api_read_has_no_message_storage(client):
    request = client.get("/api/v1/health").wsgi_request

    with pytest.raises(MessageFailure):
        messages.info(request, "never shown")


def test_a_page_keeps_its_message_storage(client):
    request = client.get("/login").wsgi_request

    messages.info(request, "shown on the next page")


def test_an_api_form_post_keeps_its_message_storage(client):
    request = client.post("/api/v1/auth/logout").wsgi_request

    messages.info(request, "You have been logged out.")
