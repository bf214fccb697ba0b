"""A realistic, seeded corpus of routing events as JSON Lines, for ``routelearn bench ingest``.

The mix (issue 13): 40% complete seed-format events without ids, 10% ``routed`` events that
never get an outcome, 50% decisions sent as a ``routed`` event and a later outcome event sharing
``decision_id`` (10% of them outcome first; the other event usually some hundreds of events
away), 0.5% redeliveries of a recent event, 0.1% malformed lines of every kind; 50 instances,
8 models, 3 complexities. Each instance's publisher batches its own events, so the file holds
each instance's stream in runs of ``run`` lines, the instances taking turns.

The generator also says what ingesting the corpus must count, so a benchmark can wait for
exactly that and check that nothing was lost or counted twice.
"""

from __future__ import annotations

import heapq
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MODELS = [
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("claude-3-5-sonnet", "anthropic"),
    ("claude-3-5-haiku", "anthropic"),
    ("gemini-1.5-pro", "google"),
    ("gemini-1.5-flash", "google"),
    ("llama-3.1-70b", "groq"),
    ("mistral-large", "mistral"),
]
COMPLEXITIES = ["simple", "medium", "complex"]
INSTANCES = 50
CAPABILITIES = ["function_calling", "vision", "json_mode", "long_context", "streaming"]
# Per decision drawn: a pair is two events, the others one, so that events split 40 / 10 / 50
# the decisions split 8/15 complete, 2/15 routed only, 5/15 pairs.
_COMPLETE = 8 / 15
_ROUTED_ONLY = 2 / 15


# Each kind of bad input once per cycle; the first is not JSON at all (the publisher reports and
# skips it), the others are JSON that the workers dead-letter.
def _malformed(rng: random.Random, good: dict[str, Any], n: int) -> str:
    kind = n % 9
    tag = f"m{n}"  # keeps every malformed payload distinct (dead letters are deduplicated)
    bad: Any = json.loads(json.dumps(good))
    decision = bad["routing_decision"]
    if kind == 0:
        return json.dumps(good)[: rng.randint(10, 60)] + f" {tag}"  # truncated: not JSON
    if kind == 1:
        return json.dumps([tag, good["instance_id"]])  # JSON, not an object
    if kind == 2:
        del bad["instance_id"]
    elif kind == 3:
        decision["complexity"] = "extreme"
    elif kind == 4:
        decision["complexity_score"] = 7.5
    elif kind == 5:
        decision["respone_time_ms"] = 120.0  # a misspelt field is refused, not ignored
    elif kind == 6:
        bad["timestamp"] = "yesterday"
    elif kind == 7:
        decision["response_time_ms"] = "fast"
    else:
        decision["selected_model"] = "bad\x00model"
    bad["event_id"] = tag
    return json.dumps(bad)


@dataclass
class Corpus:
    """The lines, and what ingesting them must produce."""

    lines: list[str] = field(default_factory=list)
    # What each line adds to ``counted`` (0 for a duplicate or a malformed line): the line is
    # visible once the count reaches the running sum (in order; workers keep it roughly).
    weights: list[int] = field(default_factory=list)
    decisions: int = 0  # distinct decisions: each counts once in usage_count
    outcomes: int = 0  # decisions with an outcome: each counts once in success/failure
    not_json: int = 0  # lines the publisher skips
    invalid: int = 0  # JSON lines the workers dead-letter
    redeliveries: int = 0

    @property
    def counted(self) -> int:
        """usage + success + failure over model_routing_metrics once everything is ingested."""
        return self.decisions + self.outcomes

    def write(self, path: Path) -> Path:
        path.write_text("".join(line + "\n" for line in self.lines))
        return path


def _stream(rng: random.Random, instance: str, n: int, start: datetime) -> Iterator[dict[str, Any]]:
    """One instance's ``n`` well-formed events (before redeliveries), in sending order."""
    pending: list[tuple[int, int, dict[str, Any]]] = []  # heap: (position due, tie, event)
    position = 0
    clock = start
    while position < n:
        if pending and pending[0][0] <= position:
            yield heapq.heappop(pending)[2]
            position += 1
            continue
        clock += timedelta(milliseconds=rng.expovariate(1 / 40))
        model, provider = rng.choice(MODELS)
        decision = {
            "complexity": rng.choice(COMPLEXITIES),
            "selected_model": model,
            "selected_provider": provider,
            "complexity_score": round(rng.uniform(1.0, 5.0), 2),
            "capabilities_required": rng.sample(CAPABILITIES, rng.randint(0, 2)),
            "prefer": rng.choice(["speed", "cost", None]),
            "user_model_request": None,
        }
        latency = round(rng.lognormvariate(6.5, 0.6), 1)
        outcome = "success" if rng.random() < 0.92 else "failure"
        roll = rng.random()
        stamp = clock.isoformat()
        if roll < _COMPLETE:
            yield {
                "timestamp": stamp,
                "instance_id": instance,
                "routing_decision": {
                    **decision,
                    "outcome": outcome,
                    "response_time_ms": latency,
                },
            }
            position += 1
            continue
        decision_id = str(uuid.UUID(int=rng.getrandbits(128)))
        routed = {
            "timestamp": stamp,
            "instance_id": instance,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "decision_id": decision_id,
            "routing_decision": {**decision, "outcome": "routed", "response_time_ms": None},
        }
        if roll < _COMPLETE + _ROUTED_ONLY:
            yield routed
            position += 1
            continue
        done = {
            "timestamp": (clock + timedelta(milliseconds=latency)).isoformat(),
            "instance_id": instance,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "decision_id": decision_id,
            "routing_decision": {**decision, "outcome": outcome, "response_time_ms": latency},
        }
        later = position + max(1, int(rng.gauss(300, 120)))
        first, second = (done, routed) if rng.random() < 0.1 else (routed, done)
        yield first
        position += 1
        heapq.heappush(pending, (later, position, second))
    while pending:  # the stream ends: what is still held back goes last
        yield heapq.heappop(pending)[2]


def realistic(
    events: int, seed: int = 13, run: int = 1000, start: datetime | None = None
) -> Corpus:
    """About ``events`` lines (a few percent more: redeliveries and malformed lines come on
    top); the same for the same arguments. Timestamps begin at ``start``, by default half an
    hour ago (the workers refuse events more than a day ahead)."""
    rng = random.Random(seed)
    corpus = Corpus()
    start = start or datetime.now(UTC) - timedelta(minutes=30)
    per_instance = max(1, events // INSTANCES)
    streams = [
        list(_stream(rng, f"instance-{i:02d}", per_instance, start)) for i in range(INSTANCES)
    ]
    seen: set[object] = set()
    recent: list[dict[str, Any]] = []
    malformed = 0
    offsets = [0] * INSTANCES
    while any(offsets[i] < len(streams[i]) for i in range(INSTANCES)):
        for i in range(INSTANCES):
            chunk = streams[i][offsets[i] : offsets[i] + run]
            offsets[i] += len(chunk)
            for event in chunk:
                corpus.lines.append(json.dumps(event))
                key = event.get("decision_id") or id(event)  # a complete event is its own decision
                weight = 0
                if key not in seen:
                    seen.add(key)
                    corpus.decisions += 1
                    weight += 1
                if event["routing_decision"]["outcome"] != "routed":
                    corpus.outcomes += 1
                    weight += 1
                corpus.weights.append(weight)
                recent.append(event)
                if len(recent) > 500:
                    recent = recent[-500:]
                roll = rng.random()
                if roll < 0.005:
                    corpus.lines.append(json.dumps(rng.choice(recent)))
                    corpus.weights.append(0)
                    corpus.redeliveries += 1
                elif roll < 0.006:
                    corpus.lines.append(_malformed(rng, event, malformed))
                    corpus.weights.append(0)
                    if malformed % 9 == 0:
                        corpus.not_json += 1
                    else:
                        corpus.invalid += 1
                    malformed += 1
    return corpus
