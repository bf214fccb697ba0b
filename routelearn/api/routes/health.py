"""``/health`` (alive), ``/health/ready`` (dependencies answer), ``/health/detailed``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from routelearn import __version__
from routelearn.api.auth import require
from routelearn.api.problems import ProblemError
from routelearn.domain.api_keys import Permission
from routelearn.messaging.broker import connection
from routelearn.settings import Settings
from routelearn.stats.probe import health_report
from routelearn.stats.render import to_json
from routelearn.store import migrate

router = APIRouter(tags=["health"])


class Alive(BaseModel):
    status: str
    timestamp: datetime
    service: str
    version: str


class Check(BaseModel):
    ok: bool
    latency_ms: float
    detail: str


class Ready(BaseModel):
    status: str
    checks: dict[str, Check]


@router.get("/health", response_model=Alive)
async def alive() -> Alive:
    """Liveness: the process answers (no dependency is asked, no key needed)."""
    return Alive(
        status="healthy", timestamp=datetime.now(UTC), service="routelearn", version=__version__
    )


def _timed(check: Any) -> Check:
    started = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as exc:
        detail, ok = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", False
    return Check(ok=ok, latency_ms=round((time.perf_counter() - started) * 1000, 2), detail=detail)


def _checks(request: Request) -> dict[str, Check]:
    settings: Settings = request.app.state.settings
    engine = request.app.state.engine

    def database() -> str:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "answers"

    def schema() -> str:
        current, head = migrate.current_revision(settings.database_url), migrate.head_revision()
        if current != head:
            raise RuntimeError(f"SchemaBehind: at {current}, head is {head}: routelearn db upgrade")
        return f"at head ({head})"

    def broker() -> str:
        with connection(settings) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        return "answers"

    return {"database": _timed(database), "schema": _timed(schema), "broker": _timed(broker)}


@router.get("/health/ready", response_model=Ready, responses={503: {"description": "not ready"}})
async def ready(request: Request) -> Ready:
    """Readiness: the database and the broker answer and the schema is at head; 503 if not."""
    checks = await anyio.to_thread.run_sync(_checks, request)
    # Unauthenticated: say which dependency failed and how, not its address or message
    # (/health/detailed, with a key, has those).
    failed = [f"{name} ({c.detail.split(':')[0]})" for name, c in checks.items() if not c.ok]
    if failed:
        raise ProblemError(503, "not ready: " + ", ".join(failed))
    return Ready(status="ready", checks=checks)


@router.get("/health/detailed", dependencies=[Depends(require(Permission.READ))])
async def detailed(request: Request) -> JSONResponse:
    """Each dependency with its latency, plus ``routelearn stats health``: ingestion workers
    seen recently, the learner's last tick and its age, queue depths, open anomalies."""

    def gather() -> dict[str, Any]:
        checks = _checks(request)
        report = health_report(request.app.state.engine, request.app.state.settings)
        summary = json.loads(to_json(report))
        return {
            "status": "healthy"
            if all(c.ok for c in checks.values()) and not report.problems
            else "degraded",
            "dependencies": {name: c.model_dump() for name, c in checks.items()},
            **summary,
        }

    return JSONResponse(await anyio.to_thread.run_sync(gather))
