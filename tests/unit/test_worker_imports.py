"""What a worker loads: the whole app, every task module, and no numpy (memory); and the
repository's entry points (``celery -A workers.app``, ``tasks``, ``beat_schedule``)."""

from __future__ import annotations

import subprocess
import sys

from tests.services import ROOT


def _run(code: str) -> subprocess.CompletedProcess[str]:
    # A fresh interpreter: this test process has numpy and every module loaded by other tests.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_the_worker_app_imports_every_task_without_numpy() -> None:
    result = _run(
        "import sys, routelearn.service.worker as w, routelearn.service.app as a; "
        "assert all(m in sys.modules for m in a.TASK_MODULES), 'a task module missing'; "
        "loaded = [m for m in sys.modules if m == 'numpy' or m.startswith('numpy.')]; "
        "assert not loaded, loaded[:3]"
    )
    assert result.returncode == 0, result.stderr


def test_the_repository_entry_points_are_the_packaged_app_and_tasks() -> None:
    result = _run(
        "import workers.app, tasks, beat_schedule, routelearn.service.worker as w; "
        "assert workers.app.app is w.app; "
        "names = {t.name for t in (getattr(tasks, n) for n in tasks.__all__)}; "
        "assert names <= set(w.app.tasks), names - set(w.app.tasks); "
        "ours = {n for n in w.app.tasks if n.startswith('routelearn.')}; "
        "assert names == ours, ours ^ names; "
        "assert set(beat_schedule.schedule(w.app.settings)) == set(w.app.conf.beat_schedule)"
    )
    assert result.returncode == 0, result.stderr
