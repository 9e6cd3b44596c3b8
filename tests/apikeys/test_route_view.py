"""``route_view``: which Keyward view a judged path names, remembered per URLconf and path."""

from apikeys.permissions import route_rules, route_view
from core.views import HealthView
from tests.oauth.urls import ProbeAdminView


def test_a_keyward_route_names_its_view():
    assert route_view("/api/v1/health") is HealthView


def test_another_services_path_names_none_and_is_judged_by_its_resource():
    assert route_view("/api/v1/orders/5") is None
    assert route_rules("/api/v1/orders/5") == {"resource": "orders", "app_access": True}


def test_the_answer_is_that_of_the_urlconf_in_force(settings):
    assert route_view("/api/v1/probe/admin") is None  # remembered for the project's URLconf

    settings.ROOT_URLCONF = "tests.oauth.urls"

    assert route_view("/api/v1/probe/admin") is ProbeAdminView
    assert route_rules("/api/v1/probe/admin")["admin_only"] is True
