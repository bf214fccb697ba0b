"""The HTTP API over real HTTP: a ``uvicorn`` process serving ``routelearn.api.asgi:app`` against
this run's PostgreSQL and broker, driven with httpx; events it takes are ingested by a real
worker."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from routelearn.constants import LEARN_SCORES_TASK
from routelearn.domain.api_keys import Role
from routelearn.harness import stop_groups
from routelearn.instance.catalog import parse_catalog
from routelearn.settings import Settings
from routelearn.store import api_keys
from routelearn.store.scores import import_catalog
from tests.conftest import count
from tests.factories import decision_pair, make_event
from tests.services import LOGS, ON_AMQP, run_cli, run_cli_process, settings_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]

MAX_EVENTS = 50
MAX_BYTES = 64_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """A real API server process (``routelearn serve``) for ``settings``: its base URL."""
    port = free_port()
    LOGS.mkdir(exist_ok=True)
    with open(LOGS / "api.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "routelearn.cli", "serve", "--port", str(port)],
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return proc.poll() is not None  # died: stop waiting, fail below

    try:
        wait_for(up, 30, message="the API server")
        assert proc.poll() is None, (LOGS / "api.log").read_text()[-2000:]
        yield base
    finally:
        stop_groups([proc], timeout=10)


@pytest.fixture(scope="session")
def api(settings: Settings) -> Iterator[str]:
    """The base URL of a real API server process (small body bounds, to test them; no
    exploration, so a route goes to the best model every time)."""
    bounded: dict[str, Any] = {
        "api_max_events": MAX_EVENTS,
        "api_max_body_bytes": MAX_BYTES,
        "api_route_explore_share": 0.0,
    }
    if ON_AMQP:  # no Redis to count rate limits in (test_api_rate_limit.py tests them)
        bounded["api_rate_limit"] = 0
    with serving(settings.model_copy(update=bounded)) as base:
        yield base


@pytest.fixture
def keys(engine: Engine, clean: None) -> dict[Role, str]:
    return {role: api_keys.create(engine, f"test-{role}", role)[1] for role in Role}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"]
    return body


def test_health_needs_no_key_and_readiness_checks_every_dependency(api: str) -> None:
    alive = httpx.get(f"{api}/health")
    assert alive.status_code == 200 and alive.json()["status"] == "healthy"
    ready = httpx.get(f"{api}/health/ready")
    assert ready.status_code == 200, ready.text
    assert {name: c["ok"] for name, c in ready.json()["checks"].items()} == {
        "database": True,
        "schema": True,
        "broker": True,
    }


def test_readiness_names_a_dependency_that_does_not_answer_and_nothing_more(
    settings: Settings,
) -> None:
    cut_off = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with serving(cut_off) as base:
        assert httpx.get(f"{base}/health").status_code == 200  # alive all the same
        body = is_problem(httpx.get(f"{base}/health/ready"), 503)
    assert body["detail"].startswith("not ready: broker (")
    assert "127.0.0.1:1" not in body["detail"]


def test_keys_are_required_checked_and_never_echoed(
    api: str, keys: dict[Role, str], engine: Engine
) -> None:
    missing = is_problem(httpx.get(f"{api}/api/scores"), 401)
    assert "API key" in missing["detail"]
    wrong = keys[Role.READER][:-4] + "abcd"
    refused = httpx.get(f"{api}/api/scores", headers=bearer(wrong))
    is_problem(refused, 401)
    assert refused.headers["www-authenticate"] == "Bearer"
    assert wrong not in refused.text and wrong[-20:] not in refused.text
    assert httpx.get(f"{api}/api/scores", headers=bearer(keys[Role.READER])).status_code == 200
    # A reader may read, not send.
    forbidden = httpx.post(
        f"{api}/api/events", json=[make_event()], headers=bearer(keys[Role.READER])
    )
    assert "may not send events" in is_problem(forbidden, 403)["detail"]
    api_keys.revoke(engine, f"test-{Role.READER}")
    # Refused within ROUTELEARN_API_KEY_CACHE_SECONDS (5): the process remembers a valid key.
    wait_for(
        lambda: (
            httpx.get(f"{api}/api/scores", headers=bearer(keys[Role.READER])).status_code == 401
        ),
        timeout=8,
        interval=0.5,
        message="the revoked key refused",
    )
    is_problem(httpx.get(f"{api}/api/scores", headers=bearer(keys[Role.READER])), 401)
    # The log of the server holds no secret.
    assert keys[Role.READER].split("_", 2)[2] not in (LOGS / "api.log").read_text()


def test_events_are_validated_as_the_workers_do_and_ingested(
    api: str, keys: dict[Role, str], worker: Any, engine: Engine
) -> None:
    good = [make_event(event_id=f"http-{n}") for n in range(3)]
    bad = [{"not": "an event"}, make_event(score=9.5)]
    response = httpx.post(
        f"{api}/api/events", json=[good[0], bad[0], good[1], bad[1], good[2]],
        headers=bearer(keys[Role.INSTANCE]),
    )  # fmt: skip
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (3, 2)
    assert [r["index"] for r in body["rejections"]] == [1, 3]
    fields = {e["field"] for e in body["rejections"][1]["errors"]}
    assert fields == {"routing_decision.complexity_score"}
    wait_for(lambda: count(engine, "routing_records") == 3, message="the three valid events")
    # Sent again (a client retrying): nothing counted twice. A marker in the same batch (one
    # message, one transaction): once it is counted, so is the rest.
    marker = make_event(event_id="http-marker")
    again = httpx.post(
        f"{api}/api/events", json=[*good, marker], headers=bearer(keys[Role.INSTANCE])
    )
    assert again.json()["accepted"] == 4
    wait_for(lambda: count(engine, "routing_records") >= 4, message="the marker")
    assert count(engine, "routing_records") == 4


def test_ndjson_and_gzip_bodies_with_a_line_that_is_not_json(
    api: str, keys: dict[Role, str], worker: Any, engine: Engine
) -> None:
    idless = make_event()  # no event_id: derived by the worker from what it reads
    lines = [
        json.dumps(make_event(event_id="nd-1")),
        "",
        "{oops",
        json.dumps(make_event(event_id="nd-2")) + "\r",
        json.dumps(idless, separators=(" ,", " : ")),  # spelt oddly, passed on as sent
    ]
    response = httpx.post(
        f"{api}/api/events",
        content=gzip.compress("\n".join(lines).encode()),
        headers={
            **bearer(keys[Role.INSTANCE]),
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (3, 1)
    assert body["rejections"][0]["errors"][0]["message"].startswith("line 3: not JSON")
    wait_for(lambda: count(engine, "routing_records") == 3, message="the three NDJSON events")
    # The id-less event again, as a JSON array: the same id derived, so counted once. A marker
    # goes in the same batch (one message, one transaction): once it is counted, so is the rest.
    marker = make_event(event_id="nd-marker")
    again = httpx.post(
        f"{api}/api/events", json=[idless, marker], headers=bearer(keys[Role.INSTANCE])
    )
    assert again.json()["accepted"] == 2
    wait_for(lambda: count(engine, "routing_records") >= 4, message="the marker")
    assert count(engine, "routing_records") == 4


def test_bodies_over_the_bounds_or_of_another_type_are_refused_before_parsing(
    api: str, keys: dict[Role, str], engine: Engine
) -> None:
    headers = bearer(keys[Role.INSTANCE])
    too_many = [make_event(event_id=f"many-{n}") for n in range(MAX_EVENTS + 1)]
    assert (
        "more than 50"
        in is_problem(httpx.post(f"{api}/api/events", json=too_many, headers=headers), 413)[
            "detail"
        ]
    )
    huge = b"[" + b" " * MAX_BYTES + b"]"
    big = httpx.post(
        f"{api}/api/events", content=huge, headers={**headers, "Content-Type": "application/json"}
    )
    assert f"more than {MAX_BYTES}" in is_problem(big, 413)["detail"]
    bomb = gzip.compress(b"[" + b" " * (MAX_BYTES * 20) + b"]")
    assert len(bomb) < MAX_BYTES
    unzipped = httpx.post(
        f"{api}/api/events",
        content=bomb,
        headers={**headers, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert "decompressed" in is_problem(unzipped, 413)["detail"]
    other = httpx.post(
        f"{api}/api/events", content=b"x", headers={**headers, "Content-Type": "text/plain"}
    )
    is_problem(other, 415)
    not_a_list = httpx.post(f"{api}/api/events", json={"a": 1}, headers=headers)
    assert "JSON array" in is_problem(not_a_list, 400)["detail"]
    assert count(engine, "routing_records") == 0


def catalog(score: float) -> dict[str, Any]:
    return {
        "version": 1,
        "default_score": 2.5,
        "models": [{"name": "atlas", "provider": "north", "scores": {"complex": score}}],
    }


def test_scores_and_their_updates_over_plain_http(
    api: str, keys: dict[Role, str], engine: Engine
) -> None:
    import_catalog(engine, parse_catalog(catalog(4.0)), "test")
    headers = bearer(keys[Role.INSTANCE])
    snapshot = httpx.get(f"{api}/api/scores", headers=headers).json()
    assert snapshot["models"]["atlas"]["complex"] == {"score": 4.0, "version": 0}
    cursor = snapshot["cursor"]
    # Nothing new: the long-poll waits, then answers empty with the same cursor.
    idle = httpx.get(
        f"{api}/api/scores/updates", params={"since": cursor, "wait": 0.5}, headers=headers
    )
    assert idle.json() == {"updates": [], "cursor": cursor}

    answer: dict[str, Any] = {}

    def follow() -> None:
        answer["response"] = httpx.get(
            f"{api}/api/scores/updates",
            params={"since": cursor, "wait": 20},
            headers=headers,
            timeout=30,
        )

    started = time.monotonic()
    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.5)
    import_catalog(engine, parse_catalog(catalog(1.5)), "test")  # a change: version 1
    follower.join(30)
    waited = time.monotonic() - started
    body = answer["response"].json()
    assert waited < 5  # answered when the change came, not at the end of the wait
    (update,) = body["updates"]
    assert (update["model"], update["complexity"], update["new_score"], update["version"]) == (
        "atlas",
        "complex",
        1.5,
        1,
    )
    assert body["cursor"] > cursor


def test_detailed_health_and_openapi(api: str, keys: dict[Role, str]) -> None:
    is_problem(httpx.get(f"{api}/health/detailed"), 401)
    detailed = httpx.get(f"{api}/health/detailed", headers=bearer(keys[Role.READER]))
    assert detailed.status_code == 200, detailed.text
    body = detailed.json()
    assert body["dependencies"]["database"]["ok"] and "latency_ms" in body["dependencies"]["broker"]
    assert {"workers", "queues", "learner", "open_anomalies"} <= set(body)
    paths = httpx.get(f"{api}/openapi.json").json()["paths"]
    assert {"/health", "/health/ready", "/api/events", "/api/scores", "/api/scores/updates"} <= set(
        paths
    )


def test_api_keys_command(settings: Settings, clean: None, engine: Engine) -> None:
    made = run_cli_process(settings, "api-keys", "create", "--name", "ci", "--role", "operator")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("rl_") and api_keys.authenticate(engine, token) is not None
    listed = run_cli(settings, "api-keys", "list")
    assert "ci" in listed.stdout and "operator" in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout  # never a secret
    duplicate = run_cli(settings, "api-keys", "create", "--name", "ci", "--role", "reader")
    assert duplicate.returncode == 2 and "exists already" in duplicate.stderr
    bad_role = run_cli(settings, "api-keys", "create", "--name", "x", "--role", "root")
    assert bad_role.returncode == 2 and "root" in bad_role.stderr
    assert run_cli(settings, "api-keys", "revoke", "ci").returncode == 0
    assert api_keys.authenticate(engine, token) is None


def test_a_client_that_speaks_only_http_sees_its_scores_move(
    api: str, keys: dict[Role, str], worker: Any, celery_app: Any, engine: Engine
) -> None:
    """The end to end of issue 10: events in over HTTP, the learner runs, the change comes back
    through /api/scores/updates."""
    headers = bearer(keys[Role.INSTANCE])
    cursor = httpx.get(f"{api}/api/scores", headers=headers).json()["cursor"]
    events = [
        event
        for instance in ("http-a", "http-b")
        for _ in range(150)
        for event in decision_pair("success", model="good", instance_id=instance)
    ]
    for start in range(0, len(events), MAX_EVENTS):
        sent = httpx.post(
            f"{api}/api/events", json=events[start : start + MAX_EVENTS], headers=headers
        )
        assert sent.json()["accepted"] == len(events[start : start + MAX_EVENTS]), sent.text
    wait_for(lambda: count(engine, "routing_records") == len(events), message="every event")
    celery_app.send_task(LEARN_SCORES_TASK)
    moved = httpx.get(
        f"{api}/api/scores/updates",
        params={"since": cursor, "wait": 30},
        headers=headers,
        timeout=40,
    ).json()
    (update,) = [
        u for u in moved["updates"] if (u["model"], u["complexity"]) == ("good", "complex")
    ]
    assert update["new_score"] > 2.5 and update["version"] == 1
    scores = httpx.get(f"{api}/api/scores", headers=headers).json()
    assert scores["models"]["good"]["complex"]["score"] == update["new_score"]
