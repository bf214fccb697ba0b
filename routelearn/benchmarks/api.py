"""``routelearn bench api``: the HTTP API under load, on a scratch database and broker.

It starts ``routelearn serve --workers N`` and ingestion workers, registers a catalog of models
with scores, then, from a load generator in a process of its own (``http_load``):

1. ``POST /api/route``: the saturated throughput (closed loop), then p50/p99 at a paced rate
   and at half of it (open loop, latency from when each request was due); then checks that
   every routed event the API published reached ``routing_records``;
2. ``routelearn publish`` on a JSON Lines file of events: the rate it sends them (its wall time
   less its start on an empty file) and the rate at which the workers count them;
3. ``POST /api/events``: as many events of the same kind (the same generator, other ids, so
   neither run is deduplicated against the other) as NDJSON batches, timed the same two ways
   (the API's 202s, the workers' count); reported as a ratio of the publish rates, the goal
   judged on the end-to-end one (the ingestion rate). It runs second, so whatever a fuller
   database costs is counted against it.

Every phase reports the CPU seconds of the load generator, the API processes and the workers,
and how busy the machine was: on 2 cores they all share them.
"""

from __future__ import annotations

import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

from routelearn import harness
from routelearn.benchmarks import http_load
from routelearn.benchmarks.ingest import CountPoller, synthetic_events
from routelearn.constants import INGEST_QUEUE
from routelearn.domain.api_keys import Role
from routelearn.domain.registry import ModelRecord
from routelearn.settings import Settings
from routelearn.store import api_keys, registry
from routelearn.store.engine import libpq_dsn, make_engine

CAPABILITIES = ("vision", "function_calling", "json_mode", "long_context")
PROMPTS = (
    "Say hello.",
    "Generate a creative marketing message for our new product",
    "Summarise the following meeting notes for the team: " + "the quarter went well. " * 40,
    "Review this contract clause by clause and list every risk: " + "clause text. " * 800,
)
_CLI = (sys.executable, "-m", "routelearn.cli")
GOAL_ROUTE_RATE = 2000.0
GOAL_ROUTE_P99_MS = 25.0
GOAL_INGEST_RATIO = 0.5


@dataclass(frozen=True)
class Cpu:
    """CPU seconds over one phase, and the machine's busy share (1.0: every core busy)."""

    client_s: float
    api_s: float
    workers_s: float
    machine_busy: float
    stolen: float  # share of the cores' time the hypervisor gave to other machines
    rest_s: float  # busy CPU seconds of everything else: PostgreSQL, Redis, other sessions


@dataclass(frozen=True)
class RoutePhase:
    mode: str  # closed (saturated) or paced
    connections: int
    target_rate: float | None
    requests: int
    ok: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu: Cpu
    first_error: str | None


@dataclass(frozen=True)
class IngestPhase:
    way: str  # http or publish
    events: int
    accept_seconds: float  # until the API answered the last batch / publish exited
    accept_events_per_s: float
    end_to_end_seconds: float  # until the workers counted the last event
    end_to_end_events_per_s: float
    cpu: Cpu
    note: str = ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def route_requests(token: str, seed: int = 5) -> list[bytes]:
    """500 pre-encoded route requests: seed 004's fields, some with a complexity, some with
    capabilities, prefer or a budget, prompts of four sizes."""
    rng = random.Random(seed)
    requests = []
    for n in range(500):
        body: dict[str, Any] = {
            "id": f"req-{n}",
            "agentType": rng.choice(["creative", "analyst", "support"]),
            "workspaceId": f"ws-{rng.randint(1, 20)}",
            "userId": f"user-{rng.randint(1, 500)}",
            "prompt": rng.choice(PROMPTS),
            "parameters": {"temperature": 0.7, "maxTokens": rng.choice([100, 500, 1500])},
            "metadata": {"requestType": "completion", "priority": "normal"},
        }
        if rng.random() < 0.5:
            body["complexity"] = rng.choice(["simple", "medium", "complex"])
        if rng.random() < 0.3:
            body["capabilities"] = [rng.choice(CAPABILITIES)]
        if rng.random() < 0.3:
            body["prefer"] = rng.choice(["speed", "cost"])
        if rng.random() < 0.1:
            body["budget"] = 0.5
        requests.append(
            http_load.request_bytes(
                "/api/route", token, json.dumps(body).encode(), "application/json"
            )
        )
    return requests


def register_models(engine: Engine, count: int, seed: int = 7) -> None:
    """``count`` models, one in ten inactive, with learned scores for every complexity."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        name = f"model-{n:03d}"
        record = {
            "name": name,
            "provider": f"provider-{n % 8}",
            "capabilities": [{"type": c} for c in CAPABILITIES if rng.random() < 0.6],
            "status": "inactive" if n % 10 == 9 else "active",
            "prices": {
                "inputPer1k": round(rng.uniform(0.0001, 0.01), 5),
                "outputPer1k": round(rng.uniform(0.0004, 0.03), 5),
            },
            "typicalLatencyMs": float(rng.randint(200, 3000)),
        }
        registry.replace_model(engine, ModelRecord.model_validate(record))
        for complexity in ("simple", "medium", "complex"):
            rows.append({"m": name, "c": complexity, "s": round(rng.uniform(1.0, 5.0), 2)})
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO model_scores (model_name, complexity_level, score, version, source)"
                " VALUES (:m, :c, :s, 1, 'learner')"
            ),
            rows,
        )


@contextmanager
def serving(settings: Settings, api_workers: int, log_dir: Path) -> Iterator[tuple[str, int]]:
    """``routelearn serve --workers N``: its base URL and the pid of its main process."""
    port = _free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "api.log", "ab") as log:
        proc = subprocess.Popen(
            [*_CLI, "serve", "--port", str(port), "--workers", str(api_workers)],
            env=harness.settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited; see {log_dir / 'api.log'}")
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        harness.wait_until(up, 60, "the API")
        yield base, proc.pid
    finally:
        harness.stop_groups([proc], timeout=15)


_COUNT = "SELECT count(*) FROM routing_records"


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(_COUNT)).scalar_one())


class Meter:
    """CPU of the API and worker process trees and of the machine, between two points."""

    def __init__(self, api_pid: int, worker_pids: Sequence[int]) -> None:
        self._api = harness.process_tree(api_pid)
        self._workers = [p for pid in worker_pids for p in harness.process_tree(pid)]

    def start(self) -> Callable[[float], Cpu]:
        api, workers = http_load.cpu_seconds(self._api), http_load.cpu_seconds(self._workers)
        busy, stolen, total = http_load.machine_busy()

        def stop(client_s: float) -> Cpu:
            busy2, stolen2, total2 = http_load.machine_busy()
            jiffies = max(total2 - total, 1)
            api_s = http_load.cpu_seconds(self._api) - api
            workers_s = http_load.cpu_seconds(self._workers) - workers
            busy_s = (busy2 - busy - (stolen2 - stolen)) / os.sysconf("SC_CLK_TCK")
            return Cpu(
                client_s=client_s,
                api_s=api_s,
                workers_s=workers_s,
                machine_busy=(busy2 - busy) / jiffies,
                stolen=(stolen2 - stolen) / jiffies,
                rest_s=max(busy_s - client_s - api_s - workers_s, 0.0),
            )

        return stop


def _load(pool: ProcessPoolExecutor, *args: Any, **kwargs: Any) -> http_load.LoadResult:
    return pool.submit(http_load.run, *args, **kwargs).result()


def route_phase(
    pool: ProcessPoolExecutor,
    meter: Meter,
    port: int,
    requests: list[bytes],
    connections: int,
    seconds: float,
    rate: float | None,
) -> RoutePhase:
    stop = meter.start()
    result = _load(pool, port, requests, connections, seconds, rate)
    cpu = stop(result.client_cpu_s)
    latencies = sorted(result.latencies_ms)
    ok = result.statuses.get(200, 0)
    return RoutePhase(
        mode="closed" if rate is None else "paced",
        connections=connections,
        target_rate=rate,
        requests=result.requests,
        ok=ok,
        seconds=result.seconds,
        requests_per_s=result.requests / result.seconds,
        p50_ms=http_load.percentile(latencies, 0.50),
        p99_ms=http_load.percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else float("nan"),
        cpu=cpu,
        first_error=result.first_error,
    )


def http_ingest(
    pool: ProcessPoolExecutor,
    meter: Meter,
    settings: Settings,
    engine: Engine,
    port: int,
    token: str,
    events: list[dict[str, Any]],
    batch: int,
    connections: int,
) -> IngestPhase:
    bodies = [
        b"\n".join(json.dumps(e).encode() for e in events[i : i + batch])
        for i in range(0, len(events), batch)
    ]
    requests = [
        http_load.request_bytes("/api/events", token, b, "application/x-ndjson") for b in bodies
    ]
    base = _count(engine)
    stop = meter.start()
    with CountPoller(libpq_dsn(settings.database_url), _COUNT, interval=0.02) as poller:
        result = _load(pool, port, requests, connections, 3600.0, None, len(requests))
        if result.statuses != {202: len(requests)}:
            raise RuntimeError(f"POST /api/events: {result.statuses}; {result.first_error}")
        harness.wait_until(lambda: poller.latest() >= base + len(events), 600, "HTTP events")
    cpu = stop(result.client_cpu_s)
    counted = poller.visible_at(base + len(events))[-1] - result.started_at
    return IngestPhase(
        way="http",
        events=len(events),
        accept_seconds=result.seconds,
        accept_events_per_s=len(events) / result.seconds,
        end_to_end_seconds=counted,
        end_to_end_events_per_s=len(events) / counted,
        cpu=cpu,
        note=f"{len(requests)} NDJSON bodies of {batch} events over {connections} connections",
    )


def publish_ingest(
    meter: Meter,
    settings: Settings,
    engine: Engine,
    events: list[dict[str, Any]],
    batch: int,
    log_dir: Path,
) -> IngestPhase:
    path = log_dir / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    empty = log_dir / "empty.jsonl"
    empty.write_text("")
    command = [*_CLI, "publish", "-q", "--batch-size", str(batch)]
    env = harness.settings_env(settings)
    started = time.monotonic()
    subprocess.run([*command, str(empty)], env=env, check=True, capture_output=True)
    startup = time.monotonic() - started  # interpreter, imports, a connection
    base = _count(engine)
    stop = meter.start()
    children = _children_cpu()
    with CountPoller(libpq_dsn(settings.database_url), _COUNT, interval=0.02) as poller:
        started = time.monotonic()
        done = subprocess.run([*command, str(path)], env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"routelearn publish failed: {done.stderr[-2000:]}")
        harness.wait_until(lambda: poller.latest() >= base + len(events), 600, "published events")
    # The publish command is the client here.
    cpu = stop(_children_cpu() - children)
    counted = poller.visible_at(base + len(events))[-1] - started
    return IngestPhase(
        way="publish",
        events=len(events),
        accept_seconds=seconds - startup,
        accept_events_per_s=len(events) / (seconds - startup),
        end_to_end_seconds=counted,
        end_to_end_events_per_s=len(events) / counted,
        cpu=cpu,
        note=f"wall {seconds:.2f} s less {startup:.2f} s for the command's start on an empty "
        f"file; batches of {batch}",
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def example(base: str, token: str) -> dict[str, Any]:
    seed = {
        "id": "req-12345",
        "agentType": "creative",
        "workspaceId": "ws-marketing-001",
        "userId": "user-123",
        "prompt": "Generate a creative marketing message for our new product",
        "parameters": {"temperature": 0.8, "maxTokens": 500},
        "metadata": {"requestType": "completion", "priority": "normal"},
        "capabilities": ["function_calling"],
    }
    answer = httpx.post(
        f"{base}/api/route", json=seed, headers={"Authorization": f"Bearer {token}"}
    )
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def _ready(base: str, token: str) -> bool:
    """Both API processes have their catalog: 40 fresh connections all routed."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"prompt": "hi", "complexity": "simple"}
    return all(
        httpx.post(f"{base}/api/route", json=body, headers=headers).status_code == 200
        for _ in range(40)
    )


def main(
    *,
    seconds: float = 10.0,
    paced_rate: float = GOAL_ROUTE_RATE,
    connections: int = 32,
    events: int = 100_000,
    batch: int = 500,
    ingest_connections: int = 4,
    api_workers: int = 2,
    workers: int = 1,
    concurrency: int = 2,
    models: int = 50,
    rate_limit: bool = False,
    access_log: bool = False,
    pg_base: str = harness.DEFAULT_PG,
    broker_base: str = harness.DEFAULT_REDIS,
    out_dir: Path = Path("bench-results"),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = out_dir / f"api-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    # The default rate limit (6,000 requests a minute per key) would refuse the load at once:
    # either off, or counted (a Redis round trip per request) under a limit the load fits in.
    overrides: dict[str, Any] = (
        {"api_rate_limits": {"instance": 100_000_000}} if rate_limit else {"api_rate_limit": 0}
    )
    overrides["api_access_log"] = access_log
    with harness.scratch(pg_base, broker_base, overrides) as settings:
        engine = make_engine(settings.database_url)
        register_models(engine, models)
        token = api_keys.create(engine, "bench", Role.INSTANCE)[1]
        spawn = get_context("spawn")
        with (
            harness.workers(settings, INGEST_QUEUE, workers, concurrency, log_dir) as procs,
            serving(settings, api_workers, log_dir) as (base, api_pid),
            ProcessPoolExecutor(1, mp_context=spawn) as pool,
        ):
            harness.wait_for_workers(settings, workers)
            harness.wait_until(lambda: _ready(base, token), 30, "every API process routing")
            port = int(base.rsplit(":", 1)[1])
            meter = Meter(api_pid, [p.pid for p in procs])
            answer = example(base, token)
            requests = route_requests(token)
            log("route: warm-up, then saturated, then paced")
            route_phase(pool, meter, port, requests, connections, 2.0, None)  # warm-up
            time.sleep(2.0)  # the warm-up's routed events leave the API's buffers (linger)
            before = _count(engine)
            closed = route_phase(pool, meter, port, requests, connections, seconds, None)
            paced = route_phase(pool, meter, port, requests, 64, seconds, paced_rate)
            half = route_phase(pool, meter, port, requests, 64, seconds, paced_rate / 2)
            routed = closed.ok + paced.ok + half.ok
            harness.wait_until(lambda: _count(engine) >= before + routed, 120, "routed events")
            ingested = _count(engine) - before
            log(f"events: {events:,} through routelearn publish, then as many over HTTP")
            # publish first: whatever the second run loses to a fuller database is HTTP's.
            other = synthetic_events(events, seed=12, run=batch)
            publish = publish_ingest(meter, settings, engine, other, batch, log_dir)
            corpus = synthetic_events(events, seed=11, run=batch)
            http = http_ingest(
                pool, meter, settings, engine, port, token, corpus, batch, ingest_connections
            )
        engine.dispose()
    report = {
        "when": stamp,
        "config": {
            "seconds": seconds,
            "paced_rate": paced_rate,
            "connections": connections,
            "events": events,
            "batch": batch,
            "ingest_connections": ingest_connections,
            "api_workers": api_workers,
            "workers": workers,
            "concurrency": concurrency,
            "models": models,
            "rate_limit": rate_limit,
            "access_log": access_log,
        },
        "example": answer,
        "route": {"closed": asdict(closed), "paced": asdict(paced), "half": asdict(half)},
        "routed_events": {"answered": routed, "ingested": ingested},
        "ingest": {"http": asdict(http), "publish": asdict(publish)},
        "ratio_accept": http.accept_events_per_s / publish.accept_events_per_s,
        "ratio_end_to_end": http.end_to_end_events_per_s / publish.end_to_end_events_per_s,
    }
    (out_dir / f"api-{stamp}.json").write_text(json.dumps(report, indent=2))
    return report


def _cpu(cpu: dict[str, float], seconds: float) -> str:
    return (
        f"CPU s: client {cpu['client_s']:.1f}, API {cpu['api_s']:.1f}, workers "
        f"{cpu['workers_s']:.1f}, the rest (PostgreSQL, Redis, anything else running) "
        f"{cpu['rest_s']:.1f} over {seconds:.1f} s; machine {cpu['machine_busy']:.0%} busy "
        f"({cpu['stolen']:.0%} stolen by the hypervisor)"
    )


def _goal(met: bool) -> str:
    return "goal met" if met else "goal MISSED"


def summary(report: dict[str, Any]) -> str:
    closed, paced, half = (report["route"][k] for k in ("closed", "paced", "half"))
    http, publish = report["ingest"]["http"], report["ingest"]["publish"]
    routed = report["routed_events"]
    config = report["config"]
    lines = [
        f"API: routelearn serve --workers {config['api_workers']}, {config['models']} models "
        f"(1 in 10 inactive), rate limit {'on' if config['rate_limit'] else 'off'}, access log "
        f"{'on' if config['access_log'] else 'off'}; "
        f"{config['workers']} ingest worker x {config['concurrency']}; load generator in its "
        "own process (asyncio, keep-alive)",
        f"POST /api/route saturated ({closed['connections']} connections): "
        f"{closed['requests_per_s']:,.0f} requests/s, p50 {closed['p50_ms']:.1f} ms, "
        f"p99 {closed['p99_ms']:.1f} ms ({closed['ok']:,} of {closed['requests']:,} answered 200)",
        "    " + _cpu(closed["cpu"], closed["seconds"]),
        f"POST /api/route paced at {paced['target_rate']:,.0f}/s: "
        f"{paced['requests_per_s']:,.0f} requests/s, p50 {paced['p50_ms']:.1f} ms, "
        f"p99 {paced['p99_ms']:.1f} ms, max {paced['max_ms']:.1f} ms "
        f"({paced['ok']:,} of {paced['requests']:,} answered 200) -> "
        + _goal(
            paced["requests_per_s"] >= 0.99 * GOAL_ROUTE_RATE
            and paced["p99_ms"] < GOAL_ROUTE_P99_MS
            and paced["target_rate"] >= GOAL_ROUTE_RATE
        )
        + f" (>= {GOAL_ROUTE_RATE:,.0f}/s, p99 < {GOAL_ROUTE_P99_MS:.0f} ms)",
        "    " + _cpu(paced["cpu"], paced["seconds"]),
        f"POST /api/route paced at {half['target_rate']:,.0f}/s: "
        f"{half['requests_per_s']:,.0f} requests/s, p50 {half['p50_ms']:.1f} ms, "
        f"p99 {half['p99_ms']:.1f} ms, max {half['max_ms']:.1f} ms "
        f"({half['ok']:,} of {half['requests']:,} answered 200)",
        "    " + _cpu(half["cpu"], half["seconds"]),
        f"routed events: {routed['ingested']:,} of {routed['answered']:,} decisions in "
        "routing_records",
    ]
    for phase in (publish, http):
        name = "POST /api/events" if phase["way"] == "http" else "routelearn publish"
        lines += [
            f"{name}: {phase['events']:,} events accepted in {phase['accept_seconds']:.2f} s = "
            f"{phase['accept_events_per_s']:,.0f} events/s; counted by the workers in "
            f"{phase['end_to_end_seconds']:.2f} s = {phase['end_to_end_events_per_s']:,.0f} "
            f"events/s ({phase['note']})",
            "    " + _cpu(phase["cpu"], phase["end_to_end_seconds"]),
        ]
    # The goal is the ingestion rate: events counted in the database, end to end. The accepted
    # rate is how fast a queue fills (the publisher does not validate, HTTP does), and neither
    # holds for longer than the workers keep up with it; it is printed, not judged.
    lines.append(
        f"HTTP ingestion / publish: {report['ratio_end_to_end']:.2f} end to end -> "
        + _goal(report["ratio_end_to_end"] >= GOAL_INGEST_RATIO)
        + f" (>= {GOAL_INGEST_RATIO}); accepted (202s against publish's sends) "
        f"{report['ratio_accept']:.2f}"
    )
    lines.append("example answer: " + json.dumps(report["example"]))
    return "\n".join(lines)
