"""EventPublisher without a running broker: it points at a port nothing listens on, so every send
really fails (no mock), and what the tests observe is the accounting and on_error reports."""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
import weakref
from typing import Any

import pytest
from kombu.exceptions import EncodeError, OperationalError

from routelearn.instance.publisher import EventPublisher, PublisherStats
from routelearn.settings import Settings

UNREACHABLE = Settings(broker_url="redis://127.0.0.1:1/0")


class Reports:
    """An on_error that records what it is given, with the time it was given."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[float, list[Any], BaseException]] = []

    def __call__(self, events: list[Any], exc: BaseException) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), events, exc))

    @property
    def events(self) -> list[Any]:
        with self.lock:
            return [e for _, batch, _ in self.calls for e in batch]


def publisher(reports: Reports, **kwargs: Any) -> EventPublisher:
    kwargs.setdefault("send_timeout", 0.2)
    kwargs.setdefault("linger_ms", 0)
    return EventPublisher(UNREACHABLE, on_error=reports, **kwargs)


def test_full_buffer_drops_and_every_accepted_event_is_reported() -> None:
    reports = Reports()
    events = [{"n": n} for n in range(8)]
    with publisher(reports, buffer_size=5, batch_size=2) as pub:
        accepted = [pub.publish(e) for e in events]
        assert accepted == [True] * 5 + [False] * 3
        assert pub.stats.dropped == 3
    stats = pub.stats
    assert stats == PublisherStats(accepted=5, sent=0, dropped=3, failed=5, batches=0, pending=0)
    # The very objects given, in order, untouched.
    assert all(got is want for got, want in zip(reports.events, events[:5], strict=True))
    # The first batch used its send_timeout; the close deadline (one send_timeout) cut the rest.
    assert isinstance(reports.calls[0][2], OperationalError)
    assert all(isinstance(exc, OperationalError | TimeoutError) for _, _, exc in reports.calls)


def test_blocking_publish_waits_for_space_or_times_out() -> None:
    reports = Reports()
    with publisher(reports, buffer_size=1, batch_size=1) as pub:
        assert pub.publish({"n": 1})
        # The first event is being retried and still counts against the bound.
        started = time.monotonic()
        assert not pub.publish({"n": 2}, block=True, timeout=0.05)
        assert time.monotonic() - started < 0.15
        # Space returns when the first event is given up on, after send_timeout.
        assert pub.publish({"n": 3}, block=True, timeout=5)
        assert reports.events[0] == {"n": 1}
    assert pub.stats.accepted == 2
    assert pub.stats.dropped == 1
    assert pub.stats.failed == 2


def test_batches_leave_by_size_and_by_linger() -> None:
    reports = Reports()
    pub = publisher(reports, batch_size=3, linger_ms=1000, send_timeout=0)
    started = time.monotonic()
    for n in range(7):
        pub.publish(n)
    # Two full batches leave at once (and fail at once: send_timeout 0); the seventh event
    # waits for its linger deadline.
    deadline = time.monotonic() + 5
    while len(reports.calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    pub.close()
    sizes = [len(batch) for _, batch, _ in reports.calls]
    assert sizes == [3, 3, 1]
    assert reports.calls[1][0] - started < 0.9
    assert reports.calls[2][0] - started >= 1.0
    assert reports.events == list(range(7))


def test_close_deadline_reports_what_is_left() -> None:
    reports = Reports()
    pub = publisher(reports, batch_size=10, send_timeout=30)
    for n in range(25):
        pub.publish(n)
    started = time.monotonic()
    assert pub.close(timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert pub.stats.failed == 25
    assert sorted(reports.events) == list(range(25))


def test_concurrent_publishers_account_for_every_event() -> None:
    reports = Reports()
    pub = publisher(reports, batch_size=50, buffer_size=3000)
    results: list[list[bool]] = []

    def produce(offset: int) -> None:
        results.append([pub.publish(offset + n) for n in range(500)])

    threads = [threading.Thread(target=produce, args=(i * 1000,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pub.close(timeout=0.5)
    stats = pub.stats
    accepted = sum(r.count(True) for r in results)
    assert stats.accepted == accepted == stats.failed
    assert stats.dropped == 4000 - accepted
    assert accepted >= 3000  # the bound was reached, not undershot
    assert len(reports.events) == len(set(reports.events)) == accepted


def test_unencodable_event_is_reported_alone_and_not_retried() -> None:
    reports = Reports()
    bad = object()
    with publisher(reports, batch_size=3, linger_ms=50) as pub:
        for event in ({"n": 1}, bad, {"n": 2}):
            pub.publish(event)
    first, second = reports.calls
    assert first[1] == [bad]
    assert isinstance(first[2], EncodeError)
    # The rest of the batch was still tried, as one message, and failed on the broker.
    assert second[1] == [{"n": 1}, {"n": 2}]
    assert isinstance(second[2], OperationalError)


def test_on_error_that_raises_does_not_stop_the_sender(caplog: pytest.LogCaptureFixture) -> None:
    def broken(events: list[Any], exc: BaseException) -> None:
        raise RuntimeError("handler bug")

    pub = EventPublisher(UNREACHABLE, batch_size=1, linger_ms=0, send_timeout=0, on_error=broken)
    for n in range(3):
        pub.publish(n)
    assert pub.close(timeout=5)
    assert pub.stats.failed == 3
    assert "on_error raised" in caplog.text


def test_closed_publisher_refuses_and_close_is_idempotent() -> None:
    reports = Reports()
    pub = publisher(reports)
    assert pub.flush(timeout=0)  # nothing accepted: nothing to wait for
    assert pub.close()
    assert pub.close(timeout=0)
    assert not pub.publish({"late": True})
    assert not pub.publish({"late": True}, block=True, timeout=1)
    assert pub.stats == PublisherStats(0, 0, 2, 0, 0, 0)
    assert not reports.calls


def test_no_thread_until_first_publish_and_none_after_close() -> None:
    def senders() -> int:
        return sum(t.name == "routelearn-publisher" for t in threading.enumerate())

    before = senders()
    pub = publisher(Reports(), send_timeout=0)
    assert senders() == before
    pub.publish(1)
    assert senders() == before + 1
    pub.close(timeout=5)
    assert senders() == before


def test_flush_times_out_while_broker_is_down() -> None:
    reports = Reports()
    pub = publisher(reports, send_timeout=2)
    pub.publish(1)
    started = time.monotonic()
    assert not pub.flush(timeout=0.1)
    assert 0.1 <= time.monotonic() - started < 0.5
    assert pub.stats.pending == 1
    assert pub.close(timeout=0.1)
    assert reports.events == [1]


def test_an_unused_publisher_is_not_kept_alive_by_its_exit_hook() -> None:
    pub = publisher(Reports())
    ref = weakref.ref(pub)
    del pub
    gc.collect()
    assert ref() is None


def test_arguments_are_checked_and_stats_are_frozen() -> None:
    with pytest.raises(ValueError):
        EventPublisher(UNREACHABLE, batch_size=0)
    with pytest.raises(ValueError):
        EventPublisher(UNREACHABLE, buffer_size=0)
    with pytest.raises(ValueError):
        EventPublisher(UNREACHABLE, linger_ms=-1)
    pub = EventPublisher(UNREACHABLE)
    stats = pub.stats
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.sent = 1  # type: ignore[misc]
    pub.close()


def test_defaults_come_from_settings() -> None:
    settings = UNREACHABLE.model_copy(
        update={"publish_batch_size": 2, "publish_buffer_size": 3, "publish_linger_ms": 60_000}
    )
    reports = Reports()
    pub = EventPublisher(settings, send_timeout=0, on_error=reports)
    assert [pub.publish(n) for n in range(4)] == [True, True, True, False]
    deadline = time.monotonic() + 5
    while not reports.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [batch for _, batch, _ in reports.calls] == [[0, 1]]  # by size, not linger
    pub.close(timeout=1)
    assert reports.events == [0, 1, 2]


def test_buffered_events_cost_the_garbage_collector_nothing_per_event() -> None:
    """The buffer holds the events themselves and untracked floats: no container per event
    for the collector to track (a full buffer of them set off full collections of the
    application's heap, a third of the publisher's throughput)."""
    events = [{"n": n} for n in range(5_000)]
    reports = Reports()
    with publisher(reports, batch_size=10_000, buffer_size=10_000, linger_ms=60_000) as pub:
        pub.publish({"n": -1})  # the sender thread starts, and lingers: nothing is sent
        gc.collect()
        gc.disable()
        try:
            before = gc.get_count()[0]
            assert pub.publish_many(events) == len(events)
            allocated = gc.get_count()[0] - before  # containers the collector now tracks
        finally:
            gc.enable()
        assert allocated < 10, allocated
    assert len(reports.events) == len(events) + 1  # all reported at close, none lost
