"""Issue 12's proof: the real Prometheus server, configured as deploy/prometheus/prometheus.yml
configures it (only the intervals shortened and the targets pointed at this test's processes),
scrapes a real ``routelearn metrics serve`` sharing its multiprocess directory with a real
prefork worker, and the real API's ``/metrics``, both with the reader key from
``credentials_file``, and loads deploy/prometheus/alerts.yml. A known corpus goes through every
producer path; what Prometheus's query API answers is compared with what was sent.

Prometheus is Debian's ``prometheus`` package; without it this test fails (never skips)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine

from routelearn.constants import INGEST_QUEUE
from routelearn.domain.api_keys import Role
from routelearn.harness import stop_groups
from routelearn.instance.publisher import EventPublisher
from routelearn.settings import Settings
from routelearn.store import api_keys
from tests.factories import make_event
from tests.integration.test_api import free_port, serving
from tests.integration.test_metrics import metrics_server
from tests.services import LOGS, ON_AMQP, ROOT, run_cli_process, wait_for, worker_process

pytestmark = [pytest.mark.integration, pytest.mark.broker]

DEPLOY = ROOT / "deploy" / "prometheus"
LOG = LOGS / "prometheus.log"


def _binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail(
            "the prometheus server is not installed: `apt-get install -y prometheus` (Debian's "
            "package, which also holds promtool; .ci/run installs it when missing)",
            pytrace=False,
        )
    return path


def _config_dir(tmp_path: Path, workers: str, api: str, key: str) -> Path:
    """deploy/prometheus copied as it is (prometheus.yml, alerts.yml, the job layout), with a
    1 s scrape and rule evaluation, this test's targets and the key in secrets/api-key."""
    config = tmp_path / "prometheus-config"
    shutil.copytree(DEPLOY, config, ignore=shutil.ignore_patterns("api-key", "targets.compose"))
    main = yaml.safe_load((config / "prometheus.yml").read_text())
    main["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    (config / "prometheus.yml").write_text(yaml.safe_dump(main))
    targets = {"workers": [workers], "api": [api], "flower": [], "instances": []}
    for name, hosts in targets.items():
        groups = [{"targets": hosts}] if hosts else []
        (config / "targets" / f"{name}.yml").write_text(yaml.safe_dump(groups))
    (config / "secrets" / "api-key").write_text(key + "\n")
    return config


@contextmanager
def prometheus(config: Path) -> Iterator[str]:
    """The real Prometheus server on a free loopback port, its storage in a temporary directory
    removed at exit: its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    LOGS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="routelearn-prometheus-") as data:
        with open(LOG, "ab") as log:
            proc = subprocess.Popen(
                [
                    _binary(),
                    f"--config.file={config / 'prometheus.yml'}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/-/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return proc.poll() is not None  # died (a bad config): stop waiting, fail below

        try:
            wait_for(ready, 30, interval=0.2, message="prometheus")
            assert proc.poll() is None, LOG.read_text()[-3000:]
            yield base
        finally:
            stop_groups([proc], timeout=10)


def query(base: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def by(base: str, expr: str, label: str) -> dict[str, float]:
    """``expr``'s instant vector as {``label``'s value: value}."""
    return {s["metric"].get(label, ""): float(s["value"][1]) for s in query(base, expr)}


def scalar(base: str, expr: str) -> float | None:
    result = query(base, expr)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def alert_names() -> set[str]:
    doc = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return {rule["alert"] for group in doc["groups"] for rule in group["rules"] if "alert" in rule}


@pytest.mark.timeout(90)  # about 25 s alone; room for a loaded machine
def test_prometheus_scrapes_what_was_sent(
    settings: Settings,
    engine: Engine,
    clean: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, reader = api_keys.create(engine, "prometheus", Role.READER)
    _, sender = api_keys.create(engine, "app", Role.INSTANCE)

    # The corpus. Over the broker: EventPublisher and `routelearn publish`; over HTTP: POST
    # /api/events. Duplicates are valid events sent again (each counted once as accepted);
    # malformed ones sent to the broker are dead-lettered by the worker, those POSTed are
    # refused by the API itself (its own rejected counter: they never reach a worker).
    published = [make_event("success", event_id=f"pub-{n}") for n in range(60)]
    published_bad = [make_event(event_id=f"pub-bad-{n}", score=7.2) for n in range(8)]
    published_again = published[:12]
    cli = [make_event("failure", model="flaky", event_id=f"cli-{n}") for n in range(20)]
    cli_bad: list[Any] = [make_event(event_id="cli-bad-0", score=-1.0), {"timestamp": "now"}]
    cli_bad += [[1, 2], "not an object"]
    cli_again = published[20:23]
    posted = [make_event("success", model="steady", event_id=f"http-{n}") for n in range(15)]
    posted_bad: list[Any] = [make_event(score=9.0), {"timestamp": "now"}, "not an object"]
    posted_again = posted[:5]

    accepted = {"broker": len(published) + len(cli), "http": len(posted)}
    duplicate = {"broker": len(published_again) + len(cli_again), "http": len(posted_again)}
    dead_letters = len(published_bad) + len(cli_bad)
    rejected = {"broker": dead_letters, "http": len(posted_bad)}
    batches = 4 + 1 + 2  # the publisher's 80 events by 20, the command's one, one per POST

    # The API first, without PROMETHEUS_MULTIPROC_DIR (it would empty the workers' directory).
    api_settings = settings.model_copy(update={"api_rate_limit": 0}) if ON_AMQP else settings
    with serving(api_settings) as api:
        multiproc = tmp_path / "multiproc"
        multiproc.mkdir()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc))
        with (
            worker_process(settings, concurrency=2, name="prom-e2e", queues=INGEST_QUEUE),
            # Beyond loopback, so the job's credentials_file is what lets Prometheus in.
            metrics_server(settings, "--host", "0.0.0.0", key=reader) as scrape,
        ):
            workers_target = scrape.url.removeprefix("http://").removesuffix("/metrics")
            api_target = api.removeprefix("http://")
            config = _config_dir(tmp_path, workers_target, api_target, reader)
            with prometheus(config) as prom:
                # A first scrape of the worker's counters at 0 before anything is sent, so the
                # rules' increase() sees every event.
                wait_for(
                    lambda: scalar(prom, "sum(routelearn_dead_letters_total)") == 0,
                    30,
                    interval=0.2,
                    message="prometheus to scrape the worker host's counters at 0",
                )
                lines = "".join(json.dumps(e) + "\n" for e in [*cli, *cli_bad, *cli_again])
                options = ("--batch-size", "100", "--linger-ms", "60000", "-q")
                done = run_cli_process(settings, "publish", "-", *options, stdin=lines)
                assert done.returncode == 0, done.stderr
                assert f"{len(cli) + len(cli_bad) + len(cli_again)} events sent" in done.stdout
                with EventPublisher(settings, batch_size=20, linger_ms=60_000) as publisher:
                    for event in [*published, *published_bad, *published_again]:
                        assert publisher.publish(event)
                assert publisher.stats.batches == 4
                auth = {"Authorization": f"Bearer {sender}"}
                for body, counts in (
                    ([*posted, *posted_bad], (15, 3)),
                    (posted_again, (5, 0)),
                ):
                    answer = httpx.post(f"{api}/api/events", json=body, headers=auth, timeout=10)
                    assert answer.status_code == 202, answer.text
                    assert (answer.json()["accepted"], answer.json()["rejected"]) == counts

                # Every batch committed, as Prometheus saw it; then one more scrape of each
                # target, so no counter of the last batch is read half-updated.
                wait_for(
                    lambda: (
                        scalar(prom, "sum(routelearn_ingest_batch_size_events_count)") == batches
                    ),
                    45,
                    interval=0.5,
                    message=f"prometheus to see {batches} batches ingested",
                )
                seen = time.time()
                wait_for(
                    lambda: (scalar(prom, "min(timestamp(up))") or 0) > seen,
                    10,
                    interval=0.2,
                    message="one more scrape of each target",
                )
                # The rules are evaluated every second: wait for each one's first evaluation,
                # and for the dead letters (12 of 107 events) to make DeadLetterRate pending.
                rules: dict[str, dict[str, Any]] = {}

                def evaluated(name: str | None = None) -> bool:
                    answer = httpx.get(f"{prom}/api/v1/rules", timeout=10).json()
                    groups = answer["data"]["groups"]
                    rules.clear()
                    rules.update({r["name"]: r for g in groups for r in g["rules"]})
                    if not rules or any(r["health"] == "unknown" for r in rules.values()):
                        return False
                    return name is None or rules[name]["state"] != "inactive"

                wait_for(evaluated, 15, interval=0.2, message="every alert rule evaluated")
                wait_for(
                    lambda: evaluated("DeadLetterRate"),
                    15,
                    interval=0.2,
                    message="DeadLetterRate pending",
                )

                total = "sum by (source) (routelearn_events_{}_total)"
                found_accepted = by(prom, total.format("accepted"), "source")
                found_duplicate = by(prom, total.format("duplicate"), "source")
                found_rejected = by(prom, total.format("rejected"), "source")
                found_sum = scalar(prom, "sum(routelearn_events_accepted_total)")
                found_dead = by(prom, "sum by (reason) (routelearn_dead_letters_total)", "reason")
                up = {
                    (s["metric"]["job"], s["metric"]["instance"]): s["value"][1]
                    for s in query(prom, "up")
                }
                health = scalar(prom, 'min(model_router_model_health_score{model="flaky"})')

    assert found_accepted == accepted
    assert found_sum == sum(accepted.values())
    assert found_duplicate == duplicate
    assert found_rejected == rejected
    assert found_dead == {"invalid": dead_letters, "internal_error": 0}
    assert up == {("routelearn-workers", workers_target): "1", ("routelearn-api", api_target): "1"}
    assert health == 0.0  # 20 failures of 20: unhealthy, read by the API at scrape time

    assert {n for n, r in rules.items() if r["type"] == "alerting"} == alert_names()
    broken = {n: r.get("lastError") for n, r in rules.items() if r["health"] != "ok"}
    assert not broken, broken
    # Over 1% dead-lettered, and no learner tick ever: both pending (their `for:` is minutes);
    # ingestion kept up and both targets answer, so nothing else is.
    active = {n: r["state"] for n, r in rules.items() if r["state"] != "inactive"}
    assert active == {"DeadLetterRate": "pending", "LearnerNotTicking": "pending"}
