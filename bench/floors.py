"""What one sync gunicorn worker can serve at best on this machine, beside Keyward's health.

``/floor/canned`` answers a fixed body: the WSGI server alone. ``/floor/one-trip`` makes the one
Redis trip every authenticated request makes (here the anonymous bucket's count, as a refused
key makes it, through ``metering.meter.take``) and then answers the same body. No request that
counts itself in the shared cache — every admitted and every refused credential (SPEC §6, §10)
— can be served faster than the second, so ``make bench`` prints both as shares of health, and
a throughput goal can be read against them. Every other path is Keyward's own application.
"""

from config.wsgi import application as keyward
from metering.meter import meter_for_ip, take

BODY = b'{"status":"ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
CLIENT = "127.0.0.1"


def application(environ, start_response):
    path = environ.get("PATH_INFO")
    if path == "/floor/one-trip":
        take(meter_for_ip(CLIENT), ip=CLIENT)
    elif path != "/floor/canned":
        return keyward(environ, start_response)
    start_response("200 OK", HEADERS)
    return [BODY]
