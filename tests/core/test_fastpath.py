"""Each speed trick gives what the public API gives, and is written against the pinned version."""

import logging
import re
from pathlib import Path

import pytest

from core.fastpath import guard

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
    assert {name for name, _ in TRICKS} == {"redis_held_connection", "simplejwt_state"}


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
    assert "some_trick off" in caplog.text
    assert "written against Django 4.0.0" in caplog.text


def test_a_reach_without_a_public_way_round_is_not_turned_off_by_the_operator(monkeypatch):
    monkeypatch.setattr(guard, "DISABLED", frozenset({"all"}))
    monkeypatch.setattr(guard, "WRITTEN_AGAINST", {})

    assert guard.written_against("some_reach", "Django", guard.installed_version("Django"))
    assert "some_reach" in guard.WRITTEN_AGAINST


def test_a_trick_on_its_library_version_is_on(monkeypatch):
    monkeypatch.setattr(guard, "DISABLED", frozenset())
    monkeypatch.setattr(guard, "WRITTEN_AGAINST", {})

    assert guard.trick_enabled("some_trick", "Django", guard.installed_version("Django"))


def test_the_operator_list_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(guard.DISABLE_VARIABLE, " wsgi_headers, ,openssl_hmac")

    assert guard._disabled_by_operator() == {"wsgi_headers", "openssl_hmac"}


# --- SimpleJWT's state ----------------------------------------------------------------------


def test_simplejwts_tokens_sign_with_the_installed_backend():
    from rest_framework_simplejwt import state

    from accounts.signing import user_token_backend

    assert state.token_backend is user_token_backend


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
