"""The alert webhook's settings: checked at start, secrets never in an error or a repr."""

from __future__ import annotations

import pytest

from routelearn.errors import ConfigError
from routelearn.settings import load_settings


@pytest.fixture(autouse=True)
def no_routelearn_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ROUTELEARN_"):
            monkeypatch.delenv(name)


def test_a_webhook_with_token_and_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTELEARN_ALERT_WEBHOOK_URL", "https://hooks.example/T0/B0/s3cret-path")
    monkeypatch.setenv("ROUTELEARN_ALERT_WEBHOOK_FORMAT", "alertmanager")
    monkeypatch.setenv("ROUTELEARN_ALERT_WEBHOOK_TOKEN", "tok-s3cret-123")
    monkeypatch.setenv("ROUTELEARN_ALERT_WEBHOOK_HEADERS", '{"X-Api-Key": "hdr-s3cret-456"}')
    settings = load_settings()
    assert settings.alert_webhook_format == "alertmanager"
    assert settings.alert_webhook_header_map() == {"X-Api-Key": "hdr-s3cret-456"}
    for secret in ("s3cret-path", "tok-s3cret", "hdr-s3cret"):
        assert secret not in repr(settings) and secret not in str(settings.model_dump())
    # A child process (worker, CLI) gets them back.
    env = settings.as_environ()
    assert env["ROUTELEARN_ALERT_WEBHOOK_URL"] == "https://hooks.example/T0/B0/s3cret-path"
    assert env["ROUTELEARN_ALERT_WEBHOOK_TOKEN"] == "tok-s3cret-123"


def test_an_empty_url_means_no_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTELEARN_ALERT_WEBHOOK_URL", "")
    assert load_settings().alert_webhook_url is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "ROUTELEARN_ALERT_WEBHOOK_URL",
            "hooks.example/s3cret",
            "ROUTELEARN_ALERT_WEBHOOK_URL must be an http:// or https:// URL with a host",
        ),
        (
            "ROUTELEARN_ALERT_WEBHOOK_HEADERS",
            '{"X Bad": "s3cret"}',
            "ROUTELEARN_ALERT_WEBHOOK_HEADERS must be a JSON object of header names",
        ),
        (
            "ROUTELEARN_ALERT_WEBHOOK_HEADERS",
            "s3cret",
            "ROUTELEARN_ALERT_WEBHOOK_HEADERS must be a JSON object of header names",
        ),
        (
            "ROUTELEARN_ALERT_RETRY_BASE",
            "900",
            "ROUTELEARN_ALERT_RETRY_BASE (900.0) must not exceed ROUTELEARN_ALERT_RETRY_CAP",
        ),
        ("ROUTELEARN_ALERT_WEBHOOK_TIMEOUT", "90", "ROUTELEARN_ALERT_WEBHOOK_TIMEOUT='90'"),
        ("ROUTELEARN_ALERT_WEBHOOK_FORMAT", "teams", "ROUTELEARN_ALERT_WEBHOOK_FORMAT='teams'"),
        ("ROUTELEARN_LOG_FORMAT", "xml", "ROUTELEARN_LOG_FORMAT='xml'"),
    ],
)
def test_a_bad_value_is_named_and_a_secret_not_shown(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert message in str(info.value)
    assert "s3cret" not in str(info.value)
