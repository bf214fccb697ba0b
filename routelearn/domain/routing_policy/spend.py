"""Every budgeted workspace's spend, as the fan-out sends it to the instances so their routers
enforce budgets fleet-wide: USD per period (daily, weekly, monthly) as of one moment. A report
replaces the one held only when it is newer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routelearn.domain.messages import AwareDatetime, first_error
from routelearn.domain.routing_policy.config import Key
from routelearn.errors import RouteLearnError

MAX_WORKSPACES = 100_000

Usd = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class InvalidSpendReport(RouteLearnError, ValueError):
    pass


class _Periods(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    daily: Usd
    weekly: Usd
    monthly: Usd


class _Report(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    as_of: AwareDatetime
    workspaces: dict[Key, _Periods] = Field(max_length=MAX_WORKSPACES)


@dataclass(frozen=True, slots=True)
class SpendReport:
    as_of: datetime
    workspaces: Mapping[str, Mapping[str, float]]  # workspace -> period -> USD

    def to_message(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat().replace("+00:00", "Z"),
            "workspaces": {w: dict(p) for w, p in self.workspaces.items()},
        }

    @classmethod
    def from_message(cls, data: object) -> SpendReport:
        try:
            parsed = _Report.model_validate(data)
        except ValidationError as exc:
            raise InvalidSpendReport(first_error("spend report", exc)) from None
        return cls(parsed.as_of, {w: p.model_dump() for w, p in parsed.workspaces.items()})
