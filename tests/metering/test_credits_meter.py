"""Credits in the meter itself (``metering.meter.take``), on whichever backend is configured:
Redis (the script), the embedded default (``MemoryBackend``), exact under concurrent threads."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from core.cache import Tally
from metering import credits
from metering.meter import Meter, Window, take

WINDOWS = (Window(100_000, 60),)


def credited_meter(remaining, *, key_id="k-credits", refill_at=0, amount=None, interval=""):
    plan = credits.Credits(key_id, remaining, refill_at, amount, interval)
    return Meter(bucket=f"key:{key_id}", windows=WINDOWS, usage_key_id=key_id, credits=plan)


def test_exactly_the_credits_are_admitted_among_concurrent_threads():
    meter = credited_meter(100)

    with ThreadPoolExecutor(max_workers=16) as pool:
        readings = list(pool.map(lambda _: take(meter, ip="192.0.2.1"), range(300)))

    assert sum(r.admitted for r in readings) == 100
    assert sum(r.credits_exhausted for r in readings) == 200
    assert sorted(r.credits.remaining for r in readings if r.admitted) == list(range(100))


def test_a_credit_refusal_counts_no_window():
    meter = credited_meter(1)
    take(meter)

    refused = [take(meter) for _ in range(3)]
    meter_without = Meter(bucket=meter.bucket, windows=WINDOWS)

    assert all(r.credits_exhausted for r in refused)
    assert take(meter_without).remaining == 100_000 - 2  # the first take and this one


def test_a_rate_limited_request_spends_no_credit():
    plan = credits.Credits("k-limited", 10, 0, None, "")
    meter = Meter(bucket="key:k-limited", windows=(Window(2, 60),), credits=plan)

    readings = [take(meter) for _ in range(4)]

    assert [r.admitted for r in readings] == [True, True, False, False]
    assert readings[-1].credits.remaining == 8


@pytest.mark.parametrize("cost", [0, 3])
def test_cost_is_what_an_admitted_request_spends(cost):
    meter = credited_meter(5, key_id=f"k-cost-{cost}")

    reading = take(meter, cost=cost)

    assert reading.admitted
    assert reading.credits.remaining == 5 - cost


def test_a_cost_above_the_balance_is_refused_and_spends_nothing():
    meter = credited_meter(2, key_id="k-over")

    assert take(meter, cost=3).credits_exhausted
    assert take(meter, cost=2).credits.remaining == 0


def test_a_generic_cache_spends_credits_and_counts_the_tally_too(tmp_path, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path),
        }
    }
    meter = credited_meter(2, key_id="k-generic")

    readings = [take(meter, tally=Tally("tally:generic", 60)) for _ in range(3)]

    assert [r.admitted for r in readings] == [True, True, False]
    assert readings[-1].credits_exhausted
    assert [r.tally for r in readings] == [1, 2, 3]
