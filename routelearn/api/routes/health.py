"""``/health`` (alive), ``/health/ready`` (dependencies answer), ``/health/detailed``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from routelearn import __version__
from routelearn.api.auth import require
from routelearn.api.problems import ProblemError
from routelearn.domain.api_keys import Permission
from routelearn.stats.checks import check_all
from routelearn.stats.probe import health_report
from routelearn.stats.render import to_json

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


def _checks(request: Request, public: bool) -> dict[str, Check]:
    """Each dependency's check; ``public`` (no key) gives the summary, not the detail, which
    names addresses."""
    return {
        c.name: Check(ok=c.ok, latency_ms=c.latency_ms, detail=c.summary if public else c.detail)
        for c in check_all(request.app.state.settings)
    }


@router.get("/health/ready", response_model=Ready, responses={503: {"description": "not ready"}})
async def ready(request: Request) -> Ready:
    """Readiness: the database and the broker answer and the schema is at head; 503 if not."""
    checks = await anyio.to_thread.run_sync(_checks, request, True)
    # Unauthenticated: say which dependency failed and how, not its address or message
    # (/health/detailed, with a key, has those).
    failed = [f"{name} ({c.detail})" for name, c in checks.items() if not c.ok]
    if failed:
        raise ProblemError(503, "not ready: " + ", ".join(failed))
    return Ready(status="ready", checks=checks)


@router.get("/health/detailed", dependencies=[Depends(require(Permission.READ))])
async def detailed(request: Request) -> JSONResponse:
    """Each dependency with its latency, plus ``routelearn stats health``: ingestion workers
    seen recently, the learner's last tick and its age, queue depths, open anomalies."""

    def gather() -> dict[str, Any]:
        checks = _checks(request, False)
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
