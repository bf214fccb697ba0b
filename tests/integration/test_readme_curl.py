"""README's curl examples for the HTTP API run as written against a real server, in order."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from routelearn.domain.api_keys import Role
from routelearn.settings import Settings
from routelearn.store import api_keys
from tests.integration.test_api import serving
from tests.services import ON_AMQP, ROOT

pytestmark = [pytest.mark.integration]


def readme_commands() -> list[str]:
    """The shell block of README's "The HTTP API" section that holds curl commands, one
    command per entry (continuation lines joined)."""
    section = Path(ROOT / "README.md").read_text().split("## The HTTP API", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    block = next(b for b in blocks if "curl" in b and "/api/events" in b)
    commands: list[str] = []
    for line in block.replace("\\\n", " ").splitlines():
        if line.startswith("curl "):
            commands.append(line)
        elif line.strip():  # a quoted body going on over several lines
            commands[-1] += "\n" + line
    return commands


def test_readme_curl_examples_work_as_written(
    settings: Settings, engine: Engine, clean: None
) -> None:
    assert shutil.which("curl"), "curl is needed (apt-get install -y curl)"
    commands = readme_commands()
    assert len(commands) >= 9 and all(c.startswith("curl ") for c in commands), commands
    token = api_keys.create(engine, "readme", Role.ADMIN)[1]
    update = {"api_rate_limit": 0} if ON_AMQP else {}
    with serving(settings.model_copy(update=update)) as base:
        env = {**os.environ, "ROUTELEARN_KEY": token}
        for command in commands:
            # The test's server, a failing status made an error, a short long-poll.
            run = command.replace("http://127.0.0.1:3003", base).replace("wait=30", "wait=1")
            run = run.replace("curl -s", "curl -s --fail-with-body", 1)
            done = subprocess.run(
                ["bash", "-c", run], env=env, capture_output=True, text=True, timeout=30
            )
            assert done.returncode == 0, f"{command}\n-> {done.stdout} {done.stderr}"
            if "/api/route" in command:
                assert '"modelId":"haiku"' in done.stdout, done.stdout
