"""Each speed trick gives what the public API gives, and is written against the pinned version."""

import logging
import re
import time
from pathlib import Path

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.cache import caches
from django.http import HttpResponse
from django_ratelimit.core import get_usage, is_ratelimited

from core.fastpath import cors, django_internals, guard, hashing, simplejwt
from metering.meter import GROUP, Window, counter_key, parse_rate, window_end

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def pinned_version(distribution: str) -> str | None:
    """The version ``requirements.txt`` (or, for CPython, pyproject's ``requires-python``) pins."""
    if distribution == "CPython":
        match = re.search(r'requires-python = ">=(\d+\.\d+),<', PYPROJECT.read_text())
        return match[1] if match else None
    wanted = distribution.lower().replace("_", "-")
    for line in REQUIREMENTS.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if re.sub(r"\[.*\]", "", name).lower().replace("_", "-") == wanted:
            return version
    return None


TRICKS = sorted(guard.WRITTEN_AGAINST.items())


def test_every_trick_is_registered():
    assert {name for name, _ in TRICKS} == {
        "wsgi_headers",
        "header_store",
        "lazy_messages",
        "openssl_hmac",
        "redis_held_connection",
        "simplejwt_state",
        "cors_idle",
    }


@pytest.mark.parametrize(("trick", "library"), TRICKS, ids=[name for name, _ in TRICKS])
def test_the_trick_was_written_against_the_pinned_library_version(trick, library):
    distribution, written_against = library
    pinned = pinned_version(distribution)
    assert pinned == written_against, (
        f"fast path {trick!r} was written against {distribution} {written_against}, but "
        f"{pinned} is pinned: re-read the library's internals it relies on (core/fastpath/), "
        f"re-measure it (docs/performance.md), then update its version"
    )


@pytest.mark.parametrize(("trick", "library"), TRICKS, ids=[name for name, _ in TRICKS])
def test_the_trick_runs_on_the_installed_library_version(trick, library):
    distribution, written_against = library
    installed = guard.installed_version(distribution)
    assert installed == written_against, (
        f"fast path {trick!r} is off: written against {distribution} {written_against}, "
        f"{installed} installed"
    )


# --- The guard ----------------------------------------------------------------------------


def test_a_trick_named_by_the_operator_is_off(monkeypatch, caplog):
    monkeypatch.setattr(guard, "DISABLED", frozenset({"some_trick"}))
    monkeypatch.setattr(guard, "WRITTEN_AGAINST", {})

    with caplog.at_level(logging.INFO, logger="core.fastpath"):
        assert not guard.trick_enabled("some_trick", "Django", guard.installed_version("Django"))
    assert "some_trick off" in caplog.text


def test_all_turns_every_trick_off(monkeypatch):
    monkeypatch.setattr(guard, "DISABLED", frozenset({"all"}))
    monkeypatch.setattr(guard, "WRITTEN_AGAINST", {})

    assert not guard.trick_enabled("some_trick", "Django", guard.installed_version("Django"))


def test_a_trick_on_another_library_version_is_off_and_says_so(monkeypatch, caplog):
    monkeypatch.setattr(guard, "DISABLED", frozenset())
    monkeypatch.setattr(guard, "WRITTEN_AGAINST", {})

    with caplog.at_level(logging.INFO, logger="core.fastpath"):
        assert not guard.trick_enabled("some_trick", "Django", "4.0.0")
    assert "written against Django 4.0.0" in caplog.text


def test_a_trick_on_its_library_version_is_on(monkeypatch):
    monkeypatch.setattr(guard, "DISABLED", frozenset())
    monkeypatch.setattr(guard, "WRITTEN_AGAINST", {})

    assert guard.trick_enabled("some_trick", "Django", guard.installed_version("Django"))


def test_the_operator_list_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(guard.DISABLE_VARIABLE, " wsgi_headers, ,openssl_hmac")

    assert guard._disabled_by_operator() == {"wsgi_headers", "openssl_hmac"}


# --- Django's header map --------------------------------------------------------------------


def _response():
    response = HttpResponse("{}", content_type="application/json")
    response["X-Request-Id"] = "abc"
    response.headers["Cache-Control"] = "no-store"
    return response


def test_wsgi_headers_from_the_store_are_djangos_items_including_later_ones():
    fast, public = _response(), _response()

    django_internals.wsgi_headers_from_store(fast)
    django_internals.wsgi_headers_public(public)
    fast["Vary"] = public["Vary"] = "Authorization"

    assert list(fast.items()) == list(public.items())


def test_headers_written_to_the_store_are_what_setting_them_gives():
    pairs = [("X-RateLimit-Limit", "60"), ("RateLimit-Policy", '"minute";q=60;w=60')]
    fast, public = _response(), _response()

    django_internals.write_headers_to_store(fast, pairs)
    django_internals.write_headers_public(public, pairs)

    assert list(fast.items()) == list(public.items())
    assert fast["ratelimit-policy"] == '"minute";q=60;w=60'


# --- Django's message storage ---------------------------------------------------------------


def test_deferred_messages_are_untouched_until_read(rf):
    request = rf.get("/")
    request.session = {}

    assert django_internals.defer_messages_lazily(request)
    assert django_internals.messages_untouched_lazily(request)
    assert list(get_messages(request)) == []
    assert not django_internals.messages_untouched_lazily(request)


def test_without_the_trick_django_builds_the_messages_itself(rf):
    request = rf.get("/")

    assert not django_internals.defer_messages_public(request)
    assert not django_internals.messages_untouched_public(request)


# --- CPython's OpenSSL HMAC -----------------------------------------------------------------


def test_openssl_hmac_gives_the_standard_librarys_hash():
    if hashing._openssl_hmac_new is None:
        pytest.skip("this Python has no OpenSSL HMAC")
    fast = hashing.keyed_hmac_openssl(b"pepper").copy()
    public = hashing.keyed_hmac_public(b"pepper").copy()
    fast.update(b"kw_some-raw-key")
    public.update(b"kw_some-raw-key")

    assert fast.hexdigest() == public.hexdigest()


# --- SimpleJWT's state ----------------------------------------------------------------------


def test_simplejwts_tokens_sign_with_the_installed_backend():
    from rest_framework_simplejwt import state

    from accounts.signing import user_token_backend

    assert state.token_backend is user_token_backend
    assert simplejwt.SIMPLEJWT_STATE


# --- django-cors-headers --------------------------------------------------------------------


def test_cors_allows_nobody_by_default_in_both_ways(settings):
    assert cors.cors_allows_nobody_by_settings()
    assert not cors.cors_allows_nobody_public()


def test_cors_with_an_allowed_origin_is_not_stepped_around(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]

    assert not cors.cors_allows_nobody_by_settings()


# --- django-ratelimit's counters, computed as it documents them -----------------------------


@pytest.mark.parametrize("rate", ["5/m", "100/5m", "10/s", "1000/h", "7/2d"])
def test_a_rate_parses_as_django_ratelimit_parses_it(rate):
    from django_ratelimit.core import _split_rate  # the oracle, never called by the code

    assert tuple(parse_rate(rate)) == _split_rate(rate)


@pytest.mark.parametrize("period", [1, 60, 3600, 86400])
@time_machine.travel("2026-12-07 03:41:17", tick=False)
def test_our_counter_is_the_one_django_ratelimit_counts(rf, period):
    caches["default"].clear()
    value = "key:shared-bucket"
    rate = f"5/{period}s"
    # A decorator's (or middleware's) count, by django-ratelimit's public API:
    is_ratelimited(rf.get("/"), group=GROUP, key=lambda g, r: value, rate=rate, increment=True)
    end = window_end(value, period, int(time.time()))
    key = counter_key(GROUP, end, Window(5, period), value)

    assert caches["default"].get(key) == 1
    usage = get_usage(rf.get("/"), group=GROUP, key=lambda g, r: value, rate=rate)
    assert usage["count"] == 1


INTERNALS = re.compile(
    r"\._store\b|\b_hashlib\b|\b_get_window\b|\b_make_cache_key\b|\b_split_rate\b|"
    r"\._wrapped\b|\._messages\b|sched_yield|state\.token_backend|send_command|read_response"
)
ROOT = REQUIREMENTS.parent
APPS = [
    "accounts",
    "agents",
    "apikeys",
    "audit",
    "config",
    "core",
    "identity",
    "metering",
    "oauth",
    "ops",
    "tenants",
]


def test_no_library_internal_is_reached_outside_core_fastpath():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "fastpath" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if INTERNALS.search(line.split("#")[0])
    ]

    assert offenders == []
