"""One view, one middleware (SecurityMiddleware), the deployed security settings behind a TLS proxy, DEBUG off.

BARE_DATABASE_URL (ours, from `make bench`) is only for the second reference,
`/whoami-query`: the same view after one `SELECT 1`, over a persistent
connection as ours keeps it.
"""

import os

import dj_database_url

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = []
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
ROOT_URLCONF = "benchmarks.bare.urls"
WSGI_APPLICATION = "benchmarks.bare.wsgi.application"
DATABASES = (
    {"default": dj_database_url.parse(os.environ["BARE_DATABASE_URL"], conn_max_age=60)}
    if os.environ.get("BARE_DATABASE_URL")
    else {}
)
USE_TZ = True

from benchmarks.deployed_security import *  # noqa: E402, F403 - as ours, behind a TLS proxy
