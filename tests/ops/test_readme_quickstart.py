"""README's quickstart, pasted line by line into bash against a fresh server (issue 26, SPEC §13).

A server test, like tests/multinode (left out of ``make test-fast``): gunicorn on a free port,
on its own SQLite file and the in-process cache, as ``make run`` serves. The quickstart's code
block is taken from README.md as it is, its ``127.0.0.1:8000`` pointed at that port, and run in
one bash, so each step's variables reach the next; every step must exit 0.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.multinode.conftest import ROOT, start_node, stop_node

README = ROOT / "README.md"
STEP = "__quickstart_step__"


def quickstart_block() -> str:
    text = README.read_text()
    section = text[text.index("## Quickstart with curl") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def commands(block: str) -> list[str]:
    """The block's commands as a shell reads them: continuations joined, comments left out."""
    joined = block.replace("\\\n", "")
    return [
        line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.fixture
def server(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'keyward.sqlite3'}",
        "REDIS_URL": "",
        "SECRET_KEY": settings.SECRET_KEY,
        "KEYWARD_HTTPS": "false",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
        "KEYWARD_JWT_KEY_FILE": str(tmp_path / "jwt-private.pem"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    node = start_node(workers=1, threads=4, extra_env=env)
    yield node
    stop_node(node)


def test_the_block_names_its_variables_before_using_them():
    block = quickstart_block()

    for name in ("ACCESS_TOKEN", "KEY"):
        assert block.index(f"{name}=$(") < block.index(f"${name}"), name


def test_every_request_fails_loudly_when_refused():
    """A 4xx must make the step fail, or "each step succeeds" would mean nothing."""
    requests = [c for c in commands(quickstart_block()) if "curl " in c]

    assert requests and all("--fail-with-body" in c for c in requests)


def test_the_quickstart_runs_as_pasted(server):
    steps = commands(quickstart_block().replace("127.0.0.1:8000", f"127.0.0.1:{server.port}"))
    script = "".join(f'{step}\necho "{STEP} {i} $?"\n' for i, step in enumerate(steps))
    script += 'echo "__vars__ ${#ACCESS_TOKEN} ${KEY:0:3}"\n'

    done = subprocess.run(
        ["bash", "--noprofile", "--norc"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ["PATH"], "HOME": str(Path.home())},
    )

    statuses = dict(re.findall(rf"{STEP} (\d+) (\d+)", done.stdout))
    failed = [steps[int(i)] for i, status in statuses.items() if status != "0"]
    assert len(statuses) == len(steps), done.stdout + done.stderr
    assert not failed, f"{failed}\n{done.stdout}\n{done.stderr}\n{server.log_tail()}"
    token_length, key_start = re.search(r"__vars__ (\d+) (\S*)", done.stdout).groups()
    assert int(token_length) > 100 and key_start == "kw_"
    assert '"valid"' in done.stdout or '"user"' in done.stdout
