"""The same application, but keys verified with Argon2 as passwords are.

For the benchmark only: shows what a slow hash would cost on every API call.
Django's Argon2PasswordHasher (the one used for user passwords) hashes the
benchmark key once at start-up and verifies it on every request.
"""

import os

from django.contrib.auth.hashers import Argon2PasswordHasher

from apikeys import tokens
from config.wsgi import application  # noqa: F401  (sets Django up)

_hasher = Argon2PasswordHasher()
_encoded = _hasher.encode(os.environ["BENCH_ARGON2_SECRET"], _hasher.salt())


def _argon2_matches(raw: str, pepper_version: str, stored_hash: str) -> bool:
    return _hasher.verify(raw, _encoded)


tokens.matches = _argon2_matches
