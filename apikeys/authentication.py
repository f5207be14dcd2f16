"""Who a presented API key is: the hot path of every API call.

Used by the API (`apikeys.jsonapi.authenticate`) and by tests; a key's expiry and
revocation are the model's own rule (`ApiKey.status`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connections, router
from django.utils import timezone

from apikeys import addresses, tokens, usage
from apikeys.models import ApiKey, Status
from config.db import fetch_one
from projects.models import Project


@dataclass(frozen=True)
class AuthResult:
    api_key: ApiKey | None
    error: str | None = None  # "malformed", "invalid", "expired", "retired", "revoked" or "ip_not_allowed"

    @property
    def ok(self) -> bool:
        return self.api_key is not None


def api_key_authenticate(
    raw: str, *, now: datetime | None = None, address: str | None = None, user_agent: str = ""
) -> AuthResult:
    """Who a presented key is, or why it is refused.

    1. Parse: shape and checksum. A malformed key costs no query ("malformed":
       callers answer it like "invalid", but need not count it as a guess).
    2. One indexed query by public id, with the project joined
       (`compile_key_lookup`).
    3. Constant-time comparison of the keyed hash against the row's raw
       columns, before anything is built from the row: an unknown id and a
       wrong secret cost the same work (one query, one HMAC) and get the same
       answer ("invalid"), so neither answer nor timing tells ids apart.
    4. Only now, to a caller who proved the secret: `admit`.
    """
    try:
        parsed = tokens.parse(raw)
    except tokens.InvalidKey:
        return AuthResult(None, "malformed")
    lookup = _key_lookup()
    row = lookup.fetch(parsed.public_id)
    if row is None:
        tokens.matches(parsed.raw, tokens.current_pepper_version(), UNKNOWN_KEY_HASH)
        return AuthResult(None, "invalid")
    if not tokens.matches(parsed.raw, row[lookup.pepper_column], row[lookup.hash_column]):
        return AuthResult(None, "invalid")
    return admit(lookup.build(row), now or timezone.now(), address, user_agent)


def admit(api_key: ApiKey, now: datetime, address: str | None, user_agent: str) -> AuthResult:
    """A key whose secret was proved: refused if revoked, retired or expired (the model's own rule)
    or used from an address it is not allowed from; else its use is recorded (at most once a minute).
    `user_agent` is the User-Agent header as received."""
    status = api_key.status(now)
    if status == Status.REVOKED:
        return AuthResult(None, "revoked")
    if status == Status.RETIRED:  # rolled, and the grace period is over: refused like a revoked key
        return AuthResult(None, "retired")
    if status == Status.EXPIRED:
        return AuthResult(None, "expired")
    if not addresses.allows(api_key.allowed_ips, address):
        return AuthResult(None, "ip_not_allowed")
    usage.touch_last_used(api_key, now, address, user_agent)
    return AuthResult(api_key)


# Compared against when no key has the presented id: the same HMAC and
# comparison as for a real row, and never equal to a hex digest.
UNKNOWN_KEY_HASH = "-" * 64


# -- the key lookup ------------------------------------------------------------------
# The hot path of every API call. Turning the ORM query into SQL costs more than
# running it: the plain ORM query (`select_related("project").filter(public_id=…)
# .first()`) made a valid-key request take about twice as long (1.8 to 2.2 times,
# docs/benchmarks.md, section d). So the SQL is compiled once per database alias,
# and a row becomes instances only for a key whose secret matched.


@dataclass(frozen=True)
class KeyLookup:
    alias: str
    sql: str  # one parameter: the public id
    hash_column: int  # where secret_hash and pepper_version are in a row
    pepper_column: int
    build: Callable[[tuple], ApiKey]  # a row -> the key, its project attached

    def fetch(self, public_id: str) -> tuple | None:
        return fetch_one(self.alias, self.sql, [public_id], prepared=True)


def compile_key_lookup(alias: str) -> KeyLookup:
    """The key with its project by public id: the ORM's own SQL, and what the ORM would build from a row.

    The one place that relies on ORM internals; tests/test_authentication.py
    checks each of them against the ORM itself, so a Django upgrade that
    changes one fails there, not in production:

    1. `query.get_compiler(alias).as_sql()` is the SQL the ORM runs, with the
       public id as its only parameter.
    2. With `select_related("project")` its columns are the key's concrete
       fields, then the project's, in `_meta.concrete_fields` order.
    3. A column becomes a field's value through `connection.ops.get_db_converters()`
       and `field.get_db_converters()`, applied in that order, as the ORM's
       compiler applies them; `Model.from_db()` (public) builds the instance.
       Converters depend on the backend only; `build` passes the calling
       thread's own connection.
    """
    connection = connections[alias]
    query = ApiKey.objects.using(alias).select_related("project").filter(public_id="").order_by()[:1].query
    sql, params = query.get_compiler(alias).as_sql()
    if params != ("",):
        raise RuntimeError("The authentication query must take exactly one parameter.")
    readers = []
    for model in (ApiKey, Project):
        fields = model._meta.concrete_fields
        converters = []
        for field in fields:
            column = field.get_col(model._meta.db_table)
            converters.append((column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)))
        readers.append((model, [field.attname for field in fields], converters))

    def build(row) -> ApiKey:
        connection = connections[alias]
        instances, start = [], 0
        for model, attnames, converters in readers:
            values = []
            for value, (column, found) in zip(row[start : start + len(attnames)], converters, strict=True):
                for convert in found:
                    value = convert(value, column, connection)
                values.append(value)
            instances.append(model.from_db(alias, attnames, values))
            start += len(attnames)
        api_key, api_key.project = instances
        return api_key

    key_columns = readers[0][1]
    return KeyLookup(alias, sql, key_columns.index("secret_hash"), key_columns.index("pepper_version"), build)


_LOOKUPS: dict[str, KeyLookup] = {}


def _key_lookup() -> KeyLookup:
    alias = router.db_for_read(ApiKey)
    lookup = _LOOKUPS.get(alias)
    if lookup is None:
        lookup = _LOOKUPS[alias] = compile_key_lookup(alias)
    return lookup
