"""Settings for the project API keys console.

Every knob comes from the environment through config/env.py's helpers, so the
same code runs on a laptop (`make run`), in CI and behind gunicorn, and a bad
value stops start-up with one line naming it.
"""

import re
from pathlib import Path

import dj_database_url

from apikeys.tokens import PREFIX_LENGTHS
from config.env import env_bool, env_int, env_list, env_str, fail, server_environment
from config.logfilters import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        # One line, no traceback: this is what an operator sees when a deploy
        # forgets the variable.
        fail("DJANGO_SECRET_KEY is not set. Set it to a long random value (or DJANGO_DEBUG=1 for local development).")
    SECRET_KEY = "insecure-development-only-secret-key-do-not-deploy"  # noqa: S105 - DEBUG only, by design

# Rotating the secret key: the new one in DJANGO_SECRET_KEY, the old ones here
# (comma-separated) until sessions and signed cookies made with them expired.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # django.contrib.admin with our site (config/admin.py: the log-in policy on its log-in page).
    "config.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "accounts",
    "projects",
    "apikeys",
    "serviceaccounts",
]

MIDDLEWARE = [
    "config.middleware.RequestLogMiddleware",
    # 400 for NUL and other control characters in the URL, headers and
    # cookies, before the session, a view or a query sees them.
    "config.inputguard.InputGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # /api/… and /healthz go from here straight to their view: everything
    # below is the console's (sessions, messages, language, CSRF, CSP nonces).
    "config.lean.LeanPathMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the django_language cookie (set_language), else
    # Accept-Language; it never reads the session, so the API stays sessionless.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a log-in unless its view says @login_not_required.
    "config.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.errorpages.ConsoleNotFoundMiddleware",  # our 404 page for a view's Http404, DEBUG or not
]

ROOT_URLCONF = "config.urls"
# Where the Django admin lives: one or more path segments, ending in "/". Not
# a secret (a log-in page is no secret), but a path of its own keeps the
# background noise of scanners for /admin/ off the log-in limits.
ADMIN_URL = env_str("DJANGO_ADMIN_URL", "admin/")
_TAKEN_PATHS = ("api/", "accounts/", "projects/", "i18n/", "static/")
if not re.fullmatch(r"(?:[A-Za-z0-9_-]+/)+", ADMIN_URL) or ADMIN_URL.startswith(_TAKEN_PATHS):
    fail(
        "DJANGO_ADMIN_URL must be path segments of letters, digits, - or _, each ending "
        f"in / (for example ops-admin/), and not under {', '.join(_TAKEN_PATHS)}."
    )
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.middleware.csp_nonce",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # Off: a `SELECT 1` round trip before every request's first query. The
        # key lookup and /healthz reconnect by themselves (config/db.py).
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Writers take the lock when their transaction begins, so concurrent
        # writers queue (up to `timeout` seconds) instead of failing with
        # "database is locked" halfway through, and what a transaction reads
        # is what it writes against (services rely on it, see _lock_project).
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_TIMEOUT_SECONDS", 20),
        # Readers never wait for a writer, nor a writer for readers.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        **DATABASES["default"].get("OPTIONS", {}),
    }
# PostgreSQL: the key lookup, run on every API call, as a prepared statement
# (config/db.py). Off (0) behind a pooler that cannot keep a session's prepared
# statements, such as PgBouncer before 1.21 in transaction pooling.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# Failure limits live in the cache. Each process's own memory would multiply
# every limit by workers × hosts, so a deployment (DEBUG off) needs Redis
# unless it says it is a single process.
ALLOW_PROCESS_LOCAL_CACHE = env_bool("ALLOW_PROCESS_LOCAL_CACHE", False)
if not REDIS_URL and not DEBUG and not ALLOW_PROCESS_LOCAL_CACHE:
    fail(
        "REDIS_URL is not set. Set it to the Redis every worker and host "
        "shares (redis://host:6379/0), or ALLOW_PROCESS_LOCAL_CACHE=1 if this deployment is one process."
    )
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "apikeys"),
            "TIMEOUT": 300,
            # A Redis that hangs must not hang requests: fail fast.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    # Answers has_perm(user, "projects.<codename>", project_or_project_object).
    "projects.backends.ProjectPermissionBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
# Failed log-ins allowed per username and per client address in the window.
LOGIN_FAILURE_LIMIT_PER_USERNAME = env_int("LOGIN_FAILURE_LIMIT_PER_USERNAME", 5)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 30)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
# Compiled catalogs (.mo) are committed: running needs no gettext.
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env_bool("DJANGO_PLAIN_STATIC", False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security headers. The production ones that need HTTPS are switched on by
# DJANGO_SECURE (default: on whenever DEBUG is off).
SECURE = env_bool("DJANGO_SECURE", not DEBUG)
# Every cookie we set (session, csrftoken, django_language) is HttpOnly, Secure
# under DJANGO_SECURE, and SameSite=Lax. No script reads a cookie: htmx sends
# the CSRF token from the page (base.html's hx-headers).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SECURE
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE and env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Joining the browsers' preload list is hard to undo: the operator opts in.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    # Only behind a proxy that sets this header itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# How many reverse proxies in front of us append to X-Forwarded-For (0: none,
# use the socket's address). Only set it when every request passes them.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Request body limits: forms are small; the API has its own, stricter one.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_BODY_BYTES", 256 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

# --- API keys -----------------------------------------------------------------
# The recognizable prefix of every key (secret scanners match on it).
API_KEY_PREFIX = env_str("API_KEY_PREFIX", "cpk")
_PREFIX_MIN, _PREFIX_MAX = PREFIX_LENGTHS  # the key format's own rule
if (
    not API_KEY_PREFIX.isascii()
    or not API_KEY_PREFIX.isalnum()
    or not _PREFIX_MIN <= len(API_KEY_PREFIX) <= _PREFIX_MAX
):
    fail(f"API_KEY_PREFIX must be {_PREFIX_MIN} to {_PREFIX_MAX} letters or digits.")
# Service accounts' credentials: the same format under their own prefix, which
# is what tells the two kinds apart (apikeys.tokens), so the two must differ.
SERVICE_ACCOUNT_KEY_PREFIX = env_str("SERVICE_ACCOUNT_KEY_PREFIX", "csa")
if (
    not SERVICE_ACCOUNT_KEY_PREFIX.isascii()
    or not SERVICE_ACCOUNT_KEY_PREFIX.isalnum()
    or not _PREFIX_MIN <= len(SERVICE_ACCOUNT_KEY_PREFIX) <= _PREFIX_MAX
):
    fail(f"SERVICE_ACCOUNT_KEY_PREFIX must be {_PREFIX_MIN} to {_PREFIX_MAX} letters or digits.")
if SERVICE_ACCOUNT_KEY_PREFIX == API_KEY_PREFIX:
    fail("SERVICE_ACCOUNT_KEY_PREFIX and API_KEY_PREFIX must differ: the prefix tells keys and credentials apart.")
# The organization a data migration puts existing projects into.
DEFAULT_ORGANIZATION_NAME = env_str("DEFAULT_ORGANIZATION_NAME", "Default organization")


def _parse_peppers(raw: str) -> dict[str, str]:
    """`API_KEY_PEPPERS="v2:<secret>,v1:<older secret>"`: the first is used for new keys."""
    peppers: dict[str, str] = {}
    for entry in (item.strip() for item in raw.split(",")):
        if not entry:
            continue
        version, sep, secret = entry.partition(":")
        if not sep or not version.strip() or len(secret.strip()) < 16:
            fail(
                "API_KEY_PEPPERS must be 'version:secret' entries "
                "separated by commas, each secret at least 16 characters."
            )
        peppers[version.strip()] = secret.strip()
    return peppers


API_KEY_PEPPERS = _parse_peppers(env_str("API_KEY_PEPPERS"))
if not API_KEY_PEPPERS:
    if not DEBUG:
        fail(
            "API_KEY_PEPPERS is not set. Set it to 'v1:<long random secret>' (or DJANGO_DEBUG=1 for local development)."
        )
    API_KEY_PEPPERS = {"dev": "insecure-development-only-pepper"}

# Lifetime policy: a cap in days (0 = none) and whether an expiry is required.
API_KEY_MAX_LIFETIME_DAYS = env_int("API_KEY_MAX_LIFETIME_DAYS", 0)
if not 0 <= API_KEY_MAX_LIFETIME_DAYS <= 36500:
    # Expiry dates are bounded to 100 years anyway (apikeys.schema.MAX_EXPIRY).
    fail("API_KEY_MAX_LIFETIME_DAYS must be between 0 (no cap) and 36500.")
API_KEY_REQUIRE_EXPIRY = env_bool("API_KEY_REQUIRE_EXPIRY", False)
# The seed's deprecation: show the notice, and (separately) switch creation off.
API_KEYS_DEPRECATED = env_bool("API_KEYS_DEPRECATED", False)
API_KEY_CREATION_DISABLED = env_bool("API_KEY_CREATION_DISABLED", False)
API_KEYS_PER_PAGE = 25
# Failed API authentications per client address and window before 429.
API_AUTH_FAILURE_LIMIT = env_int("API_AUTH_FAILURE_LIMIT", 20)
API_AUTH_FAILURE_WINDOW_SECONDS = env_int("API_AUTH_FAILURE_WINDOW_SECONDS", 60)

# --- Mail: expiry warnings (manage.py notify_expiring_keys) -------------------
# Django's email settings from the environment. `make run` (DEBUG) prints mail
# to the console; a deployment sends through SMTP unless told otherwise.
EMAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", EMAIL_BACKEND):
    fail("DJANGO_EMAIL_BACKEND must be a dotted path, e.g. django.core.mail.backends.smtp.EmailBackend.")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10  # seconds: a hung SMTP server must not hold the daily run for ever
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "API keys <apikeys@localhost>")
EMAIL_FILE_PATH = env_str("DJANGO_EMAIL_FILE_PATH") or None
# Where the console is reached, for the links in mail (no trailing slash).
CONSOLE_BASE_URL = env_str("CONSOLE_BASE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
if CONSOLE_BASE_URL and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", CONSOLE_BASE_URL):
    fail("CONSOLE_BASE_URL must be the console's address, e.g. https://console.example.com.")
# Days before a key stops working when its project's key managers are told.
EXPIRY_WARNING_DAYS = (7, 1)

# Every log record is redacted and escaped when it is created, whatever
# handler writes it (see config.logfilters.install_record_factory).
LOGGING_CONFIG = "config.logfilters.configure_logging"
# One definition, shared with gunicorn (config/gunicorn.conf.py).

LOGGING = logging_config(env_str("LOG_LEVEL", "INFO"))
# The admin error mail (and the DEBUG 500 page) lists the request and every
# frame's variables: redacted like the log.
DEFAULT_EXCEPTION_REPORTER = "config.errorreports.RedactingExceptionReporter"

# gunicorn's variables too (config/env.py): one line here rather than its traceback.
server_environment()
