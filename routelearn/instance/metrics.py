"""An optional Prometheus collector for an application's ``ModelRouter`` (docs/metrics.md).

prometheus-client is not a dependency of the instance side: ``pip install
'routelearn[metrics]'`` (or prometheus-client itself), then register the collector in the
application's own registry, next to its other metrics::

    from prometheus_client import REGISTRY
    from routelearn.instance.metrics import RouterCollector

    REGISTRY.register(RouterCollector(router))

Every figure is read from the router when scraped (``circuit_states()``, the cache's and the
budget ledger's statistics, ``cost_estimate_errors()``); the router itself records nothing for
Prometheus and costs nothing more per request.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from routelearn.instance.router import CircuitState, ModelRouter, Scope


def scope_label(scope: Scope) -> str:
    """``("workspace", "acme")`` -> ``workspace:acme``."""
    return ":".join(scope)


class RouterCollector(Collector):
    def __init__(self, router: ModelRouter) -> None:
        self._router = router

    def collect(self) -> Iterator[Metric]:
        yield self._breakers()
        yield from self._cache()
        yield from self._budget()
        yield self._cost_errors()

    def _breakers(self) -> Metric:
        gauge = GaugeMetricFamily(
            "routelearn_router_breaker_state",
            "Circuit breaker of each model: 1 for its current state (closed, open, half_open), "
            "0 for the others. Catalog models the breaker has not seen yet are closed.",
            labels=["model", "state"],
        )
        states = {name: status.state for name, status in self._router.circuit_states().items()}
        for entry in self._router.catalog.models():
            states.setdefault(entry.name, CircuitState.CLOSED)
        for model, current in sorted(states.items()):
            for state in CircuitState:
                gauge.add_metric([model, state.value], float(state == current))
        return gauge

    def _cache(self) -> Iterator[Metric]:
        if self._router.cache is None:
            return  # execute never caches: there is nothing to count
        stats = self._router.cache.stats()
        yield CounterMetricFamily(
            "routelearn_router_cache_hits",
            "execute() calls answered from the response cache.",
            value=stats.hits,
        )
        yield CounterMetricFamily(
            "routelearn_router_cache_misses",
            "Response cache lookups that found nothing, or an expired entry.",
            value=stats.misses,
        )

    def _budget(self) -> Iterator[Metric]:
        spent = GaugeMetricFamily(
            "routelearn_router_budget_spent_usd",
            "Spend recorded per budget scope (kind:name) since its last reset, in USD.",
            labels=["scope"],
        )
        limit = GaugeMetricFamily(
            "routelearn_router_budget_limit_usd",
            "The limit of each budget scope that has one, in USD.",
            labels=["scope"],
        )
        for scope, spend in sorted(self._router.ledger.snapshot().items()):
            label = scope_label(scope)
            spent.add_metric([label], spend.spent)
            if spend.limit is not None:
                limit.add_metric([label], spend.limit)
        yield spent
        yield limit

    def _cost_errors(self) -> Metric:
        stats = self._router.cost_estimate_errors()
        # With buckets below 0, prometheus-client exports no _sum (a sum of signed errors can
        # fall, which a rate() reads as a reset) and so no _count: the +Inf bucket counts.
        return HistogramMetricFamily(
            "routelearn_router_cost_estimate_error_ratio",
            "(estimated - actual) / actual cost of each successful call whose cost was "
            "estimated before it: 0 exact, -0.5 half the actual cost, 1 twice it.",
            buckets=[(_le(bound), count) for bound, count in stats.buckets],
            sum_value=stats.sum,
        )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
