"""Exponential back-off with jitter, for a worker that keeps meeting database errors."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (attempt >= 1): base * 2^(n-1), capped.

    Half the delay is jittered so that workers knocked out together do not return together.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    ceiling = min(cap, base * 2 ** min(attempt - 1, 32))
    return float(ceiling / 2 + (rng or random).uniform(0, ceiling / 2))
