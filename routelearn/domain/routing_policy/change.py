"""One piece of routing policy as the fan-out sends it to every instance: a rule, an agent's
preferences or a workspace's config, at a version, or its removal.

Versions come from one sequence, so an instance applies a change only when it is newer than the
one it holds for that piece, whatever order they arrive in, across a removal and a re-creation
too. Pure: pydantic only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from routelearn.domain.messages import AwareDatetime, first_error
from routelearn.domain.routing_policy.config import (
    AgentPreferences,
    Key,
    RoutingRule,
    WorkspaceConfig,
)
from routelearn.errors import RouteLearnError

EVENT_TYPE = "routing_policy_update"


class PolicyKind(StrEnum):
    RULE = "rule"
    AGENT = "agent"  # keyed by agentType
    WORKSPACE = "workspace"  # keyed by workspaceId


Piece = RoutingRule | AgentPreferences | WorkspaceConfig
_PARSERS: dict[PolicyKind, type[Piece]] = {
    PolicyKind.RULE: RoutingRule,
    PolicyKind.AGENT: AgentPreferences,
    PolicyKind.WORKSPACE: WorkspaceConfig,
}


class InvalidPolicyChange(RouteLearnError, ValueError):
    """A policy change message is malformed; the message names the field."""


@dataclass(frozen=True, slots=True)
class PolicyChange:
    kind: PolicyKind
    key: str
    version: int
    piece: Piece | None  # None: removed
    timestamp: datetime

    def to_message(self) -> dict[str, Any]:
        return {
            "event_type": EVENT_TYPE,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "kind": self.kind.value,
            "key": self.key,
            "version": self.version,
            "document": None if self.piece is None else self.piece.document(),
        }

    @classmethod
    def from_message(cls, data: object) -> PolicyChange:
        """Validate one change off the network; unknown keys of the envelope are ignored (a
        newer producer may add some), the document is validated as the API validates it."""
        if not isinstance(data, Mapping):
            raise InvalidPolicyChange(f"policy change must be an object, got {data!r:.200}")
        try:
            parsed = _ChangeMessage.model_validate(data)
            document = parsed.document
            piece = None if document is None else _PARSERS[parsed.kind].model_validate(document)
        except ValidationError as exc:
            raise InvalidPolicyChange(first_error("policy change", exc)) from None
        return cls(parsed.kind, parsed.key, parsed.version, piece, parsed.timestamp)


class _ChangeMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: str = EVENT_TYPE
    timestamp: AwareDatetime
    kind: PolicyKind
    key: Key
    version: int = Field(ge=1, strict=True)
    document: dict[str, Any] | None

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, value: str) -> str:
        if value != EVENT_TYPE:
            raise ValueError(f"must be {EVENT_TYPE!r}")
        return value
