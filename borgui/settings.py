"""borgui settings: everything that varies between installs comes from the environment.

See README.md ("Configuration") for the variables. Keys are never generated here:
``python -m borgui.keys`` (run by ``make run`` and the image's entrypoint) creates them.
"""

from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from borgui.env import env_bool, env_int, env_list, env_path, env_secret, env_str
from borgui.keys import ENCRYPTION_KEY_FILE, SECRET_KEY_FILE

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("BORGUI_DATA_DIR", BASE_DIR / "data")

_HOW_TO_CREATE_KEYS = (
    "run `python -m borgui.keys` (or `make run`) to create the key files in "
    f"{DATA_DIR}, or set the variable (or NAME_FILE) yourself"
)

SECRET_KEY = env_secret("SECRET_KEY", DATA_DIR / SECRET_KEY_FILE)
if not SECRET_KEY:
    raise ImproperlyConfigured(f"SECRET_KEY is not set: {_HOW_TO_CREATE_KEYS}")

# Comma-separated Fernet keys: the first encrypts, all decrypt (key rotation).
_encryption_keys = env_secret("BORGUI_ENCRYPTION_KEY", DATA_DIR / ENCRYPTION_KEY_FILE)
if not _encryption_keys:
    raise ImproperlyConfigured(f"BORGUI_ENCRYPTION_KEY is not set: {_HOW_TO_CREATE_KEYS}")
BORGUI_ENCRYPTION_KEYS = [key.strip() for key in _encryption_keys.split(",") if key.strip()]
for _key in BORGUI_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "BORGUI_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded bytes): "
            "create one with `python -m borgui.keys` or Fernet.generate_key()"
        ) from None

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Behind a TLS-terminating reverse proxy: secure cookies, redirect, trust X-Forwarded-Proto.
if env_bool("BORGUI_HTTPS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("BORGUI_HSTS_SECONDS", 0, minimum=0)
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig",  # admin modules load with the URLs, not in commands
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "borgui",
    "common",
    "repositories",
    "hooks",
    "packages_admin",
    "archives",
    "notifications",
    "maintenance",
    "configuration",
    "system",
]

MIDDLEWARE = [
    "borgui.middleware.HealthCheckMiddleware",
    "borgui.middleware.FormCharsetMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "borgui.urls"
WSGI_APPLICATION = "borgui.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database_config() -> dict:
    url = env_str("DATABASE_URL")
    if url:
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except ValueError as e:
            raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {e}") from None
        if config["ENGINE"] == "django.db.backends.postgresql":
            # As SQLite's synchronous=NORMAL below: a commit returns before its WAL flush (a
            # power cut may lose the last fraction of a second, never consistency), saving
            # an fsync per hook record. The few writes that must survive a power cut say so
            # (repositories/services/containers.py synced_commits). A URL's own options win.
            options = config.setdefault("OPTIONS", {})
            options["options"] = f"-c synchronous_commit=off {options.get('options', '')}".strip()
        return config
    # SQLite: WAL lets the web process read while the worker writes; IMMEDIATE takes the
    # write lock at BEGIN, so two writers queue on busy_timeout instead of failing with
    # "database is locked" when a read transaction tries to upgrade. synchronous=NORMAL
    # syncs the WAL at checkpoints, not at every commit (SQLite's recommended setting with WAL).
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "borgui.sqlite3",
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps when collectstatic has not run (tests, a fresh clone).
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "admin:login"

# Backups, heartbeats and leases (repositories.services).
BORG_BINARY = env_str("BORGUI_BORG_BINARY", "borg")
BORGUI_HEARTBEAT_SECONDS = 1.0
BORGUI_STALE_AFTER_SECONDS = env_int("BORGUI_STALE_AFTER_SECONDS", 30, minimum=5)
BORGUI_LEASE_WAIT_SECONDS = env_int("BORGUI_LEASE_WAIT_SECONDS", 6 * 3600, minimum=1)
BORGUI_PENDING_EXPIRY_SECONDS = 24 * 3600
# Archives (docs/archives.md): the index cap, and where the admin may restore to.
BORGUI_INDEX_CACHE_MB = env_int("BORGUI_INDEX_CACHE_MB", 2048, minimum=1)
BORGUI_RESTORE_ROOTS = [Path(root) for root in env_list("BORGUI_RESTORE_ROOTS", [str(BASE_DIR / "restore")])]
# Restore drills (docs/maintenance.md): where their scratch directories are made ("": the system's temp dir).
BORGUI_DRILL_DIR = env_str("BORGUI_DRILL_DIR", "")
# Docker API calls (status checks, the built-in stop) never hang a page or a run.
BORGUI_DOCKER_TIMEOUT = env_int("BORGUI_DOCKER_TIMEOUT", 5, minimum=1)
BORGUI_CONTAINER_STOP_TIMEOUT = env_int("BORGUI_CONTAINER_STOP_TIMEOUT", 60, minimum=1)
# Legacy inline repository hooks have no timeout of their own.
BORGUI_INLINE_HOOK_TIMEOUT = env_int("BORGUI_INLINE_HOOK_TIMEOUT", 300, minimum=1)

# Notifications and monitoring (notifications, docs/notifications.md).
BORGUI_BASE_URL = env_str("BORGUI_BASE_URL", "").rstrip("/")
BORGUI_METRICS_TOKEN = env_secret("BORGUI_METRICS_TOKEN") or ""
# A failed notification is tried again after this many seconds, then twice as long.
BORGUI_NOTIFY_RETRY_SECONDS = env_int("BORGUI_NOTIFY_RETRY_SECONDS", 10, minimum=0)

Q_CLUSTER = {
    "name": "borgui",
    "orm": "default",
    # The ORM broker, also keeping each cluster's heartbeat in the database (run_backup
    # delivers its own notifications when no worker is alive).
    "broker_class": "notifications.broker.HeartbeatORM",
    "workers": env_int("BORGUI_WORKERS", 2, minimum=1),
    # Script tests and installs are bounded by `timeout`, below `retry` so the broker never
    # hands a running task to a second worker. Backups are queued without a timeout and
    # claim their run row first, so even a backup longer than `retry` runs once.
    "timeout": 1800,
    "retry": 1900,
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Tasks",
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"},
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
    },
}
