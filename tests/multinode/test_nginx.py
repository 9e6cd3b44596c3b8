"""docs/nginx-keyward.conf, run as written, guards a service with Keyward's auth/check.

The file is used verbatim except for addresses, ports and certificate paths, so the test fails
when the documented configuration stops working. Needs Debian's nginx (``nginx-light`` has the
auth_request module) and openssl; skipped without them.
"""

import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from accounts.tokens import access_token_for_user
from apikeys.services import api_key_revoke
from tests.factories import UserFactory, issued_key
from tests.multinode.conftest import ROOT, free_port, key_with_room, start_nodes, stop_nodes

NGINX = "/usr/sbin/nginx"
NODE_THREADS = 4  # keyward_node: one worker, four threads

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.access(NGINX, os.X_OK), reason="needs nginx: apt-get install -y nginx-light"
    ),
    pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl for a test certificate"),
]


class EchoHandler(BaseHTTPRequestHandler):
    """The guarded service: answers with the headers nginx handed it (X-Auth-* apart)."""

    def _echo(self):
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "auth": {k: v for k, v in self.headers.items() if k.lower().startswith("x-auth-")},
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _echo

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def guarded_service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def keyward_node(django_db_setup):
    [node] = start_nodes(
        1,
        workers=1,
        threads=NODE_THREADS,
        extra_env={
            "ALLOWED_HOSTS": "127.0.0.1,localhost,keyward.example.com",
            "KEYWARD_TRUSTED_PROXIES": "1",
            "KEYWARD_BEHIND_TLS_PROXY": "true",
        },
    )
    yield node
    stop_nodes([node])


@pytest.fixture(scope="module")
def nginx(keyward_node, guarded_service):
    """nginx running docs/nginx-keyward.conf; the port of its TLS listener."""
    with nginx_site(keyward_port=keyward_node.port, service_port=guarded_service) as port:
        yield port


@contextlib.contextmanager
def nginx_site(*, keyward_port, service_port):
    workdir = Path(tempfile.mkdtemp(prefix="keyward-nginx-"))
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=api.example.com",
            "-keyout",
            str(workdir / "privkey.pem"),
            "-out",
            str(workdir / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    https_port = free_port()
    site = (ROOT / "docs" / "nginx-keyward.conf").read_text()
    for documented, local in [
        ("10.0.0.11:8000", f"127.0.0.1:{keyward_port}"),
        ("10.0.0.12:8000", f"127.0.0.1:{keyward_port}"),
        ("10.0.0.21:9000", f"127.0.0.1:{service_port}"),
        ("listen 80;", f"listen 127.0.0.1:{free_port()};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("/etc/ssl/keyward/", f"{workdir}/"),
    ]:
        assert documented in site, f"docs/nginx-keyward.conf no longer has {documented!r}"
        site = site.replace(documented, local)
    (workdir / "site.conf").write_text(site)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {workdir}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (workdir / "nginx.conf").write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temp_paths}
    include {workdir}/site.conf;
}}
"""
    )
    command = [NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            get(https_port, "/", {})
            break
        except OSError:
            assert process.poll() is None, (workdir / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not answer within 10 s"
            time.sleep(0.05)
    try:
        yield https_port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def get(port, path, headers, method="GET"):
    """A request to the guarded site (Host api.example.com): ``(status, headers, body)``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request(method, path, headers={"Host": "api.example.com", **headers})
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        body = response.read()
        if headers.get("content-type", "").startswith("application/json"):
            body = json.loads(body)
        return response.status, headers, body
    finally:
        conn.close()


def test_a_request_without_a_credential_gets_401_with_the_challenge(nginx):
    status, headers, body = get(nginx, "/inventory/items", {})

    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert body["code"] == "authentication_required"


def test_an_allowed_request_reaches_the_service_with_keywards_verdict(nginx):
    user = UserFactory()
    api_key, raw = issued_key(user=user, name="reader", scopes=["read:all"])

    status, headers, body = get(
        nginx, "/inventory/items?page=2", {"X-API-Key": raw, "X-Auth-User-Id": "forged"}
    )

    assert status == 200
    assert body["path"] == "/inventory/items?page=2"
    assert body["auth"]["X-Auth-User-Id"] == str(user.pk)
    assert body["auth"]["X-Auth-Key-Prefix"] == api_key.key_prefix
    assert body["auth"]["X-Auth-Scopes"] == "read:all"
    assert headers["x-ratelimit-limit"] == "60"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/inventory/items", 200),
        ("DELETE", "/inventory/items/7", 403),  # the grant allows GET only
        ("GET", "/orders", 403),  # outside the grant
    ],
)
def test_the_original_method_and_uri_decide(nginx, method, path, expected):
    _, raw = issued_key(
        user=UserFactory(), name="granted", endpoints=[{"path": "/inventory", "methods": ["GET"]}]
    )

    status, _, body = get(nginx, path, {"Authorization": f"Bearer {raw}"}, method=method)

    assert status == expected, body
    if expected == 403:
        assert body["code"] == "insufficient_permissions"


def test_a_revoked_key_gets_401(nginx):
    api_key, raw = issued_key(user=UserFactory(), name="revoked")
    assert get(nginx, "/inventory/items", {"X-API-Key": raw})[0] == 200
    api_key_revoke(api_key=api_key)

    assert get(nginx, "/inventory/items", {"X-API-Key": raw})[0] == 401


def test_a_key_over_its_limit_gets_429_with_retry_after_not_500(nginx):
    _, raw = key_with_room(UserFactory(), rate_limit={"per_minute": 3, "per_hour": 100})

    statuses = [get(nginx, "/inventory/items", {"X-API-Key": raw})[0] for _ in range(3)]
    status, headers, body = get(nginx, "/inventory/items", {"X-API-Key": raw})

    assert statuses == [200, 200, 200]
    assert status == 429
    assert body["code"] == "rate_limit_error"
    assert body["retry_after"] == int(headers["retry-after"])
    assert 1 <= body["retry_after"] <= 60


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(f"apikey:{raw}".encode()).decode()


@pytest.mark.parametrize(
    "present",
    [
        lambda raw: {"X-API-Key": raw},
        lambda raw: {"Authorization": f"Bearer {raw}"},
        lambda raw: {"Authorization": raw},
        lambda raw: {"Authorization": basic(raw)},
    ],
    ids=["x-api-key", "bearer", "bare", "basic"],
)
def test_the_service_never_sees_the_key(nginx, present):
    _, raw = issued_key(user=UserFactory(), name="hidden", scopes=["read:all"])

    status, _, body = get(nginx, "/inventory/items", present(raw))

    assert status == 200
    assert "authorization" not in body["headers"]
    assert "x-api-key" not in body["headers"]
    assert raw not in json.dumps(body)
    assert raw.split("_", 1)[1] not in json.dumps(body)


@pytest.mark.parametrize(
    ("cookie", "left"),
    [
        ("access_token={jwt}", None),
        ("access_token={jwt}; theme=dark", "theme=dark"),
        ("theme=dark; access_token={jwt}", "theme=dark"),
        ("theme=dark; access_token={jwt}; lang=en", "theme=dark; lang=en"),
        ("theme=dark;access_token={jwt};lang=en", "theme=dark;lang=en"),
        ("x_access_token=kept; access_token={jwt}", "x_access_token=kept"),
        ("sessionid=abc; access_token={jwt}; lang=en", "lang=en"),
        ("access_token={jwt}; access_token={jwt}", None),  # a second copy drops the header
    ],
)
def test_the_service_never_sees_the_access_token_cookie(nginx, cookie, left):
    user = UserFactory()
    jwt = str(access_token_for_user(user=user))

    status, _, body = get(nginx, "/inventory/items", {"Cookie": cookie.format(jwt=jwt)})

    assert status == 200, body
    assert body["auth"]["X-Auth-User-Id"] == str(user.pk)
    assert body["headers"].get("cookie") == left
    assert jwt not in json.dumps(body)


def assert_ietf_headers(headers, *, per_minute, per_hour, remaining):
    """The RateLimit-Policy / RateLimit pair as Keyward writes it (draft-ietf-httpapi-…-11)."""
    policy = headers["ratelimit-policy"]
    assert policy == f'"minute";q={per_minute};w=60, "hour";q={per_hour};w=3600', policy
    assert re.fullmatch(rf'"minute";r={remaining};t=\d+', headers["ratelimit"]), headers[
        "ratelimit"
    ]


def test_the_rate_limit_headers_reach_the_client(nginx):
    _, raw = key_with_room(UserFactory(), rate_limit={"per_minute": 5, "per_hour": 100})

    status, headers, _ = get(nginx, "/inventory/items", {"X-API-Key": raw})

    assert status == 200
    assert headers["x-ratelimit-limit"] == "5"
    assert headers["x-ratelimit-remaining"] == "4"
    assert int(headers["x-ratelimit-reset"]) >= 1
    assert_ietf_headers(headers, per_minute=5, per_hour=100, remaining=4)


def test_the_rate_limit_headers_reach_the_client_on_429(nginx):
    _, raw = key_with_room(UserFactory(), rate_limit={"per_minute": 1, "per_hour": 100})
    get(nginx, "/inventory/items", {"X-API-Key": raw})

    status, headers, _ = get(nginx, "/inventory/items", {"X-API-Key": raw})

    assert status == 429
    assert headers["x-ratelimit-remaining"] == "0"
    assert_ietf_headers(headers, per_minute=1, per_hour=100, remaining=0)


@contextlib.contextmanager
def slow_clients(port: int, count: int):
    """``count`` TLS connections that start a request and never finish it (slowloris)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    heads = [
        b"GET /api/v1/health HTTP/1.1\r\nHost: keyward.example.com\r\nX-Slow: ",
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: keyward.example.com\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
    ]
    sockets = []
    try:
        for n in range(count):
            sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))
            sock.sendall(heads[n % len(heads)])
            sockets.append(sock)
        yield
    finally:
        for sock in sockets:
            sock.close()


def test_slow_clients_wait_on_nginx_not_on_gunicorn(nginx):
    with slow_clients(nginx, 2 * NODE_THREADS):
        started = time.monotonic()
        status, _, body = get(nginx, "/api/v1/health", {"Host": "keyward.example.com"})
        elapsed = time.monotonic() - started

    assert status == 200, body
    assert body == {"status": "ok"}
    assert elapsed < 2


def test_keyward_unreachable_gives_503_not_500(guarded_service):
    with nginx_site(keyward_port=free_port(), service_port=guarded_service) as port:
        status, _, body = get(port, "/inventory/items", {"X-API-Key": "kw_whatever"})

    assert status == 503
    assert body["code"] == "service_unavailable"
