"""How long ``ModelRouter.route`` takes with a 200-model catalog:
``python -m routelearn.benchmarks.route``.

The publisher is a no-op, so the figure is the router's own cost (selection, the decision, the
event dict) without the EventPublisher's buffering. The target is under 50 us per call.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from routelearn.domain.estimates import EstimateReport
from routelearn.instance.catalog import ModelCatalog
from routelearn.instance.router import ModelRouter

CAPABILITIES = ("vision", "function_calling", "json_mode", "long_context")


class NoOpPublisher:
    def publish(self, event: dict[str, Any]) -> bool:
        return True


def catalog_config(models: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    entries = []
    for n in range(models):
        entries.append(
            {
                "name": f"model-{n:03d}",
                "provider": f"provider-{n % 12}",
                "capabilities": [c for c in CAPABILITIES if rng.random() < 0.6],
                "scores": {c: round(rng.uniform(1.0, 5.0), 2) for c in ("simple", "medium")},
                "prices": {
                    "input_per_1k": round(rng.uniform(0.0001, 0.01), 5),
                    "output_per_1k": round(rng.uniform(0.0004, 0.03), 5),
                },
                "typical_latency_ms": rng.randint(200, 3000),
            }
        )
    return {"version": 1, "default_score": 2.5, "models": entries}


def estimate_report(catalog: ModelCatalog, seed: int = 7) -> EstimateReport:
    """An estimate for every model and complexity, as the learner would send."""
    rng = random.Random(seed)
    keys = [(e.name, c) for e in catalog.models() for c in ("simple", "medium", "complex")]
    return EstimateReport.of_rows(
        datetime.now(UTC),
        "calibrated",
        keys,
        [rng.uniform(1.0, 5.0) for _ in keys],
        [rng.uniform(0.02, 1.5) for _ in keys],
    )


def time_calls(label: str, calls: int, route: Callable[[], object]) -> float:
    for _ in range(min(calls, 10_000)):  # warm up
        route()
    start = time.perf_counter()
    for _ in range(calls):
        route()
    per_call = (time.perf_counter() - start) / calls * 1e6
    print(f"{label:<56} {per_call:7.2f} us/call")
    return per_call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()

    catalog = ModelCatalog.from_config(catalog_config(args.models))
    router = ModelRouter(catalog, NoOpPublisher(), instance_id="bench", rng=random.Random(1))
    print(f"route() with {args.models} models, {args.calls} calls each, no-op publisher")
    print("(medium: distinct scores; complex: every model tied at default_score)")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("route('medium')", lambda: router.route("medium")),
        (
            "route('medium', ['vision'], prefer='speed')",
            lambda: router.route("medium", ["vision"], "speed"),
        ),
        (
            "route('complex', ['vision'], prefer='cost')",
            lambda: router.route("complex", ["vision"], "cost"),
        ),
        (
            "route('complex', prefer='cost', budget, prompt_tokens)",
            lambda: router.route("complex", prefer="cost", budget=0.05, prompt_tokens=500),
        ),
    ]
    results = [time_calls(label, args.calls, call) for label, call in cases]
    # One circuit open (the best medium model): every candidate is then checked one by one.
    best = catalog.candidates("medium")[0][0].name
    for _ in range(router.breaker.failure_threshold):
        router.breaker.record_failure(best)
    results.append(
        time_calls(
            "route('medium', prefer='speed'), best circuit open",
            args.calls,
            lambda: router.route("medium", prefer="speed"),
        )
    )
    stats = router.stats()
    print(f"exploratory share: {stats.exploratory / stats.decisions:.4f}")
    # The learner's estimates held (every tick's fan-out brings them): exploration is directed,
    # one draw per candidate model.
    directed = ModelCatalog.from_config(catalog_config(args.models))
    directed.estimates.apply(estimate_report(directed))
    for strategy in ("thompson", "ucb"):
        for share in (0.05, 1.0):
            explorer = ModelRouter(
                directed,
                NoOpPublisher(),
                instance_id="bench",
                rng=random.Random(1),
                explore_share=share,
                explore_strategy=strategy,
            )
            per_call = time_calls(
                f"route('medium'), estimates held, {strategy}, share {share:g}",
                args.calls,
                lambda r=explorer: r.route("medium"),  # type: ignore[misc]
            )
            if share < 1.0:  # every decision exploring is shown, not the target's case
                results.append(per_call)
    print(f"worst: {max(results):.2f} us/call (target < 50)")


if __name__ == "__main__":
    main()
