"""The complexity of a request that does not say: a heuristic on its size (pure)."""

from __future__ import annotations

import pytest

from routelearn.domain.complexity import (
    COMPLEX_MAX_TOKENS,
    COMPLEX_PROMPT_TOKENS,
    SIMPLE_MAX_TOKENS,
    SIMPLE_PROMPT_TOKENS,
    estimate_complexity,
)
from routelearn.domain.event import Complexity


@pytest.mark.parametrize(
    ("prompt_tokens", "max_tokens", "expected"),
    [
        (14, 100, Complexity.SIMPLE),  # a short question, a short answer
        (SIMPLE_PROMPT_TOKENS - 1, SIMPLE_MAX_TOKENS - 1, Complexity.SIMPLE),
        (SIMPLE_PROMPT_TOKENS, 100, Complexity.MEDIUM),
        (14, SIMPLE_MAX_TOKENS, Complexity.MEDIUM),  # seed 004's example: maxTokens 500
        (14, None, Complexity.MEDIUM),  # an unbounded answer is not known to be short
        (0, None, Complexity.MEDIUM),
        (COMPLEX_PROMPT_TOKENS - 1, COMPLEX_MAX_TOKENS - 1, Complexity.MEDIUM),
        (COMPLEX_PROMPT_TOKENS, None, Complexity.COMPLEX),  # much to read
        (10, COMPLEX_MAX_TOKENS, Complexity.COMPLEX),  # much to write
    ],
)
def test_size_decides(prompt_tokens: int, max_tokens: int | None, expected: Complexity) -> None:
    assert estimate_complexity(prompt_tokens, max_tokens) is expected


def test_negative_counts_are_a_mistake() -> None:
    with pytest.raises(ValueError, match="-1"):
        estimate_complexity(-1, None)
    with pytest.raises(ValueError, match="-5"):
        estimate_complexity(10, -5)
