"""``routelearn flower``: refuses to listen beyond loopback without authentication; started with
basic auth, the real Flower answers 401 without the credentials and 200 with them."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from routelearn.harness import kill_group, settings_env
from routelearn.settings import Settings
from tests.services import ROOT, wait_for

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-c", "from routelearn.cli import main; main()", "flower"]


def flower_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in settings_env(settings).items() if not k.startswith("FLOWER_")}
    return env | extra


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_refuses_to_listen_beyond_loopback_without_basic_auth(settings: Settings) -> None:
    port = str(free_port())
    env = flower_env(settings, ROUTELEARN_FLOWER_ADDRESS="0.0.0.0", ROUTELEARN_FLOWER_PORT=port)
    out = run(env)
    assert out.returncode == 1
    assert f"refusing to start Flower on 0.0.0.0:{port} without authentication" in out.stderr
    assert "FLOWER_BASIC_AUTH=user:password" in out.stderr
    # (Every interface, "", and host names count as beyond loopback: tests/unit/test_exposure.py.)
    # Nor may Flower's own options reopen what the command closes.
    sneaky = run(flower_env(settings), "--address=127.0.0.1", "--", "--address=0.0.0.0")
    assert sneaky.returncode != 0 and "--address=0.0.0.0" in sneaky.stderr


def test_a_weak_password_is_refused_without_showing_it(settings: Settings) -> None:
    env = flower_env(settings, ROUTELEARN_FLOWER_ADDRESS="0.0.0.0", FLOWER_BASIC_AUTH="ops:pw-7")
    out = run(env)
    assert out.returncode == 1
    assert "FLOWER_BASIC_AUTH: the password of 'ops' (entry 1) is shorter than 8" in out.stderr
    assert "pw-7" not in out.stdout + out.stderr


@pytest.fixture
def flower(settings: Settings) -> Iterator[tuple[int, str, subprocess.Popen[bytes]]]:
    """Flower with basic auth on 127.0.0.1 and a free port; stopped at the end."""
    port = free_port()
    password = secrets.token_urlsafe(16)
    env = flower_env(settings, FLOWER_BASIC_AUTH=f"ops:{password}")
    proc = subprocess.Popen(
        [*CLI, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield port, password, proc
    finally:
        kill_group(proc)


@pytest.mark.timeout(90)
def test_flower_with_basic_auth_answers_401_without_credentials_and_200_with(
    flower: tuple[int, str, subprocess.Popen[bytes]],
) -> None:
    port, password, proc = flower
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "exited"
        try:
            return httpx.get(f"{base}/healthcheck", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answering, timeout=60, interval=0.3, message="Flower answering")
    assert httpx.get(f"{base}/", timeout=5).status_code == 401
    assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401
    assert httpx.get(f"{base}/", auth=("ops", "wrong-password"), timeout=5).status_code == 401
    assert httpx.get(f"{base}/", auth=("ops", password), timeout=5).status_code == 200
    assert httpx.get(f"{base}/api/workers", auth=("ops", password), timeout=5).status_code == 200

    # The password reached Flower through its environment, never its command line (which
    # anyone on the machine can read); the command exec'd celery flower in the same process.
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    assert b"flower" in cmdline and f"--port={port}".encode() in cmdline
    assert password.encode() not in b" ".join(cmdline)

    kill_group(proc)
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert f"Flower on http://127.0.0.1:{port}/, basic auth (ops)" in output
    assert password not in output
