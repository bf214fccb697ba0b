"""RouterCollector: a real router, registered in a registry of its own, read as Prometheus reads
it (the text format, parsed back)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from routelearn.instance.catalog import ModelEntry
from routelearn.instance.metrics import RouterCollector
from routelearn.instance.router import CallOutput, CircuitBreaker, ProviderError, ResponseCache
from routelearn.instance.router.stats import COST_ERROR_BOUNDS, CostErrors
from tests.unit.router.fakes import FakeClock, catalog, make_router, model


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class Provider:
    """Answers with the given token counts; fails for the models in ``down``."""

    def __init__(self, down: set[str] | None = None) -> None:
        self.down = down or set()

    def __call__(self, entry: ModelEntry, prompt: str, params: Mapping[str, Any]) -> CallOutput:
        if entry.name in self.down:
            raise ProviderError(entry.provider, 503, message="down")
        return CallOutput("ok", prompt_tokens=1000, completion_tokens=512)


def test_breakers_cache_budget_and_cost_error_as_prometheus_reads_them() -> None:
    clock = FakeClock()
    router, _, _ = make_router(
        catalog(
            model("a", {"simple": 4.5}, prices=(0.001, 0.002)),
            model("b", {"simple": 4.0}, prices=(0.001, 0.002)),
        ),
        clock=clock,
        breaker=CircuitBreaker(failure_threshold=1, clock=clock),
        cache=ResponseCache(clock=clock),
        # The estimate counts the prompt with the heuristic and 256 completion tokens.
        expected_completion_tokens=256,
    )
    scope = ("workspace", "acme")
    router.ledger.set_limit(scope, 10.0)
    registry = CollectorRegistry()
    registry.register(RouterCollector(router))

    # a fails once (its circuit opens), b answers; then the same prompt again: a cache hit.
    first = router.execute("x" * 4000, Provider({"a"}), complexity="simple", budget_scope=scope)
    again = router.execute("x" * 4000, Provider(), complexity="simple", budget_scope=scope)
    assert (first.model, again.cache_hit) == ("b", True)

    found = samples(registry)
    state = "routelearn_router_breaker_state"
    assert found[(state, (("model", "a"), ("state", "open")))] == 1.0
    assert found[(state, (("model", "a"), ("state", "closed")))] == 0.0
    assert found[(state, (("model", "b"), ("state", "closed")))] == 1.0
    # Looked up once per model tried: a (miss, then it fails), b (miss), b again (the hit).
    assert found[("routelearn_router_cache_hits_total", ())] == 1.0
    assert found[("routelearn_router_cache_misses_total", ())] == 2.0
    scope_label = (("scope", "workspace:acme"),)
    assert found[("routelearn_router_budget_limit_usd", scope_label)] == 10.0
    assert found[("routelearn_router_budget_spent_usd", scope_label)] == pytest.approx(first.cost)
    # Estimated 1000 prompt + 256 completion tokens, actual 1000 + 512.
    estimated, actual = (1000 * 0.001 + 256 * 0.002) / 1000, (1000 * 0.001 + 512 * 0.002) / 1000
    assert (estimated - actual) / actual == pytest.approx(-0.253, abs=1e-3)
    error = "routelearn_router_cost_estimate_error_ratio"
    assert found[(f"{error}_bucket", (("le", "-0.5"),))] == 0.0
    assert found[(f"{error}_bucket", (("le", "-0.25"),))] == 1.0
    assert found[(f"{error}_bucket", (("le", "+Inf"),))] == 1.0
    # Buckets below 0: no _sum (it could fall, which a rate reads as a reset), so no _count.
    assert (f"{error}_sum", ()) not in found


def test_a_router_without_cache_exports_no_cache_counters() -> None:
    router, _, _ = make_router(catalog(model("a", {"simple": 4.5})))
    registry = CollectorRegistry()
    registry.register(RouterCollector(router))
    names = {name for name, _ in samples(registry)}
    assert "routelearn_router_cache_hits_total" not in names
    # The catalog's model shows closed before the breaker has seen it.
    assert "routelearn_router_breaker_state" in names


def test_cost_errors_fall_in_their_buckets_and_skip_what_has_no_ratio() -> None:
    errors = CostErrors()
    errors.record(1.0, 2.0)  # -0.5: at its bound
    errors.record(3.0, 2.0)  # +0.5
    errors.record(100.0, 1.0)  # +99: past every bound
    errors.record(None, 1.0)  # no estimate
    errors.record(1.0, 0.0)  # free: no ratio
    stats = errors.snapshot()
    buckets = dict(stats.buckets)
    assert stats.count == 3 and stats.sum == pytest.approx(-0.5 + 0.5 + 99)
    assert buckets[-0.75] == 0 and buckets[-0.5] == 1 and buckets[0.5] == 2
    assert buckets[COST_ERROR_BOUNDS[-1]] == 2 and buckets[float("inf")] == 3


def test_the_instance_side_imports_without_prometheus_client() -> None:
    # As in an application installed without the [metrics] extra: the router works, and only
    # the collector's own module asks for prometheus-client.
    script = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "import routelearn.instance\n"
        "from routelearn.instance.router import ModelRouter\n"
        "try:\n"
        "    import routelearn.instance.metrics\n"
        "except ImportError as exc:\n"
        "    print('refused:', exc.name.split('.')[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "refused: prometheus_client", done.stderr
