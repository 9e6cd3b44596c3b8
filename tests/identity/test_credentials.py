"""The one reader of credential headers (SPEC §3): header values in, a credential out."""

import base64

import pytest

from identity.credentials import (
    API_KEY,
    JWT,
    Credential,
    CredentialRefused,
    basic_pair,
    bearer_value,
    parse_authorization,
    presented,
    presented_scheme,
)

KEY = "kw_abcdefghijklmnop"
TOKEN = "aaa.bbb.ccc"


def basic(user_password: str) -> str:
    return "Basic " + base64.b64encode(user_password.encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {KEY}", f"bearer {KEY}", KEY, basic(f"apikey:{KEY}")],
)
def test_each_authorization_form_presents_the_key(authorization):
    assert parse_authorization(authorization) == Credential(API_KEY, KEY)


def test_a_bearer_value_with_three_parts_is_a_jwt():
    assert parse_authorization(f"Bearer {TOKEN}") == Credential(JWT, TOKEN)


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("", "invalid_credentials"),
        ("Bearer", "invalid_token"),
        (f"Bearer {KEY} extra", "invalid_token"),
        ("Basic", "invalid_credentials"),
        ("Basic !!!", "invalid_credentials"),
        (basic(f"someone:{KEY}"), "invalid_credentials"),
        (f"Token {KEY}", "invalid_credentials"),
    ],
)
def test_a_malformed_header_is_refused_with_its_code(authorization, code):
    with pytest.raises(CredentialRefused) as refused:
        parse_authorization(authorization)

    assert refused.value.code == code
    assert KEY not in refused.value.detail  # a refusal never echoes the credential


def test_x_api_key_acts_and_an_authorization_beside_it_is_read_too():
    found = presented(f" {KEY} ", f"Bearer {TOKEN}")

    assert found.acting == Credential(API_KEY, KEY)
    assert found.beside == Credential(JWT, TOKEN)


def test_a_malformed_authorization_beside_x_api_key_is_refused():
    with pytest.raises(CredentialRefused):
        presented(KEY, "Bearer")


def test_no_header_presents_nothing():
    assert presented(None, None).acting is None


def test_the_scheme_tried_is_named_without_judging_it():
    assert presented_scheme(KEY, None) == API_KEY
    assert presented_scheme(None, f"Bearer {TOKEN}") == JWT
    assert presented_scheme(None, "Token x y") == API_KEY
    assert presented_scheme(None, "  ") is None


def test_bearer_value_reads_only_a_well_formed_bearer_header():
    assert bearer_value(f"Bearer {TOKEN}") == TOKEN
    assert bearer_value(KEY) is None
    assert bearer_value(None) is None


def test_basic_pair_reads_both_basic_forms_and_refuses_a_malformed_one():
    assert basic_pair(basic("client-1:s3cret:with:colons")) == ("client-1", "s3cret:with:colons")
    assert basic_pair(basic("no-colon")) is None
    with pytest.raises(CredentialRefused):
        basic_pair("Basic not-base64!")
