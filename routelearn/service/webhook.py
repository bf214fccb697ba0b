"""The alert webhook, as configured (``ROUTELEARN_ALERT_WEBHOOK_*``), and one POST to it.

Nothing here logs: the callers log with ``Webhook.host``, never the URL (a Slack webhook's path
is its key), and every error text leaves through ``redact`` with the webhook's secrets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from routelearn import __version__
from routelearn.domain.alert_bodies import WebhookFormat
from routelearn.domain.alert_delivery import Attempt, RetryPolicy, parse_retry_after
from routelearn.domain.redaction import redact
from routelearn.settings import Settings

# What of a refusal's body is kept (in last_error): enough to read Slack's "invalid_payload".
_BODY_EXCERPT = 200

# httpx logs every request's full URL at INFO, and httpcore its exchanges at DEBUG: the
# webhook's URL is a secret, so their lines stay out of the process's log.
for _chatty in ("httpx", "httpcore"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str = field(repr=False)
    format: WebhookFormat
    headers: dict[str, str] = field(repr=False)
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Webhook | None:
        """None when no webhook is configured."""
        if settings.alert_webhook_url is None:
            return None
        headers = {"User-Agent": f"routelearn/{__version__}", **settings.alert_webhook_header_map()}
        if settings.alert_webhook_token is not None:
            headers["Authorization"] = f"Bearer {settings.alert_webhook_token.get_secret_value()}"
        return cls(
            url=settings.alert_webhook_url.get_secret_value(),
            format=WebhookFormat(settings.alert_webhook_format),
            headers=headers,
            timeout=settings.alert_webhook_timeout,
        )

    @property
    def host(self) -> str:
        """What a log line may say about where notices go."""
        return urlsplit(self.url).hostname or "?"

    @property
    def secrets(self) -> list[str]:
        """Every value that must not reach a log line or an error column."""
        parts = urlsplit(self.url)
        values = [self.url, parts.path, parts.query, parts.password or ""]
        values += [v for k, v in self.headers.items() if k != "User-Agent"]
        return [v for v in values if v and v != "/"]


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.alert_retry_base, settings.alert_retry_cap, settings.alert_max_age)


class WebhookClient:
    """One connection pool to the webhook for a delivery run; ``post`` never raises for what
    the network or the receiver does, it answers an ``Attempt``."""

    def __init__(self, webhook: Webhook) -> None:
        self.webhook = webhook
        self._client = httpx.Client(
            timeout=webhook.timeout, follow_redirects=False, headers=webhook.headers
        )

    def post(self, body: dict[str, Any], idempotency_key: str) -> Attempt:
        secrets = self.webhook.secrets
        try:
            response = self._client.post(
                self.webhook.url, json=body, headers={"Idempotency-Key": idempotency_key}
            )
        except httpx.HTTPError as exc:
            # httpx puts the URL into some messages: the text goes through redact.
            return Attempt(error=redact(f"{type(exc).__name__}: {exc}".strip(), secrets))
        excerpt = ""
        if not response.is_success:
            excerpt = redact(" ".join(response.text[:_BODY_EXCERPT].split()), secrets)
        return Attempt(
            status=response.status_code,
            error=excerpt or None,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC)),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
