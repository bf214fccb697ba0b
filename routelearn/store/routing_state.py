"""What the API's central router reads to route: the registry's models and the learned scores,
and a fingerprint that tells, in one cheap query, whether either changed since the last read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from routelearn.domain.registry import RegistryChange
from routelearn.domain.routing_policy.change import PolicyChange
from routelearn.store import policy
from routelearn.store.registry import current_changes
from routelearn.store.scores import current_scores

# Every registry write takes a new version from one sequence, and every score change raises its
# row's version: a change of either table changes these four numbers (a removed model lowers
# the count; a model removed and another registered raise the newest version). Every policy
# write adds a row to its outbox: the count moves even when an older id commits after a newer
# one was read (max(id) alone would miss it).
_FINGERPRINT = text(
    "SELECT (SELECT count(*) FROM models), (SELECT coalesce(max(version), 0) FROM models),"
    " (SELECT count(*) FROM model_scores), (SELECT coalesce(sum(version), 0) FROM model_scores),"
    " (SELECT count(*) FROM policy_changes)"
)


@dataclass(frozen=True, slots=True)
class RoutingState:
    registry: list[RegistryChange]  # every registered model at its current version
    scores: dict[str, dict[str, dict[str, Any]]]  # model -> complexity -> {score, version}
    policy: list[PolicyChange]  # every rule, agent's preferences, workspace's config


def fingerprint(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        row = conn.execute(_FINGERPRINT).one()
    return tuple(int(value) for value in row)


def read(engine: Engine) -> RoutingState:
    # One snapshot of the three tables (read committed would give each query its own).
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        return RoutingState(
            current_changes(conn), current_scores(conn), policy.current_changes(conn)
        )
