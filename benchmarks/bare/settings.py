"""One view, one middleware (SecurityMiddleware), the deployed security settings behind a TLS proxy, DEBUG off."""

import os

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = []
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]
ROOT_URLCONF = "benchmarks.bare.urls"
WSGI_APPLICATION = "benchmarks.bare.wsgi.application"
DATABASES = {}
USE_TZ = True

from benchmarks.deployed_security import *  # noqa: E402, F403 - as ours, behind a TLS proxy
