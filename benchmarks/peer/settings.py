"""The peer's settings: the strongest fair configuration for an API served by key.

One middleware (SecurityMiddleware) with the deployed security settings
behind a TLS proxy, DEBUG off, persistent connections as ours (CONN_MAX_AGE
60, no ping before reuse), only the JSON renderer and no DRF authentication
classes: HasAPIKey is the only credential check, as in an API served by key.
BENCH_PEER_DATABASE is a SQLite file or a postgresql://user@host:port/name URL.
"""

import os
from urllib.parse import urlsplit

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_api_key",
]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
ROOT_URLCONF = "benchmarks.peer.urls"
WSGI_APPLICATION = "benchmarks.peer.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_database = os.environ["BENCH_PEER_DATABASE"]
if _database.startswith("postgresql://"):
    _url = urlsplit(_database)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _url.path.lstrip("/"),
            "USER": _url.username or "",
            "HOST": _url.hostname or "",
            "PORT": str(_url.port or ""),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _database,
            # Ours uses the same pragmas (config/settings.py).
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"},
        }
    }
# As ours: connections kept, not pinged before reuse (config/settings.py).
DATABASES["default"].update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}

from benchmarks.deployed_security import *  # noqa: E402, F403 - as ours, behind a TLS proxy
