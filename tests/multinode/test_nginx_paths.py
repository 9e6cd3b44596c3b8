"""Issue 21 row 1 through docs/nginx-keyward.conf: a dot-segment path never reaches the upstream.

nginx hands the guarded service the request URI as the client sent it (``proxy_pass`` without
a URI) and Keyward the same raw ``$request_uri``; the service resolves ``..`` itself. A key
granted only ``GET /inventory`` must therefore be refused ``/inventory/../orders`` however it
is spelled, and the service must never see the request.
"""

import pytest

from tests.factories import UserFactory, issued_key
from tests.multinode import test_nginx as recipe

# The recipe's running site, shared rather than copied: the same file, nginx and node.
guarded_service = recipe.guarded_service
keyward_node = recipe.keyward_node
nginx = recipe.nginx
pytestmark = recipe.pytestmark


@pytest.fixture
def inventory_key():
    _, raw = issued_key(
        user=UserFactory(), name="granted", endpoints=[{"path": "/inventory", "methods": ["GET"]}]
    )
    return raw


@pytest.mark.parametrize(
    "path",
    [
        "/inventory/../orders",
        "/inventory/%2e%2e/orders",
        "/inventory/%2E%2e/orders",
        "/inventory/..%2Forders",
        "/inventory/..;/orders",
    ],
)
def test_a_dot_segment_escape_from_a_grant_is_refused_before_the_upstream(
    nginx, inventory_key, path
):
    status, _, body = recipe.get(nginx, path, {"Authorization": f"Bearer {inventory_key}"})

    assert status == 403, body
    assert not (isinstance(body, dict) and "path" in body)  # the echo service never answered


def test_a_granted_path_spelled_with_dot_segments_still_reaches_the_upstream(nginx, inventory_key):
    status, _, body = recipe.get(
        nginx, "/inventory/x/../items", {"Authorization": f"Bearer {inventory_key}"}
    )

    assert status == 200, body
    assert body["path"] == "/inventory/x/../items"  # the upstream gets what the client sent
