"""Test settings: the base settings with fast password hashing and no lockout noise."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = True
DEBUG = False

# A file-backed SQLite test database, so a real Celery worker process can share it with the tests.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-registry.sqlite3")}
