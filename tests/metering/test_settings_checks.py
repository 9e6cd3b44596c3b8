"""Malformed rate-limit settings stop the process at startup with a message naming the variable,
instead of a 500 on every request that reads them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from metering.checks import validate_rate_limit_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", [1], "must be a JSON object of key types"),
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {"development": 5}, "['development'] must be a JSON"),
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {"developmnt": {}}, "unknown key type 'developmnt'"),
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {"production": {"per_day": 5}}, "unknown window"),
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {"production": {"per_minute": "x"}}, "positive integer"),
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {"production": {"per_minute": True}}, "positive integer"),
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {"production": {"per_minute": 1.5}}, "positive integer"),
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {"production": {"per_minute": -5}}, "at least 1"),
        ("KEYWARD_USER_RATE_LIMITS", 5, "must be a JSON object"),
        ("KEYWARD_USER_RATE_LIMITS", {"per_minute": 0}, "at least 1"),
        ("KEYWARD_ANON_RATE_PER_IP", "lots", "django-ratelimit rate"),
        ("KEYWARD_LOGIN_RATE_PER_IP", "5/x", "django-ratelimit rate"),
    ],
)
def test_malformed_rate_limit_setting_is_refused_naming_it(setting, value, message):
    with override_settings(**{setting: value}), pytest.raises(ImproperlyConfigured) as refused:
        validate_rate_limit_settings()

    assert setting in str(refused.value)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {}),
        ("KEYWARD_KEY_TYPE_RATE_LIMITS", {"production": {"per_minute": 1000, "per_hour": None}}),
        ("KEYWARD_USER_RATE_LIMITS", {"per_minute": 30}),
        ("KEYWARD_ANON_RATE_PER_IP", "100/10m"),
    ],
)
def test_well_formed_rate_limit_settings_are_accepted(setting, value):
    with override_settings(**{setting: value}):
        validate_rate_limit_settings()


def test_the_process_refuses_to_start_with_malformed_key_type_rate_limits():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "true",
        "KEYWARD_KEY_TYPE_RATE_LIMITS": '{"development": 5}',
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: KEYWARD_KEY_TYPE_RATE_LIMITS['development']" in result.stderr
