"""The learner's latest estimate report, kept in ``learner_estimates`` (one row) for the API's
central router: the instances get it with every tick's fan-out, the API reads it here."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import Connection, text

from routelearn.domain.estimates import EstimateReport, InvalidEstimateReport

log = logging.getLogger(__name__)

_WRITE = """
INSERT INTO learner_estimates (id, as_of, report) VALUES (1, %s, %s::jsonb)
ON CONFLICT (id) DO UPDATE SET as_of = EXCLUDED.as_of, report = EXCLUDED.report
"""


def write(conn: Connection, report: EstimateReport) -> None:
    conn.exec_driver_sql(_WRITE, (report.as_of, json.dumps(report.to_message())))


def as_of(conn: Connection) -> datetime | None:
    """When the report held was made (None: none yet): cheap, for a reader that holds one."""
    value: datetime | None = conn.execute(
        text("SELECT as_of FROM learner_estimates WHERE id = 1")
    ).scalar_one_or_none()
    return value


def read(conn: Connection) -> EstimateReport | None:
    """The report held (None: none, or one that does not validate: logged, so that a snapshot
    or an API refresh goes on without estimates rather than failing)."""
    raw = conn.execute(
        text("SELECT report FROM learner_estimates WHERE id = 1")
    ).scalar_one_or_none()
    if raw is None:
        return None
    try:
        return EstimateReport.from_message(raw)
    except InvalidEstimateReport as exc:
        log.error("stored estimate report skipped: %s", exc)
        return None
