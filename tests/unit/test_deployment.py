"""docker-compose.yml and the Procfile, held to what no Docker engine here can show.

The Compose specification's own schema (check-jsonschema ships it) checks the file's shape; the
rest checks what a schema cannot: each Procfile process has a compose service running the same
command on the same queues, every stop grace period outlasts the hard time limits of the tasks
its container runs, and every ROUTELEARN_* variable the code reads is documented in README.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from routelearn.messaging.broker import TASK_ROUTES
from routelearn.service.app import create_app
from routelearn.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CELERY_SERVICES = ("worker-ingest", "worker")
CHECK_JSONSCHEMA = (sys.executable, "-m", "check_jsonschema")


def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def command_words(command: str | list[str]) -> list[str]:
    """The words of a command, with a ``sh -c`` wrapper's script split too."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(words[2])
    return words


def option(words: list[str], name: str) -> str | None:
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(f"{name}="):
            return word.split("=", 1)[1]
    return None


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match and duration, f"unexpected duration {duration!r}"
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [*CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_procfile_process_runs_the_same_in_compose() -> None:
    services = compose()
    processes = procfile()
    for name, command in processes.items():
        if name == "metrics":  # in compose each worker container serves its own metrics
            for service in CELERY_SERVICES:
                assert "routelearn metrics serve" in " ".join(
                    command_words(services[service]["command"])
                )
            continue
        assert name in services, f"Procfile's {name} has no compose service"
        local = command_words(command)
        there = command_words(services[name]["command"])
        if "celery" in local:
            program = local[local.index("celery") :]
            in_compose = there[there.index("celery") :]
            for flag in ("-A", "--queues", "--concurrency", "--hostname"):
                assert option(program, flag) == option(in_compose, flag), (name, flag)
            assert program[3] == in_compose[3], name  # worker | beat
        else:
            # routelearn serve / routelearn flower: the same subcommand
            assert local[local.index("routelearn") + 1] == there[there.index("routelearn") + 1]


def _limits_by_queue() -> dict[str, float]:
    app = create_app(Settings())
    annotations = app.conf.task_annotations or {}
    limits: dict[str, float] = {}
    for task, route in TASK_ROUTES.items():
        limit = (
            annotations.get(task, {}).get("time_limit")
            or app.tasks[task].time_limit
            or app.conf.task_time_limit
        )
        queue = route["queue"]
        limits[queue] = max(limits.get(queue, 0.0), float(limit))
    return limits


def test_every_grace_period_outlasts_the_time_limits_it_covers() -> None:
    services = compose()
    limits = _limits_by_queue()
    for name in CELERY_SERVICES:
        queues = option(command_words(services[name]["command"]), "--queues")
        assert queues, name
        longest = max(limits[q] for q in queues.split(","))
        grace = seconds(services[name].get("stop_grace_period", "10s"))
        assert grace > longest, f"{name}: {grace} s to stop, but a task may run {longest} s"
        assert services[name].get("stop_signal", "SIGTERM") == "SIGTERM"  # warm shutdown


def test_every_setting_the_code_reads_is_documented_in_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    names = {f"ROUTELEARN_{field.upper()}" for field in Settings.model_fields}
    code = "\n".join(p.read_text() for p in (ROOT / "routelearn").rglob("*.py"))
    names |= {n for n in re.findall(r"ROUTELEARN_[A-Z0-9_]*[A-Z0-9]", code) if not n.endswith("_")}
    prefixes = {"ROUTELEARN_ALERT_WEBHOOK", "ROUTELEARN_API_KEY_CACHE"}  # in messages only
    missing = sorted(n for n in names - prefixes if f"`{n}`" not in readme)
    assert not missing, f"not in README: {missing}"


def test_published_ports_stay_on_loopback() -> None:
    for name, service in compose().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_constraints_pin_every_dependency_of_the_image() -> None:
    # The Docker image installs the base and service dependencies at constraints.txt's versions.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["service"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_normal(name)] = version
    for requirement in wanted:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        assert _normal(name) in pins, f"{name} has no pin in constraints.txt (run scripts/lock)"
    assert (ROOT / ".dockerignore").read_text().count("!constraints.txt") == 1


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
