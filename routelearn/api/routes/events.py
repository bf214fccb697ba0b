"""``POST /api/events``: routing events from instances that speak only HTTP."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from routelearn.api.auth import require
from routelearn.api.problems import FieldProblem, ProblemError
from routelearn.domain.api_keys import Permission
from routelearn.domain.intake import IntakeError, NotJson, gunzip, parse_events
from routelearn.domain.validation import Rejection, check_event
from routelearn.messaging.task_message import SOURCE_HTTP
from routelearn.observability.events import EVENTS_REJECTED
from routelearn.settings import Settings

router = APIRouter(tags=["events"])


class EventRejection(BaseModel):
    index: int  # position in the body (0-based; for NDJSON, among its non-blank lines)
    errors: list[FieldProblem]


class EventsAccepted(BaseModel):
    accepted: int
    rejected: int
    rejections: list[EventRejection]


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes ``limit`` bytes, before any parsing."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, f"body: {declared} bytes, more than {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError(413, f"body: more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _rejection(index: int, rejection: Rejection) -> EventRejection:
    errors = [
        FieldProblem(field=e.field, value=e.value, message=e.message) for e in rejection.errors
    ]
    return EventRejection(index=index, errors=errors)


@router.post(
    "/api/events",
    status_code=202,
    response_model=EventsAccepted,
    dependencies=[Depends(require(Permission.SEND_EVENTS))],
    responses={413: {"description": "too many bytes or events"}, 415: {"description": "not JSON"}},
)
async def post_events(request: Request) -> EventsAccepted:
    """A JSON array (``application/json``) or NDJSON (``application/x-ndjson``), gzip allowed.
    Each event is validated as the workers validate it; the valid ones go to the workers, the
    others come back with each field's error. Nothing is sent unless every valid one is."""
    settings: Settings = request.app.state.settings
    body = await _read_body(request, settings.api_max_body_bytes)
    try:
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = gunzip(body, settings.api_max_body_bytes)
        events = parse_events(
            body, request.headers.get("content-type", ""), settings.api_max_events
        )
    except IntakeError as exc:
        raise ProblemError(exc.status, str(exc)) from None
    accepted: list[Any] = []
    rejections: list[EventRejection] = []
    for index, payload in enumerate(events.payloads):
        if isinstance(payload, NotJson):
            problem = FieldProblem(
                field="(event)",
                value=None,
                message=f"line {payload.line}: not JSON ({payload.error})",
            )
            rejections.append(EventRejection(index=index, errors=[problem]))
            continue
        rejection = check_event(payload)
        if rejection is not None:
            rejections.append(_rejection(index, rejection))
        else:
            # An NDJSON line goes as it came (the worker reads it and derives the same id from
            # it), not dumped again here.
            accepted.append(events.to_send(index))
    if accepted:
        await anyio.to_thread.run_sync(_send, request, accepted)
    if rejections:  # they never reach a worker: counted here (the accepted ones, where stored)
        EVENTS_REJECTED.labels(SOURCE_HTTP).inc(len(rejections))
    return EventsAccepted(accepted=len(accepted), rejected=len(rejections), rejections=rejections)


def _send(request: Request, events: list[Any]) -> None:
    sender = request.app.state.task_sender
    size = request.app.state.settings.publish_batch_size
    try:
        for start in range(0, len(events), size):
            sender.send_events(events[start : start + size], source=SOURCE_HTTP)
    except Exception as exc:
        # Sending again is safe: every event is deduplicated by its id.
        raise ProblemError(
            503, f"the broker did not take the events ({type(exc).__name__}); send them again"
        ) from None
