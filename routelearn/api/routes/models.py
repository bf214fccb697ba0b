"""The central model registry (seed 004's ``/api/models`` endpoints).

Reads need a ``reader`` key; writes an ``operator`` key. A write that changes what instances see
of a model (registered, replaced, status, removed) is fanned out to every instance as soon as it
is committed (task ``routelearn.fan_out_registry``; the periodic run sends it if the broker was
down at that moment).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from routelearn.api.announce import announce
from routelearn.api.auth import require
from routelearn.api.problems import FieldProblem, ProblemError
from routelearn.domain.api_keys import Permission
from routelearn.domain.registry import (
    EndpointSpec,
    HealthSpec,
    ModelExists,
    ModelRecord,
    ModelStatus,
    StatusBatch,
    UnknownModels,
)
from routelearn.store import registry
from routelearn.store.registry import Endpoint, HealthReport, StoredModel

log = logging.getLogger(__name__)

router = APIRouter(tags=["models"])
_READ = [Depends(require(Permission.READ))]
_WRITE = [Depends(require(Permission.WRITE_REGISTRY))]


class RegisteredModel(ModelRecord):
    """A model as the registry holds it: the record, with its version and times."""

    registry_version: int = Field(alias="registryVersion")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class ModelList(BaseModel):
    models: list[RegisteredModel]
    total: int


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ModelStatus


class BatchResult(BaseModel):
    updated: int  # models whose status changed (the others had it already)
    models: list[RegisteredModel]


class EndpointOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    url: str
    type: str
    weight: float
    health_check_url: str | None = Field(alias="healthCheckUrl")
    created_at: datetime = Field(alias="createdAt")


class HealthOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    status: str
    response_time: float | None = Field(alias="responseTime")
    error_rate: float | None = Field(alias="errorRate")
    availability: float | None
    reported_by: str | None = Field(alias="reportedBy")
    reported_at: datetime = Field(alias="reportedAt")


class ModelHealth(BaseModel):
    model_id: str = Field(alias="modelId")
    latest: HealthOut | None
    recent: list[HealthOut]


def _out(stored: StoredModel) -> RegisteredModel:
    return RegisteredModel.model_validate(
        {
            **stored.record.document(),
            "registryVersion": stored.version,
            "createdAt": stored.created_at,
            "updatedAt": stored.updated_at,
        }
    )


def _endpoint(e: Endpoint) -> EndpointOut:
    return EndpointOut(
        url=e.url,
        type=e.type,
        weight=e.weight,
        healthCheckUrl=e.health_check_url,
        createdAt=e.created_at,
    )


def _health(h: HealthReport) -> HealthOut:
    return HealthOut(
        status=h.status,
        responseTime=h.response_time_ms,
        errorRate=h.error_rate,
        availability=h.availability,
        reportedBy=h.reported_by,
        reportedAt=h.reported_at,
    )


def _not_found(exc: UnknownModels) -> ProblemError:
    errors = [
        FieldProblem(field="modelId", value=model_id, message="not registered")
        for model_id in exc.model_ids
    ]
    return ProblemError(404, str(exc), errors)


async def _run(request: Request, func: Any, *args: Any) -> Any:
    try:
        return await anyio.to_thread.run_sync(func, request.app.state.engine, *args)
    except UnknownModels as exc:
        raise _not_found(exc) from None
    except ModelExists as exc:
        problem = FieldProblem(field="modelId", value=exc.model_id, message="already registered")
        raise ProblemError(409, str(exc), [problem]) from None


@router.post("/api/models", status_code=201, response_model=RegisteredModel, dependencies=_WRITE)
async def register(record: ModelRecord, request: Request, response: Response) -> RegisteredModel:
    """Register a model (409 if its ``modelId`` is taken; ``modelId`` defaults to ``version``,
    then ``name``)."""
    stored = await _run(request, registry.register, record)
    await announce(request)
    response.headers["Location"] = f"/api/models/{stored.record.id}"
    return _out(stored)


@router.get("/api/models", response_model=ModelList, dependencies=_READ)
async def list_models(
    request: Request,
    provider: str | None = None,
    status: ModelStatus | None = None,
    model_type: str | None = Query(None, alias="modelType"),
    tag: str | None = None,
) -> ModelList:
    found = await _run(
        request,
        lambda engine: registry.list_models(
            engine,
            provider=provider,
            status=None if status is None else status.value,
            model_type=model_type,
            tag=tag,
        ),
    )
    return ModelList(models=[_out(m) for m in found], total=len(found))


# Declared before /api/models/{model_id}/status, which would otherwise take "batch" for an id.
@router.patch("/api/models/batch/status", response_model=BatchResult, dependencies=_WRITE)
async def batch_status(batch: StatusBatch, request: Request) -> BatchResult:
    """Set several models' status, all or nothing: if any ``modelId`` is not registered, none
    changes (404 naming each)."""
    wanted = {u.model_id: u.status for u in batch.updates}
    stored, changed = await _run(request, registry.set_status, wanted)
    if changed:
        await announce(request)
    return BatchResult(updated=changed, models=[_out(m) for m in stored])


@router.get("/api/models/{model_id}", response_model=RegisteredModel, dependencies=_READ)
async def get_model(model_id: str, request: Request) -> RegisteredModel:
    stored = await _run(request, registry.get, model_id)
    if stored is None:
        raise _not_found(UnknownModels([model_id]))
    return _out(stored)


@router.put("/api/models/{model_id}", response_model=RegisteredModel, dependencies=_WRITE)
async def replace_model(model_id: str, record: ModelRecord, request: Request) -> RegisteredModel:
    """Register or replace the whole record; the body's ``modelId``, if given, must be the
    path's."""
    if record.id != model_id:
        if "model_id" in record.model_fields_set:
            problem = FieldProblem(
                field="body.modelId", value=record.id, message=f"must be {model_id!r} (the path's)"
            )
            raise ProblemError(422, "the body names another model than the path", [problem])
        record = record.model_copy(update={"model_id": model_id})
    stored = await _run(request, registry.replace_model, record)
    await announce(request)
    return _out(stored)


@router.delete("/api/models/{model_id}", status_code=204, dependencies=_WRITE)
async def remove_model(model_id: str, request: Request) -> Response:
    """Remove a model with its endpoints and health reports; instances stop choosing it. Its
    learned scores are kept."""
    await _run(request, registry.remove, model_id)
    await announce(request)
    return Response(status_code=204)


@router.patch("/api/models/{model_id}/status", response_model=RegisteredModel, dependencies=_WRITE)
async def set_status(model_id: str, body: StatusBody, request: Request) -> RegisteredModel:
    (stored,), changed = await _run(request, registry.set_status, {model_id: body.status})
    if changed:
        await announce(request)
    return _out(stored)


@router.post(
    "/api/models/{model_id}/endpoints",
    status_code=201,
    response_model=EndpointOut,
    dependencies=_WRITE,
)
async def add_endpoint(model_id: str, spec: EndpointSpec, request: Request) -> EndpointOut:
    """Add an endpoint, or replace the model's endpoint with the same ``url``."""
    endpoint = await _run(
        request,
        registry.add_endpoint,
        model_id,
        spec.url,
        spec.type,
        spec.weight,
        spec.health_check_url,
    )
    return _endpoint(endpoint)


@router.get(
    "/api/models/{model_id}/endpoints", response_model=list[EndpointOut], dependencies=_READ
)
async def list_endpoints(model_id: str, request: Request) -> list[EndpointOut]:
    return [_endpoint(e) for e in await _run(request, registry.endpoints, model_id)]


@router.post(
    "/api/models/{model_id}/health",
    status_code=201,
    response_model=HealthOut,
    dependencies=[Depends(require(Permission.SEND_EVENTS))],
)
async def report_health(model_id: str, spec: HealthSpec, request: Request) -> HealthOut:
    """A health report on the model (from an instance or a prober: ``instance`` keys may
    send them); kept with the reporting key's name."""
    key = request.state.api_key
    report = await _run(
        request,
        registry.add_health,
        model_id,
        spec.status.value,
        spec.response_time,
        spec.error_rate,
        spec.availability,
        key.name,
    )
    return _health(report)


@router.get("/api/models/{model_id}/health", response_model=ModelHealth, dependencies=_READ)
async def model_health(
    model_id: str, request: Request, limit: int = Query(20, ge=1, le=1000)
) -> ModelHealth:
    """The newest report and the recent ones, newest first."""
    reports = [_health(h) for h in await _run(request, registry.health_reports, model_id, limit)]
    return ModelHealth.model_validate(
        {"modelId": model_id, "latest": reports[0] if reports else None, "recent": reports}
    )
