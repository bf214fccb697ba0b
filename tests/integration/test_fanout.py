"""Fan-out of score updates to per-instance durable queues, and the instance-side subscriber,
on the real broker (each of Redis and RabbitMQ: marked ``broker``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routelearn.instance.catalog.model import ModelCatalog
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.messaging.broker import connection as broker_connection
from routelearn.messaging.fanout import fan_out, queue_name, score_update_queue
from routelearn.settings import Settings
from tests.factories import score_update as update
from tests.proxy import Proxy
from tests.services import ON_AMQP, depth, queue_types, unacked, wait_for

pytestmark = [pytest.mark.usefixtures("clean"), pytest.mark.integration, pytest.mark.broker]


def catalog() -> ModelCatalog:
    return ModelCatalog.from_config(
        {
            "version": 1,
            "default_score": 2.5,
            "models": [
                {"name": "gpt-4o", "provider": "openai", "scores": {"complex": 4.8}},
                {"name": "haiku", "provider": "anthropic", "scores": {"simple": 4.0}},
            ],
        }
    )


@pytest.fixture
def connection(settings: Settings) -> Iterator[Any]:
    conn = broker_connection(settings)
    yield conn
    conn.release()


def queued_bodies(connection: Any, settings: Settings, instance_id: str) -> list[Any]:
    """Every message in the instance's queue, oldest first, consumed and acked."""
    queue = score_update_queue(instance_id, settings)(connection.default_channel)
    bodies = []
    while (message := queue.get(no_ack=False, accept=["application/json"])) is not None:
        bodies.append(message.decode())
        message.ack()
    return bodies


def test_one_message_per_instance_with_every_update(settings: Settings, connection: Any) -> None:
    updates = [update(1, 4.9), update(1, 3.0, "haiku", "simple"), update(2, 4.7)]
    report = fan_out(settings, ["i1", "i2", "i3"], updates)
    assert (report.instances, report.messages, report.updates) == (3, 3, 3)
    assert report.trimmed_queues == 0
    for instance in ("i1", "i2", "i3"):
        assert depth(settings, queue_name(instance)) == 1
        assert queued_bodies(connection, settings, instance) == [
            {"updates": [u.to_message() for u in updates]}
        ]


def test_queue_name(settings: Settings) -> None:
    assert queue_name("host-7") == "model_score_updates.host-7"
    queue = score_update_queue("host-7", settings)
    assert queue.durable and queue.exchange.name == queue.routing_key == queue.name
    assert queue.queue_arguments == {
        "x-max-length": settings.instance_queue_max,
        "x-overflow": "drop-head",
    }


def test_two_running_subscribers_each_apply_to_their_catalog(settings: Settings) -> None:
    catalogs = {"i1": catalog(), "i2": catalog()}
    subscribers = [ScoreUpdateSubscriber(settings, i, c) for i, c in catalogs.items()]
    for subscriber in subscribers:
        subscriber.start()
    try:
        fan_out(settings, ["i1", "i2"], [update(3, 4.2)])
        for c in catalogs.values():

            def applied(c: ModelCatalog = c) -> bool:
                return c.version("gpt-4o", "complex") == 3

            wait_for(applied, 10, message="update")
            assert c.score("gpt-4o", "complex") == 4.2
            assert c.score("haiku", "simple") == 4.0  # untouched
    finally:
        for subscriber in subscribers:
            assert subscriber.stop(10)
    for subscriber in subscribers:
        assert (subscriber.stats.messages, subscriber.stats.updates_applied) == (1, 1)


def test_offline_instance_receives_the_update_when_it_starts(
    settings: Settings,
) -> None:
    fan_out(settings, ["online", "offline"], [update(4, 1.5)])
    assert depth(settings, queue_name("offline")) == 1  # kept while nobody consumes
    local = catalog()
    subscriber = ScoreUpdateSubscriber(settings, "offline", local)
    subscriber.start()
    try:
        wait_for(lambda: local.score("gpt-4o", "complex") == 1.5, 10, message="update")
    finally:
        assert subscriber.stop(10)
    # Acked, so never redelivered: nothing returns once the subscriber's connection closed.
    wait_for(lambda: depth(settings, queue_name("offline")) == 0, 5, message="empty queue")
    assert unacked(settings) == 0


def test_stale_version_is_ignored(settings: Settings) -> None:
    local = catalog()
    subscriber = ScoreUpdateSubscriber(settings, "i1", local)
    fan_out(settings, ["i1"], [update(5, 3.3)])
    fan_out(settings, ["i1"], [update(4, 0.5), update(5, 0.7)])  # a straggler and a duplicate
    assert subscriber.drain() == 2
    assert local.score("gpt-4o", "complex") == 3.3 and local.version("gpt-4o", "complex") == 5
    stats = subscriber.stats
    assert (stats.messages, stats.updates_applied, stats.ignored_stale) == (2, 1, 2)


def bounded(settings: Settings, rounds: int) -> Settings:
    return settings.model_copy(update={"instance_queue_max": rounds})


def test_queue_bound_keeps_the_newest_rounds(settings: Settings) -> None:
    settings = bounded(settings, 3)
    reports = [fan_out(settings, ["away"], [update(v, v / 2)]) for v in range(1, 6)]
    # Redis: trimmed by routelearn, which says so; RabbitMQ: dropped by x-max-length, silently.
    expected_trims = [0] * 5 if ON_AMQP else [0, 0, 0, 1, 1]
    assert [r.trimmed_queues for r in reports] == expected_trims
    assert depth(settings, queue_name("away")) == 3
    local = catalog()
    subscriber = ScoreUpdateSubscriber(settings, "away", local)
    assert subscriber.drain() == 3
    # Rounds 1 and 2 were dropped; 3, 4, 5 arrive oldest first, each newer than the last.
    assert subscriber.stats.updates_applied == 3 and subscriber.stats.ignored_stale == 0
    assert local.version("gpt-4o", "complex") == 5 and local.score("gpt-4o", "complex") == 2.5


def test_queue_bound_dropped_messages_are_the_oldest(settings: Settings, connection: Any) -> None:
    settings = bounded(settings, 3)
    for v in range(1, 6):
        fan_out(settings, ["away"], [update(v)])
    versions = [b["updates"][0]["version"] for b in queued_bodies(connection, settings, "away")]
    assert versions == [3, 4, 5]


def test_snapshot_is_applied_before_queued_updates(settings: Settings) -> None:
    fan_out(settings, ["i1"], [update(3, 1.0), update(1, 4.4, "haiku", "simple")])
    calls: list[int | None] = []

    def snapshot() -> dict[str, Any]:
        calls.append(local.version("gpt-4o", "complex"))
        return {"models": {"gpt-4o": {"complex": {"score": 4.0, "version": 6}}}}

    local = catalog()
    subscriber = ScoreUpdateSubscriber(settings, "i1", local, snapshot_source=snapshot)
    subscriber.start()
    try:
        wait_for(lambda: subscriber.stats.messages == 1, 10, message="the queued round")
    finally:
        assert subscriber.stop(10)
    assert calls == [0]  # called once, before any update was applied
    stats = subscriber.stats
    assert stats.snapshot_done and stats.snapshot_scores == 1
    # The queued version 3 is older than the snapshot's 6: ignored. haiku's is new: applied.
    assert (stats.updates_applied, stats.ignored_stale) == (1, 1)
    assert local.score("gpt-4o", "complex") == 4.0 and local.score("haiku", "simple") == 4.4


def test_failed_snapshot_does_not_stop_updates(settings: Settings) -> None:
    def broken() -> dict[str, Any]:
        raise ConnectionError("central service down")

    fan_out(settings, ["i1"], [update(2, 1.0)])
    local = catalog()
    subscriber = ScoreUpdateSubscriber(settings, "i1", local, snapshot_source=broken)
    assert subscriber.drain() == 1
    assert local.score("gpt-4o", "complex") == 1.0 and not subscriber.stats.snapshot_done


def test_malformed_messages_are_logged_and_acked(
    settings: Settings, connection: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue = score_update_queue("i1", settings)
    producer = connection.Producer()
    producer.publish({"not": "a round"}, exchange="", routing_key=queue.name, declare=[queue])
    producer.publish("plain text", exchange="", routing_key=queue.name, serializer="raw")
    good = update(2, 2.0).to_message()
    producer.publish({"updates": [{"model": "x"}, good]}, exchange="", routing_key=queue.name)
    local = catalog()
    subscriber = ScoreUpdateSubscriber(settings, "i1", local)
    assert subscriber.drain() == 3
    stats = subscriber.stats
    # Two unreadable messages and one bad update; the good update of the third still applies.
    assert (stats.messages, stats.malformed, stats.updates_applied) == (3, 3, 1)
    assert local.score("gpt-4o", "complex") == 2.0
    # Acked, not merely taken: nothing returns once the subscriber's connection is closed.
    assert depth(settings, queue.name) == 0 and unacked(settings) == 0
    assert "malformed" in caplog.text


def test_catalog_is_persisted_after_a_change(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    fan_out(settings, ["i1"], [update(9, 0.25)])
    subscriber = ScoreUpdateSubscriber(settings, "i1", catalog(), persist_path=path)
    subscriber.drain()
    saved = ModelCatalog.from_file(path)
    assert saved.score("gpt-4o", "complex") == 0.25 and saved.version("gpt-4o", "complex") == 9


def test_a_connection_is_reused_and_queues_declared_once(settings: Settings) -> None:
    first = fan_out(settings, ["i1", "i2"], [update(1)])
    second = fan_out(settings, ["i1", "i2", "i3"], [update(2)])
    assert (first.declared_queues, second.declared_queues) == (2, 1)
    assert [depth(settings, queue_name(i)) for i in ("i1", "i2", "i3")] == [2, 2, 1]
    assert fan_out(settings, [], [update(3)]).messages == 0
    assert fan_out(settings, ["i1"], []).messages == 0
    assert fan_out(settings, ["i1"], [update(4)]).declared_queues == 0


def test_fan_out_to_a_thousand_queues(settings: Settings, connection: Any) -> None:
    instances = [f"instance-{i}" for i in range(1000)]
    updates = [update(i + 1, model=f"model-{i}") for i in range(100)]
    fan_out(settings, instances, updates)  # declares the queues
    started = time.perf_counter()
    report = fan_out(settings, instances, updates)
    elapsed = time.perf_counter() - started
    print(f"\nfan-out of 100 updates to 1,000 queues: {elapsed:.3f} s ({report})")
    assert report.messages == 1000 and report.declared_queues == 0
    channel = connection.default_channel
    depths = [
        score_update_queue(i, settings)(channel).queue_declare(passive=True)[1] for i in instances
    ]
    assert depths == [2] * 1000
    local = catalog()
    subscriber = ScoreUpdateSubscriber(settings, "instance-999", local)
    assert subscriber.drain() == 2
    assert subscriber.stats.updates_applied == 100 and subscriber.stats.ignored_stale == 100
    assert local.version("model-99", "complex") == 100


def test_subscriber_reconnects_after_a_broker_outage(
    settings: Settings, broker_proxy: tuple[Proxy, Settings]
) -> None:
    proxy, through = broker_proxy
    local = catalog()
    subscriber = ScoreUpdateSubscriber(through, "i1", local)
    subscriber.start()
    try:
        fan_out(settings, ["i1"], [update(1, 1.0)])
        wait_for(lambda: local.version("gpt-4o", "complex") == 1, 10, message="first update")
        proxy.down()
        # Sent while the instance cannot reach the broker: kept in its queue.
        fan_out(settings, ["i1"], [update(2, 2.0)])
        wait_for(lambda: subscriber.stats.reconnects >= 1, 10, message="a lost connection")
        proxy.up()
        wait_for(lambda: local.version("gpt-4o", "complex") == 2, 20, message="second update")
    finally:
        assert subscriber.stop(10)
    assert local.score("gpt-4o", "complex") == 2.0


def test_fan_out_reconnects_after_a_broker_outage(
    settings: Settings, broker_proxy: tuple[Proxy, Settings]
) -> None:
    proxy, through = broker_proxy
    assert fan_out(through, ["i1"], [update(1)]).messages == 1
    # The cached connection dies with the proxy; the next round reconnects and is sent.
    cut = proxy.connections_cut
    proxy.down()
    assert proxy.connections_cut > cut  # the outage happened: the fan-out's connection was cut
    proxy.up()
    assert fan_out(through, ["i1"], [update(2)]).messages == 1
    assert depth(settings, queue_name("i1")) == 2


class CrashingCatalog(ModelCatalog):
    """Fails like a process dying mid-apply, once."""

    crashed = False

    def apply_update(self, model: str, complexity: Any, new_score: float, version: int) -> bool:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("instance died while applying")
        return super().apply_update(model, complexity, new_score, version)


def test_a_round_is_acked_only_once_applied(settings: Settings) -> None:
    fan_out(settings, ["i1"], [update(2, 1.0)])
    local = CrashingCatalog.from_config(catalog().to_config())
    subscriber = ScoreUpdateSubscriber(settings, "i1", local)
    with pytest.raises(RuntimeError, match="died"):
        subscriber.drain()
    # Not acked: kombu puts it back (at once on a closed channel, else after the visibility
    # timeout), and the next attempt applies it.
    wait_for(lambda: depth(settings, queue_name("i1")) == 1, 15, message="redelivery")
    assert subscriber.drain() == 1
    assert local.score("gpt-4o", "complex") == 1.0


def test_quorum_queues_carry_a_round(broker_url: str) -> None:
    """``ROUTELEARN_QUORUM_QUEUES``: on RabbitMQ the instance queue is a quorum queue (on Redis
    the setting changes nothing) and a round reaches the subscriber through it."""
    settings = Settings(broker_url=broker_url, quorum_queues=True, instance_queue_max=5)
    assert score_update_queue("q1", settings).queue_arguments["x-queue-type"] == "quorum"
    for version in range(1, 8):
        fan_out(settings, ["q1"], [update(version, version / 2)])
    if ON_AMQP:
        assert queue_types(broker_url)[queue_name("q1")] == "quorum"
    assert depth(settings, queue_name("q1")) == 5  # drop-head holds on quorum queues too
    local = catalog()
    assert ScoreUpdateSubscriber(settings, "q1", local).drain() == 5
    assert local.version("gpt-4o", "complex") == 7 and local.score("gpt-4o", "complex") == 3.5
