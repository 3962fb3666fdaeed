"""borgui settings: everything that varies between installs comes from the environment.

See README.md ("Configuration") for the variables. Keys are never generated here:
``python -m borgui.keys`` (run by ``make run`` and the image's entrypoint) creates them.
"""

from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

from borgui.env import env_bool, env_choice, env_header, env_int, env_list, env_networks, env_path, env_secret, env_str
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
# Web hardening (docs/security.md, "Web hardening"): nosniff and the referrer policy come from
# SecurityMiddleware; the Content-Security-Policy from django-csp. Scripts only from our own
# static files (no inline script, no eval); inline style attributes stay allowed (the admin's
# templates use them), nothing is framed, forms post only to us.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:"],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
    },
}

INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig",  # admin modules load with the URLs, not in commands
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Before django_q: its `qcluster` command is borgui's (borgui/management/commands/qcluster.py).
    "borgui",
    "django_q",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "common",
    "repositories",
    "hooks",
    "packages_admin",
    "configuration",
    "system",
    "archives",
    "notifications",
    "maintenance",
    "dashboard",  # its admin module runs after the others': it replaces the admin's index
    "accounts",  # last: its post_migrate hook hands out the permissions of the apps above
]

MIDDLEWARE = [
    "borgui.middleware.HealthCheckMiddleware",
    "borgui.middleware.FormCharsetMiddleware",
    "borgui.middleware.RequestBodyLimitMiddleware",
    "borgui.middleware.NulCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): second factor given
    "accounts.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out sign-in with the lockout page
]

ROOT_URLCONF = "borgui.urls"
WSGI_APPLICATION = "borgui.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own overrides of the admin's templates (django.contrib.admin comes
        # first in INSTALLED_APPS, so an app's admin/base_site.html would never be found).
        "DIRS": [BASE_DIR / "borgui" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.sign_in",
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
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600, minimum=60)

# --- sign-in (docs/users.md) ---------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LockoutBackend",  # first: refuses a locked-out user name or address (django-axes)
    "django.contrib.auth.backends.ModelBackend",
]
# Reverse proxies whose X-Forwarded-For (and remote-user header) are believed; nobody else's.
BORGUI_TRUSTED_PROXIES = env_networks("BORGUI_TRUSTED_PROXIES")
# Failed sign-ins are counted per user name and, separately, per client address.
AXES_FAILURE_LIMIT = env_int("BORGUI_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
_lockout_minutes = env_int("BORGUI_LOGIN_LOCKOUT_MINUTES", 30, minimum=0)
AXES_COOLOFF_TIME = _lockout_minutes / 60 if _lockout_minutes else None  # hours; None: until unlocked
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "accounts.proxies.client_address"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
ROLE_NAMES = ("viewer", "operator", "admin")  # the groups of accounts/roles.py

# Two-factor (TOTP) for password sign-ins; required for everyone with BORGUI_REQUIRE_2FA.
BORGUI_REQUIRE_2FA = env_bool("BORGUI_REQUIRE_2FA", False)
OTP_TOTP_ISSUER = "borgui"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a user's TOTP key again

# OpenID Connect (mozilla-django-oidc) when BORGUI_OIDC_CLIENT_ID is set.
BORGUI_OIDC_CLIENT_ID = env_str("BORGUI_OIDC_CLIENT_ID").strip()
BORGUI_OIDC_ENABLED = bool(BORGUI_OIDC_CLIENT_ID)
BORGUI_OIDC_DISCOVERY_URL = env_str("BORGUI_OIDC_DISCOVERY_URL").strip()
BORGUI_OIDC_GROUPS_CLAIM = env_str("BORGUI_OIDC_GROUPS_CLAIM").strip() or "groups"
BORGUI_OIDC_PROVIDER_NAME = env_str("BORGUI_OIDC_PROVIDER_NAME").strip() or "single sign-on"
OIDC_TIMEOUT = 10
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?oidc=failed"
if BORGUI_OIDC_ENABLED:
    OIDC_RP_CLIENT_ID = BORGUI_OIDC_CLIENT_ID
    OIDC_RP_CLIENT_SECRET = env_secret("BORGUI_OIDC_CLIENT_SECRET")
    if not OIDC_RP_CLIENT_SECRET:
        raise ImproperlyConfigured("BORGUI_OIDC_CLIENT_ID is set: BORGUI_OIDC_CLIENT_SECRET (or _FILE) is needed too")
    OIDC_RP_SIGN_ALGO = env_str("BORGUI_OIDC_SIGN_ALGO").strip() or "RS256"
    OIDC_RP_SCOPES = env_str("BORGUI_OIDC_SCOPES").strip() or "openid email profile groups"
    OIDC_USE_PKCE = True
    if not BORGUI_OIDC_DISCOVERY_URL:  # else accounts/oidc.py reads them from the discovery document
        OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("BORGUI_OIDC_AUTHORIZATION_ENDPOINT").strip()
        OIDC_OP_TOKEN_ENDPOINT = env_str("BORGUI_OIDC_TOKEN_ENDPOINT").strip()
        OIDC_OP_USER_ENDPOINT = env_str("BORGUI_OIDC_USERINFO_ENDPOINT").strip()
        OIDC_OP_JWKS_ENDPOINT = env_str("BORGUI_OIDC_JWKS_ENDPOINT").strip()
        _missing = [
            name
            for name, value in [
                ("BORGUI_OIDC_AUTHORIZATION_ENDPOINT", OIDC_OP_AUTHORIZATION_ENDPOINT),
                ("BORGUI_OIDC_TOKEN_ENDPOINT", OIDC_OP_TOKEN_ENDPOINT),
                ("BORGUI_OIDC_USERINFO_ENDPOINT", OIDC_OP_USER_ENDPOINT),
                ("BORGUI_OIDC_JWKS_ENDPOINT", OIDC_OP_JWKS_ENDPOINT),
            ]
            if not value
        ]
        if _missing:
            raise ImproperlyConfigured(
                f"BORGUI_OIDC_CLIENT_ID is set: give BORGUI_OIDC_DISCOVERY_URL, or {', '.join(_missing)}"
            )
    AUTHENTICATION_BACKENDS.append("accounts.backends.RoleMappingOIDCBackend")

# Sign-in by an authenticating reverse proxy (Authelia, Authentik, oauth2-proxy).
BORGUI_REMOTE_USER_HEADER = env_header("BORGUI_REMOTE_USER_HEADER")
BORGUI_REMOTE_USER_GROUP = env_choice("BORGUI_REMOTE_USER_GROUP", "viewer", ROLE_NAMES)
if BORGUI_REMOTE_USER_HEADER:
    if not BORGUI_TRUSTED_PROXIES:
        raise ImproperlyConfigured(
            "BORGUI_REMOTE_USER_HEADER needs BORGUI_TRUSTED_PROXIES: the header is believed only from those proxies"
        )
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "accounts.middleware.TrustedRemoteUserMiddleware",
    )
    AUTHENTICATION_BACKENDS.append("accounts.backends.ProxyRemoteUserBackend")

# Backups, heartbeats and leases (repositories.services).
BORG_BINARY = env_str("BORGUI_BORG_BINARY", "borg")
BORGUI_HEARTBEAT_SECONDS = 1.0
BORGUI_STALE_AFTER_SECONDS = env_int("BORGUI_STALE_AFTER_SECONDS", 30, minimum=5)
# How long a stopping worker waits for its jobs to cancel before it kills them (docs/stopping.md).
BORGUI_STOP_GRACE_SECONDS = env_int("BORGUI_STOP_GRACE_SECONDS", 25, minimum=1)
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
# The Docker socket on source hosts, for plans whose sources are there (docs/remote-sources.md).
BORGUI_SOURCE_DOCKER_SOCKET = env_str("BORGUI_SOURCE_DOCKER_SOCKET", "/var/run/docker.sock")
# Legacy inline repository hooks have no timeout of their own.
BORGUI_INLINE_HOOK_TIMEOUT = env_int("BORGUI_INLINE_HOOK_TIMEOUT", 300, minimum=1)

# Notifications and monitoring (notifications, docs/notifications.md).
BORGUI_BASE_URL = env_str("BORGUI_BASE_URL", "").rstrip("/")
BORGUI_METRICS_TOKEN = env_secret("BORGUI_METRICS_TOKEN") or ""
# A failed notification is tried again after this many seconds, then twice as long.
BORGUI_NOTIFY_RETRY_SECONDS = env_int("BORGUI_NOTIFY_RETRY_SECONDS", 10, minimum=0)

_TASK_TIMEOUT = env_int("BORGUI_TASK_TIMEOUT_SECONDS", 1800, minimum=10)
Q_CLUSTER = {
    "name": "borgui",
    "orm": "default",
    # The ORM broker, also keeping each cluster's heartbeat in the database (run_backup
    # delivers its own notifications when no worker is alive).
    "broker_class": "notifications.broker.HeartbeatORM",
    "workers": env_int("BORGUI_WORKERS", 2, minimum=1),
    # Script tests and installs are bounded by `timeout`, below `retry` so the broker never
    # hands a running task to a second worker. Backups are queued without a timeout and
    # claim their run row first, so even a backup longer than `retry` runs once. A task a
    # killed worker had taken but not finished comes back after `retry` (docs/scaling.md).
    "timeout": _TASK_TIMEOUT,
    "retry": _TASK_TIMEOUT + max(10, _TASK_TIMEOUT // 18),
    # A cluster takes at most two tasks beyond those its workers run (one queued, one in its
    # pusher's hand): tasks do not wait on a machine whose workers are busy (backups waiting
    # for a lease) while another is idle, and a killed machine strands few (docs/scaling.md).
    "queue_limit": 1,
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
