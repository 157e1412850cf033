"""The suite runs in pytest-xdist workers: each collects the same ids and has its own cache keys and media."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import pytest_collection_modifyitems

ROOT = Path(__file__).resolve().parents[1]


def _test_settings(worker: str | None, var_dir: Path) -> dict:
    env = {name: value for name, value in os.environ.items() if name != "PYTEST_XDIST_WORKER"}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.test", "REGISTRY_VAR_DIR": str(var_dir)}
    if worker:
        env["PYTEST_XDIST_WORKER"] = worker
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps({'cache': settings.CACHES['default'].get('KEY_PREFIX', ''), "
        "'media': str(settings.MEDIA_ROOT)}))"
    )
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output)


@pytest.mark.parametrize("worker", ["gw0", "gw1"])
def test_each_worker_has_its_own_cache_keys_and_media_folder(worker, tmp_path):
    # One Redis serves every worker, and job ids restart at 1 in each worker's database.
    assert _test_settings(worker, tmp_path) == {"cache": worker, "media": str(tmp_path / "media" / worker)}


def test_a_run_without_workers_keeps_the_configured_cache_and_media_folder(tmp_path):
    assert _test_settings(None, tmp_path) == {"cache": "", "media": str(tmp_path / "media")}


def test_an_id_with_a_memory_address_stops_the_collection():
    stable = SimpleNamespace(nodeid="tests/test_x.py::test_y[patients]")
    unstable = SimpleNamespace(nodeid="tests/test_x.py::test_y[patients-<function _patients at 0x7f6f241c1800>]")
    pytest_collection_modifyitems(None, [stable])
    with pytest.raises(pytest.UsageError, match="memory address"):
        pytest_collection_modifyitems(None, [stable, unstable])
