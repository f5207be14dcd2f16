"""apikeys.authentication: who a presented key is, what a refusal costs, and the compiled key lookup."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys import authentication, services, tokens, usage
from apikeys.models import ApiKey
from projects import catalog
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def in_days(days: float) -> datetime:
    return timezone.now() + timedelta(days=days)


# -- authentication ------------------------------------------------------------------


def test_valid_key_authenticates_and_records_last_use(project):
    key = ApiKeyFactory(project=project)
    assert key.last_used_at is None

    result = authentication.api_key_authenticate(key.secret)

    assert result.ok
    assert result.error is None
    assert result.api_key == key
    assert result.api_key.project == project
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert abs(key.last_used_at - timezone.now()) < timedelta(seconds=10)


def test_valid_key_is_one_query_and_one_update(project, django_assert_num_queries):
    key = ApiKeyFactory(project=project)

    with django_assert_num_queries(2):
        assert authentication.api_key_authenticate(key.secret).ok


def test_last_use_is_written_at_most_once_a_minute(project, django_assert_num_queries):
    key = ApiKeyFactory(project=project)
    authentication.api_key_authenticate(key.secret)

    with django_assert_num_queries(1):
        assert authentication.api_key_authenticate(key.secret).ok


def test_wrong_secret_with_a_valid_checksum_is_invalid(project):
    key = ApiKeyFactory(project=project)
    forged = tokens.generate(public_id=key.public_id).raw
    assert tokens.parse(forged).public_id == key.public_id

    result = authentication.api_key_authenticate(forged)

    assert not result.ok
    assert result.error == "invalid"
    key.refresh_from_db()
    assert key.last_used_at is None


def test_unknown_public_id_is_invalid(db):
    result = authentication.api_key_authenticate(tokens.generate().raw)

    assert result.error == "invalid"


def test_revoked_key_is_refused(project, admin_user):
    key = ApiKeyFactory(project=project)
    services.api_key_revoke(api_key=key, revoked_by=admin_user)

    result = authentication.api_key_authenticate(key.secret)

    assert not result.ok
    assert result.error == "revoked"


def test_expired_key_is_refused(project):
    key = ApiKeyFactory(project=project, expires_at=in_days(1))

    result = authentication.api_key_authenticate(key.secret, now=key.expires_at + timedelta(seconds=1))

    assert not result.ok
    assert result.error == "expired"
    assert authentication.api_key_authenticate(key.secret, now=key.expires_at - timedelta(seconds=1)).ok


def test_key_is_refused_at_the_moment_it_expires(project):
    key = ApiKeyFactory(project=project, expires_at=in_days(1))

    assert authentication.api_key_authenticate(key.secret, now=key.expires_at).error == "expired"


@pytest.mark.parametrize(
    "raw",
    ["", "not a key", "cpk_", "Bearer cpk_abc", None, "x" * 10_000, "cpk_" + "A" * 12 + "_" + "b" * 49],
    ids=["empty", "text", "prefix", "scheme", "none", "huge", "bad-checksum"],
)
def test_malformed_key_is_invalid_without_any_query(raw, django_assert_num_queries):
    with django_assert_num_queries(0):
        result = authentication.api_key_authenticate(raw)

    assert not result.ok
    assert result.error == "malformed"  # answered like "invalid" (jsonapi), but no guess


def test_mistyped_real_key_costs_no_query(project, django_assert_num_queries):
    key = ApiKeyFactory(project=project)
    mistyped = key.secret[:-8] + ("A" if key.secret[-8] != "A" else "B") + key.secret[-7:]

    with django_assert_num_queries(0):
        assert authentication.api_key_authenticate(mistyped).error == "malformed"


# -- refusal paths do the same work --------------------------------------------


def _refusal_work(raw: str, monkeypatch) -> list[str]:
    """What authenticating `raw` did: queries, hashes and model instances built."""
    work: list[str] = []
    real_hash, real_from_db = tokens.hash_key, ApiKey.from_db.__func__
    monkeypatch.setattr(tokens, "hash_key", lambda *a: work.append("hmac") or real_hash(*a))
    monkeypatch.setattr(ApiKey, "from_db", classmethod(lambda c, *a: work.append("instance") or real_from_db(c, *a)))
    with CaptureQueriesContext(connection) as queries:
        result = authentication.api_key_authenticate(raw)
    monkeypatch.undo()
    assert result.error == "invalid"
    return ["query" for _ in queries] + work


def test_an_unknown_id_and_a_wrong_secret_cost_the_same_work(project, monkeypatch):
    """Timing must not tell whether a public id exists: one query and one HMAC on both paths,
    and no model instance is built for a key whose secret did not match."""
    key = ApiKeyFactory(project=project)
    wrong_secret = tokens.generate(public_id=key.public_id).raw
    unknown_id = tokens.generate().raw

    assert _refusal_work(wrong_secret, monkeypatch) == ["query", "hmac"]
    assert _refusal_work(unknown_id, monkeypatch) == ["query", "hmac"]


# -- the compiled key lookup is what the ORM would load ----------------------------
# compile_key_lookup relies on ORM internals (its docstring lists them); these
# tests fail on a Django upgrade that changes one of them.


@pytest.fixture
def used_and_revoked_keys(project, admin_user):
    """Keys with every column set, by a user and by a key, so that each conversion is exercised."""
    parent = ApiKeyFactory(
        project=project,
        created_by=admin_user,
        description="line one\nline two ✓",
        tags=["env:prod", "team/a"],
        permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS],
    )
    child = ApiKeyFactory(
        project=project, created_by_key=parent, tags=["ci"], permissions=[catalog.READ_PROJECT], expires_at=in_days(3)
    )
    for key in (parent, child):
        usage.touch_last_used(key, timezone.now() - timedelta(minutes=5))
    services.api_key_revoke(api_key=child, revoked_by_key=parent)
    services.api_key_revoke(api_key=parent, revoked_by=admin_user)
    return [parent, child]


def _fields(instance) -> dict[str, str]:
    # repr: equal values of another type or time zone must not pass.
    return {field.attname: repr(getattr(instance, field.attname)) for field in type(instance)._meta.concrete_fields}


def test_the_compiled_lookup_builds_what_the_orm_loads(used_and_revoked_keys):
    lookup = authentication.compile_key_lookup(connection.alias)

    for key in used_and_revoked_keys:
        built = lookup.build(lookup.fetch(key.public_id))
        loaded = ApiKey.objects.select_related("project").get(public_id=key.public_id)

        assert _fields(built) == _fields(loaded)
        assert None not in (loaded.last_used_at, loaded.revoked_at, loaded.expires_at)
        assert ApiKey.project.is_cached(built)
        assert _fields(built.project) == _fields(loaded.project)
        for instance in (built, built.project):
            assert instance._state.db == connection.alias
            assert not instance._state.adding


def test_the_compiled_credential_lookup_builds_what_the_orm_loads(db):
    """A credential's lookup joins a chain of two: its service account, and that account's organization."""
    from serviceaccounts import services as account_services
    from tests.factories import CredentialFactory, OrganizationFactory, ServiceAccountFactory

    account = ServiceAccountFactory(organization=OrganizationFactory(slug="acme"), description="robot ✓")
    used = CredentialFactory(service_account=account, allowed_ips=["192.0.2.0/24"])
    usage.touch_last_used(used, timezone.now() - timedelta(minutes=5), "192.0.2.1", "curl/8")
    revoked = CredentialFactory(service_account=account, expires_at=None)
    account_services.revoke_credential(revoked, actor=account_services.Actor(operator="tests"))
    lookup = authentication.compile_key_lookup(connection.alias, tokens.CREDENTIAL)

    for credential in (used, revoked):
        built = lookup.build(lookup.fetch(credential.public_id))
        loaded = type(credential).objects.select_related("service_account__organization").get(pk=credential.pk)

        assert _fields(built) == _fields(loaded)
        assert _fields(built.service_account) == _fields(loaded.service_account)
        assert _fields(built.service_account.organization) == _fields(loaded.service_account.organization)
        assert type(credential).service_account.is_cached(built)
        assert type(account).organization.is_cached(built.service_account)


def test_the_compiled_lookup_is_one_query_by_public_id_alone(project, django_assert_num_queries):
    key = ApiKeyFactory(project=project)
    lookup = authentication.compile_key_lookup(connection.alias)

    assert lookup.sql.count("%s") == 1
    with django_assert_num_queries(1):
        row = lookup.fetch(key.public_id)
    assert row[lookup.hash_column] == key.secret_hash
    assert row[lookup.pepper_column] == key.pepper_version
    assert lookup.fetch(tokens.new_public_id()) is None


# -- PostgreSQL: the key lookup is prepared (config/db.py) ------------------------

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL's")


def lookup_runs() -> int:
    """How often this connection ran the key lookup as a prepared statement."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return sum(runs for statement, runs in cursor.fetchall() if 'FROM "apikeys_apikey"' in statement)


@postgresql_only
def test_the_key_lookup_runs_as_a_prepared_statement(project, settings):
    key = ApiKeyFactory(project=project)
    before = lookup_runs()

    for _ in range(3):
        assert authentication.api_key_authenticate(key.secret).ok
    assert lookup_runs() == before + 3

    settings.DATABASE_PREPARED_STATEMENTS = False  # behind a pooler that cannot keep them
    assert authentication.api_key_authenticate(key.secret).ok
    assert lookup_runs() == before + 3


@postgresql_only
def test_a_prepared_lookup_sees_the_transactions_own_writes(project, admin_user):
    # The same session and transaction as the ORM's writes: a key revoked a
    # moment ago in this transaction is revoked for the lookup too.
    key = ApiKeyFactory(project=project)
    assert authentication.api_key_authenticate(key.secret).ok

    services.api_key_revoke(api_key=key, revoked_by=admin_user)

    assert authentication.api_key_authenticate(key.secret).error == "revoked"
