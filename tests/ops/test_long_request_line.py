"""gunicorn, run with the project's ``gunicorn.conf.py``, hands a long request line to Keyward,
which answers it in JSON, instead of answering it itself with an HTML 414."""

import json
import os
import socket

import pytest
from django.conf import settings

from tests.multinode.conftest import start_node, stop_node

LINE_LENGTH = 6000  # past gunicorn's own default limit of 4,094 bytes


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One gunicorn node on an empty SQLite file and the in-process cache.

    The answers below read neither the database nor a shared cache, so no migration is needed.
    """
    database = tmp_path_factory.mktemp("long-line") / "keyward.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_URL")},
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": "",
        "SECRET_KEY": settings.SECRET_KEY,
        "KEYWARD_HTTPS": "false",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    env.pop("GUNICORN_LIMIT_REQUEST_LINE", None)
    started = start_node(workers=1, threads=2, extra_env=env)
    yield started
    stop_node(started)


def raw_get(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection, written byte for byte: ``(status, headers, body)``."""
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def padded(path: str) -> str:
    """``path`` with a query that makes the request line exactly ``LINE_LENGTH`` bytes long."""
    fixed = len("GET ") + len(path) + len("?pad=") + len(" HTTP/1.1")
    return f"{path}?pad={'x' * (LINE_LENGTH - fixed)}"


def test_a_6000_byte_request_line_gets_keywards_json_401(node):
    target = padded("/api/v1/auth/verify")
    assert len(f"GET {target} HTTP/1.1") == LINE_LENGTH

    status, headers, body = raw_get(node.port, target)

    assert status == 401
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["code"] == "authentication_required"


def test_a_6000_byte_path_gets_keywards_json_404(node):
    target = "/api/v1/" + "a" * (LINE_LENGTH - len("GET /api/v1/ HTTP/1.1"))

    status, headers, body = raw_get(node.port, target)

    assert status == 404
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["code"] == "not_found"
