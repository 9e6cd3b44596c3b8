"""In-process cost of an active shadow proposal on a warm key's authentication (SPEC §12).

Two keys alike but for one active proposal (scopes, IP allowlist and rate limit: every rule
judged), authenticated in alternating blocks so that both see the same moments of a shared
machine; prints each one's median per call and the paired throughput ratio (the median over
blocks of without / with). Run against PostgreSQL + Redis, after ``bench.seed``:

    DATABASE_URL=… REDIS_URL=… python -m bench.shadow_cost
"""

import os
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402

from apikeys.authentication import authenticate_key  # noqa: E402
from apikeys.services import api_key_create  # noqa: E402
from apikeys.shadow import proposal_create  # noqa: E402

BLOCKS, PER_BLOCK = 40, 250
LIMITS = {"per_minute": 10**9, "per_hour": 10**9}


def warm_key(user, name: str, *, whole_request: bool = False):
    """A new key and a call that uses it: its authentication alone, or a whole request."""
    api_key, raw = api_key_create(
        user=user, created_by=user, name=name, key_type="production", rate_limit=LIMITS
    )
    if whole_request:  # the WSGI application with every middleware, as the server runs it
        client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HOST="127.0.0.1")
        return api_key, lambda: client.get("/api/v1/auth/verify")
    request = RequestFactory().get("/api/v1/auth/verify", HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api_key, lambda: authenticate_key(raw, request=request)


def block_seconds(call) -> float:
    started = time.perf_counter()
    for _ in range(PER_BLOCK):
        call()
    return time.perf_counter() - started


def main() -> None:
    for whole_request in (False, True):
        print("whole requests (django.test.Client)" if whole_request else "authentication alone")
        measure(whole_request=whole_request)


def measure(*, whole_request: bool) -> None:
    user = get_user_model().objects.get(email="bench@example.com")
    _, plain = warm_key(user, "shadow cost: plain", whole_request=whole_request)
    shadowed, with_proposal = warm_key(user, "shadow cost: proposal", whole_request=whole_request)
    proposal_create(
        api_key=shadowed,
        changes={
            "scopes": ["read:all"],
            "allowed_ips": ["127.0.0.0/8"],
            "rate_limit": {"per_minute": 10**8, "per_hour": 10**8},
        },
        actor=user,
    )
    for call in (plain, with_proposal):
        for _ in range(50):
            call()  # warm: cached record, memoized plans and script arguments
    ratios, a_times, b_times = [], [], []
    for block in range(BLOCKS):
        first, second = (plain, with_proposal) if block % 2 == 0 else (with_proposal, plain)
        t_first, t_second = block_seconds(first), block_seconds(second)
        a, b = (t_first, t_second) if first is plain else (t_second, t_first)
        a_times.append(a)
        b_times.append(b)
        ratios.append(a / b)
    print(f"warm key, no proposal:      {statistics.median(a_times) / PER_BLOCK * 1e6:8.1f} us")
    print(f"warm key, active proposal:  {statistics.median(b_times) / PER_BLOCK * 1e6:8.1f} us")
    print(
        f"throughput with / without (paired, median of {BLOCKS} blocks): "
        f"{statistics.median(ratios):.3f} (IQR {statistics.quantiles(ratios, n=4)[0]:.3f}-"
        f"{statistics.quantiles(ratios, n=4)[2]:.3f})"
    )


if __name__ == "__main__":
    main()
