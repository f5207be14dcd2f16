"""Service accounts under parallel requests on PostgreSQL (SPEC §8): edits, revocations and disabling race use.

After a permission edit, a revocation or a disable commits, no request is
authorized by what it removed, and nothing created in parallel escapes it.
"""

import time

import pytest
from django.db import connection
from django.test import Client

from apikeys import authentication
from apikeys.errors import ApiKeyError
from projects import catalog
from serviceaccounts import services
from serviceaccounts.models import Credential, ServiceAccountEvent
from tests.factories import CredentialFactory, OrganizationFactory, ProjectFactory, ServiceAccountFactory
from tests.test_races import THREADS, run_threads

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serializes writers, so requests cannot race",
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CLUSTERS = "can_create_clusters_in_metakube"
OPERATOR = services.Actor(operator="race")


@pytest.fixture
def web():
    return ProjectFactory(organization=OrganizationFactory(slug="race-org"), slug="race-web")


def hammer_until_after(change, path: str, secret: str, settings) -> tuple[list, float]:
    """THREADS-1 clients call `path` in a loop while one thread runs `change()`.

    Returns every call as (started, status) and when the change committed.
    """
    settings.API_AUTH_FAILURE_LIMIT = 100_000  # refusals here are 401s or 403s, not 429s
    committed: list[float] = []

    def work(index):
        if index == 0:
            time.sleep(0.3)  # the others are busy by now
            change()
            committed.append(time.monotonic())
            return []
        client, seen, after = Client(), [], 0
        while after < 15:
            started = time.monotonic()
            seen.append((started, client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code))
            if committed:
                after += 1
        return seen

    results = run_threads(THREADS, work)
    return [call for seen in results for call in seen], committed[0]


def test_no_request_is_authorized_by_a_permission_once_its_removal_committed(web, settings):
    account = ServiceAccountFactory(organization=web.organization, projects={web: [catalog.READ_PROJECT, CLUSTERS]})
    credential = CredentialFactory(service_account=account)

    def narrow():
        services.set_membership(account, project=web, permissions=[catalog.READ_PROJECT], actor=OPERATOR)

    calls, committed = hammer_until_after(
        narrow, f"/api/v1/whoami?permission={CLUSTERS}&project=race-web", credential.secret, settings
    )

    assert any(status == 200 for _, status in calls), "no request raced the edit"
    late = [status for started, status in calls if started > committed]
    assert late and set(late) == {403}


def test_no_request_succeeds_once_a_credentials_revocation_committed(web, settings):
    credential = CredentialFactory(service_account=ServiceAccountFactory(organization=web.organization))

    calls, committed = hammer_until_after(
        lambda: services.revoke_credential(credential, actor=OPERATOR), "/api/v1/whoami", credential.secret, settings
    )

    assert any(status == 200 for _, status in calls)
    late = [status for started, status in calls if started > committed]
    assert late and set(late) == {401}


def test_no_credential_created_while_disabling_escapes_the_disable(web):
    account = ServiceAccountFactory(organization=web.organization, projects={web: [catalog.READ_PROJECT]})

    def work(index):
        if index == 0:
            time.sleep(0.01)
            return services.set_disabled(account, True, actor=OPERATOR).disabled_at
        try:
            return services.create_credential(account, name=f"c{index}", actor=OPERATOR)
        except ApiKeyError as error:
            return error.code

    results = run_threads(THREADS, work)

    disabled_at, outcomes = results[0], results[1:]
    created = [c for c in outcomes if isinstance(c, services.CreatedCredential)]
    assert {c for c in outcomes if isinstance(c, str)} <= {"conflict"}
    # Each credential committed before the disable; none works now.
    assert all(c.credential.created_at < disabled_at for c in created)
    assert Credential.objects.count() == len(created)
    assert all(authentication.api_key_authenticate(c.secret).error == "disabled" for c in created)


def test_parallel_edits_of_one_membership_leave_one_of_them_and_audit_each(web):
    account = ServiceAccountFactory(organization=web.organization, projects={web: [catalog.READ_PROJECT]})
    choices = [[catalog.READ_PROJECT, p.codename] for p in catalog.CATALOG[:THREADS]]

    run_threads(
        THREADS, lambda index: services.set_membership(account, project=web, permissions=choices[index], actor=OPERATOR)
    )

    final = account.memberships.get().permissions
    assert sorted(final) in [sorted(set(choice)) for choice in choices]
    events = ServiceAccountEvent.objects.filter(action="membership.set").order_by("at", "id")
    # Each edit saw the one committed before it: replaying the audit trail gives the final state.
    state = {catalog.READ_PROJECT}
    for event in events:
        state = (state | set(event.changes["added"])) - set(event.changes["removed"])
    assert state == set(final)


def test_parallel_credentials_with_one_name_give_one_active_credential(web):
    account = ServiceAccountFactory(organization=web.organization)

    def work(index):
        try:
            return services.create_credential(account, name="deploy", actor=OPERATOR).credential.pk
        except ApiKeyError as error:
            return error.code

    outcomes = run_threads(THREADS, work)

    assert sorted(map(str, outcomes)).count("invalid") == THREADS - 1
    assert account.credentials.active().count() == 1
