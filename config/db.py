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

import functools

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections


def fetch_one(alias: str, sql: str, params: list | tuple = (), *, prepared: bool = False) -> tuple | None:
    """The first row of a read-only query. `prepared`: on PostgreSQL, as a prepared statement (see `_cursor`)."""
    connection = connections[alias]
    reused = connection.connection is not None and not connection.in_atomic_block
    try:
        return _fetch_one(connection, sql, params, prepared)
    except (InterfaceError, OperationalError):
        if not reused:
            raise
    connection.close()  # Django's close tolerates a connection that is already dead
    return _fetch_one(connection, sql, params, prepared)


def _fetch_one(connection, sql: str, params, prepared: bool) -> tuple | None:
    with _cursor(connection, prepared) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


# -- prepared statements on PostgreSQL -------------------------------------------
# Django's PostgreSQL cursors bind parameters on the client, so PostgreSQL parses
# and plans every query anew. For the key lookup (a join, run on every API
# call) planning took most of the time: in-process, 0.20 ms a lookup against
# 0.12 ms prepared and 0.09 ms for `SELECT 1`; over HTTP, whoami answers 1.25 ×
# as many requests (docs/benchmarks.md, "not prepared"). So this
# one query runs on a cursor that binds on the server and prepares, on
# Django's own connection (the same session and transaction as every other
# query) and wrapped by Django's cursor wrapper (database errors and execute
# wrappers apply as to any query). Each connection prepares it on first
# use; a new connection prepares it again. DATABASE_PREPARED_STATEMENTS=0
# turns this off (a pooler that cannot keep prepared statements).

_NEVER_BY_COUNT = 2**31 - 1  # psycopg prepares only what asks for it, not what merely repeats


def _cursor(connection, prepared: bool):
    # With the query log on (DEBUG, or a test counting queries), Django's usual
    # cursor: its log can show the SQL of its own cursors only. Same query, same
    # answer; only the preparing differs.
    if (
        not prepared
        or connection.vendor != "postgresql"
        or not settings.DATABASE_PREPARED_STATEMENTS
        or connection.queries_logged
    ):
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = _preparing_cursor(connection)
    connection.validate_thread_sharing()
    return connection.make_cursor(cursor)


@functools.cache
def _preparing_cursor_class():
    import psycopg  # only where PostgreSQL is used

    class PreparingCursor(psycopg.Cursor):
        def execute(self, query, params=None, *, prepare=True, binary=None):
            return super().execute(query, params, prepare=prepare, binary=binary)

    return PreparingCursor


def _preparing_cursor(connection):
    """A server-binding psycopg cursor that prepares what it runs, set up as Django sets up its own."""
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    raw = connection.connection
    if raw.prepare_threshold is None:  # Django turns preparing off; a threshold lets `prepare=True` through
        raw.prepare_threshold = _NEVER_BY_COUNT
    cursor = _preparing_cursor_class()(raw)
    # As Django's create_cursor(): timestamps in the connection's time zone.
    loader = raw.adapters.get_loader(raw.adapters.types["timestamptz"].oid, Format.TEXT)
    if connection.timezone != loader.timezone:
        register_tzloader(connection.timezone, cursor)
    return cursor
