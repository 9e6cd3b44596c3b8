"""gunicorn settings for Keyward. Every value can be overridden on the command line or by
``GUNICORN_*``-style environment variables read below.

Prometheus' multiprocess mode needs a directory shared by the workers, emptied at start, and
a hook that retires a dead worker's live gauges.
"""

import os
import shutil
import tempfile

# Loopback: gunicorn serves only the reverse proxy in front of it, never clients directly
# (docs/deploy.md). A node behind a proxy on another host binds its private address instead.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# Only the proxy in front may set X-Forwarded-*; client IPs follow KEYWARD_TRUSTED_PROXIES.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
wsgi_app = "config.wsgi:application"
# gunicorn answers a header line past 8,190 bytes itself, with an HTML 431; a credential that
# long must reach Keyward and get its JSON 401 instead.
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "65536"))
# Likewise the request line (method, path and query): past gunicorn's default of 4,094 bytes it
# answers an HTML 414 itself. 8,190 is the most gunicorn takes (a larger value is cut to it, and
# 0 would mean unlimited), so a long query or path reaches Keyward and gets its JSON answer;
# only a line longer still gets gunicorn's 414, as it would from nginx's default buffers.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "8190"))

# A directory of this server's own (named after the master, which reads this file): two
# servers on one machine — two nodes, or an old and a new release side by side — must neither
# add up each other's samples nor wipe each other's files when one of them starts.
_own_metrics_dir = os.path.join(tempfile.gettempdir(), f"keyward-prometheus-{os.getpid()}")
_metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", _own_metrics_dir)


def on_starting(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def on_exit(server):
    if _metrics_dir == _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
