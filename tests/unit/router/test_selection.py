"""Which model route() chooses: best score, capabilities, prefer near-ties, user requests,
circuits; and the decision and event it publishes."""

from __future__ import annotations

import pytest

from routelearn.domain.event import Complexity
from routelearn.instance.router import NoModelAvailableError, Reason
from tests.unit.router.fakes import catalog, make_router, model, validate


def three() -> list[dict[str, object]]:
    """a: best medium, no capabilities; b: vision, near a; c: vision + json_mode, far."""
    return [
        model("a", {"medium": 4.5, "simple": 3.0}, latency=1000, prices=(0.01, 0.03)),
        model(
            "b",
            {"medium": 4.4, "simple": 4.0},
            capabilities=("vision",),
            latency=300,
            prices=(0.002, 0.004),
        ),
        model(
            "c",
            {"medium": 4.0, "simple": 3.5},
            capabilities=("vision", "json_mode"),
            latency=100,
            prices=(0.0001, 0.0002),
        ),
    ]


def test_the_best_score_for_the_complexity_wins() -> None:
    router, _, _ = make_router(catalog(*three()))
    assert router.route("medium").model == "a"
    assert router.route("simple").model == "b"
    decision = router.route(Complexity.MEDIUM)
    assert (decision.score, decision.reason, decision.exploratory) == (4.5, Reason.BEST, False)


def test_capabilities_filter_the_candidates() -> None:
    router, _, _ = make_router(catalog(*three()))
    assert router.route("medium", ["vision"]).model == "b"
    assert router.route("medium", ["vision", "json_mode"]).model == "c"
    with pytest.raises(NoModelAvailableError) as caught:
        router.route("medium", ["audio"])
    assert "'medium'" in str(caught.value) and "audio" in str(caught.value)
    assert caught.value.capabilities == ("audio",)


def test_prefer_breaks_near_ties_only() -> None:
    router, _, _ = make_router(catalog(*three()))
    # b is within the 0.2 margin of a and faster and cheaper; c is faster still but 0.5 below.
    speed = router.route("medium", prefer="speed")
    assert (speed.model, speed.reason, speed.score) == ("b", Reason.PREFER, 4.4)
    assert router.route("medium", prefer="cost").model == "b"
    wide, _, _ = make_router(catalog(*three()), tie_margin=0.6)
    assert wide.route("medium", prefer="speed").model == "c"
    narrow, _, _ = make_router(catalog(*three()), tie_margin=0.05)
    assert narrow.route("medium", prefer="speed").model == "a"


def test_prefer_puts_a_model_without_the_figure_last_and_equal_figures_to_the_score() -> None:
    cat = catalog(
        model("x", {"simple": 4.0}),  # no latency, no prices
        model("y", {"simple": 3.9}, latency=500, prices=(0.001, 0.001)),
        model("z", {"simple": 3.85}, latency=500, prices=(0.001, 0.001)),
    )
    router, _, _ = make_router(cat)
    assert router.route("simple", prefer="speed").model == "y"
    assert router.route("simple", prefer="cost").model == "y"
    assert router.route("simple", prefer="cost", prompt_tokens=100).model == "y"


def test_prefer_cost_with_a_request_size_uses_the_estimate() -> None:
    # p: cheap input, dear output; q the reverse. A long prompt favours p, a long answer q.
    cat = catalog(
        model("p", {"simple": 4.0}, prices=(0.001, 0.1)),
        model("q", {"simple": 4.0}, prices=(0.1, 0.001)),
    )
    router, _, _ = make_router(cat)
    assert (
        router.route("simple", prefer="cost", prompt_tokens=10_000, completion_tokens=10).model
        == "p"
    )
    assert (
        router.route("simple", prefer="cost", prompt_tokens=10, completion_tokens=10_000).model
        == "q"
    )


def test_a_catalog_update_changes_the_near_ties() -> None:
    """The router keeps near-ties between routes; a score update must still be seen."""
    cat = catalog(*three())
    router, _, _ = make_router(cat, tie_margin=0.2)
    assert router.route("medium", prefer="speed").model == "b"
    assert cat.apply_update("b", "medium", 3.0, 1)
    assert router.route("medium", prefer="speed").model == "a"
    assert cat.apply_update("c", "medium", 4.45, 1)
    assert router.route("medium", prefer="speed").model == "c"


def test_an_explicit_user_request_wins_when_available() -> None:
    cat = catalog(*three(), model("off", {"medium": 5.0}, enabled=False))
    router, _, _ = make_router(cat)
    decision = router.route("medium", user_model_request="c")
    assert (decision.model, decision.reason, decision.user_model_request) == (
        "c",
        Reason.USER_REQUEST,
        "c",
    )
    # Unknown, disabled, lacking a capability, or circuit open: the normal choice.
    assert router.route("medium", user_model_request="nope").model == "a"
    assert router.route("medium", user_model_request="off").model == "a"
    assert router.route("medium", ["json_mode"], user_model_request="b").model == "c"
    for _ in range(3):
        router.breaker.record_failure("c")
    fallback = router.route("medium", user_model_request="c")
    assert (fallback.model, fallback.reason) == ("a", Reason.BEST)


def test_models_with_an_open_circuit_are_skipped() -> None:
    router, _, _ = make_router(catalog(*three()))
    for _ in range(3):
        router.breaker.record_failure("a")
    assert router.route("medium").model == "b"
    for _ in range(3):
        router.breaker.record_failure("b")
        router.breaker.record_failure("c")
    with pytest.raises(NoModelAvailableError, match="3 with an open circuit"):
        router.route("medium")


def test_every_decision_is_published_as_routed_and_validates() -> None:
    router, publisher, _ = make_router(catalog(*three()))
    decision = router.route("medium", ["vision"], prefer="speed", user_model_request="zzz")
    [event] = publisher.events
    parsed = validate(event)
    assert parsed.decision_id == decision.decision_id
    assert parsed.event_id == f"{decision.decision_id}:routed"
    assert parsed.instance_id == "test-1"
    body = parsed.routing_decision
    assert (body.selected_model, body.selected_provider, body.outcome) == ("b", "p", "routed")
    assert (body.complexity_score, body.capabilities_required) == (4.4, ("vision",))
    assert (body.prefer, body.user_model_request, body.response_time_ms) == ("speed", "zzz", None)
    assert "exploratory" not in event["routing_decision"]
    assert router.stats().decisions == 1


def test_decision_ids_are_unique_uuid4() -> None:
    import uuid

    router, _, _ = make_router(catalog(*three()))
    ids = {router.route("medium").decision_id for _ in range(500)}
    assert len(ids) == 500
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_a_refused_or_failing_publisher_does_not_fail_routing() -> None:
    router, publisher, _ = make_router(catalog(*three()))
    publisher.accept = False
    router.route("medium")

    class Broken:
        def publish(self, event: dict[str, object]) -> bool:
            raise RuntimeError("broker down")

    from routelearn.instance.router import ModelRouter

    broken = ModelRouter(catalog(*three()), Broken(), instance_id="x", explore_share=0.0)
    assert broken.route("medium").model == "a"
    assert router.stats().events_dropped == 1
    assert broken.stats().events_dropped == 1


def test_bad_arguments_are_refused_with_their_name() -> None:
    router, _, _ = make_router(catalog(*three()))
    with pytest.raises(ValueError, match="complexity"):
        router.route("hard")
    with pytest.raises(ValueError, match="prefer"):
        router.route("medium", prefer="quality")
    with pytest.raises(TypeError, match="capabilities"):
        router.route("medium", "vision")
    with pytest.raises(ValueError, match="prompt_tokens"):
        router.route("medium", budget=0.1)
    with pytest.raises(ValueError, match="instance_id"):
        make_router(catalog(*three()), instance_id="")
