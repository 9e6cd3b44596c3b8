"""redis-py's client path bypassed for the one script every request runs.

``redis_held_connection``: redis-py's client path — a pool checkout that polls the socket for
stray data, a retry wrapper, response callbacks, observability hooks — costs as much CPU as
the round trip itself. The script is a single command whose reply is always read in full (or
the connection dropped), so a connection owned by the thread needs none of that. It is
redis-py's own ``Connection`` class, made with the pool's settings (timeouts, credentials,
TLS); ``send_command`` / ``read_response`` / ``can_read`` are its lower layer, which redis-py
does not promise to keep. The public path is ``Script`` (``register_script``): ``EVALSHA``
through the pool, loading the script when Redis has lost it.

``await_reply``: an optional busy-poll for the reply (``KEYWARD_REDIS_POLL_MICROSECONDS``, off
by default), on the held connection only.
"""

import os
import threading
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.fastpath.guard import trick_enabled

REDIS_HELD_CONNECTION = trick_enabled("redis_held_connection", "redis", "8.1.0")


class HeldConnection(threading.local):
    """One Redis connection per thread, held for the per-request script instead of pooled.

    A stale one (Redis restarted, or failed over: see ``_connect``) is reconnected and the
    command sent once more, as the client's own retry would.
    """

    def __init__(self, pool, poll_seconds: float = 0.0, on_reconnect=None):
        self._pool = pool
        self._on_reconnect = on_reconnect
        self.poll_seconds = poll_seconds
        self.connection = None
        self._pid = None

    def call(self, *args):
        connection = self._connection_for_this_process()
        try:
            return self._round_trip(connection, args)
        except RedisConnectionError:
            connection.disconnect()
            if self._on_reconnect is not None:
                self._on_reconnect()  # Redis may have restarted with fewer writes than we saw
            self._connect(connection)
            return self._round_trip(connection, args)

    def _connect(self, connection) -> None:
        """Connect as the pool does, by ``connect()``: a Sentinel-managed connection asks the
        sentinels for the master there (a send's implicit connect would go to the old address).
        """
        try:
            connection.connect()
        except BaseException:
            self._pid = None  # not connected: made and connected afresh on the next call
            raise

    def _round_trip(self, connection, args):
        connection.send_command(*args, check_health=False)
        try:
            await_reply(connection, self.poll_seconds)
            return connection.read_response()
        except RedisTimeoutError as exc:
            # Sent, then no reply in time: a stalled Redis still runs it when it resumes.
            exc.maybe_run = True
            raise

    def _connection_for_this_process(self):
        if self._pid != os.getpid():  # a forked worker must not share its parent's socket
            # Made as the pool makes its own, but not counted against the pool's size.
            pool = self._pool
            self.connection = pool.connection_class(**pool.connection_kwargs)
            self._pid = os.getpid()
            self._connect(self.connection)
        return self.connection


def await_reply(connection, budget: float, *, clock=time.perf_counter) -> None:
    """Poll for a reply for up to ``budget`` seconds, yielding the CPU between polls.

    A worker that blocks on the socket lets its CPU go idle, and on a virtual machine whose idle
    CPUs halt, waking it when the reply lands can cost more than the script itself. Polling
    keeps the worker awake for a reply that takes tens of microseconds; ``sched_yield`` hands
    the CPU to any other runnable worker meanwhile. Past the budget the caller blocks as usual.
    Whether it pays depends on the hypervisor, so it is off unless configured.
    """
    if budget <= 0:
        return
    deadline = clock() + budget
    while not connection.can_read(0) and clock() < deadline:
        os.sched_yield()


class HeldScriptRunner:
    """Run a registered script by ``EVALSHA`` on this thread's held connection."""

    def __init__(self, client, script, *, poll_seconds: float, on_reconnect=None):
        self._client = client
        self._script = script
        self.held = HeldConnection(client.connection_pool, poll_seconds, on_reconnect)

    def __call__(self, numkeys: int, *keys_and_args):
        script = self._script
        try:
            return self.held.call("EVALSHA", script.sha, numkeys, *keys_and_args)
        except NoScriptError:  # Redis restarted or its scripts were flushed
            script.sha = self._client.script_load(script.script)
            return self.held.call("EVALSHA", script.sha, numkeys, *keys_and_args)


class PublicScriptRunner:
    """Run a registered script through redis-py's ``Script`` (the pool, ``EVALSHA``)."""

    held = None

    def __init__(self, client, script, *, poll_seconds: float = 0.0, on_reconnect=None):
        self._script = script
        self._on_reconnect = on_reconnect

    def __call__(self, numkeys: int, *keys_and_args):
        keys, args = keys_and_args[:numkeys], keys_and_args[numkeys:]
        try:
            return self._script(keys=keys, args=args)
        except RedisConnectionError:
            if self._on_reconnect is not None:
                self._on_reconnect()  # Redis may have restarted with fewer writes than we saw
            return self._script(keys=keys, args=args)
        except RedisTimeoutError as exc:
            exc.maybe_run = True  # it may have been sent: a stalled Redis still runs it
            raise


script_runner = HeldScriptRunner if REDIS_HELD_CONNECTION else PublicScriptRunner
