"""Fixed-window failure counters in Django's cache (Redis when REDIS_URL is set).

Shared by the log-in limiter and the API's failed-authentication limiter.
Every function fails open when the cache is down: it logs the error and
counts nothing, so a cache outage never locks everybody out.
"""

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def record(key: str, window_seconds: int) -> int:
    """Count one more failure under `key`; returns the count in this window (0 if the cache is down)."""
    try:
        cache.add(key, 0, timeout=window_seconds)
        try:
            return cache.incr(key)
        except ValueError:  # the window ended between add() and incr()
            cache.add(key, 1, timeout=window_seconds)
            return 1
    except Exception:  # noqa: BLE001 - any cache failure
        logger.exception("Rate limiter unavailable: failures are not being counted.")
        return 0


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
