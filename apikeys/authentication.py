"""Who a presented API key or service-account credential is: the hot path of every API call.

Used by the API (`apikeys.jsonapi.authenticate`) and by tests. Both kinds
have one format (apikeys.tokens); the prefix says which table to ask, so
neither costs a query of the other. Each kind's own rule says when it stops
working (`ApiKey.refusal`, `Credential.refusal`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db import connections, router
from django.db.models import Model
from django.utils import timezone

from apikeys import addresses, tokens, usage
from apikeys.models import ApiKey
from config.db import fetch_one


@dataclass(frozen=True)
class AuthResult:
    principal: Model | None  # an ApiKey or a serviceaccounts Credential
    # "malformed", "invalid", "expired", "retired", "revoked", "disabled" or "ip_not_allowed"
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.principal is not None

    @property
    def api_key(self):
        """The authenticated key or credential (the name callers of API keys know)."""
        return self.principal


def api_key_authenticate(
    raw: str, *, now: datetime | None = None, address: str | None = None, user_agent: str = ""
) -> AuthResult:
    """Who a presented key or credential is, or why it is refused.

    1. Parse: shape, checksum and, by the prefix, the kind. A malformed key
       costs no query ("malformed": callers answer it like "invalid", but
       need not count it as a guess).
    2. One indexed query by public id in that kind's table, with what it
       belongs to joined (`compile_key_lookup`): a key's project; a credential's
       service account and organization.
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
    lookup = _lookup(parsed.kind)
    row = lookup.fetch(parsed.public_id)
    if row is None:
        tokens.matches(parsed.raw, tokens.current_pepper_version(), UNKNOWN_KEY_HASH)
        return AuthResult(None, "invalid")
    if not tokens.matches(parsed.raw, row[lookup.pepper_column], row[lookup.hash_column]):
        return AuthResult(None, "invalid")
    return admit(lookup.build(row), now or timezone.now(), address, user_agent)


def admit(principal, now: datetime, address: str | None, user_agent: str) -> AuthResult:
    """A key or credential whose secret was proved: refused if its own rule says so (revoked, retired,
    expired; a credential's service account disabled) or if used from an address it is not allowed
    from; else its use is recorded (at most once a minute). `user_agent` is the header as received."""
    if error := principal.refusal(now):
        return AuthResult(None, error)
    if not addresses.allows(principal.allowed_ips, address):
        return AuthResult(None, "ip_not_allowed")
    usage.touch_last_used(principal, now, address, user_agent)
    return AuthResult(principal)


# Compared against when no key has the presented id: the same HMAC and
# comparison as for a real row, and never equal to a hex digest.
UNKNOWN_KEY_HASH = "-" * 64


# -- the lookups ------------------------------------------------------------------
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
    build: Callable[[tuple], Model]  # a row -> the key (or credential), what it belongs to attached

    def fetch(self, public_id: str) -> tuple | None:
        return fetch_one(self.alias, self.sql, [public_id], prepared=True)


# Each kind's table, and the chain of foreign keys its lookup joins.
KINDS = {
    tokens.API_KEY: ("apikeys.ApiKey", ("project",)),
    tokens.CREDENTIAL: ("serviceaccounts.Credential", ("service_account", "organization")),
}


def compile_key_lookup(alias: str, kind: str = tokens.API_KEY) -> KeyLookup:
    """A key with its project (or a credential with its service account and organization) by public id:
    the ORM's own SQL, and what the ORM would build from a row.

    The one place that relies on ORM internals; tests/test_authentication.py
    checks each of them against the ORM itself, so a Django upgrade that
    changes one fails there, not in production:

    1. `query.get_compiler(alias).as_sql()` is the SQL the ORM runs, with the
       public id as its only parameter.
    2. With `select_related()` of one chain of foreign keys, its columns are
       the first model's concrete fields, then the next one's, in
       `_meta.concrete_fields` order.
    3. A column becomes a field's value through `connection.ops.get_db_converters()`
       and `field.get_db_converters()`, applied in that order, as the ORM's
       compiler applies them; `Model.from_db()` (public) builds the instance.
       Converters depend on the backend only; `build` passes the calling
       thread's own connection.
    """
    label, chain = KINDS[kind]
    root = apps.get_model(label)
    connection = connections[alias]
    query = root.objects.using(alias).select_related("__".join(chain)).filter(public_id="").order_by()[:1].query
    sql, params = query.get_compiler(alias).as_sql()
    if params != ("",):
        raise RuntimeError("The authentication query must take exactly one parameter.")
    models_in_row = [root]
    for name in chain:
        models_in_row.append(models_in_row[-1]._meta.get_field(name).related_model)
    readers = []
    for model in models_in_row:
        fields = model._meta.concrete_fields
        converters = []
        for field in fields:
            column = field.get_col(model._meta.db_table)
            converters.append((column, connection.ops.get_db_converters(column) + field.get_db_converters(connection)))
        readers.append((model, [field.attname for field in fields], converters))

    def build(row) -> Model:
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
        for instance, name, related in zip(instances, chain, instances[1:], strict=False):
            setattr(instance, name, related)
        return instances[0]

    columns = readers[0][1]
    return KeyLookup(alias, sql, columns.index("secret_hash"), columns.index("pepper_version"), build)


_LOOKUPS: dict[tuple[str, str], KeyLookup] = {}


def _lookup(kind: str) -> KeyLookup:
    alias = router.db_for_read(ApiKey)
    lookup = _LOOKUPS.get((alias, kind))
    if lookup is None:
        lookup = _LOOKUPS[alias, kind] = compile_key_lookup(alias, kind)
    return lookup
