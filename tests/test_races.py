"""Parallel requests against the real database: one key per form, one revocation per key.

SQLite serializes writers, so only PostgreSQL can show these races.
"""

import threading

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse

from apikeys import authentication, services
from apikeys.models import ApiKey, AuditEvent, CreationTicket
from projects import catalog
from tests.factories import ApiKeyFactory, MembershipFactory, ProjectFactory, UserFactory, role
from tests.htmltree import parse

THREADS = 8

pytestmark = [
    pytest.mark.slow,  # threads racing on PostgreSQL, many rounds
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serializes writers, so requests cannot race",
    ),
    # Committed data, seen by every thread's own connection. The serialized
    # rollback brings back the data migration's roles that the flush removes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def project(db):
    return ProjectFactory(slug="race")


@pytest.fixture
def user(project):
    return MembershipFactory(project=project, user=UserFactory(username="racer"), role=role(catalog.ADMINISTRATOR)).user


def run_threads(count: int, work, setup=lambda index: index) -> list:
    """`work(setup(index))` in `count` threads, released together once every setup is done."""
    barrier = threading.Barrier(count, timeout=30)
    results: list = [None] * count
    errors: list = []

    def run(index):
        try:
            prepared = setup(index)
            barrier.wait()  # everyone ready: now all at once
            results[index] = work(prepared)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    assert not errors, errors
    return results


def in_parallel(user, request) -> list:
    """Run `request(client)` in THREADS threads at once, each with its own logged-in client."""

    def logged_in_client(index):
        client = Client()
        client.force_login(user)
        return client

    return run_threads(THREADS, request, setup=logged_in_client)


def secret_shown(response) -> str | None:
    element = parse(response).by_id("api-key-secret")
    return element.attrs.get("value") if element is not None else None


def test_parallel_posts_of_one_form_create_one_key(client, project, user):
    client.force_login(user)
    form = client.get(reverse("apikeys:create", args=[project.slug]))
    data = {
        "name": "raced",
        "permissions": [catalog.READ_PROJECT],
        "expiration": "30",
        "ticket": parse(form).find("input", name="ticket").attrs["value"],
    }

    responses = in_parallel(user, lambda c: c.post(reverse("apikeys:create", args=[project.slug]), data))

    assert ApiKey.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CREATED).count() == 1
    secrets_shown = [s for s in map(secret_shown, responses) if s]
    assert len(secrets_shown) == 1
    assert authentication.api_key_authenticate(secrets_shown[0]).api_key == ApiKey.objects.get()
    assert sorted(r.status_code for r in responses) == [201] + [302] * (THREADS - 1)
    for response in responses:
        if response.status_code == 302:
            assert response["Location"] == reverse("apikeys:list", args=[project.slug])
            assert secrets_shown[0] not in response.content.decode()


def test_parallel_forms_with_the_same_name_create_one_active_key(project, user):
    tickets = iter([CreationTicket.objects.issue(user=user) for _ in range(THREADS)])
    lock = threading.Lock()

    def post(client):
        with lock:
            ticket = next(tickets)
        data = {"name": "same", "permissions": [catalog.READ_PROJECT], "expiration": "30", "ticket": ticket}
        return client.post(reverse("apikeys:create", args=[project.slug]), data)

    responses = in_parallel(user, post)

    assert ApiKey.objects.filter(name="same").count() == 1
    assert sorted(r.status_code for r in responses) == [200] * (THREADS - 1) + [201]
    for response in responses:
        if response.status_code == 200:
            assert "already exists" in response.content.decode()


def test_parallel_revocations_record_one_event(project, user):
    key = ApiKeyFactory(project=project)
    url = reverse("apikeys:revoke", args=[project.slug, key.public_id])

    responses = in_parallel(user, lambda c: c.post(url))

    assert [r.status_code for r in responses] == [302] * THREADS
    assert AuditEvent.objects.filter(api_key=key, action=AuditEvent.Action.REVOKED).count() == 1
    messages = sorted(str(m) for r in responses for m in get_messages(r.wsgi_request))
    assert messages.count(f"API key “{key.name}” was revoked.") == 1
    assert messages.count(f"API key “{key.name}” was already revoked.") == THREADS - 1
    assert authentication.api_key_authenticate(key.secret).error == "revoked"


def test_no_request_succeeds_once_the_revocation_has_committed(project, user, settings):
    import time

    settings.API_AUTH_FAILURE_LIMIT = 100_000  # refusals here are 401s, not rate-limit 429s

    api_key = ApiKeyFactory(project=project)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key.secret}"}
    revoked_at = threading.Event()
    committed: list[float] = []

    def hammer(index):
        if index == 0:  # the revoker, once the others are busy
            time.sleep(0.3)
            services.api_key_revoke(api_key=api_key, revoked_by=user)
            committed.append(time.monotonic())
            revoked_at.set()
            return []
        client, seen, after = Client(), [], 0
        while after < 15:
            started = time.monotonic()
            status = client.get("/api/v1/whoami", **auth).status_code
            seen.append((started, status))
            if revoked_at.is_set():
                after += 1
        return seen

    results = run_threads(THREADS, hammer)

    calls = [call for seen in results for call in seen]
    assert any(status == 200 for _, status in calls), "no request raced the revocation"
    late = [status for started, status in calls if started > committed[0]]
    assert late and set(late) == {401}


def test_parallel_child_key_creation_by_one_key_respects_every_rule(project, user):
    from datetime import timedelta

    from django.utils import timezone

    parent_expiry = timezone.now() + timedelta(days=10)
    parent = ApiKeyFactory(
        project=project, permissions=[catalog.READ_PROJECT, catalog.CREATE_API_KEYS], expires_at=parent_expiry
    )
    url = f"/api/v1/projects/{project.slug}/api-keys"
    bodies = (
        # 4 valid requests for one name: one key
        [
            {
                "name": "child",
                "permissions": [catalog.READ_PROJECT],
                "expires_at": (parent_expiry - timedelta(days=1)).isoformat(),
            }
        ]
        * 4
        # more than the parent holds
        + [
            {
                "name": "greedy",
                "permissions": [catalog.READ_PROJECT, "can_delete_project_in_project"],
                "expires_at": (parent_expiry - timedelta(days=1)).isoformat(),
            }
        ]
        * 2
        # outliving the parent
        + [
            {
                "name": "immortal",
                "permissions": [catalog.READ_PROJECT],
                "expires_at": (parent_expiry + timedelta(days=1)).isoformat(),
            }
        ]
        * 2
    )

    def create(index):
        return Client().post(
            url, bodies[index], content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {parent.secret}"
        )

    responses = run_threads(len(bodies), create)

    assert sorted(r.status_code for r in responses[:4]) == [201, 400, 400, 400]
    assert [r.status_code for r in responses[4:6]] == [403, 403]
    assert [r.status_code for r in responses[6:]] == [400, 400]
    children = ApiKey.objects.filter(created_by_key=parent)
    assert [c.name for c in children] == ["child"]
    child = children.get()
    assert set(child.permissions) <= set(parent.permissions)
    assert child.expires_at <= parent.expires_at


ROUNDS = 10


@pytest.mark.parametrize("revoker", ["api_key", "console"])
def test_keys_created_while_their_parent_is_revoked_never_outlive_it(project, user, settings, revoker):
    """Parent P creates children (and its child C grandchildren) in parallel with P's revocation.

    Whatever the interleaving, once both have committed no descendant of P
    is active: a creation either commits before the revocation (whose
    cascade then revokes it) or sees P revoked and creates nothing.
    """
    import time
    from datetime import timedelta

    from django.utils import timezone

    settings.API_AUTH_FAILURE_LIMIT = 100_000
    url = f"/api/v1/projects/{project.slug}/api-keys"
    expiry = (timezone.now() + timedelta(days=5)).isoformat()
    revoker_key = ApiKeyFactory(project=project, permissions=[catalog.CREATE_API_KEYS])
    creator_permissions = [catalog.READ_PROJECT, catalog.CREATE_API_KEYS]
    created, refused = 0, 0
    for round_number in range(ROUNDS):
        parent = ApiKeyFactory(
            project=project, permissions=creator_permissions, expires_at=timezone.now() + timedelta(days=9)
        )
        child = ApiKeyFactory(
            project=project,
            permissions=creator_permissions,
            created_by_key=parent,
            expires_at=timezone.now() + timedelta(days=8),
        )

        def client_for(index):
            client = Client()
            if index == 0 and revoker == "console":
                client.force_login(user)
            return index, client

        def work(prepared, parent=parent, child=child, round_number=round_number):
            index, client = prepared
            if index == 0:
                time.sleep(0.003 * (round_number % 5))  # a different interleaving each round
                if revoker == "api_key":
                    return client.post(
                        f"{url}/{parent.public_id}/revoke", HTTP_AUTHORIZATION=f"Bearer {revoker_key.secret}"
                    )
                return client.post(reverse("apikeys:revoke", args=[project.slug, parent.public_id]))
            creator = parent if index % 2 else child
            return client.post(
                url,
                {"name": f"r{round_number}-{index}", "permissions": [catalog.READ_PROJECT], "expires_at": expiry},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {creator.secret}",
            )

        responses = run_threads(THREADS, work, setup=client_for)

        assert responses[0].status_code in {200, 302}
        for response in responses[1:]:
            assert response.status_code in {201, 401}, response.content
            if response.status_code == 201:
                created += 1
                assert not authentication.api_key_authenticate(response.json()["secret"]).ok
            else:
                refused += 1
                assert response.json()["detail"] == "The API key has been revoked."
        descendants = ApiKey.objects.filter(created_by_key__in=[parent, child])
        assert not descendants.active().exists()
        assert not ApiKey.objects.filter(pk__in=[parent.pk, child.pk]).active().exists()
    assert created and refused, f"no race happened: {created} created, {refused} refused"
