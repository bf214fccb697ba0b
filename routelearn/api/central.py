"""The central router behind ``POST /api/route``: a model chosen from the fleet's scores and the
central registry, in memory.

Each API process holds one ``ModelCatalog`` built from the database: the registry's models
(table ``models``: provider, capabilities, prices, latency; only ``active`` ones may be chosen)
with their learned scores and versions (``model_scores``). A background task checks a cheap
fingerprint of both tables every ``ROUTELEARN_API_ROUTE_REFRESH_MS`` and, when it moved, reads
them and ``reload``s the catalog; so a route request costs no database query, and sees a change
within about that interval. With the database away the process keeps routing on what it holds.

The choice is the instance side's own ``ModelRouter`` (``routelearn.instance.router``): the
best score among the capable active models, ``prefer`` breaking near-ties, ``budget`` leaving
out what it cannot pay, and a share (``ROUTELEARN_API_ROUTE_EXPLORE_SHARE``) of exploration,
directed by the learner's latest estimates (``learner_estimates``) as an instance's is.
Its ``routed`` event, with the ``decision_id`` the caller's outcome event joins, goes through an
``EventPublisher``: buffered and sent to the workers in batches by a background thread, never
one broker message per request on the request's path.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import Engine

from routelearn.api.explain import Routed, describe, size
from routelearn.domain.estimates import EstimateReport
from routelearn.domain.event import Complexity, Prefer
from routelearn.domain.registry import REMOVED, RegistryChange
from routelearn.domain.routing_policy.change import PolicyChange
from routelearn.domain.routing_policy.engine import budget_zones, needs_quality
from routelearn.domain.routing_policy.quality import Quality, QualityReport
from routelearn.errors import RouteLearnError
from routelearn.instance.catalog import ModelCatalog
from routelearn.instance.publisher import EventPublisher
from routelearn.instance.router import EventSink, ModelRouter
from routelearn.settings import Settings
from routelearn.store import estimates, quality, routing_state, usage

log = logging.getLogger(__name__)

# The instance_id of the routed events the API publishes: the caller's outcome event may carry
# its own, it joins the decision by decision_id.
API_INSTANCE_ID = "routelearn-api"
# How long shutdown waits for the routed events still buffered to reach the broker.
_CLOSE_TIMEOUT = 5.0
# How long a routed event waits for its batch to fill. Nothing waits on it (the caller's outcome
# comes later and joins it whichever arrives first), and a batch of hundreds costs the workers a
# fraction per event of one of tens (bench api: at 1,400 routes/s, 50 ms made batches of ~35).
_LINGER_MS = 500.0


class NotLoaded(RouteLearnError):
    """The catalog has not been read from the database yet (it did not answer)."""


def catalog_document(
    registry: Iterable[RegistryChange],
    scores: Mapping[str, Mapping[str, Mapping[str, Any]]],
    default_score: float,
) -> dict[str, Any]:
    """The registry's models with their scores, in the catalog file's format (docs/catalog.md):
    a model is ``enabled`` only while its status is ``active``; a score keeps its central
    version, so a newer one always replaces it. Models with scores but no registry entry are
    left out: the registry says what may be chosen."""
    models = []
    for change in registry:
        if change.status == REMOVED:
            continue
        spec: dict[str, Any] = {
            "name": change.model,
            "provider": change.provider,
            "capabilities": list(change.capabilities),
            "enabled": change.active,
        }
        if change.input_per_1k is not None and change.output_per_1k is not None:
            spec["prices"] = {
                "input_per_1k": float(change.input_per_1k),
                "output_per_1k": float(change.output_per_1k),
            }
        if change.context_window is not None:
            spec["context_window"] = int(change.context_window)
        if change.typical_latency_ms is not None:
            spec["typical_latency_ms"] = float(change.typical_latency_ms)
        if change.tags:
            spec["tags"] = list(change.tags)
        if change.regions:
            spec["regions"] = list(change.regions)
        held = scores.get(change.model, {})
        spec["scores"] = {c: float(s["score"]) for c, s in held.items()}
        spec["versions"] = {c: int(s["version"]) for c, s in held.items()}
        models.append(spec)
    return {"version": 1, "default_score": default_score, "models": models}


def _went_back(catalog: ModelCatalog, document: Mapping[str, Any]) -> bool:
    """Whether ``document`` holds an older version of any score than ``catalog`` does."""
    for spec in document["models"]:
        versions = spec["versions"]
        for complexity in Complexity:
            held = catalog.version(spec["name"], complexity)
            if held is not None and held > versions.get(complexity.value, 0):
                return True
    return False


class CentralRouter:
    """The catalog, refreshed from the database, and the router over it; thread-safe."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sink: EventSink,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._rng = rng  # None: a router's own; given: the same draws as an instance's (tests)
        self._engine = engine
        self._sink = sink
        self._document: dict[str, Any] = catalog_document((), {}, settings.default_score)
        self._policy: list[PolicyChange] = []
        self._spend: dict[str, dict[str, float]] = {}
        self._statuses: dict[str, str] = {}  # each registered model's registry status
        self._quality: QualityReport | None = None
        self._routing = self._make(self._document)
        self._fingerprint: tuple[int, ...] | None = None
        self._refreshing = threading.Lock()
        self.checked_at: float | None = None  # time.monotonic() of the last successful read

    @property
    def catalog(self) -> ModelCatalog:
        return self._routing[0]

    @property
    def router(self) -> ModelRouter:
        return self._routing[1]

    @property
    def loaded(self) -> bool:
        return self.checked_at is not None

    def refresh(self) -> bool:
        """Read the registry and the scores if they changed since the last read, and reload
        the catalog; returns whether they had. Blocking (database): call it in a thread."""
        with self._refreshing:  # the periodic refresh and one after a registry write
            fingerprint = routing_state.fingerprint(self._engine)
            changed = fingerprint != self._fingerprint
            if changed:
                state = routing_state.read(self._engine)
                self.load(state.registry, state.scores, state.policy)
                self._fingerprint = fingerprint
            self._read_policy_inputs()
            self._read_estimates()
            self.checked_at = time.monotonic()
            return changed

    def _read_estimates(self) -> None:
        """The learner's latest estimate report, for directed exploration as on the instances:
        its time each refresh, the report itself only when newer than the one held."""
        held = self.catalog.estimates.report
        with self._engine.connect() as conn:
            made = estimates.as_of(conn)
            if made is None or (held is not None and made <= held.as_of):
                return
            report = estimates.read(conn)
        if report is not None:
            self.catalog.estimates.apply(report)

    def _read_policy_inputs(self) -> None:
        """The spend of every workspace with a budget, in its periods, and the fleet's quality
        report while some piece judges quality (a query each, none when nothing needs them):
        the routing policy's inputs, as of this refresh."""
        state = self.catalog.policy.state
        zones = budget_zones(state)
        wanted = needs_quality(state)
        if not zones and not wanted:
            self._spend, self._quality = {}, None
            return
        with self._engine.connect() as conn:
            self._spend = usage.spend(conn, zones, datetime.now(UTC)) if zones else {}
            self._quality = quality.read(conn) if wanted else None

    def quality_of(self, model: str, complexity: str) -> Quality | None:
        report = self._quality
        return None if report is None else report.of(model, complexity)

    def status_of(self, model: str) -> str | None:
        """The registry's status of a model (None: not registered)."""
        return self._statuses.get(model)

    def spend_of(self, workspace_id: str) -> Mapping[str, float] | None:
        return self._spend.get(workspace_id)

    def load(
        self,
        registry: Iterable[RegistryChange],
        scores: Mapping[str, Mapping[str, Mapping[str, Any]]],
        policy: Iterable[PolicyChange] = (),
    ) -> None:
        """Route from these models and scores from now on (``refresh`` reads them).

        The catalog is reloaded in place, which keeps the router's memory of what it chose
        lately (exploration). ``reload`` keeps a held score newer than the one given, as an
        instance must; here the database is the truth, so if it went back (restored, or its
        scores deleted) a new catalog and router replace the old ones instead."""
        registry = list(registry)
        self._statuses = {change.model: change.status for change in registry}
        document = catalog_document(registry, scores, self.catalog.default_score)
        if document != self._document:
            if _went_back(self.catalog, document):
                self._routing = self._make(document, self.catalog.estimates.report)
            else:
                self.catalog.reload(document)
            self._document = document
        self._policy = list(policy)
        self.catalog.policy.replace(self._policy)
        self.checked_at = time.monotonic()

    def _make(
        self, document: Mapping[str, Any], estimated: EstimateReport | None = None
    ) -> tuple[ModelCatalog, ModelRouter]:
        catalog = ModelCatalog.from_config(document)
        catalog.policy.replace(self._policy)
        if estimated is not None:
            catalog.estimates.apply(estimated)
        router = ModelRouter(
            catalog,
            self._sink,
            instance_id=API_INSTANCE_ID,
            explore_share=self._settings.api_route_explore_share,
            explore_strategy=self._settings.api_route_explore_strategy,
            rng=self._rng,
        )
        router.spend = self.spend_of
        router.quality = self.quality_of
        return catalog, router

    async def keep_fresh(self) -> None:
        """Refresh every ``api_route_refresh_ms``, forever; a failure keeps the catalog held
        (logged once per outage, without a traceback)."""
        interval = self._settings.api_route_refresh_ms / 1000
        failing = False
        while True:
            await anyio.sleep(interval)
            try:
                await anyio.to_thread.run_sync(self.refresh)
            except Exception as exc:
                if not failing:
                    log.warning(
                        "route catalog not refreshed, routing on the one held: %s",
                        type(exc).__name__,
                    )
                failing = True
            else:
                if failing:
                    log.info("route catalog refreshed again")
                failing = False

    def route(
        self,
        prompt: str,
        *,
        complexity: Complexity | None,
        max_tokens: int | None,
        capabilities: Sequence[str],
        prefer: Prefer | None,
        budget: float | None,
        agent_type: str | None = None,
        workspace_id: str | None = None,
        request_type: str | None = None,
    ) -> Routed:
        """Choose a model and publish the ``routed`` event. Raises the router's
        NoModelAvailableError / BudgetExceededError, or NotLoaded."""
        if not self.loaded:
            raise NotLoaded("the model catalog has not been read from the database yet")
        catalog, router = self._routing  # one read: a refresh may replace both meanwhile
        prompt_tokens, completion_tokens, level = size(router, prompt, complexity, max_tokens)
        decision = router.route(
            level,
            capabilities,
            prefer,
            budget,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            agent_type=agent_type,
            workspace_id=workspace_id,
            request_type=request_type,
            content_length=len(prompt),
        )
        return describe(
            catalog,
            decision,
            complexity_given=complexity is not None,
            capabilities=capabilities,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            max_tokens=max_tokens,
            budget=budget,
        )


def _log_lost(events: list[Any], exc: BaseException) -> None:
    log.error("%d routed events could not be sent and are lost: %s", len(events), exc)


@asynccontextmanager
async def running(settings: Settings, engine: Engine) -> AsyncIterator[CentralRouter]:
    """A central router for this process, kept fresh in the background, its events published
    in batches; at exit the refresh stops and the buffered events are sent."""
    publisher = EventPublisher(
        settings, linger_ms=max(settings.publish_linger_ms, _LINGER_MS), on_error=_log_lost
    )
    central = CentralRouter(settings, engine, publisher)
    try:
        try:
            await anyio.to_thread.run_sync(central.refresh)
        except Exception as exc:  # the API serves the rest; routes answer 503 until it loads
            log.warning("route catalog not loaded at start: %s", type(exc).__name__)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(central.keep_fresh)
            try:
                yield central
            finally:
                tasks.cancel_scope.cancel()
    finally:
        await anyio.to_thread.run_sync(publisher.close, _CLOSE_TIMEOUT)
