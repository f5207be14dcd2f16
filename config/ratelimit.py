"""Fixed-window failure counters in Django's cache (Redis when REDIS_URL is set).

The mechanism (record, current, reset), then the named policies built on it:
the log-in policy, which every log-in page uses (the console's and the
admin's), and the API's failed-authentication policy. Every function fails
open when the cache is down: it logs the error and counts nothing, so a cache
outage never locks everybody out.
"""

import hashlib
import logging
import math
import time
import unicodedata

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils.translation import ngettext

from config.http import client_ip

logger = logging.getLogger(__name__)


def record(key: str, window_seconds: int) -> int:
    """Count one more failure under `key`; returns the count in this window (0 if the cache is down)."""
    try:
        if isinstance(backend := caches["default"], RedisCache):
            return _record_in_redis(backend, key, window_seconds)
        cache.add(key, 0, timeout=window_seconds)
        try:
            return cache.incr(key)
        except ValueError:  # the window ended between add() and incr()
            cache.add(key, 1, timeout=window_seconds)
            return 1
    except Exception:  # noqa: BLE001 - any cache failure
        logger.exception("Rate limiter unavailable: failures are not being counted.")
        return 0


# Count one failure in a window: the counter is created with its expiry on
# the first failure, atomically (Redis runs a script as one command), so a
# window can neither end between the two nor leave a counter without expiry.
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _record_in_redis(backend: RedisCache, key: str, window_seconds: int) -> int:
    """Increment and start the window in one command: every refused API call and log-in pays for it.

    One EVAL: one request and one answer, less for redis-py to build and
    parse than a MULTI/SET/INCR/EXEC transaction (four answers). The key and
    the stored value are what Django's RedisCache uses (integers are stored
    unpickled), so `current()` and `reset()` read and clear the same counter.
    """
    redis_key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(redis_key, write=True)
    return int(client.eval(_COUNT_IN_WINDOW, 1, redis_key, window_seconds))


def current(*keys: str) -> dict[str, int]:
    """The counts under `keys` (missing keys are absent; empty if the cache is down)."""
    try:
        return cache.get_many(list(keys))
    except Exception:  # noqa: BLE001
        logger.exception("Rate limiter unavailable: failures are not being counted.")
        return {}


def reset(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:  # noqa: BLE001
        logger.exception("Rate limiter unavailable.")


# -- named policies ----------------------------------------------------------
# The limits themselves, next to the mechanism, so a reader sees them at once.


def _login_counters(request, username: str) -> list[tuple[str, int]]:
    # Per username in every spelling (a botnet guessing one account from many
    # addresses), and per client address (one address spraying many usernames).
    # Django's log-in form NFKC-normalizes the username before it checks the
    # password ("ａdmin" and "𝐚dmin" log in as "admin"): count them as one.
    spelling = unicodedata.normalize("NFKC", username).strip().casefold()
    digest = hashlib.sha256(spelling.encode("utf-8", "surrogatepass")).hexdigest()
    return [
        (f"login-failures:user:{digest}", settings.LOGIN_FAILURE_LIMIT_PER_USERNAME),
        (f"login-failures:ip:{client_ip(request) or 'unknown'}", settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS),
    ]


def login_allowed(request, username: str) -> bool:
    """The log-in policy, for every log-in page (console and admin): may the password be checked?

    False once the username or the client's address reached its limit of
    failures in the window: then the password must not even be checked, so
    guessing stops being useful.
    """
    counters = _login_counters(request, username)
    counts = current(*(key for key, _ in counters))
    return all(counts.get(key, 0) < limit for key, limit in counters)


def login_failed(request, username: str) -> None:
    for key, _ in _login_counters(request, username):
        record(key, settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_succeeded(request, username: str) -> None:
    """Clears the username's failures; the address's stay (its owner may be spraying)."""
    reset(_login_counters(request, username)[0][0])


def login_refused_message() -> str:
    minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
    return ngettext(
        "Too many failed log-in attempts. Try again in %(minutes)s minute.",
        "Too many failed log-in attempts. Try again in %(minutes)s minutes.",
        minutes,
    ) % {"minutes": minutes}


# The API's failed-authentication policy: API_AUTH_FAILURE_LIMIT failed
# authentications per client address and window, then 429 until the window
# ends. A client whose keys are right never touches the counter.


def _api_failure_key(ip: str | None) -> str:
    return f"apikeys:auth-failures:{ip or 'unknown'}"


# Addresses this process saw go over the shared limit, until when (monotonic
# seconds). A client over the limit is refused before its key is looked up or
# hashed, without asking the cache: valid clients keep paying nothing for the
# limiter, and a flood of guesses costs a dictionary lookup per request. Each
# process learns an address on its first refused failure, so the shared
# counter stays the authority; bounded, so many addresses cannot grow it.
_api_tripped: dict[str, float] = {}
MAX_TRIPPED_ADDRESSES = 10_000


def api_auth_refused(request) -> int | None:
    """Before any lookup: the Retry-After seconds if the client's address is over the limit, else None.

    Asks only this process's memory, never the cache; while no address is
    over the limit it does not even work out the client's address.
    """
    if not _api_tripped:
        return None
    ip = client_ip(request)
    until = _api_tripped.get(ip or "unknown")
    if until is None:
        return None
    left = until - time.monotonic()
    if left <= 0:
        _api_tripped.pop(ip or "unknown", None)
        return None
    return max(1, math.ceil(left))


def api_auth_failed(request) -> int | None:
    """Count a failed authentication; the Retry-After seconds if that put the address over the limit.

    If the cache is down nothing is counted (None): the request is still
    refused with 401, and valid keys never depend on the cache.
    """
    ip = client_ip(request)
    window = settings.API_AUTH_FAILURE_WINDOW_SECONDS
    if record(_api_failure_key(ip), window) > settings.API_AUTH_FAILURE_LIMIT:
        _remember_api_tripped(ip)
        return window
    return None


def _remember_api_tripped(ip: str | None) -> None:
    now = time.monotonic()
    if len(_api_tripped) >= MAX_TRIPPED_ADDRESSES:
        for address in [a for a, until in _api_tripped.items() if until <= now]:
            del _api_tripped[address]
        while len(_api_tripped) >= MAX_TRIPPED_ADDRESSES:
            del _api_tripped[next(iter(_api_tripped))]  # the oldest entry
    _api_tripped[ip or "unknown"] = now + settings.API_AUTH_FAILURE_WINDOW_SECONDS
