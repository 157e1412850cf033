"""The quality tasks a service enqueues by name are registered in every process, not only in workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_process_that_only_set_django_up_knows_the_dashboard_warming_task():
    """A web process imports no task module itself: the app registers its tasks when it is ready, so a write
    there can schedule ``quality.warm_dashboard`` by name (``dashboard_warm_soon``)."""
    script = "from celery import current_app; print(sorted(n for n in current_app.tasks if n.startswith('quality.')))"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['quality.sweep', 'quality.warm_dashboard']"
