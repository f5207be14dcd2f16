"""One read-only query for the hot paths, without a health check's extra round trip.

Persistent connections (DATABASE_CONN_MAX_AGE) outlive a database restart or
failover. Django's per-request health check (CONN_HEALTH_CHECKS) finds a dead
one by sending `SELECT 1` before the request's first query: on PostgreSQL one
more network round trip on every request (docs/benchmarks.md measures what it
costs whoami). It is off by default; instead the two paths that
every caller and load balancer hits, the key lookup and /healthz, run their
one query through `fetch_one`: a query that fails on a connection an earlier
request opened is run once more on a new connection. Both queries only read,
so running one twice changes nothing. Inside a transaction nothing is retried
(a new connection would not be in it).
"""

from django.db import InterfaceError, OperationalError, connections


def fetch_one(alias: str, sql: str, params: list | tuple = ()) -> tuple | None:
    connection = connections[alias]
    reused = connection.connection is not None and not connection.in_atomic_block
    try:
        return _fetch_one(connection, sql, params)
    except (InterfaceError, OperationalError):
        if not reused:
            raise
    connection.close()  # Django's close tolerates a connection that is already dead
    return _fetch_one(connection, sql, params)


def _fetch_one(connection, sql: str, params) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
