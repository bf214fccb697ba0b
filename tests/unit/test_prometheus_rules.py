"""deploy/prometheus as Prometheus reads it: promtool checks the configuration and the rules, and
runs the rules' unit tests (deploy/prometheus/tests/*.yml); then what promtool does not check:
every alert has a severity, a runbook text, a firing and a quiet test case, and a README entry.

promtool is Debian's ``prometheus`` package; without it these tests fail (never skip).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
SEVERITIES = {"warning", "critical", "{{ $labels.severity }}"}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: `apt-get install prometheus` (Debian's package; "
            ".ci/run installs it when missing)",
            pytrace=False,
        )
    return path


def _run(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [_promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def _alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize("targets", ["targets", "targets.compose"])
def test_config_is_valid(tmp_path: Path, targets: str) -> None:
    # promtool insists the scrape key's file exists; the real one is never in the repository.
    config = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, config, ignore=shutil.ignore_patterns("api-key"))
    (config / "secrets" / "api-key").write_text("rl_000000000000_placeholder\n")
    if targets != "targets":
        shutil.rmtree(config / "targets")
        shutil.copytree(PROMETHEUS / targets, config / "targets")
    _run("check", "config", "prometheus.yml", cwd=config)


def test_rules_are_valid() -> None:
    _run("check", "rules", "alerts.yml", cwd=PROMETHEUS)


def test_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "no rule tests in deploy/prometheus/tests"
    _run("test", "rules", *(str(p.relative_to(PROMETHEUS)) for p in RULE_TESTS), cwd=PROMETHEUS)


def test_compose_targets_cover_the_same_files() -> None:
    local = {p.name for p in (PROMETHEUS / "targets").glob("*.yml")}
    compose = {p.name for p in (PROMETHEUS / "targets.compose").glob("*.yml")}
    assert local == compose


def test_every_alert_has_severity_and_runbook() -> None:
    alerts = _alerts()
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names)), f"alert names repeat: {names}"
    for alert in alerts:
        name = alert["alert"]
        assert alert.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = alert.get("annotations", {})
        assert annotations.get("summary", "").strip(), f"{name}: no summary"
        assert len(annotations.get("description", "")) > 80, f"{name}: no runbook description"


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names - firing == set(), "alerts without a test case where they fire"
    assert names - quiet == set(), "alerts without a test case where they stay quiet"
    assert (firing | quiet) - names == set(), "test cases for alerts that do not exist"


def test_readme_explains_every_alert() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    missing = sorted(a["alert"] for a in _alerts() if f"`{a['alert']}`" not in readme)
    assert missing == [], f"deploy/README.md does not explain {missing}"
