"""Score policies: pure functions from a (model, complexity)'s `Evidence` to a `ScoreDecision`.

``calibrated`` (the default) converges to a target set by the evidence; ``classic`` is seed
000's step rules, applied once per batch of new outcomes. docs/score-policies.md compares them.
"""

from __future__ import annotations

from routelearn.domain.policy.base import (
    MAX_SCORE,
    MIN_SCORE,
    Evidence,
    EvidenceBatch,
    Policy,
    ScoreDecision,
)
from routelearn.domain.policy.calibrated import Assessment, CalibratedParams, CalibratedPolicy
from routelearn.domain.policy.classic import ClassicParams, ClassicPolicy

DEFAULT_POLICY = "calibrated"
POLICY_NAMES = ("calibrated", "classic")


def make_policy(name: str, params: ClassicParams | CalibratedParams | None = None) -> Policy:
    """The policy called ``name``, with ``params`` (its own type) or its defaults."""
    if name == "classic" and (params is None or isinstance(params, ClassicParams)):
        return ClassicPolicy(params or ClassicParams())
    if name == "calibrated" and (params is None or isinstance(params, CalibratedParams)):
        return CalibratedPolicy(params or CalibratedParams())
    if name not in POLICY_NAMES:
        raise ValueError(f"unknown score policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
    raise ValueError(f"score policy {name!r} does not take {type(params).__name__}")


__all__ = [
    "DEFAULT_POLICY",
    "MAX_SCORE",
    "MIN_SCORE",
    "POLICY_NAMES",
    "Assessment",
    "CalibratedParams",
    "CalibratedPolicy",
    "ClassicParams",
    "ClassicPolicy",
    "Evidence",
    "EvidenceBatch",
    "Policy",
    "ScoreDecision",
    "make_policy",
]
