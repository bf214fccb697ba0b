"""The shipped dashboard SQL files, checked as text (no database): headers and the seeds' bugs.

Each check is also run against the seeds' original text, so it is known to catch the bug.
"""

from __future__ import annotations

import re

import pytest

from routelearn.errors import UnknownQueryError
from routelearn.stats import dashboard

EXPECTED = {
    # seed 001, "Monitoring" / "CentralCloud Dashboard Metrics"
    "models_per_instance",
    "success_rates",
    "response_time_trends",
    # seed 000, "Monitoring Dashboard Queries"
    "all_models_success_rates",
    "models_per_instance_24h",
    "recent_learning_updates",
    # seed 000, "Troubleshooting" / "Learning Not Improving Scores"
    "models_under_100_uses",
    "success_rates_over_50_uses",
}

# The seeds' originals, as they appear in seeds 001 and 000.
SEED_SUCCESS_RATES = """
SELECT model, complexity_level,
  ROUND(success_count::float / NULLIF(usage_count, 0) * 100, 2) as success_rate,
  usage_count
FROM model_routing_metrics
ORDER BY success_rate DESC;
"""
SEED_RESPONSE_TIMES = """
SELECT model, complexity_level,
  ROUND(AVG(avg_response_time)::numeric, 0) as avg_ms,
  MAX(avg_response_time) as max_ms
FROM model_routing_metrics
WHERE avg_response_time IS NOT NULL
GROUP BY model, complexity_level
ORDER BY avg_ms DESC;
"""
SEED_PER_INSTANCE = """
SELECT instance_id, model, COUNT(*) as usage_count
FROM routing_records
WHERE timestamp > NOW() - INTERVAL '1 day'
GROUP BY instance_id, model
ORDER BY usage_count DESC;
"""

ALL = sorted(EXPECTED)


def header(sql: str) -> list[str]:
    """The leading ``--`` comment lines."""
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line)
    return lines


def body(sql: str) -> str:
    """The SQL without comments and with string literals emptied, lower-cased."""
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return re.sub(r"'(?:[^']|'')*'", "''", without_comments).lower()


def round_arguments(sql: str) -> list[str]:
    """The first argument of every two-argument ROUND(...) call in ``sql``'s body."""
    text = body(sql)
    found = []
    for match in re.finditer(r"\bround\s*\(", text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            char = text[i]
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    break  # one argument: round(x) exists for double precision
            elif char == "," and depth == 1:
                found.append(text[start:i].strip())
                break
    return found


def uncast_rounds(sql: str) -> list[str]:
    """ROUND(x, n) calls whose x is not cast to numeric (round(double, int) does not exist)."""
    return [arg for arg in round_arguments(sql) if not re.search(r"::\s*numeric$", arg)]


def tables(sql: str) -> set[str]:
    return set(re.findall(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)", body(sql)))


def names_model_on_metrics(sql: str) -> bool:
    """True when a query on model_routing_metrics names a column ``model`` (it is model_name)."""
    return "model_routing_metrics" in tables(sql) and re.search(r"\bmodel\b", body(sql)) is not None


def counts_events(sql: str) -> bool:
    """True when a query on routing_records counts rows (events) rather than decisions."""
    count_star = re.search(r"\bcount\s*\(\s*\*\s*\)", body(sql))
    return "routing_records" in tables(sql) and count_star is not None


def test_the_checks_catch_the_seeds_bugs() -> None:
    assert uncast_rounds(SEED_SUCCESS_RATES) == [
        "success_count::float / nullif(usage_count, 0) * 100"
    ]
    assert uncast_rounds(SEED_RESPONSE_TIMES) == []  # the seed cast this one
    assert names_model_on_metrics(SEED_SUCCESS_RATES)
    assert names_model_on_metrics(SEED_RESPONSE_TIMES)
    assert not names_model_on_metrics(SEED_PER_INSTANCE)  # routing_records has ``model``
    assert counts_events(SEED_PER_INSTANCE)


def test_every_seed_query_is_shipped_and_nothing_else() -> None:
    assert set(dashboard.names()) == EXPECTED


@pytest.mark.parametrize("name", ALL)
def test_header_names_title_source_and_corrections(name: str) -> None:
    query = dashboard.load(name)
    lines = header(query.sql)
    assert lines, f"{name}.sql does not start with a -- comment block"
    assert lines[0].startswith("-- ") and query.title == lines[0][3:].strip() != ""
    text = "\n".join(lines)
    assert re.search(r"^-- Source: seed 00[01] \([0-9a-f]{16}\), section \"", text, re.M), text
    assert re.search(r"^-- Corrected:\n--   - \S", text, re.M), text


@pytest.mark.parametrize("name", ALL)
def test_round_is_applied_to_numeric_only(name: str) -> None:
    assert uncast_rounds(dashboard.load(name).sql) == []


@pytest.mark.parametrize("name", ALL)
def test_model_routing_metrics_is_read_by_model_name(name: str) -> None:
    assert not names_model_on_metrics(dashboard.load(name).sql)


@pytest.mark.parametrize("name", ALL)
def test_routing_records_are_counted_by_decision(name: str) -> None:
    sql = dashboard.load(name).sql
    assert not counts_events(sql)
    if "routing_records" in tables(sql):
        assert "count(distinct decision_key)" in body(sql)


@pytest.mark.parametrize("name", ALL)
def test_one_statement_ending_in_a_semicolon(name: str) -> None:
    text = body(dashboard.load(name).sql).strip()
    assert text.endswith(";") and text.count(";") == 1


def test_unknown_name_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownQueryError) as info:
        dashboard.load("nope")
    message = str(info.value)
    assert "'nope'" in message
    assert all(name in message for name in EXPECTED)


def test_a_path_is_not_a_name() -> None:
    with pytest.raises(UnknownQueryError):
        dashboard.load("../dashboard/success_rates")


def test_title_is_the_first_comment_line() -> None:
    assert dashboard.title_of("-- Success rates\n-- more\nSELECT 1;") == "Success rates"
    assert dashboard.title_of("SELECT 1;") == ""
