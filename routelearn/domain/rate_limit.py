"""Rate limits per API key: a fixed window counter, and what to tell the caller.

The count itself lives in Redis (shared by every API process); this module only decides, from
the count after this request, whether it may pass and which headers say so (RateLimit-Limit,
RateLimit-Remaining, RateLimit-Reset as in the IETF draft, and Retry-After on a 429).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the window ends

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


def window_start(now: float, window_seconds: int) -> int:
    """The window a request at ``now`` (epoch seconds) counts in: every process agrees on it."""
    return int(now // window_seconds) * window_seconds


def judge(count: int, limit: int, now: float, window_seconds: int) -> Verdict:
    """``count``: requests in this window including this one."""
    reset = max(1, math.ceil(window_start(now, window_seconds) + window_seconds - now))
    return Verdict(count <= limit, limit, max(0, limit - count), reset)


def limit_for(role: str, default: int, overrides: Mapping[str, int]) -> int:
    return overrides.get(role, default)
