"""Log lines for every routelearn process: text (the default) or one JSON object a line
(``ROUTELEARN_LOG_FORMAT=json``), and never a secret in either.

- ``JsonFormatter``: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, then the
  context that applies: ``task_id`` and ``task_name`` inside a Celery task, ``batch_id`` (an
  ingest message: one message is one batch), ``instance_id``, ``anomaly_id``, ``notice_id``;
  ``exception`` with the traceback. A message longer than ``MAX_MESSAGE`` is cut: a line
  carries what happened, never a whole payload.
- ``RedactingFilter``: on every handler, text and JSON alike; takes API tokens,
  ``Authorization`` values, URL passwords and the configured secrets out of the message and
  the traceback (``routelearn.domain.redaction``).
- Context comes from ``log_context(...)`` (a context variable), from ``extra={...}`` on a call,
  and from providers the service registers (the current Celery task).

Wired in by the Celery processes (``routelearn.service.logs``), ``routelearn serve``
(``uvicorn_log_config``) and the CLI (``configure``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any
from urllib.parse import urlsplit

from routelearn.domain.redaction import redact
from routelearn.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_MESSAGE = 4000
# The context a JSON line may carry, in this order; nothing else from ``extra`` is copied.
CONTEXT_FIELDS = ("task_id", "task_name", "batch_id", "instance_id", "anomaly_id", "notice_id")

_OURS = "_routelearn_handler"
# Loggers whose formatter reads ``record.args`` as a tuple (uvicorn's access log).
_ARGS_READERS = frozenset({"uvicorn.access"})

_context: ContextVar[Mapping[str, str]] = ContextVar(
    "routelearn_log_context", default=MappingProxyType({})
)
_providers: list[Callable[[], Mapping[str, str]]] = []


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Lines logged inside carry ``fields`` (JSON format)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def add_context_provider(provider: Callable[[], Mapping[str, str]]) -> None:
    """``provider()`` is asked for context at each JSON line (e.g. the current Celery task)."""
    if provider not in _providers:
        _providers.append(provider)


def current_context() -> dict[str, str]:
    found: dict[str, str] = {}
    for provider in _providers:
        found.update(provider())
    found.update(_context.get())
    return found


def secret_values(settings: Settings) -> list[str]:
    """The configured values no line may show (URL passwords are caught by shape anyway)."""
    values: list[str] = []
    if settings.alert_webhook_url is not None:
        url = settings.alert_webhook_url.get_secret_value()
        values += [url, urlsplit(url).path, urlsplit(url).query]
    if settings.alert_webhook_token is not None:
        values.append(settings.alert_webhook_token.get_secret_value())
    values += list(settings.alert_webhook_header_map().values())
    return [v for v in values if v and v != "/"]


class RedactingFilter(logging.Filter):
    """Put on a handler: rewrites each record's message (and traceback text) without secrets.
    Never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_routelearn_redacted", False):
            return True  # another handler's filter did it already
        if record.name in _ARGS_READERS and isinstance(record.args, tuple):
            # Its formatter reads the arguments themselves: each is redacted in place.
            record.args = tuple(
                redact(a, self.secrets) if isinstance(a, str) else a for a in record.args
            )
        else:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: logging reports it itself
                return True
            record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        setattr(record, "_routelearn_redacted", True)  # noqa: B010
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}... ({len(message) - MAX_MESSAGE} more characters)"
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        context = current_context()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None) or context.get(name)
            if value:
                line[name] = str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def configure(
    level: int | str,
    fmt: str,
    secrets: Iterable[str] = (),
    *,
    stream: IO[str] | None = None,
    logfile: str | Path | None = None,
    force: bool = False,
) -> logging.Handler | None:
    """The root logger with one handler (``logfile``, else ``stream``, else stderr) in ``fmt``
    (text | json), redacting; returns it. As ``logging.basicConfig``, a root that already has
    handlers someone else installed (an embedding application, pytest) is left alone unless
    ``force``; a handler of an earlier ``configure`` is replaced."""
    root = logging.getLogger()
    if not force and any(not getattr(h, _OURS, False) for h in root.handlers):
        return None
    handler: logging.Handler
    if logfile:
        handler = logging.FileHandler(logfile, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RedactingFilter(secrets))
    setattr(handler, _OURS, True)
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def uvicorn_log_config(fmt: str, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``uvicorn.run(log_config=...)``: uvicorn's loggers
    and the root (the API's own lines) in ``fmt``, every handler redacting."""
    if fmt == "json":
        formatters: dict[str, Any] = {
            "default": {"()": "routelearn.logs.JsonFormatter"},
            "access": {"()": "routelearn.logs.JsonFormatter"},
        }
    else:  # uvicorn's own text formats, as without a log_config
        formatters = {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": None,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        }
    redacting = ["redact"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "routelearn.logs.RedactingFilter", "secrets": list(secrets)}},
        "formatters": formatters,
        "handlers": {
            "default": {
                "formatter": "default",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": redacting,
            },
            "access": {
                "formatter": "access",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": redacting,
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": "INFO"},
    }
