"""The realistic benchmark corpus has the mix it promises, and knows what it must count."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from routelearn.benchmarks.corpus import INSTANCES, MODELS, realistic
from routelearn.domain.validation import ValidEvent, validate_event


def _kind(event: dict[str, Any]) -> str:
    outcome = event["routing_decision"]["outcome"]
    if "event_id" not in event:
        return "complete"
    return "routed" if outcome == "routed" else "outcome"


def test_mix_and_expected_counts() -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    corpus = realistic(20_000, seed=5, run=100, start=start)
    assert corpus == realistic(20_000, seed=5, run=100, start=start)  # seeded
    parsed: list[Any] = []
    for line in corpus.lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    assert parsed.count(None) == corpus.not_json > 0
    valid = [validate_event(p) for p in parsed if p is not None]
    events = [v for v in valid if isinstance(v, ValidEvent)]
    assert len(valid) - len(events) == corpus.invalid > 0
    assert 0.0005 < (corpus.invalid + corpus.not_json) / len(corpus.lines) < 0.002

    # Redeliveries are exact copies of recent events: the only duplicate ids.
    ids = Counter(e.event_id for e in events)
    assert sum(n - 1 for n in ids.values()) == corpus.redeliveries
    assert 0.003 < corpus.redeliveries / len(corpus.lines) < 0.008

    kinds = Counter(_kind(p) for p in parsed if isinstance(p, dict) and "routing_decision" in p)
    total = sum(kinds.values())
    assert abs(kinds["complete"] / total - 0.40) < 0.03
    pairs = kinds["outcome"] / total  # one outcome event per pair; the routed half is in routed
    assert abs(pairs - 0.25) < 0.03
    assert abs((kinds["routed"] / total) - 0.35) < 0.03  # 10% never answered + 25% of pairs

    # Outcome first for about a tenth of the pairs; the other event some hundreds later in its
    # instance's stream (the file interleaves the instances' streams in runs).
    position: dict[str, list[int]] = {}
    sent: Counter[str] = Counter()
    first_outcome: dict[str, bool] = {}
    for event in events:
        sent[event.instance_id] += 1
        if event.decision_id is not None:
            position.setdefault(event.decision_id, []).append(sent[event.instance_id])
            first_outcome.setdefault(event.decision_id, event.outcome != "routed")
    pairs_seen = {d: p for d, p in position.items() if len(set(p)) >= 2}
    first_is_outcome = sum(first_outcome[d] for d in pairs_seen)
    assert 0.06 < first_is_outcome / len(pairs_seen) < 0.14
    gaps = sorted(p[1] - p[0] for p in pairs_seen.values())
    assert 100 < gaps[len(gaps) // 2] < 600

    assert {e.instance_id for e in events} == {f"instance-{i:02d}" for i in range(INSTANCES)}
    assert {e.model for e in events} == {m for m, _ in MODELS}
    assert {e.complexity for e in events} == {"simple", "medium", "complex"}

    # What ingestion must count: each distinct decision once, each first outcome once.
    decisions = {e.decision_key for e in events}
    with_outcome = {e.decision_key for e in events if e.outcome != "routed"}
    assert corpus.counted == len(decisions) + len(with_outcome)
    assert sum(corpus.weights) == corpus.counted and len(corpus.weights) == len(corpus.lines)
