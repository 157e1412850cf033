"""Settings for every environment, read from the environment with embedded defaults.

With nothing set, the registry runs on a SQLite file and a broker that needs no server (kombu's
filesystem transport), so a fresh machine works after ``make run``. Setting ``DATABASE_URL``
(PostgreSQL, psycopg 3) and ``REDIS_URL`` moves the same code onto PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("REGISTRY_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# GENERAL
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-development-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-gb"
USE_I18N = True
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# DATABASES
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
DATABASE_URL = os.environ.get("DATABASE_URL", "")
#: SQLite, however it is chosen (embedded default, SQLITE_PATH or a sqlite:// DATABASE_URL): writers
#: take the lock when their transaction starts and wait up to 20 s for it, instead of failing at once
#: with "database is locked" halfway through a request. A wait that still times out answers 503.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "registry.sqlite3")),
        }
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
DATABASES["default"]["ATOMIC_REQUESTS"] = True

# APPS
# ------------------------------------------------------------------------------
DJANGO_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
]
THIRD_PARTY_APPS = [
    "rest_framework",  # API tokens: apps.accounts.ApiToken (hashed), not rest_framework.authtoken
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
]
LOCAL_APPS = [
    "apps.core",
    "apps.accounts",
    "apps.clinical",
    "apps.assessments",
    "apps.imports",
    "apps.validation",
    "apps.quality",
    "apps.exports",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

# AUTHENTICATION
# ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Failed-login lockout: https://django-axes.readthedocs.io/en/latest/4_configuration.html
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

# Sessions expire after inactivity.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", str(30 * 60)))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False

# MIDDLEWARE
# ------------------------------------------------------------------------------
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.RequireTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "apps.core.middleware.DatabaseBusyMiddleware",
]

# Content Security Policy: https://django-csp.readthedocs.io/en/latest/configuration.html
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
    }
}

# TEMPLATES & STATIC
# ------------------------------------------------------------------------------
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.roles",
                "apps.quality.context_processors.query_count",  # the number beside "Queries" in the nav bar
            ],
        },
    }
]
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# DJANGO REST FRAMEWORK
# ------------------------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.RegistryTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ICI Rechallenge Registry API",
    "DESCRIPTION": "Structured immune checkpoint inhibitor rechallenge episodes, site-scoped.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the sidecar package's static files: the docs work offline and under our CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One enum per shared vocabulary instead of one named after the first field that used it.
    "ENUM_NAME_OVERRIDES": {
        "IciAgentEnum": "apps.clinical.api_enums.ICI_AGENTS",
        "RegimenTypeEnum": "apps.clinical.api_enums.REGIMEN_TYPES",
        "StopReasonEnum": "apps.clinical.api_enums.STOP_REASONS",
        "EcogEnum": "apps.clinical.api_enums.ECOG",
        "DatePrecisionEnum": "apps.clinical.api_enums.DATE_PRECISION",
        "IraeHistoryEnum": "apps.clinical.api_enums.IRAE_HISTORY",
        "DecisionCategoryEnum": "apps.assessments.serializers.DECISION_CATEGORIES",
        "RecurrenceEventEnum": "apps.clinical.serializers.RECURRENCE_EVENTS",
        "ExportStatusEnum": "apps.exports.models.ExportRequest.Status",
        "ValidationRunStatusEnum": "apps.validation.models.ValidationRun.Status",
        # queries (the Data Resolution Workflow)
        "QueryStatusEnum": "apps.quality.models.DataQuery.Status",
        "QueryResolutionEnum": "apps.quality.models.DataQuery.Resolution",
        "QueryClosingResolutionEnum": "apps.quality.serializers.CLOSING_CHOICES",
    },
}

# CELERY
# ------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    _broker_dir = VAR_DIR / "celery-broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
#: The periodic jobs, declared once: ``manage.py setup_schedules`` writes them into django-celery-beat's
#: tables (idempotent), where coordinators can edit them in the admin. Crontab fields are in UTC.
PERIODIC_TASKS = [
    {
        "name": "Clear expired sessions",
        "task": "core.sessions_clear_expired",
        "crontab": {"minute": "17", "hour": "*/1"},
        "description": "Hourly: remove expired sign-in sessions.",
    },
    {
        "name": "Recover stalled imports",
        "task": "imports.recover_stalled_jobs",
        "crontab": {"minute": "*"},
        "description": "Every minute: start again the imports whose worker died or whose message was lost.",
    },
    {
        "name": "Nightly validation of the decision model",
        "task": "validation.nightly",
        "crontab": {"minute": "30", "hour": "2"},
        "description": "Nightly at 02:30 UTC: a validation run on a fresh data cut for every model version with "
        "locked assessments (each run by a worker; progress and results on the validation pages).",
    },
    {
        "name": "Export housekeeping",
        "task": "exports.housekeeping",
        "crontab": {"minute": "*/5"},
        "description": "Every five minutes: start again the export builds whose worker died or whose message was "
        "lost, and expire the bundles whose download link has run out (their files are deleted).",
    },
    {
        "name": "Recover stalled validation runs",
        "task": "validation.recover_stalled_runs",
        "crontab": {"minute": "*/5"},
        "description": "Every five minutes: start again the validation runs whose worker died or whose message was "
        "lost.",
    },
    {
        "name": "Nightly data-quality sweep",
        "task": "quality.sweep",
        "crontab": {"minute": "0", "hour": "2"},
        "description": "Nightly at 02:00 UTC: every data-quality rule over the whole registry; a query opens for "
        "each new problem and closes itself, with a note, once its problem is fixed.",
    },
    {
        "name": "Warm the data-quality dashboard",
        "task": "quality.warm_dashboard",
        "crontab": {"minute": "*/5"},
        "description": "Every five minutes: compute the dashboard's clinical figures of the sites a write changed, "
        "so coordinators open the dashboard from the cache.",
    },
]

# DATA QUALITY
# ------------------------------------------------------------------------------
#: Days without a follow-up after which an episode still on follow-up is overdue (rule follow_up_overdue).
from registry.quality import FOLLOW_UP_INTERVAL_DAYS  # noqa: E402

QUALITY_FOLLOW_UP_INTERVAL_DAYS = int(os.environ.get("QUALITY_FOLLOW_UP_INTERVAL_DAYS", FOLLOW_UP_INTERVAL_DAYS))

# EXPORTS
# ------------------------------------------------------------------------------
# De-identified exports (DESIGN §6): a coordinator approves each request unless this is off.
EXPORTS_REQUIRE_APPROVAL = env_bool("EXPORTS_REQUIRE_APPROVAL", True)
#: Where the built bundles are written (never served as static or media files).
EXPORTS_DIR = VAR_DIR / "exports"
#: Days a ready bundle can be downloaded; after that the link answers 410 and the file is deleted.
EXPORTS_LINK_DAYS = int(os.environ.get("EXPORTS_LINK_DAYS", "7"))
#: The pseudonym key (HMAC) is never stored in the database: REGISTRY_EXPORT_KEY (hex, at least 32 bytes)
#: from the environment, else a key generated into this file on first use.
REGISTRY_EXPORT_KEY = os.environ.get("REGISTRY_EXPORT_KEY", "")
EXPORTS_KEY_FILE = VAR_DIR / "export-pseudonym.key"

# CACHES
# ------------------------------------------------------------------------------
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# REGISTRY
# ------------------------------------------------------------------------------
#: Version of the decision model evaluated at enrollment (see registry/decision/specs/). Assessments
#: locked under an earlier version keep it: their re-assessments are evaluated under that version.
DECISION_MODEL_VERSION = os.environ.get("DECISION_MODEL_VERSION", "1.1")
#: While blinding is on, center staff cannot use the decision calculator or the evaluate API: entering a
#: locked episode's inputs there would show the category blinding hides. Coordinators and investigators can.
BLINDING_CLOSES_CALCULATOR = env_bool("BLINDING_CLOSES_CALCULATOR", True)
#: Coordinators and investigators must confirm a TOTP device before reaching the registry.
REQUIRE_OTP_FOR_REGISTRY_WIDE_ROLES = env_bool("REQUIRE_OTP_FOR_REGISTRY_WIDE_ROLES", True)

# LOGGING
# ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
