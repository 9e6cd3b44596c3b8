"""gunicorn for the benchmark: its defaults (no access log, no Prometheus directory), so that
Keyward and the peers run in exactly the same server shape; the worker count is on the command
line."""
