"""The fleet's recent success rate and latency per model and complexity: what quality floors
(a workspace's ``qualityRequirements``) and an agent's ``performanceRequirements`` judge. Made
by the service from the hourly rollups, kept in ``model_quality`` for the API and fanned out to
the instances, so both judge on the same numbers. A report replaces the one held only when
newer.

Over the last ``WINDOW_HOURS`` hours. A (model, complexity) with fewer than ``MIN_SAMPLES``
outcomes in the window has no success rate (and fewer response times no latency): too little
evidence to exclude a model on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routelearn.domain.event import Complexity, ModelName
from routelearn.domain.messages import AwareDatetime, first_error
from routelearn.errors import RouteLearnError

MIN_SAMPLES = 20
WINDOW_HOURS = 24
MAX_MODELS = 100_000


class InvalidQualityReport(RouteLearnError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Quality:
    success_rate: float | None
    latency_ms: float | None  # the mean response time
    samples: int  # outcomes counted


@dataclass(frozen=True, slots=True)
class QualityCounts:
    """One (model, complexity)'s outcomes over the window, as the rollups hold them."""

    model: str
    complexity: str
    successes: int
    failures: int
    timed: int  # outcomes with a response time
    total_ms: float  # their sum


def judge(counts: Iterable[QualityCounts]) -> dict[tuple[str, str], Quality]:
    """The mean, not a percentile: summed counts answer it from the rollups without reading a
    histogram per row, cheap enough to recompute every few seconds."""
    found = {}
    for c in counts:
        outcomes = c.successes + c.failures
        rate = c.successes / outcomes if outcomes >= MIN_SAMPLES else None
        mean = c.total_ms / c.timed if c.timed >= MIN_SAMPLES else None
        found[(c.model, c.complexity)] = Quality(rate, mean, outcomes)
    return found


Rate = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Ms = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    success_rate: Rate | None
    latency_ms: Ms | None
    samples: int = Field(ge=0)


class _Report(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    as_of: AwareDatetime
    models: dict[ModelName, dict[Complexity, _Entry]] = Field(max_length=MAX_MODELS)


@dataclass(frozen=True, slots=True)
class QualityReport:
    as_of: datetime
    models: Mapping[tuple[str, str], Quality]  # (model, complexity) -> quality

    def of(self, model: str, complexity: str) -> Quality | None:
        return self.models.get((model, complexity))

    def to_message(self) -> dict[str, Any]:
        nested: dict[str, dict[str, Any]] = {}
        for (model, complexity), q in sorted(self.models.items()):
            nested.setdefault(model, {})[complexity] = {
                "success_rate": q.success_rate,
                "latency_ms": q.latency_ms,
                "samples": q.samples,
            }
        return {"as_of": self.as_of.isoformat().replace("+00:00", "Z"), "models": nested}

    @classmethod
    def from_message(cls, data: object) -> QualityReport:
        try:
            parsed = _Report.model_validate(data)
        except ValidationError as exc:
            raise InvalidQualityReport(first_error("quality report", exc)) from None
        return cls(
            parsed.as_of,
            {
                (model, complexity.value): Quality(e.success_rate, e.latency_ms, e.samples)
                for model, levels in parsed.models.items()
                for complexity, e in levels.items()
            },
        )
