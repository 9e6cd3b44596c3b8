"""The per-request script's reply: a bounded poll that yields the CPU, then the socket."""

import os

from core.fastpath import redis_reply


class _ReplyAfter:
    """A connection whose reply is readable after ``polls`` polls."""

    def __init__(self, polls):
        self.polls_left = polls
        self.polls = 0

    def can_read(self, timeout):
        assert timeout == 0  # a poll never blocks
        self.polls += 1
        self.polls_left -= 1
        return self.polls_left < 0


class _Clock:
    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_a_reply_is_polled_for_yielding_the_cpu_between_polls(monkeypatch):
    yields = []
    monkeypatch.setattr(os, "sched_yield", lambda: yields.append(1))
    connection = _ReplyAfter(polls=3)

    redis_reply.await_reply(connection, 0.000_2, clock=_Clock(step=0.000_001))

    assert connection.polls == 4  # three empty polls, then the reply
    assert len(yields) == 3


def test_polling_stops_at_the_budget_and_leaves_the_wait_to_the_socket(monkeypatch):
    monkeypatch.setattr(os, "sched_yield", lambda: None)
    connection = _ReplyAfter(polls=1_000)

    redis_reply.await_reply(connection, 0.000_2, clock=_Clock(step=0.000_05))

    assert connection.polls == 4  # the clock steps 50 µs a read: past 200 µs after four polls


def test_no_budget_means_no_poll():
    connection = _ReplyAfter(polls=0)

    redis_reply.await_reply(connection, 0)

    assert connection.polls == 0
