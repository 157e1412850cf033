"""Test settings: the base settings with fast password hashing and no lockout noise."""

import os

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
DEBUG = False

# A file-backed SQLite test database, so a real Celery worker process can share it with the tests.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-registry.sqlite3")}

# pytest-xdist runs the suite in several processes (PYTEST_XDIST_WORKER = gw0, gw1, …) and pytest-django
# gives each its own test database; whatever else they would share gets the worker's name too. A real
# Celery worker started by a test inherits the variable, so it reads the same keys and folders.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER:
    # Redis is one server for every worker: without a prefix, job 1's import progress would be shared.
    CACHES["default"]["KEY_PREFIX"] = XDIST_WORKER
    MEDIA_ROOT = VAR_DIR / "media" / XDIST_WORKER
