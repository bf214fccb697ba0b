"""``GET /api/scores`` and ``GET /api/scores/updates``: the learned scores over plain HTTP."""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from routelearn.api.auth import require
from routelearn.domain.api_keys import Permission
from routelearn.store.scores import history_cursor, score_snapshot, updates_since

router = APIRouter(tags=["scores"], dependencies=[Depends(require(Permission.READ))])

_POLL_SECONDS = 0.25


class NewestChange:
    """The newest ``score_history`` id, read at most once per ``_POLL_SECONDS`` per process
    however many clients long-poll: a thousand waiting instances cost the database four
    small queries a second, not four thousand. A client asks for the changes themselves only
    once this says there are some past its cursor."""

    def __init__(self) -> None:
        self._lock = anyio.Lock()
        self._value = 0
        self._read_at = -float("inf")

    async def get(self, engine: Any) -> int:
        async with self._lock:  # the others wait for this read and share it
            if time.monotonic() - self._read_at >= _POLL_SECONDS:
                self._value = await anyio.to_thread.run_sync(history_cursor, engine)
                self._read_at = time.monotonic()
            return self._value


def _newest(request: Request) -> NewestChange:
    state = request.app.state
    if getattr(state, "newest_change", None) is None:
        state.newest_change = NewestChange()  # made in the event loop its lock belongs to
    watch: NewestChange = state.newest_change
    return watch


class Scores(BaseModel):
    models: dict[str, dict[str, dict[str, Any]]]
    default_score: float
    # Each registered model's registry entry at its version (/api/models has the whole record).
    registry: list[dict[str, Any]]
    cursor: int  # give it to /api/scores/updates?since= to follow from here


class ScoreUpdates(BaseModel):
    updates: list[dict[str, Any]]  # schema/score-message.schema.json's update
    cursor: int


@router.get("/api/scores", response_model=Scores)
async def scores(request: Request) -> Scores:
    """Every score with its version (``ModelCatalog.apply_snapshot``'s input), and the cursor
    to follow the changes from."""
    engine, settings = request.app.state.engine, request.app.state.settings

    def read() -> Scores:
        cursor = history_cursor(engine)  # first: a change made meanwhile is sent again, not lost
        snapshot = score_snapshot(engine, settings.default_score)
        return Scores(
            models=snapshot["models"],
            default_score=settings.default_score,
            registry=snapshot["registry"],
            cursor=cursor,
        )

    return await anyio.to_thread.run_sync(read)


@router.get("/api/scores/updates", response_model=ScoreUpdates)
async def updates(
    request: Request,
    since: int = Query(0, ge=0, description="the cursor of the last answer (0: from the start)"),
    wait: float = Query(25.0, ge=0, le=60, description="long-poll: seconds to wait for a change"),
    limit: int = Query(1000, ge=1, le=10_000),
) -> ScoreUpdates:
    """Score changes after ``since``, oldest first; with none yet, waits up to ``wait`` seconds
    for one (long-poll). Apply an update only if its version is newer than the one held."""
    engine = request.app.state.engine
    watch = _newest(request)
    deadline = time.monotonic() + wait
    found, cursor = await anyio.to_thread.run_sync(updates_since, engine, since, limit)
    while not found and time.monotonic() < deadline and not await request.is_disconnected():
        await anyio.sleep(_POLL_SECONDS)
        if await watch.get(engine) > cursor:
            found, cursor = await anyio.to_thread.run_sync(updates_since, engine, cursor, limit)
    return ScoreUpdates(updates=[u.to_message() for u in found], cursor=cursor)
