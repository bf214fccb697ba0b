"""What an ingestion worker loads: the whole app, every task module, and no numpy (memory)."""

from __future__ import annotations

import subprocess
import sys


def test_the_worker_app_imports_every_task_without_numpy() -> None:
    # A fresh interpreter: this test process has numpy loaded by other tests.
    code = (
        "import sys, workers.app as w; "
        "assert all(m in sys.modules for m in w.TASK_MODULES), 'a task module missing'; "
        "loaded = [m for m in sys.modules if m == 'numpy' or m.startswith('numpy.')]; "
        "assert not loaded, loaded[:3]"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
