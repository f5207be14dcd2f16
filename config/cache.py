"""Django's Redis cache, building its client object once instead of on every call.

Django's `RedisCacheClient.get_client()` makes a new `redis.Redis` for each
cache operation. Building one registers its ~170 response callbacks in a
case-insensitive dictionary: under load that was an eighth of what a refused
API call cost (`make profile`, the unknown-id path), more than the round trip
to Redis itself. A `redis.Redis` is safe to share between threads (each
command takes a connection from the pool), so one per connection pool is
kept and reused. Everything else, keys and values included, is Django's.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}  # id(pool) -> redis.Redis; the pools live in self._pools for good

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
