"""A request's complexity when its caller does not say: a heuristic on its size (pure).

``POST /api/route`` takes ``complexity`` from the request when given. Otherwise it is estimated
from what the request says of its own size, the only signal the service has without calling a
model: the prompt's tokens and the answer's budget (``parameters.maxTokens``). A long prompt
(much context to read) or a long answer asked for (much to write) is a complex task; a short
prompt asking for a short answer is a simple one:

- ``complex`` if the prompt has at least ``COMPLEX_PROMPT_TOKENS`` tokens, or ``maxTokens`` is
  at least ``COMPLEX_MAX_TOKENS``;
- ``simple`` if the prompt has fewer than ``SIMPLE_PROMPT_TOKENS`` tokens and ``maxTokens`` is
  given and below ``SIMPLE_MAX_TOKENS`` (an unbounded answer is not known to be short);
- ``medium`` otherwise.

It reads no words: a short prompt may still ask for hard reasoning, and a caller who knows
better sends ``complexity``. The thresholds are round figures of typical chat use, not learned.
"""

from __future__ import annotations

from routelearn.domain.event import Complexity

SIMPLE_PROMPT_TOKENS = 200
SIMPLE_MAX_TOKENS = 500
COMPLEX_PROMPT_TOKENS = 2000
COMPLEX_MAX_TOKENS = 2000


def estimate_complexity(prompt_tokens: int, max_tokens: int | None) -> Complexity:
    """The complexity of a request of ``prompt_tokens`` whose answer may take ``max_tokens``
    (None: not bounded by the caller); see the module doc."""
    if prompt_tokens < 0 or (max_tokens is not None and max_tokens < 0):
        raise ValueError(f"token counts must be >= 0, got {prompt_tokens!r}, {max_tokens!r}")
    if prompt_tokens >= COMPLEX_PROMPT_TOKENS or (
        max_tokens is not None and max_tokens >= COMPLEX_MAX_TOKENS
    ):
        return Complexity.COMPLEX
    if (
        prompt_tokens < SIMPLE_PROMPT_TOKENS
        and max_tokens is not None
        and max_tokens < SIMPLE_MAX_TOKENS
    ):
        return Complexity.SIMPLE
    return Complexity.MEDIUM
