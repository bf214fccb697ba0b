"""Every metric the alerting rules (deploy/prometheus/alerts.yml) and the Grafana dashboards
(deploy/grafana/dashboards/*.json) name is one the code exports.

The exported names are read from the code at test time: the metric objects each exporting
module declares (their ``describe()``), and the metric families its collectors build when
scraped (read from the source: those collectors need the database or an application's router to
run). A metric's series names follow its type: ``_total`` for a counter, ``_bucket``, ``_sum``
and ``_count`` for a histogram. The expressions are parsed as PromQL, not searched as text.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))

# Where the metrics are declared: the workers' and the fleet's (a package), the API's, the
# instance side's collector.
EXPORTING = ("routelearn.observability", "routelearn.api.metrics", "routelearn.instance.metrics")

# Not ours, used by name: Prometheus' own, and Flower's (flower/events.py, Flower 2.x).
PROMETHEUS_OWN = {"up"}
FLOWER = {
    "flower_worker_online",
    "flower_worker_number_of_currently_executing_tasks",
    "flower_task_runtime_seconds_bucket",
}
# Named by a rule ahead of the code that will export it; once it is exported the entry must go
# (test_pending_metrics_are_not_exported_yet). None now.
PENDING: set[str] = set()

# Series names of each metric type, from the name of its family (no `_created`: multiprocess
# mode, which the workers and the API use, never exports it).
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}
FAMILY_TYPES = {
    "CounterMetricFamily": "counter",
    "GaugeMetricFamily": "gauge",
    "HistogramMetricFamily": "histogram",
    "SummaryMetricFamily": "summary",
    "InfoMetricFamily": "info",
    "StateSetMetricFamily": "stateset",
    "GaugeHistogramMetricFamily": "gaugehistogram",
    "UnknownMetricFamily": "unknown",
}

# Grafana's own variables become values PromQL accepts; a dashboard variable ($model) too.
_GRAFANA_RANGES = re.compile(r"\$\{?(__rate_interval|__interval|__range)\b\}?")
_GRAFANA_VARIABLE = re.compile(r"\$\{?\w+\}?")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.+),)?\s*\w+\s*\)\s*$")
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$")


def series_names(kind: str, name: str) -> set[str]:
    base = name.removesuffix("_total") if kind == "counter" else name
    return {base + suffix for suffix in SUFFIXES[kind]}


def _modules() -> Iterator[ModuleType]:
    for name in EXPORTING:
        module = importlib.import_module(name)
        yield module
        if hasattr(module, "__path__"):  # a package: each of its modules
            for info in pkgutil.iter_modules(module.__path__, f"{name}."):
                yield importlib.import_module(info.name)


def _built_families(module: ModuleType) -> Iterator[tuple[str, str]]:
    """(type, name) of every ``XMetricFamily("name", ...)`` the module's source builds."""
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if called not in FAMILY_TYPES:
            continue
        first = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg == "name":
                first = keyword.value
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield FAMILY_TYPES[called], first.value


def exported() -> set[str]:
    names: set[str] = set()
    for module in _modules():
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                for family in value.describe():
                    names |= series_names(family.type, family.name)
        for kind, name in _built_families(module):
            names |= series_names(kind, name)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects; Grafana's variables are substituted first."""
    expr = _GRAFANA_RANGES.sub("5m", expr)
    expr = _GRAFANA_VARIABLE.sub("x", expr)
    names: set[str] = set()
    _collect(promql_parser.parse(expr), names)
    return names


def _collect(node: Any, names: set[str]) -> None:
    if isinstance(node, promql_parser.VectorSelector):
        by_name = [m.value for m in node.matchers.matchers if m.name == "__name__"]
        assert node.name or by_name, f"a selector without a metric name: {node}"
        names.update([node.name] if node.name else by_name)
    elif isinstance(node, promql_parser.MatrixSelector):
        _collect(node.vector_selector, names)
    elif isinstance(node, promql_parser.BinaryExpr):
        _collect(node.lhs, names)
        _collect(node.rhs, names)
    elif isinstance(node, promql_parser.AggregateExpr):
        _collect(node.expr, names)
        if node.param is not None:
            _collect(node.param, names)
    elif isinstance(node, promql_parser.Call):
        for arg in node.args:
            _collect(arg, names)
    elif isinstance(
        node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)
    ):
        _collect(node.expr, names)
    else:
        assert isinstance(node, (promql_parser.NumberLiteral, promql_parser.StringLiteral)), node


def variable_metric_names(query: str) -> set[str]:
    """Metric names of a Grafana template variable's query (label_values, query_result)."""
    if (match := _LABEL_VALUES.match(query)) is not None:
        selector = match.group("selector")
        return metric_names(selector) if selector else set()
    if (match := _QUERY_RESULT.match(query)) is not None:
        return metric_names(match.group("expr"))
    pytest.fail(f"a template variable query this test cannot read: {query!r}")


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def used() -> dict[str, set[str]]:
    """Where each metric is named: metric -> {"alerts.yml: AlertName", "file.json: panel"}."""
    where: dict[str, set[str]] = {}

    def note(names: set[str], place: str) -> None:
        for name in names:
            where.setdefault(name, set()).add(place)

    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            note(metric_names(rule["expr"]), f"alerts.yml: {rule.get('alert', rule.get('record'))}")
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                note(metric_names(target["expr"]), f"{path.name}: {panel['title']}")
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable["query"]
                text = query["query"] if isinstance(query, dict) else query
                note(variable_metric_names(text), f"{path.name}: ${variable['name']}")
    return where


def test_every_metric_named_is_exported() -> None:
    known = exported() | PROMETHEUS_OWN | FLOWER | PENDING
    unknown = {name: sorted(places) for name, places in used().items() if name not in known}
    assert unknown == {}, f"named but not exported by the code: {unknown}"


def test_dashboards_and_rules_name_metrics() -> None:
    # Guards the parsing itself: a walk that found nothing would pass the test above.
    names = used()
    assert {"routelearn_events_accepted_total", "up", "model_router_model_health_score"} <= set(
        names
    )
    assert len(DASHBOARDS) == 3


def test_pending_metrics_are_not_exported_yet() -> None:
    landed = PENDING & exported()
    assert landed == set(), f"{landed} is exported now: remove it from PENDING in this test"


def test_flower_metrics_named_exist_in_flower() -> None:
    # In a process of its own: Flower's metrics join the default registry when made.
    code = (
        "from flower.events import PrometheusMetrics\n"
        "for metric in vars(PrometheusMetrics()).values():\n"
        "    for family in metric.describe():\n"
        "        print(family.type, family.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    flower: set[str] = set()
    for line in done.stdout.splitlines():
        kind, name = line.split()
        flower |= series_names(kind, name)
    assert flower >= FLOWER, f"Flower does not export {FLOWER - flower}"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum(rate(a_total[$__rate_interval])) / sum(rate(b_total[5m]))", {"a_total", "b_total"}),
        (
            'histogram_quantile(0.95, sum by (le) (rate(c_bucket{route!="/x"}[5m]))) > 3',
            {"c_bucket"},
        ),
        ('max by (model) (d{model=~"$model"}) or vector(0)', {"d"}),
        ('{__name__="e", job="j"} and on () time() - f > 300', {"e", "f"}),
    ],
)
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_series_names_follow_the_type() -> None:
    assert series_names("counter", "x_total") == series_names("counter", "x") == {"x_total"}
    assert series_names("histogram", "y_seconds") == {
        "y_seconds_bucket",
        "y_seconds_sum",
        "y_seconds_count",
    }
