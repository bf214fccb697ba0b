"""What the learner believes of each (model, complexity), sent to the instances every tick so
that their routers explore where it pays: the score the evidence points at (``mean``, the
calibrated policy's target) and how sure it is (``spread``, the posterior's standard deviation
of that target, in score points). A busy leader's spread is a few hundredths; a model that got
little traffic lately has a wide one, because its recent evidence decayed away.

The report replaces the one an instance holds only when newer. A (model, complexity) missing
from it is one the fleet has no evidence on at all: a router explores it first.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routelearn.domain.event import Complexity, ModelName
from routelearn.domain.messages import AwareDatetime, first_error
from routelearn.errors import RouteLearnError

MAX_MODELS = 100_000
# Enough for a score in 0-5: the routers compare estimates, and a round carries every row.
_DIGITS = 3


class InvalidEstimateReport(RouteLearnError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Estimate:
    mean: float
    spread: float

    def upper(self, z: float) -> float:
        """The optimistic bound ``mean + z * spread`` (an upper confidence bound)."""
        return self.mean + z * self.spread

    def sample(self, rng: random.Random) -> float:
        """A draw from the normal approximation of the posterior (Thompson sampling).
        ``normalvariate``, not ``gauss``: a router's threads share one ``Random``, and
        ``gauss`` keeps a second draw between calls without a lock."""
        return self.mean + self.spread * rng.normalvariate(0.0, 1.0)


Score = Annotated[float, Field(ge=0.0, le=5.0, allow_inf_nan=False)]
Spread = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _Report(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    as_of: AwareDatetime
    policy: str = Field(max_length=64)
    models: dict[ModelName, dict[Complexity, tuple[Score, Spread]]] = Field(max_length=MAX_MODELS)


@dataclass(frozen=True, slots=True)
class EstimateReport:
    as_of: datetime
    policy: str  # the score policy that made it
    estimates: Mapping[tuple[str, str], Estimate]  # (model, complexity) -> estimate
    # complexity -> model -> estimate: what a router reads per candidate, without a tuple key
    levels: Mapping[str, Mapping[str, Estimate]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        levels: dict[str, dict[str, Estimate]] = {}
        for (model, complexity), estimate in self.estimates.items():
            levels.setdefault(complexity, {})[model] = estimate
        object.__setattr__(self, "levels", levels)

    def at(self, complexity: str) -> Mapping[str, Estimate]:
        """Every model's estimate for ``complexity``."""
        return self.levels.get(complexity, {})

    @classmethod
    def of_rows(
        cls,
        as_of: datetime,
        policy: str,
        keys: Iterable[tuple[str, str]],
        means: Iterable[float],
        spreads: Iterable[float],
    ) -> EstimateReport:
        estimates = {
            key: Estimate(round(min(max(m, 0.0), 5.0), _DIGITS), round(max(s, 0.0), _DIGITS))
            for key, m, s in zip(keys, means, spreads, strict=True)
        }
        return cls(as_of, policy, estimates)

    def of(self, model: str, complexity: str) -> Estimate | None:
        return self.estimates.get((model, complexity))

    def to_message(self) -> dict[str, Any]:
        nested: dict[str, dict[str, list[float]]] = {}
        for (model, complexity), e in sorted(self.estimates.items()):
            nested.setdefault(model, {})[complexity] = [e.mean, e.spread]
        return {
            "as_of": self.as_of.isoformat().replace("+00:00", "Z"),
            "policy": self.policy,
            "models": nested,
        }

    @classmethod
    def from_message(cls, data: object) -> EstimateReport:
        try:
            parsed = _Report.model_validate(data)
        except ValidationError as exc:
            raise InvalidEstimateReport(first_error("estimate report", exc)) from None
        return cls(
            parsed.as_of,
            parsed.policy,
            {
                (model, complexity.value): Estimate(mean, spread)
                for model, levels in parsed.models.items()
                for complexity, (mean, spread) in levels.items()
            },
        )
