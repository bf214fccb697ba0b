"""What ``ModelRouter.execute`` takes and gives: the caller's provider call and its results.

No provider SDK is a dependency: the caller passes a plain function
``call(entry, prompt, params) -> CallOutput`` (or just the output text) that talks to the model
``entry`` names, and raises ``ProviderError`` (or anything else) when it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from routelearn.instance.catalog.model import ModelEntry
from routelearn.instance.router.decision import Decision


@dataclass(frozen=True, slots=True)
class CallOutput:
    """What a provider call returns. Token counts are the provider's, when it reports them;
    the router estimates any it leaves out."""

    output: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


ProviderCall = Callable[[ModelEntry, str, Mapping[str, Any]], CallOutput | str]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call of ``execute``: its decision, whether it succeeded, and what it cost."""

    decision: Decision
    success: bool
    latency_ms: float
    cost: float | None  # USD; None when the model has no prices; 0 for a failed call
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    model: str
    provider: str
    output: str
    latency_ms: float  # of the call that succeeded (of the cache lookup for a hit)
    cost: float | None  # USD of the successful call; 0 for a cache hit; None if unpriced
    cache_hit: bool
    prompt_tokens: int  # 0 for a cache hit: no tokens were sent
    completion_tokens: int
    attempts: tuple[Attempt, ...]  # every call made, in order, the last one the success
    decision: Decision  # of the successful call (never published for a cache hit)
