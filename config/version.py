"""The code version stamped on every locked assessment: the project version and, when known, its commit.

Validation reports compare predictions made by different code, so each assessment records which code
made it. Computed once per process (``git`` is asked once, never per request); a deployment without a
``.git`` folder passes the commit in ``REGISTRY_GIT_COMMIT``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


@functools.cache
def code_version() -> str:
    """``<project version>+g<commit>`` (``.dirty`` when the work tree differs from it), or the version alone."""
    version = project_version()
    commit = os.environ.get("REGISTRY_GIT_COMMIT", "").strip() or _git_commit()
    return f"{version}+g{commit}" if commit else version


def project_version() -> str:
    """The ``[project] version`` of ``pyproject.toml``."""
    try:
        with (BASE_DIR / "pyproject.toml").open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _git(*args: str) -> subprocess.CompletedProcess | None:
    git = shutil.which("git")
    if git is None or not (BASE_DIR / ".git").exists():
        return None
    try:
        # Fixed arguments, no shell, no user input.
        return subprocess.run([git, *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=5, check=False)  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return None


def _git_commit() -> str:
    head = _git("rev-parse", "--short=12", "HEAD")
    if head is None or head.returncode != 0:
        return ""
    dirty = _git("diff", "--quiet", "HEAD", "--")
    return head.stdout.strip() + (".dirty" if dirty is not None and dirty.returncode == 1 else "")
