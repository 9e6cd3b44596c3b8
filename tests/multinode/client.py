"""A concurrent HTTP client: several processes, each with a pool of threads.

Kept free of Django so the worker processes start fast (``spawn``) and hold no database
connection inherited from pytest.
"""

import http.client
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Response:
    port: int
    status: int
    headers: dict  # names lower-cased
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


def fetch(port, method, path, headers=None, body=None, timeout=10.0) -> Response:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        raw = conn.getresponse()
        return Response(
            port=port,
            status=raw.status,
            headers={name.lower(): value for name, value in raw.getheaders()},
            body=raw.read(),
            seconds=time.monotonic() - started,
        )
    finally:
        conn.close()


def _threaded(calls, threads):
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda call: fetch(*call), calls))


def burst(calls, *, processes=2, threads=8) -> list[Response]:
    """Send ``calls`` (``(port, method, path, headers)`` tuples) from processes x threads.

    The calls are dealt round-robin to the processes, so with calls alternating between two
    nodes every process talks to both.
    """
    shares = [calls[i::processes] for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        results = pool.map(_threaded, shares, [threads] * processes)
        return [response for share in results for response in share]
