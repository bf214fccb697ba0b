from __future__ import annotations

import random

import pytest

from routelearn.domain.backoff import backoff_delay
from routelearn.errors import ConfigError
from routelearn.settings import load_settings


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTELEARN_PUBLISH_BATCH_SIZE", "lots")
    with pytest.raises(ConfigError, match="ROUTELEARN_PUBLISH_BATCH_SIZE='lots'"):
        load_settings()


def test_time_limit_must_fit_visibility_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTELEARN_VISIBILITY_TIMEOUT", "10")
    with pytest.raises(ConfigError, match="ROUTELEARN_INGEST_TIME_LIMIT"):
        load_settings()


def test_defaults_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROKER_URL", "DATABASE_URL"):
        monkeypatch.delenv(f"ROUTELEARN_{name}", raising=False)
    settings = load_settings()
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url.endswith("/routelearn")


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(n, 0.1, 2.0, rng) for n in range(1, 10)]
    assert 0.05 <= delays[0] <= 0.1
    assert all(1.0 <= d <= 2.0 for d in delays[5:])
    with pytest.raises(ValueError):
        backoff_delay(0, 0.1, 1.0)


def test_policy_params_come_from_json_and_unknown_ones_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTELEARN_SCORE_POLICY", "classic")
    monkeypatch.setenv(
        "ROUTELEARN_SCORE_POLICY_PARAMS", '{"min_samples": 50, "gate_on_new_outcomes": false}'
    )
    settings = load_settings()
    policy = settings.policy()
    assert policy.params.min_samples == 50 and policy.params.gate_on_new_outcomes is False  # type: ignore[attr-defined]
    # A child process reads the same settings back.
    monkeypatch.setenv(
        "ROUTELEARN_SCORE_POLICY_PARAMS", settings.as_environ()["ROUTELEARN_SCORE_POLICY_PARAMS"]
    )
    assert load_settings().score_policy_params == settings.score_policy_params
    monkeypatch.setenv("ROUTELEARN_SCORE_POLICY_PARAMS", '{"half_life_seconds": 60}')
    with pytest.raises(ConfigError, match="'half_life_seconds' not a parameter of 'classic'"):
        load_settings()
    monkeypatch.setenv("ROUTELEARN_SCORE_POLICY_PARAMS", '{"min_samples": -1}')
    with pytest.raises(ConfigError, match=r"ROUTELEARN_SCORE_POLICY_PARAMS: .*min_samples"):
        load_settings()
