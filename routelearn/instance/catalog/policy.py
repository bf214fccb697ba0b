"""The routing policy an instance holds: the central service's rules, agent preferences and
workspace configs, kept current by the subscriber, read by the router on every request.

Copy-on-write like the catalog: a writer builds a new ``PolicyState`` under a lock and swaps the
reference; a reader takes ``state`` without a lock. Each piece keeps the version it was sent at,
so a change applies only when newer, whatever order changes arrive in; a removal is remembered
as a version too, so an older write arriving late does not bring the piece back. It also holds
the fleet's latest report of what each budgeted workspace has spent (``spend_of``), which the
router's budgets read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from routelearn.domain.routing_policy.change import Piece, PolicyChange, PolicyKind
from routelearn.domain.routing_policy.config import AgentPreferences, RoutingRule, WorkspaceConfig
from routelearn.domain.routing_policy.engine import PolicyState
from routelearn.domain.routing_policy.quality import Quality, QualityReport
from routelearn.domain.routing_policy.spend import SpendReport


class PolicyBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (kind, key) -> (version, piece or None once removed)
        self._pieces: dict[tuple[PolicyKind, str], tuple[int, Piece | None]] = {}
        self._state = PolicyState()
        self._spend: SpendReport | None = None
        self._quality: QualityReport | None = None

    @property
    def state(self) -> PolicyState:
        return self._state

    def version(self, kind: PolicyKind, key: str) -> int:
        """The version held for a piece (0: none received)."""
        held = self._pieces.get((kind, key))
        return 0 if held is None else held[0]

    def apply(self, changes: Iterable[PolicyChange]) -> int:
        """Apply each change newer than the version held; returns how many applied."""
        applied = 0
        with self._lock:
            for change in changes:
                slot = (change.kind, change.key)
                held = self._pieces.get(slot)
                if held is not None and change.version <= held[0]:
                    continue
                self._pieces[slot] = (change.version, change.piece)
                applied += 1
            if applied:
                self._state = self._build()
        return applied

    def apply_spend(self, report: SpendReport) -> bool:
        """Hold this report of the fleet's spend if it is newer than the one held."""
        with self._lock:
            if self._spend is not None and report.as_of <= self._spend.as_of:
                return False
            self._spend = report
            return True

    def spend_of(self, workspace_id: str) -> Mapping[str, float] | None:
        """A workspace's spend per period as of the last report (None: not reported)."""
        report = self._spend
        return None if report is None else report.workspaces.get(workspace_id)

    def apply_quality(self, report: QualityReport) -> bool:
        """Hold this report of the fleet's quality if it is newer than the one held."""
        with self._lock:
            if self._quality is not None and report.as_of <= self._quality.as_of:
                return False
            self._quality = report
            return True

    def quality_of(self, model: str, complexity: str) -> Quality | None:
        report = self._quality
        return None if report is None else report.of(model, complexity)

    def replace(self, changes: Iterable[PolicyChange]) -> None:
        """Hold exactly these pieces (the central service, whose database is the truth)."""
        with self._lock:
            self._pieces = {(c.kind, c.key): (c.version, c.piece) for c in changes}
            self._state = self._build()

    def _build(self) -> PolicyState:
        rules: list[RoutingRule] = []
        agents: dict[str, AgentPreferences] = {}
        workspaces: dict[str, WorkspaceConfig] = {}
        for (_, key), (_, piece) in self._pieces.items():
            if isinstance(piece, RoutingRule):
                rules.append(piece)
            elif isinstance(piece, AgentPreferences):
                agents[key] = piece
            elif isinstance(piece, WorkspaceConfig):
                workspaces[key] = piece
        return PolicyState.of(rules, agents, workspaces)
