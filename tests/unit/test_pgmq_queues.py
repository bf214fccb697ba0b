from __future__ import annotations

import pytest

from routelearn.domain.pgmq_queues import (
    MAX_INSTANCE_SUFFIX,
    MAX_QUEUE_NAME,
    instance_queue,
    is_instance_queue,
)
from routelearn.service.schedule import schedule
from routelearn.settings import Settings


def test_an_instance_queue_is_the_prefix_and_the_instance() -> None:
    assert instance_queue("seed_a") == "model_score_updates_seed_a"
    longest = instance_queue("a" * MAX_INSTANCE_SUFFIX)
    assert len(longest) == MAX_QUEUE_NAME
    assert is_instance_queue(longest)
    assert not is_instance_queue("model_score_updates")
    assert not is_instance_queue("model_routing_decisions")
    assert not is_instance_queue("model_score_updates_")


@pytest.mark.parametrize(
    ("instance", "problem"),
    [
        ("Seed-A", "lower-case letters, digits and underscores only"),
        ("", "lower-case letters, digits and underscores only"),
        ("x'; drop", "lower-case letters, digits and underscores only"),
        ("a" * (MAX_INSTANCE_SUFFIX + 1), f"a pgmq score queue allows {MAX_INSTANCE_SUFFIX}"),
    ],
)
def test_an_instance_pgmq_cannot_hold_is_refused_by_name(instance: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        instance_queue(instance)
    assert repr(instance) in str(info.value)


def test_beat_drains_pgmq_only_when_the_bridge_is_on() -> None:
    assert "consume-pgmq" not in schedule(Settings())
    entry = schedule(Settings(pgmq_enabled=True, pgmq_poll_interval=2.0))["consume-pgmq"]
    assert entry["task"] == "routelearn.consume_pgmq"
    assert entry["schedule"] == 2.0
    assert entry["options"]["queue"] == "routelearn.ingest"
