"""In-process cost of each step of key authentication, lookup cost by table size, login cost.

Run by ``bench.run`` against the PostgreSQL + Redis stack it has just measured (its database
already migrated). Prints microseconds per operation; nothing here asserts anything.
"""

import argparse
import os
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import check_password, make_password  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from rest_framework.exceptions import AuthenticationFailed  # noqa: E402

from apikeys import crypto, known_keys  # noqa: E402
from apikeys.authentication import authenticate_key, presented_key  # noqa: E402
from apikeys.models import ApiKey  # noqa: E402
from apikeys.selectors import api_key_get_for_authentication  # noqa: E402
from apikeys.services import api_key_create  # noqa: E402
from identity import policy  # noqa: E402
from metering import verified  # noqa: E402
from metering.meter import take  # noqa: E402

SIZES = (10, 10_000, 1_000_000)


def per_call_us(function, *, repeat: int) -> tuple[float, float]:
    """Median and p99 of ``repeat`` timed calls, in microseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        function()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def report(label: str, figures: tuple[float, float]) -> None:
    print(f"{label:52} {figures[0]:9.1f} {figures[1]:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    repeat = 200 if args.smoke else 5000
    sizes = SIZES[:2] if args.smoke else SIZES

    user = get_user_model().objects.get(email="bench@example.com")
    api_key, raw_key = api_key_create(
        user=user,
        created_by=user,
        name="steps",
        key_type="production",
        rate_limit={"per_minute": 10**9, "per_hour": 10**9},
    )
    request = RequestFactory().get("/api/v1/auth/verify", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    meter = policy.meter_for_key(api_key)
    authenticate_key(raw_key, request=request)  # warm the process cache

    print("\n## Steps of key authentication (in process, PostgreSQL + Redis)")
    print(f"{'step':52} {'p50 us':>9} {'p99 us':>9}")
    report("parse the header", per_call_us(lambda: presented_key(request), repeat=repeat))
    report(
        "checksum (offline rejection)",
        per_call_us(lambda: crypto.is_well_formed(raw_key), repeat=repeat),
    )
    report("keyed hash (HMAC-SHA256)", per_call_us(lambda: crypto.hash_key(raw_key), repeat=repeat))
    cache_key = policy.cache_key_of_key(crypto.hash_key(raw_key))
    report("process cache lookup", per_call_us(lambda: verified.get(cache_key), repeat=repeat))
    report(
        "one Redis trip: limits + usage + generation",
        per_call_us(lambda: take(meter, ip="127.0.0.1"), repeat=repeat),
    )
    report(
        "whole warm authentication (the sum, as served)",
        per_call_us(lambda: authenticate_key(raw_key, request=request), repeat=repeat),
    )
    invented = crypto.generate_key()  # well-formed, never issued
    refused = RequestFactory().get("/api/v1/auth/verify", HTTP_AUTHORIZATION=f"Bearer {invented}")
    refuse(invented, refused)  # the first unknown key reads the stored hashes
    report(
        "refusing a well-formed unknown key (no query)",
        per_call_us(lambda: refuse(invented, refused), repeat=repeat),
    )
    report(
        "cold lookup: one indexed probe (process cache bypassed)",
        per_call_us(lambda: api_key_get_for_authentication(raw_key), repeat=repeat // 5),
    )

    lane_against_django(raw_key, user, repeat)

    print("\n## Lookup cost by number of keys (one indexed probe on the keyed hash)")
    print(f"{'keys in the table':52} {'p50 us':>9} {'p99 us':>9}")
    for size in sizes:
        grow_keys_to(size, user)
        report(
            f"{ApiKey.objects.count():,}",
            per_call_us(lambda: api_key_get_for_authentication(raw_key), repeat=repeat // 5),
        )
        report(
            "  reading every stored hash (after any key is saved)",
            per_call_us(read_stored_hashes, repeat=3),
        )

    print("\n## Password login cost (Argon2id, t=2, m=19 MiB, p=1)")
    encoded = make_password("correct horse battery staple")
    login = per_call_us(lambda: check_password("correct horse battery staple", encoded), repeat=20)
    report("check_password", login)
    print(f"{'logins per second per core (Keycloak: ~15 at its default)':52} {1e6 / login[0]:9.1f}")


def lane_against_django(raw_key: str, user, repeat: int) -> None:
    """One whole request as the WSGI server hands it over: health through Django's stack, and
    auth/check and keys/verify through the WSGI lane (``config.lane``) and through Django."""
    import io
    import json
    import sys

    from django.core.handlers.wsgi import WSGIHandler

    from config.lane import Lane

    django_app = WSGIHandler()
    lane = Lane(django_app)
    _, verifier = api_key_create(
        user=user,
        created_by=user,
        name="steps verifier",
        key_type="production",
        scopes=["keys:verify"],
        rate_limit={"per_minute": 10**9, "per_hour": 10**9},
    )
    body = json.dumps({"key": raw_key, "method": "GET", "path": "/api/v1/health"}).encode()

    def environ(method, path, data=b"", **headers):
        return {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.input": io.BytesIO(data),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            **({"CONTENT_LENGTH": str(len(data))} if data else {}),
            **headers,
        }

    requests = {
        "health": lambda: environ("GET", "/api/v1/health"),
        "auth/check": lambda: environ(
            "GET",
            "/api/v1/auth/check",
            HTTP_X_API_KEY=raw_key,
            HTTP_X_ORIGINAL_METHOD="GET",
            HTTP_X_ORIGINAL_URI="/api/v1/health",
        ),
        "keys/verify": lambda: environ(
            "POST",
            "/api/v1/keys/verify",
            body,
            CONTENT_TYPE="application/json",
            HTTP_X_API_KEY=verifier,
        ),
    }

    def served(app, make):
        body = app(make(), lambda status, headers, exc_info=None: None)
        b"".join(body)
        body.close()

    print("\n## One whole request in process: the WSGI lane and Django's stack")
    print(f"{'request':52} {'p50 us':>9} {'p99 us':>9}")
    for label, make in requests.items():
        for name, app in (("lane", lane), ("Django", django_app)):
            if label == "health" and name == "lane":
                continue  # the lane passes health on to Django
            served(app, make)  # warm
            figures = per_call_us(lambda app=app, make=make: served(app, make), repeat=repeat)
            report(f"{label} through {name}", figures)


def refuse(raw_key: str, request) -> None:
    try:
        authenticate_key(raw_key, request=request)
    except AuthenticationFailed:
        return
    raise AssertionError("an invented key was accepted")


def read_stored_hashes() -> None:
    """What each process pays once, on its next unknown key, after a key is saved anywhere."""
    known_keys.forget()
    known_keys.learn()


def grow_keys_to(size: int, user) -> None:
    """Fill the key table with rows shaped like real ones, straight in SQL (fast)."""
    missing = size - ApiKey.objects.count()
    if missing <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO apikeys_apikey (id, user_id, name, description, key_prefix, key_hash,
                key_type, scopes, endpoints, key_manager, allowed_ips, metadata, is_active,
                created_at, request_count, credits_refill_interval)
            SELECT gen_random_uuid(), %s, 'filler', '', 'kw_filler000',
                   encode(sha256(('filler' || n || clock_timestamp())::bytea), 'hex'),
                   'development', '[]', '[]', false, '[]', '{}', true, now(), 0, ''
            FROM generate_series(1, %s) AS n
            """,
            [user.pk, missing],
        )
        cursor.execute("ANALYZE apikeys_apikey")


if __name__ == "__main__":
    main()
