"""The security settings of config/settings.py with DJANGO_SECURE and DJANGO_BEHIND_TLS_PROXY.

Both references (benchmarks/bare, benchmarks/peer) run with them, as ours does.
"""

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
