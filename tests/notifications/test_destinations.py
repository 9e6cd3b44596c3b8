"""The SSRF guard at delivery time: a name is resolved, and every address must be public."""

import pytest

from notifications.destinations import DestinationRefused, is_public, resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
    ],
)
def test_non_public_addresses_are_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address):
    assert is_public(address)


def test_a_name_resolving_to_loopback_is_refused_at_delivery(settings):
    settings.KEYWARD_WEBHOOK_ALLOW_PRIVATE = False

    with pytest.raises(DestinationRefused, match="private, loopback or reserved"):
        resolve("http://localhost:8000/hook")


def test_the_connection_goes_to_the_vetted_address(settings):
    settings.KEYWARD_WEBHOOK_ALLOW_PRIVATE = True

    destination = resolve("https://localhost:8443/hook?x=1")

    assert destination.address in ("127.0.0.1", "::1")
    assert (destination.host, destination.port, destination.path) == (
        "localhost",
        8443,
        "/hook?x=1",
    )


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "https://user:pw@example.com/", "http:///nohost", "http://[::1"]
)
def test_malformed_destinations_are_refused(url):
    with pytest.raises(DestinationRefused):
        resolve(url)
