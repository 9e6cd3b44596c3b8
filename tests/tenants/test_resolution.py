"""Tenant resolution (SPEC §4), observed through a tenant-scoped endpoint: GET /api/v1/agents."""

import uuid
from types import SimpleNamespace

import pytest

from core.principal import AuthMethod, Principal
from tenants.models import Membership
from tenants.resolution import TENANT_ID_REQUIRED, tenant_for_request
from tests.factories import AgentFactory, MembershipFactory, TenantFactory, UserFactory
from tests.tenants.helpers import client_for, jwt_for, make_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/agents"
EXACT_MESSAGE = (
    "A Tenant Id is required to complete this request. Assign a tenant to your API key, "
    "or add the X-Tenant-Id header."
)


@pytest.fixture
def two_tenants():
    """``solo`` belongs to tenant a only; ``both`` to a and b; each tenant has one agent."""
    a, b = TenantFactory(), TenantFactory()
    solo, both = UserFactory(), UserFactory()
    MembershipFactory(tenant=a, user=solo)
    MembershipFactory(tenant=a, user=both)
    MembershipFactory(tenant=b, user=both)
    return SimpleNamespace(
        a=a,
        b=b,
        solo=solo,
        both=both,
        agent_a=AgentFactory(tenant=a),
        agent_b=AgentFactory(tenant=b),
    )


def listed_ids(response):
    return {agent["id"] for agent in response.json()["results"]}


def test_the_message_is_the_one_spec_section_4_gives():
    assert TENANT_ID_REQUIRED == EXACT_MESSAGE


def test_a_user_with_one_tenant_has_it_inferred(two_tenants):
    response = client_for(jwt_for(two_tenants.solo)).get(URL)

    assert response.status_code == 200
    assert listed_ids(response) == {str(two_tenants.agent_a.pk)}


def test_a_user_with_two_tenants_and_no_header_gets_400_tenant_id_required(two_tenants):
    response = client_for(jwt_for(two_tenants.both)).get(URL)

    assert response.status_code == 400
    assert response.json() == {"detail": EXACT_MESSAGE, "code": "tenant_id_required"}


def test_a_user_with_no_tenant_gets_400_tenant_id_required(db):
    response = client_for(jwt_for(UserFactory())).get(URL)

    assert response.status_code == 400
    assert response.json()["code"] == "tenant_id_required"


def test_the_header_picks_one_of_the_callers_tenants(two_tenants):
    response = client_for(jwt_for(two_tenants.both), tenant_header=two_tenants.b.pk).get(URL)

    assert response.status_code == 200
    assert listed_ids(response) == {str(two_tenants.agent_b.pk)}


def test_the_header_id_is_compared_as_a_uuid_not_as_text(two_tenants):
    named = str(two_tenants.b.pk).upper()

    response = client_for(jwt_for(two_tenants.both), tenant_header=named).get(URL)

    assert listed_ids(response) == {str(two_tenants.agent_b.pk)}


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_header_gets_400_tenant_id_required_not_the_inferred_tenant(two_tenants, blank):
    response = client_for(jwt_for(two_tenants.solo), tenant_header=blank).get(URL)

    assert response.status_code == 400
    assert response.json() == {
        "detail": (
            "The X-Tenant-Id header is empty: name a tenant id in it, or leave the header out."
        ),
        "code": "tenant_id_required",
    }


def test_a_blank_header_creates_nothing_even_with_a_tenant_bound_key(two_tenants):
    raw_key = make_key(two_tenants.solo, tenant=two_tenants.a, scopes=["agents:write"])

    response = client_for(raw_key, tenant_header="").post(URL, {"name": "x"}, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "tenant_id_required")
    assert not two_tenants.a.agents.filter(name="x").exists()


def test_a_header_naming_a_tenant_the_caller_is_not_in_gets_404_tenant_not_found(two_tenants):
    response = client_for(jwt_for(two_tenants.solo), tenant_header=two_tenants.b.pk).get(URL)

    assert response.status_code == 404
    assert response.json() == {
        "detail": "Tenant not found, or you are not a member of it.",
        "code": "tenant_not_found",
    }


def test_a_foreign_tenant_answers_exactly_as_one_that_does_not_exist(two_tenants):
    client = client_for(jwt_for(two_tenants.solo))

    foreign = client.get(URL, HTTP_X_TENANT_ID=str(two_tenants.b.pk))
    missing = client.get(URL, HTTP_X_TENANT_ID=str(uuid.uuid4()))

    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json())


@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        "1",
        "' OR 1=1 --",
        "00000000-0000-0000-0000-00000000000g",
        "é" * 40,
        "x" * 5000,
    ],
)
def test_a_malformed_header_gets_404_tenant_not_found(two_tenants, value):
    response = client_for(jwt_for(two_tenants.both), tenant_header=value).get(URL)

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_the_header_name_is_read_from_settings_at_call_time(two_tenants, settings):
    settings.KEYWARD_TENANT_HEADER = "X-Org"
    client = client_for(jwt_for(two_tenants.both))

    renamed = client.get(URL, HTTP_X_ORG=str(two_tenants.b.pk))
    old_name = client.get(URL, HTTP_X_TENANT_ID=str(two_tenants.b.pk))

    assert listed_ids(renamed) == {str(two_tenants.agent_b.pk)}
    assert old_name.json()["code"] == "tenant_id_required"


def test_a_tenant_bound_key_acts_in_its_tenant_without_a_header(two_tenants):
    raw_key = make_key(two_tenants.both, tenant=two_tenants.b)

    response = client_for(raw_key).get(URL)

    assert response.status_code == 200
    assert listed_ids(response) == {str(two_tenants.agent_b.pk)}


def test_a_tenant_bound_key_may_repeat_its_own_tenant_in_the_header(two_tenants):
    raw_key = make_key(two_tenants.both, tenant=two_tenants.b)

    response = client_for(raw_key, tenant_header=two_tenants.b.pk).get(URL)

    assert listed_ids(response) == {str(two_tenants.agent_b.pk)}


@pytest.mark.parametrize("header", ["a", "random", "malformed"])
def test_a_tenant_bound_key_naming_another_tenant_gets_403_tenant_mismatch(two_tenants, header):
    # Even a tenant its owner belongs to: the key was bound to b, and that does not change.
    raw_key = make_key(two_tenants.both, tenant=two_tenants.b)
    named = {"a": two_tenants.a.pk, "random": uuid.uuid4(), "malformed": "nope"}[header]

    response = client_for(raw_key, tenant_header=named).get(URL)

    assert response.status_code == 403
    assert response.json()["code"] == "tenant_mismatch"


def test_a_bound_key_whose_owner_left_the_tenant_gets_404_tenant_not_found(two_tenants):
    raw_key = make_key(two_tenants.both, tenant=two_tenants.b)
    Membership.objects.filter(user=two_tenants.both, tenant=two_tenants.b).delete()

    response = client_for(raw_key).get(URL)

    assert response.status_code == 404
    assert response.json()["code"] == "tenant_not_found"


def test_an_unbound_key_names_its_tenant_with_the_header(two_tenants):
    raw_key = make_key(two_tenants.both)

    no_header = client_for(raw_key).get(URL)
    with_header = client_for(raw_key, tenant_header=two_tenants.a.pk).get(URL)

    assert no_header.json()["code"] == "tenant_id_required"
    assert listed_ids(with_header) == {str(two_tenants.agent_a.pk)}


def test_a_session_resolves_like_any_other_credential(two_tenants):
    client = client_for(tenant_header=two_tenants.b.pk)
    client.force_login(two_tenants.both)

    response = client.get(URL)

    assert listed_ids(response) == {str(two_tenants.agent_b.pk)}


def test_the_resolved_tenant_is_cached_on_the_request(two_tenants, django_assert_num_queries):
    principal = Principal(auth_method=AuthMethod.JWT, user=two_tenants.both)
    request = SimpleNamespace(auth=principal, META={"HTTP_X_TENANT_ID": str(two_tenants.a.pk)})

    with django_assert_num_queries(1):
        first = tenant_for_request(request)
        second = tenant_for_request(request)

    assert first == second == two_tenants.a


def test_a_service_client_bound_to_a_tenant_acts_in_it_without_memberships(two_tenants):
    principal = Principal(auth_method=AuthMethod.CLIENT_CREDENTIALS, tenant_id=two_tenants.b.pk)

    tenant = tenant_for_request(SimpleNamespace(auth=principal, META={}))

    assert tenant == two_tenants.b
