"""The learner's latest estimates (`routelearn.domain.estimates`) as an instance holds them:
kept current by the subscriber, read by the router's exploration. A report replaces the one held
only when newer; a reader takes the reference without a lock."""

from __future__ import annotations

import threading

from routelearn.domain.estimates import Estimate, EstimateReport


class EstimateBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report: EstimateReport | None = None

    @property
    def report(self) -> EstimateReport | None:
        """None until the first report arrives (or under a policy without estimates)."""
        return self._report

    def apply(self, report: EstimateReport) -> bool:
        """Hold ``report`` if it is newer than the one held."""
        with self._lock:
            if self._report is not None and report.as_of <= self._report.as_of:
                return False
            self._report = report
            return True

    def of(self, model: str, complexity: str) -> Estimate | None:
        report = self._report
        return None if report is None else report.of(model, complexity)
