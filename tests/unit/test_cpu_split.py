"""The per-process CPU reading behind ``python -m routelearn.benchmarks.cpu_split``."""

from __future__ import annotations

import os
import time

from routelearn.benchmarks.cpu_split import cpu_seconds, postgres_pids


def test_cpu_seconds_counts_this_process_work() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    spent = cpu_seconds(os.getpid()) - before
    assert 0.1 <= spent <= 5.0, spent


def test_a_process_that_is_gone_has_no_cpu() -> None:
    assert cpu_seconds(2**22 + 12345) == 0.0  # above the kernel's largest pid


def test_the_local_postgresql_is_found() -> None:
    assert postgres_pids()  # the test machine runs PostgreSQL on 127.0.0.1
