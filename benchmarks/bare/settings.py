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

# As config/settings.py with DJANGO_SECURE and DJANGO_BEHIND_TLS_PROXY.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
