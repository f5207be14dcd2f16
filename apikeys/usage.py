"""What a key is used for: when, from where and by what it was last used, and when each permission was last needed.

The same for a service account's credentials (last use) and its project
memberships (each permission's last need): every function takes the row
that holds the values, an ApiKey, a Credential or a ServiceAccountMembership.

Written on the hot path of every API call, so at most once a minute per key
(last use, address, user agent) and once a minute per key and permission
(needed, or asked for and refused). The time to compare against comes with
the key's own row, which authentication has just read: a call inside the
minute writes nothing and asks nothing.

The rule for concurrent writers: each write is one UPDATE of one row that
sets only its own values. A permission's time is merged into the JSON object
inside the database (`_SetKey`), so two requests recording two different
permissions at once keep both; two recording the same one within a minute
(on two nodes) both write, and the later of two nearly equal times wins. The
last address and user agent are those of the request that last recorded a
use, not necessarily of the very last request within that minute.
"""

import contextlib
import re
from datetime import datetime, timedelta

from django.db.models import F, Func, JSONField, Model, Q, Value

INTERVAL = timedelta(minutes=1)
USER_AGENT_MAX_LENGTH = 256
# What a stored user agent may not hold: control characters (a header may
# carry HTAB; its bytes 0x80-0xff, once read as UTF-8, may be C1 controls).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def readable_user_agent(raw: str) -> str:
    """A User-Agent header as stored: read as UTF-8 (WSGI hands headers over as latin-1), on one line, truncated."""
    with contextlib.suppress(UnicodeEncodeError):  # not from a WSGI server: already text
        raw = raw.encode("latin-1").decode("utf-8", "replace")
    return _UNPRINTABLE.sub(" ", raw).strip()[:USER_AGENT_MAX_LENGTH]


def touch_last_used(api_key: Model, now: datetime, address: str | None = None, user_agent: str = "") -> None:
    """Record a use of the key (or credential), unless one was recorded within the last minute.

    `user_agent` is the header as received; it is made readable only when
    written, not on every call.
    """
    if api_key.last_used_at is not None and now - api_key.last_used_at < INTERVAL:
        return
    agent = readable_user_agent(user_agent)
    type(api_key)._default_manager.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - INTERVAL)
    ).update(last_used_at=now, last_used_ip=address, last_used_user_agent=agent)
    api_key.last_used_at, api_key.last_used_ip, api_key.last_used_user_agent = now, address, agent


def record_permission_check(api_key: Model, codename: str, now: datetime) -> bool:
    """Record that the key (or service-account membership) was asked for `codename`; return whether it holds it.

    A held permission counts as needed (`permissions_used`), a missing one
    as refused (`permissions_refused`); either at most once a minute.
    """
    held = codename in api_key.permissions
    column = "permissions_used" if held else "permissions_refused"
    recorded = getattr(api_key, column)
    stamp = int(now.timestamp())
    if stamp - recorded.get(codename, 0) < INTERVAL.total_seconds():
        return held
    type(api_key)._default_manager.filter(pk=api_key.pk).update(**{column: _SetKey(column, codename, stamp)})
    recorded[codename] = stamp
    return held


class _SetKey(Func):
    """`column` with one top-level key set to a whole number, computed by the database from the row's current value."""

    output_field = JSONField()

    def __init__(self, column: str, key: str, number: int):
        super().__init__(F(column), Value(key), Value(number))

    def as_sql(self, compiler, connection, **extra_context):
        (column, column_params), (key, key_params), (number, number_params) = (
            compiler.compile(expression) for expression in self.get_source_expressions()
        )
        params = (*column_params, *key_params, *number_params)
        if connection.vendor == "postgresql":
            return f"({column} || jsonb_build_object(({key})::text, ({number})::bigint))", params
        if connection.vendor == "sqlite":
            return f"json_set({column}, '$.' || json_quote({key}), {number})", params
        raise NotImplementedError(f"Usage recording does not support {connection.vendor}.")
