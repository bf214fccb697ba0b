"""EventPublisher and ``routelearn publish`` against the real broker (each of Redis and RabbitMQ),
and the real worker."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from routelearn.constants import INGEST_EVENTS_TASK, INGEST_QUEUE
from routelearn.instance.publisher import EventPublisher
from routelearn.messaging.broker import connection, task_queue
from routelearn.settings import Settings
from tests.conftest import count, metrics
from tests.factories import decision_pair, make_event
from tests.proxy import Proxy
from tests.services import ROOT, run_cli, run_cli_process, settings_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]

Expected = dict[tuple[str, str], tuple[int, int, int]]


def decisions(n: int, seed: int = 1) -> tuple[list[dict[str, Any]], Expected]:
    """``n`` decisions, each a routed event and its outcome, and the metrics they make."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    want: dict[tuple[str, str], list[int]] = {}
    for _ in range(n):
        model, complexity = rng.choice(["a", "b"]), rng.choice(["simple", "complex"])
        outcome = rng.choice(["success", "failure"])
        events += decision_pair(outcome, model=model, complexity=complexity)
        row = want.setdefault((model, complexity), [0, 0, 0])
        row[0] += 1
        row[1 if outcome == "success" else 2] += 1
    return events, {k: (v[0], v[1], v[2]) for k, v in want.items()}


def queued_batches(settings: Settings) -> list[list[Any]]:
    """Take the messages waiting in the ingest queue, oldest first, each as the batch it
    carries."""
    batches = []
    with connection(settings) as conn:
        queue = task_queue(INGEST_QUEUE, settings)(conn.default_channel)
        while (message := queue.get(no_ack=False, accept=["application/json"])) is not None:
            assert message.headers["task"] == INGEST_EVENTS_TASK
            args, kwargs, _ = message.decode()
            assert kwargs == {}
            (batch,) = args
            batches.append(batch)
            message.ack()
    return batches


def run_python(settings: Settings, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_published_events_are_ingested_exactly(
    worker: Any, settings: Settings, engine: Engine
) -> None:
    events, want = decisions(150)
    with EventPublisher(settings, batch_size=40) as publisher:
        for event in events:
            assert publisher.publish(event)
    stats = publisher.stats
    assert (stats.accepted, stats.sent, stats.failed, stats.dropped, stats.pending) == (
        300,
        300,
        0,
        0,
        0,
    )
    assert stats.batches >= 8  # 300 / 40, more if the linger cut some short
    wait_for(
        lambda: count(engine, "routing_records") == len(events),
        message="every published event ingested",
    )
    assert metrics(engine) == want
    assert count(engine, "dead_letters") == 0


def test_a_batch_leaves_when_full(settings: Settings, clean: None) -> None:
    events = [make_event(event_id=f"e{n}") for n in range(35)]
    publisher = EventPublisher(settings, batch_size=10, linger_ms=60_000)
    for event in events:
        publisher.publish(event)
    wait_for(lambda: publisher.stats.sent == 30, timeout=10, message="three full batches sent")
    time.sleep(0.2)
    assert publisher.stats.batches == 3
    assert publisher.stats.pending == 5  # lingering: not a full batch
    assert queued_batches(settings) == [events[0:10], events[10:20], events[20:30]]
    assert publisher.close()
    assert publisher.stats.batches == 4
    assert queued_batches(settings) == [events[30:]]


def test_a_partial_batch_leaves_after_linger(settings: Settings, clean: None) -> None:
    events = [make_event(event_id=f"e{n}") for n in range(3)]
    # A linger long beside a loaded machine's stalls: nothing may leave before it.
    with EventPublisher(settings, batch_size=1000, linger_ms=2000) as publisher:
        started = time.monotonic()
        for event in events:
            publisher.publish(event)
        time.sleep(0.5)
        assert publisher.stats.sent == 0
        wait_for(lambda: publisher.stats.sent == 3, timeout=10, message="the lingering batch")
        assert time.monotonic() - started >= 2.0
        assert publisher.stats.batches == 1
    assert queued_batches(settings) == [events]


def test_flush_and_close_send_without_lingering(
    worker: Any, settings: Settings, engine: Engine
) -> None:
    events, want = decisions(8, seed=2)
    publisher = EventPublisher(settings, batch_size=1000, linger_ms=60_000)
    for event in events[:10]:
        publisher.publish(event)
    started = time.monotonic()
    assert publisher.flush(timeout=10)
    assert publisher.stats.sent == 10
    for event in events[10:]:
        publisher.publish(event)
    assert publisher.close()
    assert time.monotonic() - started < 5
    assert publisher.stats.sent == 16
    assert publisher.stats.batches == 2
    wait_for(lambda: count(engine, "routing_records") == 16, message="flushed events ingested")
    assert metrics(engine) == want


def test_events_are_sent_as_given(settings: Settings, clean: None) -> None:
    # No id added, nothing validated: a seed-format event and junk go out unchanged.
    events: list[Any] = [make_event(), {"not": "an event"}, "a string", [1, 2], None]
    sent = json.loads(json.dumps(events))
    with EventPublisher(settings, batch_size=5) as publisher:
        for event in events:
            publisher.publish(event)
    assert queued_batches(settings) == [sent]
    assert events == sent


def test_unencodable_event_fails_alone(settings: Settings, clean: None) -> None:
    reports: list[tuple[list[Any], BaseException]] = []
    bad = {"when": object()}
    good = [make_event(event_id="a"), make_event(event_id="b")]
    with EventPublisher(
        settings, batch_size=3, on_error=lambda e, x: reports.append((e, x))
    ) as publisher:
        for event in (good[0], bad, good[1]):
            publisher.publish(event)
    assert [r[0] for r in reports] == [[bad]]
    assert publisher.stats.failed == 1
    assert publisher.stats.sent == 2
    assert queued_batches(settings) == [good]


def test_broker_outage_is_retried_until_it_ends(
    broker_proxy: tuple[Proxy, Settings], clean: None
) -> None:
    proxy, proxied = broker_proxy
    first = [make_event(event_id=f"first-{n}") for n in range(3)]
    second = [make_event(event_id=f"second-{n}") for n in range(4)]
    failures: list[list[Any]] = []
    with EventPublisher(
        proxied,
        batch_size=100,
        linger_ms=60_000,  # only flush() sends: each phase goes as one batch
        send_timeout=30,
        on_error=lambda e, x: failures.append(e),
    ) as publisher:
        for event in first:
            publisher.publish(event)
        assert publisher.flush(timeout=10)
        cut = proxy.connections_cut
        proxy.down()  # drops the publisher's open connection, and refuses new ones
        assert proxy.connections_cut > cut  # the outage happened to a live connection
        for event in second:
            publisher.publish(event)
        assert not publisher.flush(timeout=1.0)
        assert publisher.stats.pending == 4
        proxy.up()
        assert publisher.flush(timeout=20)
    assert not failures
    assert publisher.stats.sent == 7
    assert [e for batch in queued_batches(proxied) for e in batch] == first + second
    assert publisher.stats.batches == 2 and failures == []


def test_interpreter_exit_flushes_an_unclosed_publisher(settings: Settings, clean: None) -> None:
    result = run_python(
        settings,
        """
        from routelearn.instance.publisher import EventPublisher
        from routelearn.settings import get_settings

        publisher = EventPublisher(get_settings(), linger_ms=60_000)
        for n in range(4):
            publisher.publish({"n": n})
        print(publisher.stats.pending)
        del publisher
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4"
    assert queued_batches(settings) == [[{"n": n} for n in range(4)]]


def test_forked_child_starts_afresh(settings: Settings, clean: None) -> None:
    result = run_python(
        settings,
        """
        import os
        from routelearn.instance.publisher import EventPublisher
        from routelearn.settings import get_settings

        publisher = EventPublisher(get_settings(), linger_ms=60_000)
        publisher.publish("parent-1")
        publisher.publish("parent-2")
        pid = os.fork()
        if pid == 0:
            # The parent's buffered events are the parent's to send, not the child's.
            ok = publisher.stats.accepted == 0 and publisher.publish("child")
            ok = ok and publisher.close(10) and publisher.stats.sent == 1
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "child failed"
        assert publisher.close(10) and publisher.stats.sent == 2
        """,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(queued_batches(settings)) == [["child"], ["parent-1", "parent-2"]]


def test_cli_publishes_a_jsonl_file(
    worker: Any, settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    events, want = decisions(3, seed=3)
    invalid = {"not": "an event"}
    lines = [json.dumps(events[0]), "", "{oops", *map(json.dumps, events[1:]), json.dumps(invalid)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run_cli_process(
        settings, "publish", str(path), "--batch-size", "2", "--linger-ms", "5"
    )
    assert result.returncode == 0, result.stderr
    assert "line 3: not JSON: Expecting property name" in result.stderr
    assert result.stdout.startswith(
        "9 lines read, 7 events sent, 1 lines skipped (not JSON), 0 events failed; "
    )
    wait_for(
        lambda: count(engine, "routing_records") == 6 and count(engine, "dead_letters") == 1,
        message="valid events recorded and the invalid one dead-lettered",
    )
    assert metrics(engine) == want


def test_cli_reads_stdin_and_fails_when_the_broker_is_down(settings: Settings) -> None:
    down = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    stdin = json.dumps(make_event()) + "\n" + json.dumps(make_event()) + "\n"
    result = run_cli(down, "publish", "-", "--send-timeout", "0.2", "--quiet", stdin=stdin)
    assert result.returncode == 1
    assert "2 events could not be sent" in result.stderr
    assert result.stdout.startswith(
        "2 lines read, 0 events sent, 0 lines skipped (not JSON), 2 events failed; "
    )
