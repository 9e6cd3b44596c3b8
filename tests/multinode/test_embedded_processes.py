"""The embedded default (SQLite, no Redis) is one server process, but not the only process: a
management command or a shell beside it changes the same database, and the server must honour
that change on its next request although it keeps verified keys in its own memory."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.multinode.conftest import ROOT, start_node, stop_node

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def embedded(tmp_path):
    """A gunicorn node on its own SQLite file with the in-process cache, and ``manage``."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'keyward.sqlite3'}",
        "REDIS_URL": "",
        "SECRET_KEY": settings.SECRET_KEY,
        "KEYWARD_KEY_PEPPER": settings.KEYWARD_KEY_PEPPER,
        "KEYWARD_HTTPS": "false",
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }

    def manage(*args) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "-v0")
    manage("shell", "-c", "from tests.factories import UserFactory; UserFactory(email='a@b.co')")
    node = start_node(workers=1, threads=4, extra_env=env)
    yield node, manage
    stop_node(node)
    assert Path(f"{tmp_path / 'keyward.sqlite3'}.changes").exists()


def status_of(node, raw_key) -> int:
    return node.request("GET", VERIFY, {"X-API-Key": raw_key})[0]


def test_a_key_revoked_by_the_command_is_refused_by_the_running_server(embedded):
    node, manage = embedded
    raw = manage("createapikey", "--user", "a@b.co", "--name", "ci").strip()
    assert status_of(node, raw) == 200  # now cached in the server's memory

    manage("revokeapikey", raw[:12])

    assert status_of(node, raw) == 401


def test_a_key_deleted_by_the_command_is_refused_by_the_running_server(embedded):
    node, manage = embedded
    raw = manage("createapikey", "--user", "a@b.co", "--name", "ci").strip()
    assert status_of(node, raw) == 200

    manage("deleteapikey", raw[:12], "--yes")

    assert status_of(node, raw) == 401
