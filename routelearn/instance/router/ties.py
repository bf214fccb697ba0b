"""Breaking near-ties of the best score by ``prefer``: speed or cost.

Among the models that qualify within ``tie_margin`` of the best qualifying score, ``speed``
takes the lowest ``typical_latency_ms`` and ``cost`` the lowest price: the estimate for the
request's size when it is known, else the price of 1k tokens each way. A model without the
figure comes last; equal figures go to the higher score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from routelearn.domain.event import Complexity, Prefer
from routelearn.instance.catalog.model import ModelEntry
from routelearn.instance.router.request import Request, Tokens

Ranked = list[tuple[ModelEntry, float]]
# Bound on the kept near-ties; the keys are few (complexities x capability sets).
_MAX_KEPT_TIES = 256


@dataclass(frozen=True, slots=True)
class _NearTies:
    """The capable models within the margin of the best, for one (complexity, capabilities)."""

    start: int  # index of the best in the ranking
    length: int  # length of the ranking
    stretch: Ranked  # the ranking from the best to the first model below the margin
    by_speed: list[ModelEntry]  # by typical_latency_ms, then rank
    by_price: list[ModelEntry]  # by input + output price per 1k, then rank
    priced: list[tuple[ModelEntry, float, float]]  # rank order: (entry, input, output per 1k)


class TieBreaker:
    def __init__(self, tie_margin: float) -> None:
        if tie_margin < 0:
            raise ValueError(f"tie_margin must be >= 0, got {tie_margin!r}")
        self.tie_margin = tie_margin
        self._ties: dict[tuple[Complexity, frozenset[str]], _NearTies] = {}

    def choose(
        self,
        request: Request,
        ranked: Ranked,
        best: int,
        qualifies: Callable[[ModelEntry], bool] | None,
        tokens: Tokens | None,
    ) -> ModelEntry:
        """The model within ``tie_margin`` of the best score that ``prefer`` likes most; equal
        figures go to the higher score. ``ranked[best]`` qualifies (the caller found it so)."""
        ties = self._near_ties(request, ranked, best)
        chosen = ranked[best][0]
        if request.prefer is Prefer.SPEED or tokens is None:
            order = ties.by_speed if request.prefer is Prefer.SPEED else ties.by_price
            for entry in order:
                if qualifies is None or entry is chosen or qualifies(entry):
                    return entry
            return chosen
        # prefer=cost for a known size: the order depends on the size, so scan the prices
        # (plain floats); a model is checked only if it would be cheaper.
        prompt, completion = tokens.prompt, tokens.completion
        chosen_key = math.inf
        for entry, input_price, output_price in ties.priced:
            key = prompt * input_price + completion * output_price
            if key < chosen_key and (qualifies is None or entry is chosen or qualifies(entry)):
                chosen, chosen_key = entry, key
        return chosen

    def _near_ties(self, request: Request, ranked: Ranked, best: int) -> _NearTies:
        """The capable models within the margin of ``ranked[best]``, kept per (complexity,
        capabilities) while that stretch of the ranking is unchanged.

        With many near-ties (say 200 models all still at ``default_score``) sorting them on
        every route would be most of its time; checking that the stretch is unchanged is a
        list comparison, a C loop of identity checks.
        """
        key = (request.complexity, request.required)
        kept = self._ties.get(key)
        if (
            kept is not None
            and kept.start == best
            and kept.length == len(ranked)
            and ranked[best : best + len(kept.stretch)] == kept.stretch
        ):
            return kept
        floor = ranked[best][1] - self.tie_margin
        required = request.required
        capable: list[ModelEntry] = []
        stop = len(ranked)
        for index in range(best, len(ranked)):
            entry, score = ranked[index]
            if score < floor:
                stop = index + 1  # the first model below the margin is part of the stretch
                break
            if not required or required <= entry.capabilities:
                capable.append(entry)
        # sorted() is stable, so equal figures keep the ranking's order (higher score first).
        ties = _NearTies(
            start=best,
            length=len(ranked),
            stretch=ranked[best:stop],
            by_speed=sorted(capable, key=lambda e: _preference(e, True, 1, 1)),
            by_price=sorted(capable, key=lambda e: _preference(e, False, 1, 1)),
            priced=[
                (e, e.prices.input_per_1k, e.prices.output_per_1k) for e in capable if e.prices
            ],
        )
        if len(self._ties) >= _MAX_KEPT_TIES:
            self._ties.clear()  # a rare reset beats bookkeeping on the hot path
        self._ties[key] = ties
        return ties


def _preference(entry: ModelEntry, speed: bool, prompt: int, completion: int) -> float:
    """Lower is preferred; a model without the figure comes last. Without a request size the
    caller passes 1 and 1: the price of 1k tokens each way."""
    if speed:
        latency = entry.typical_latency_ms
        return math.inf if latency is None else latency
    prices = entry.prices
    if prices is None:
        return math.inf
    return prompt * prices.input_per_1k + completion * prices.output_per_1k
