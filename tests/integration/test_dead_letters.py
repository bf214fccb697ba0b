"""Dead letters on the real PostgreSQL: kept once, listed, fixed, replayed exactly once, deleted.

Dead letters are written the way workers write them (``Ingestor.ingest``); no worker is needed.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.store import dead_letters as store
from routelearn.store.dead_letters import ReplayReport
from routelearn.store.ingest import ingest_batch
from tests.conftest import count, metrics
from tests.factories import make_event
from tests.services import run_cli, run_cli_process

pytestmark = pytest.mark.integration


def ingest(engine: Engine, payloads: Sequence[Any]) -> None:
    Ingestor(engine).ingest(payloads, source="test")


def bad_outcome(event_id: str | None = None, **kw: Any) -> dict[str, Any]:
    """A decision whose outcome is misspelt; the fix is ``"success"``."""
    return make_event(
        "maybe",
        event_id=event_id or str(uuid.uuid4()),
        decision_id=str(uuid.uuid4()),
        response_time_ms=250.0,
        **kw,
    )


def fixed(payload: dict[str, Any], outcome: str = "success") -> dict[str, Any]:
    return {**payload, "routing_decision": {**payload["routing_decision"], "outcome": outcome}}


def only(engine: Engine) -> store.DeadLetter:
    letters = store.list_dead_letters(engine)
    assert len(letters) == 1, letters
    return letters[0]


def test_malformed_event_is_kept_once_with_field_and_value(engine: Engine, clean: None) -> None:
    bad = make_event("routed", score=9.5)
    ingest(engine, [bad, bad, make_event("routed")])
    ingest(engine, [bad])  # a redelivery

    letter = only(engine)
    assert letter.reason == (
        "routing_decision.complexity_score=9.5: Input should be less than or equal to 5"
    )
    assert [(e.field, e.value) for e in letter.errors] == [
        ("routing_decision.complexity_score", "9.5")
    ]
    assert letter.source == "test"
    assert letter.payload_value() == bad
    assert store.get(engine, letter.id) == letter
    assert store.get(engine, letter.id + 1000) is None
    assert store.count(engine) == 1
    assert count(engine, "routing_records") == 1


def test_list_is_newest_first_and_filters(engine: Engine, clean: None) -> None:
    ingest(engine, [make_event("maybe")])
    ingest(engine, [make_event(score=9.5)])
    Ingestor(engine).ingest(["not an object"], source="other")

    letters = store.list_dead_letters(engine)
    assert [d.id for d in letters] == [3, 2, 1]
    assert [d.id for d in store.list_dead_letters(engine, limit=2)] == [3, 2]
    assert [d.id for d in store.list_dead_letters(engine, limit=None)] == [3, 2, 1]
    assert [d.id for d in store.list_dead_letters(engine, reason_like="COMPLEXITY_SCORE")] == [2]
    # A substring, not a pattern: '%' and '_' match only themselves.
    assert store.list_dead_letters(engine, reason_like="%") == []
    assert [d.id for d in store.list_dead_letters(engine, reason_like="_score")] == [2]
    assert [d.id for d in store.list_dead_letters(engine, source="other")] == [3]
    assert store.list_dead_letters(engine, since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert len(store.list_dead_letters(engine, since=datetime.now(UTC) - timedelta(hours=1))) == 3


def test_replay_after_edit_ingests_once_and_removes_the_dead_letter(
    engine: Engine, clean: None
) -> None:
    bad = bad_outcome()
    ingest(engine, [bad])
    letter = only(engine)
    assert metrics(engine) == {}

    assert store.replace_payload(engine, letter.id, fixed(bad))
    assert not store.replace_payload(engine, letter.id + 1000, fixed(bad))
    assert store.get(engine, letter.id).payload_value() == fixed(bad)  # type: ignore[union-attr]

    report = store.replay(engine, [letter.id])
    assert report == ReplayReport(selected=1, ingested=1)
    assert metrics(engine) == {("gpt-4o", "complex"): (1, 1, 0)}
    assert count(engine, "routing_records") == 1
    assert count(engine, "dead_letters") == 0

    assert store.replay(engine, [letter.id]) == ReplayReport(missing=(letter.id,))
    assert store.replay(engine, None) == ReplayReport()
    assert metrics(engine) == {("gpt-4o", "complex"): (1, 1, 0)}
    assert count(engine, "routing_records") == 1


def test_replay_of_still_invalid_keeps_it_with_the_current_reason(
    engine: Engine, clean: None
) -> None:
    bad = bad_outcome()
    ingest(engine, [bad])
    letter = only(engine)
    broken = fixed(bad, outcome="succes")
    store.replace_payload(engine, letter.id, broken)

    report = store.replay(engine, None)
    assert report == ReplayReport(selected=1, still_invalid_ids=(letter.id,))
    assert report.still_invalid == 1
    after = only(engine)
    assert after.id == letter.id
    assert after.reason.startswith("routing_decision.outcome='succes': ")
    assert [(e.field, e.value) for e in after.errors] == [("routing_decision.outcome", "'succes'")]
    assert after.payload_value() == broken
    assert count(engine, "routing_records") == 0


def test_replay_after_a_validation_change_and_twice_counts_nothing_twice(
    engine: Engine, clean: None
) -> None:
    # Validation depends on "now" (at most a day in the future): replaying later, as after a
    # code change, makes the same stored payload valid without any edit.
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    events = [
        make_event("success", event_id=str(uuid.uuid4()), timestamp=future, response_time_ms=100.0)
        for _ in range(3)
    ]
    ingest(engine, [*events, "garbage"])
    assert count(engine, "dead_letters") == 4
    ids = [d.id for d in store.list_dead_letters(engine)]

    later = datetime.now(UTC) + timedelta(days=3)
    first = store.replay(engine, None, now=later)
    assert (first.selected, first.ingested, first.duplicates, first.still_invalid) == (4, 3, 0, 1)
    second = store.replay(engine, None, now=later)
    assert (second.selected, second.ingested, second.still_invalid) == (1, 0, 1)
    assert second.still_invalid_ids == first.still_invalid_ids
    gone = tuple(sorted(set(ids) - set(first.still_invalid_ids)))
    assert store.replay(engine, ids, now=later).missing == gone
    assert metrics(engine) == {("gpt-4o", "complex"): (3, 3, 0)}
    assert count(engine, "routing_records") == 3


def test_replay_of_an_event_already_ingested_is_a_duplicate(engine: Engine, clean: None) -> None:
    bad = bad_outcome()
    ingest(engine, [bad])
    letter = only(engine)
    ingest(engine, [fixed(bad)])  # the producer re-sent it, corrected
    store.replace_payload(engine, letter.id, fixed(bad))

    assert store.replay(engine, [letter.id]) == ReplayReport(selected=1, duplicates=1)
    assert count(engine, "dead_letters") == 0
    assert metrics(engine) == {("gpt-4o", "complex"): (1, 1, 0)}


def test_replay_in_chunks_and_concurrently_ingests_each_once(engine: Engine, clean: None) -> None:
    bads = [bad_outcome() for _ in range(40)]
    ingest(engine, [*bads, [1, 2]])
    for letter in store.list_dead_letters(engine, limit=None):
        value = letter.payload_value()
        if isinstance(value, dict):
            store.replace_payload(engine, letter.id, fixed(value))

    reports: list[ReplayReport] = []
    threads = [
        threading.Thread(target=lambda: reports.append(store.replay(engine, None, chunk_size=7)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(reports) == 3
    assert sum(r.ingested for r in reports) == 40
    assert sum(r.duplicates for r in reports) == 0
    assert count(engine, "dead_letters") == 1
    assert metrics(engine) == {("gpt-4o", "complex"): (40, 40, 0)}
    assert count(engine, "routing_records") == 40


def test_replay_isolates_an_event_the_database_refuses(
    engine: Engine, clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison_id = "poison-" + uuid.uuid4().hex
    bads = [bad_outcome() for _ in range(5)] + [bad_outcome(event_id=poison_id)]
    ingest(engine, bads)
    for letter in store.list_dead_letters(engine, limit=None):
        store.replace_payload(engine, letter.id, fixed(letter.payload_value()))

    def refusing(conn: Any, events: Sequence[Any], *args: Any, **kw: Any) -> Any:
        if any(e.event_id == poison_id for e in events):
            raise ValueError("refused")  # stands for a constraint the event breaks
        return ingest_batch(conn, events, *args, **kw)

    monkeypatch.setattr(store, "ingest_batch", refusing)
    report = store.replay(engine, None)
    assert (report.selected, report.ingested, report.still_invalid) == (6, 5, 1)
    letter = only(engine)
    assert letter.payload_value()["event_id"] == poison_id
    assert "internal error: ValueError: refused" in letter.reason
    assert metrics(engine) == {("gpt-4o", "complex"): (5, 5, 0)}


def test_a_payload_with_a_lone_surrogate_can_be_stored_shown_and_replayed(
    engine: Engine, clean: None, settings: Settings
) -> None:
    # JSON may spell a lone surrogate ("\\ud800"); UTF-8, and so PostgreSQL, cannot hold one.
    ingest(engine, [make_event("maybe")])
    letter = only(engine)
    surrogate = json.loads(json.dumps(make_event("routed", instance_id="a\ud800b")))
    assert store.replace_payload(engine, letter.id, surrogate)
    assert store.get(engine, letter.id).payload_value() == surrogate  # type: ignore[union-attr]

    shown = run_cli(settings, "dead-letters", "show", str(letter.id), "--payload")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == surrogate

    # Validation refuses the surrogate; the reason (a repr) is storable, so replay keeps the row.
    report = store.replay(engine, [letter.id])
    assert report == ReplayReport(selected=1, still_invalid_ids=(letter.id,))
    assert only(engine).reason.startswith("instance_id='a\\ud800b': ")


def test_delete_and_purge(engine: Engine, clean: None) -> None:
    ingest(engine, [make_event("maybe"), make_event(score=9.5), "x"])
    assert store.delete(engine, [1, 99]) == [1]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE dead_letters SET received_at = now() - interval '10 days' WHERE id = 2"
        )
    assert store.count(engine, timedelta(days=7)) == 1
    assert store.purge(engine, timedelta(days=7)) == 1
    assert [d.id for d in store.list_dead_letters(engine)] == [3]
    assert store.purge(engine, None) == 1
    assert store.count(engine) == 0


# The CLI, as operators run it: a separate process configured by the environment.


def test_cli_list_show_edit_replay(engine: Engine, clean: None, settings: Settings) -> None:
    bad = bad_outcome()
    ingest(engine, [bad])
    ingest(engine, [make_event(score=9.5)])
    outcome_id, score_id = 1, 2  # one batch's dead letters are stored in payload-key order

    listed = run_cli_process(settings, "dead-letters", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "received", "at", "source", "reason"]
    assert lines[2].startswith(str(score_id)) and "complexity_score=9.5" in lines[2]
    assert lines[3].startswith(str(outcome_id)) and "outcome='maybe'" in lines[3]

    filtered = run_cli(settings, "dead-letters", "list", "--reason", "outcome", "--json")
    exported = [json.loads(line) for line in filtered.stdout.splitlines()]
    assert [(d["id"], d["payload"], d["source"]) for d in exported] == [(outcome_id, bad, "test")]
    assert exported[0]["errors"][0]["field"] == "routing_decision.outcome"

    shown = run_cli(settings, "dead-letters", "show", str(outcome_id))
    assert shown.returncode == 0, shown.stderr
    assert "routing_decision.outcome = 'maybe': Input should be" in shown.stdout
    assert json.dumps(bad["instance_id"]) in shown.stdout
    assert (
        json.loads(run_cli(settings, "dead-letters", "show", str(outcome_id), "--payload").stdout)
        == bad
    )

    edited = run_cli(
        settings, "dead-letters", "edit", str(outcome_id), "-", stdin=json.dumps(fixed(bad))
    )
    assert edited.returncode == 0, edited.stderr
    assert f"replay {outcome_id}" in edited.stdout
    not_json = run_cli(settings, "dead-letters", "edit", str(outcome_id), "-", stdin="{oops")
    assert not_json.returncode == 1 and "is not valid JSON" in not_json.stderr

    replayed = run_cli(settings, "dead-letters", "replay", "--all")
    assert replayed.returncode == 0, replayed.stderr
    assert "selected:      2" in replayed.stdout
    assert "ingested:      1" in replayed.stdout
    assert "still invalid: 1" in replayed.stdout
    assert f"  {score_id}: routing_decision.complexity_score=9.5" in replayed.stdout
    assert metrics(engine) == {("gpt-4o", "complex"): (1, 1, 0)}

    again = run_cli(settings, "dead-letters", "replay", str(score_id))
    assert "ingested:      0" in again.stdout and "still invalid: 1" in again.stdout
    assert metrics(engine) == {("gpt-4o", "complex"): (1, 1, 0)}


def test_cli_errors_and_deletion(engine: Engine, clean: None, settings: Settings) -> None:
    ingest(engine, [make_event("maybe"), make_event(score=9.5), "x"])

    for args in (["show", "42"], ["replay", "42"], ["edit", "42", "-"], ["delete", "42"]):
        result = run_cli(settings, "dead-letters", *args, stdin="{}")
        assert result.returncode == 1, args
        assert "dead letter 42 does not exist" in result.stderr, args
    usage = run_cli(settings, "dead-letters", "replay")
    assert usage.returncode == 2 and "give dead letter ids or --all" in usage.stderr

    refused = run_cli(settings, "dead-letters", "delete", "1")  # no answer on stdin: not confirmed
    assert refused.returncode != 0 and count(engine, "dead_letters") == 3
    confirmed = run_cli(settings, "dead-letters", "delete", "1", stdin="y\n")
    assert confirmed.returncode == 0 and "deleted 1 dead letter(s)" in confirmed.stdout
    assert run_cli(settings, "dead-letters", "delete", "2", "--yes").returncode == 0
    assert [d.id for d in store.list_dead_letters(engine)] == [3]

    kept = run_cli(settings, "dead-letters", "purge", "--older-than", "1", "--yes")
    assert "purged 0" in kept.stdout and count(engine, "dead_letters") == 1
    purged = run_cli(settings, "dead-letters", "purge", "--older-than", "0", "--yes")
    assert purged.returncode == 0 and "purged 1" in purged.stdout
    assert run_cli(settings, "dead-letters", "list").stdout.strip() == "(no rows)"


def test_an_incoming_event_with_a_lone_surrogate_is_dead_lettered(
    engine: Engine, clean: None
) -> None:
    event = json.loads(json.dumps(make_event("routed", model="gpt\ud800")))
    good = make_event("routed", event_id="fine")
    ingest(engine, [event, good])
    assert count(engine, "dead_letters") == 1
    assert count(engine, "routing_records") == 1
    (letter,) = store.list_dead_letters(engine)
    assert "routing_decision.selected_model" in letter.reason
