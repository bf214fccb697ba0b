"""``GET /api/config/export`` and ``POST /api/config/import`` (seed 004): the whole central
configuration as one document (routelearn.domain.config_document), in JSON or YAML.

An import is validated whole and applied in one transaction or not at all; ``dryRun=true``
answers what it would change instead. What it changes is fanned out like any registry or policy
write, and the scores it changes as a round of score updates. Export needs a ``reader`` key,
import an ``admin`` key.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from routelearn.api.announce import announce
from routelearn.api.auth import require
from routelearn.api.problems import FieldProblem, ProblemError
from routelearn.constants import FAN_OUT_SCORES_TASK
from routelearn.domain.api_keys import Permission
from routelearn.domain.config_document import ConfigDocument, parse, render
from routelearn.store import config, pgmq
from routelearn.store.config import ImportResult
from routelearn.store.policy import UnknownReferences

log = logging.getLogger(__name__)

router = APIRouter(tags=["config"])
MAX_IMPORT_BYTES = 16 * 1024 * 1024
_MEDIA = {"json": "application/json", "yaml": "application/yaml"}


@router.get(
    "/api/config/export",
    dependencies=[Depends(require(Permission.READ))],
    responses={200: {"content": {"application/json": {}, "application/yaml": {}}}},
)
async def export_config(
    request: Request, fmt: Annotated[Literal["json", "yaml"], Query(alias="format")] = "json"
) -> Response:
    """Models, their endpoints, routing rules, agent preferences, workspace configs and scores,
    as ``{"config": {...}}``: no versions or times, every list in a fixed order, so the same
    configuration always exports to the same bytes."""
    document = await anyio.to_thread.run_sync(config.export, request.app.state.engine)
    return Response(render(document, fmt), media_type=_MEDIA[fmt])


class SectionOut(BaseModel):
    added: list[str]
    changed: list[str]
    unchanged: int


class ImportOut(BaseModel):
    applied: bool  # false: a dry run, nothing written
    sections: dict[str, SectionOut]
    learned_scores_kept: list[str] = Field(alias="learnedScoresKept")


def _out(result: ImportResult) -> ImportOut:
    return ImportOut(
        applied=result.applied,
        sections={
            name: SectionOut(added=s.added, changed=s.changed, unchanged=len(s.unchanged))
            for name, s in result.sections.items()
        },
        learnedScoresKept=result.learned_kept,
    )


@router.post(
    "/api/config/import",
    response_model=ImportOut,
    dependencies=[Depends(require(Permission.ADMINISTER))],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "object"}},
            },
        }
    },
)
async def import_config(
    request: Request,
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
    overwrite_learned: Annotated[bool, Query(alias="overwriteLearned")] = False,
) -> ImportOut:
    """Import ``{"config": {...}}`` (an export, JSON or YAML): validated whole, then applied in
    one transaction or not at all; what the document does not mention is left alone. A score
    the learner has changed is kept unless ``overwriteLearned``. ``dryRun``: the diff only."""
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise ProblemError(413, f"a config import is at most {MAX_IMPORT_BYTES} bytes")
    try:
        data = parse(body)
    except ValueError as exc:
        raise ProblemError(422, str(exc)) from None
    if not isinstance(data, dict) or "config" not in data or len(data) != 1:
        problem = FieldProblem(field="body", value=None, message='must be {"config": {...}}')
        raise ProblemError(422, 'the body must be {"config": {...}} (an export)', [problem])
    try:
        document = ConfigDocument.model_validate(data["config"])
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", "config", *e["loc"])} for e in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None
    try:
        result = await anyio.to_thread.run_sync(
            lambda: config.apply(
                request.app.state.engine,
                document,
                dry_run=dry_run,
                overwrite_learned=overwrite_learned,
                with_updates=pgmq.import_sender(request.app.state.settings.pgmq_enabled),
            )
        )
    except UnknownReferences as exc:
        problems = [
            FieldProblem(field=f"body.{path}", value=model, message="not in the model registry")
            for path, model in exc.missing
        ]
        raise ProblemError(422, str(exc), problems) from None
    if result.applied and result.changed_anything:
        await announce(request)
        if result.score_changes:
            updates = [[change.to_message() for change in result.score_changes]]
            try:
                await anyio.to_thread.run_sync(
                    request.app.state.task_sender.send, FAN_OUT_SCORES_TASK, updates
                )
            except Exception as exc:  # stored; instances get them from their next snapshot
                log.warning("imported scores not fanned out now: %s", exc)
    return _out(result)
