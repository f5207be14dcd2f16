"""Rolling a key (SPEC §7): a successor with a new secret, the old key working for a grace period, then retired."""

import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django.utils.http import http_date

from apikeys import authentication, services
from apikeys.errors import ApiKeyError
from apikeys.models import ApiKey, AuditEvent, ImmutableKeyError, Status
from projects import catalog
from tests.factories import ApiKeyFactory, MembershipFactory, ProjectFactory, UserFactory, expired_api_key, role
from tests.test_races import run_threads

HOUR = timedelta(hours=1)
MANAGE = [catalog.READ_PROJECT, catalog.CREATE_API_KEYS]


@pytest.fixture
def key(project, admin_user):
    return ApiKeyFactory(
        project=project,
        created_by=admin_user,
        name="deploy",
        description="Deploys main.",
        tags=["ci"],
        permissions=MANAGE,
        expires_at=timezone.now() + timedelta(days=30),
    )


def roll(key, user, grace=HOUR) -> services.CreatedKey:
    return services.api_key_roll(api_key=key, grace=grace, rolled_by=user, ip_address="192.0.2.5")


def child_of(key, name: str, permissions=(catalog.READ_PROJECT,)) -> services.CreatedKey:
    """A key created by `key` through the API's path, expiring with it."""
    return services.api_key_create(
        project=key.project, name=name, permissions=list(permissions), expires_at=key.expires_at, created_by_key=key
    )


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# -- the service --------------------------------------------------------------------------


def test_the_successor_is_the_same_key_with_a_new_secret_and_the_old_one_works_for_the_grace(key, admin_user):
    before = timezone.now()
    created = roll(key, admin_user)
    successor = created.api_key
    key.refresh_from_db()

    for field in ("name", "description", "tags", "permissions", "project_id", "parent_id"):
        assert getattr(successor, field) == getattr(key, field), field
    assert created.secret != key.secret and successor.public_id != key.public_id
    assert key.successor == successor and key.status() == Status.RETIRING
    assert before + HOUR <= key.retires_at <= timezone.now() + HOUR
    assert authentication.api_key_authenticate(key.secret).ok
    assert authentication.api_key_authenticate(created.secret).api_key == successor
    assert authentication.api_key_authenticate(key.secret, now=key.retires_at).error == "retired"
    assert successor.status() == Status.ACTIVE


def test_both_keys_carry_a_rolled_event_with_who_and_where(key, admin_user):
    successor = roll(key, admin_user).api_key

    for rolled in (key, successor):
        event = AuditEvent.objects.get(api_key=rolled, action=AuditEvent.Action.ROLLED)
        assert (event.actor_user, event.ip_address) == (admin_user, "192.0.2.5")


def test_a_grace_of_zero_retires_the_old_key_at_once(key, admin_user):
    roll(key, admin_user, grace=timedelta(0))

    assert authentication.api_key_authenticate(key.secret).error == "retired"
    assert AuditEvent.objects.filter(api_key=key, action=AuditEvent.Action.RETIRED).count() == 1


def test_the_grace_never_outlasts_the_old_keys_expiry(project, admin_user):
    key = ApiKeyFactory(project=project, permissions=MANAGE, expires_at=timezone.now() + timedelta(minutes=30))

    roll(key, admin_user, grace=timedelta(days=7))

    key.refresh_from_db()
    assert key.retires_at == key.expires_at


def test_the_successor_lives_as_long_as_the_old_key_was_meant_to(project, admin_user):
    created_at = timezone.now()
    key = ApiKeyFactory(project=project, permissions=MANAGE, expires_at=created_at + timedelta(days=30))

    successor = roll(key, admin_user).api_key

    lifetime = successor.expires_at - successor.created_at
    assert lifetime == key.expires_at - key.created_at
    never = roll(ApiKeyFactory(project=project, name="forever", expires_at=None), admin_user).api_key
    assert never.expires_at is None


def test_the_successor_never_outlives_the_parent_of_the_old_key(project, admin_user):
    now = timezone.now()
    parent = ApiKeyFactory(project=project, permissions=MANAGE, expires_at=now + timedelta(days=6))
    with mock.patch("django.utils.timezone.now", return_value=now - timedelta(days=5)):
        # Made 5 days ago for 9 days: its successor would live 9 days from now, past the parent's 6.
        child = services.api_key_create(
            project=project,
            name="child",
            permissions=[catalog.READ_PROJECT],
            expires_at=now + timedelta(days=4),
            created_by_key=parent,
        ).api_key

    successor = roll(child, admin_user).api_key

    assert successor.parent == parent
    assert successor.expires_at == parent.expires_at


def test_the_old_keys_children_hang_from_the_successor_and_die_with_it_not_with_the_old_key(key, admin_user):
    grandchild_of = child_of(key, "child")
    successor = roll(key, admin_user).api_key

    child = ApiKey.objects.get(pk=grandchild_of.api_key.pk)
    assert child.parent == successor and child.created_by_key == key  # who created it stays on record
    services.api_key_revoke(api_key=key, revoked_by=admin_user)  # ends the grace at once
    assert authentication.api_key_authenticate(grandchild_of.secret).ok
    services.api_key_revoke(api_key=successor, revoked_by=admin_user)
    assert authentication.api_key_authenticate(grandchild_of.secret).error == "revoked"


def test_revoking_the_successor_does_not_revive_the_old_key(key, admin_user):
    successor = roll(key, admin_user, grace=timedelta(0)).api_key

    services.api_key_revoke(api_key=successor, revoked_by=admin_user)

    assert authentication.api_key_authenticate(key.secret).error == "retired"


def test_a_key_created_by_a_retiring_key_hangs_from_its_successor(key, admin_user):
    successor = roll(key, admin_user).api_key

    child = child_of(key, "late").api_key

    assert child.parent == successor and child.created_by_key == key


@pytest.mark.parametrize("state", ["revoked", "expired", "rolled", "retired"])
def test_a_key_that_is_revoked_expired_or_rolled_cannot_be_rolled(project, admin_user, key, state):
    if state == "revoked":
        services.api_key_revoke(api_key=key, revoked_by=admin_user)
    elif state == "expired":
        key = expired_api_key(project=project, permissions=MANAGE)
    else:
        roll(key, admin_user, grace=timedelta(0) if state == "retired" else HOUR)

    with pytest.raises(ApiKeyError) as refused:
        roll(key, admin_user)

    assert refused.value.code == "conflict"
    assert ApiKey.objects.filter(name=key.name).count() == (1 if state in ("revoked", "expired") else 2)


def test_nobody_obtains_a_secret_with_more_than_they_hold(project, admin_user, member_user, viewer_user):
    delete = ApiKeyFactory(project=project, name="dangerous", permissions=["can_delete_project_in_project"])

    for user in (member_user, viewer_user):  # a Member lacks delete; a Viewer may not manage keys
        with pytest.raises(ApiKeyError) as refused:
            roll(delete, user)
        assert refused.value.code == "forbidden"
    assert ApiKey.objects.filter(name="dangerous").count() == 1


def test_a_key_rolls_itself_and_the_keys_below_it_only(key, admin_user):
    child = child_of(key, "child").api_key
    sibling = ApiKeyFactory(project=key.project, name="sibling", permissions=[catalog.READ_PROJECT])
    stronger = child_of(key, "same", MANAGE).api_key

    services.api_key_roll(api_key=child, grace=HOUR, rolled_by_key=key)
    for target in (sibling,):
        with pytest.raises(ApiKeyError) as refused:
            services.api_key_roll(api_key=target, grace=HOUR, rolled_by_key=key)
        assert refused.value.code == "forbidden"
    with pytest.raises(ApiKeyError):  # a child may not roll its parent
        services.api_key_roll(api_key=key, grace=HOUR, rolled_by_key=stronger)
    services.api_key_roll(api_key=key, grace=HOUR, rolled_by_key=key)


def test_rolling_is_refused_while_creation_is_disabled(key, admin_user, settings):
    settings.API_KEY_CREATION_DISABLED = True

    with pytest.raises(ApiKeyError) as refused:
        roll(key, admin_user)

    assert refused.value.code == "creation_disabled"


def test_a_rolled_key_cannot_be_unrolled_or_reparented_outside_the_service(key, admin_user):
    roll(key, admin_user)

    with pytest.raises(ImmutableKeyError):
        ApiKey.objects.filter(pk=key.pk).update(retires_at=None)
    with pytest.raises(ImmutableKeyError):
        key.save(update_fields=["retires_at"])


def test_the_daily_clean_up_records_each_ended_grace_once(key, admin_user):
    roll(key, admin_user)
    key.refresh_from_db()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: key.retires_at + timedelta(seconds=1))
        call_command("clear_expired", stdout=open("/dev/null", "w"))  # noqa: SIM115
        call_command("clear_expired", stdout=open("/dev/null", "w"))  # noqa: SIM115

    event = AuditEvent.objects.get(api_key=key, action=AuditEvent.Action.RETIRED)
    assert event.at == key.retires_at and event.actor_user is None


def test_statuses_everywhere_know_retiring_and_retired(key, project, admin_user, client):
    other = ApiKeyFactory(project=project, name="other", permissions=MANAGE)
    roll(key, admin_user)
    roll(other, admin_user, grace=timedelta(0))

    assert list(ApiKey.objects.with_status(Status.RETIRING)) == [key]
    assert list(ApiKey.objects.with_status(Status.RETIRED)) == [other]
    assert not ApiKey.objects.with_status(Status.EXPIRED).exists()
    client.force_login(admin_user)
    page = client.get("/projects/demo/api-keys/").content.decode()
    assert 'badge-retiring" data-testid="status">Retiring' in page
    assert "1 revoked, expired or retired key hidden" in page  # the retired one
    retired = client.get("/projects/demo/api-keys/?status=retired").content.decode()
    assert 'badge-retired" data-testid="status">Retired' in retired


# -- the API ------------------------------------------------------------------------------


def roll_url(target, slug="demo"):
    return f"/api/v1/projects/{slug}/api-keys/{target.public_id}/roll"


def test_a_key_rolls_itself_through_the_api(client, key):
    response = client.post(
        roll_url(key), {"grace_seconds": 3600}, content_type="application/json", **bearer(key.secret)
    )

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["secret"].startswith("cpk_") and body["name"] == "deploy" and body["predecessor"] == key.public_id
    key.refresh_from_db()
    old = client.get("/api/v1/whoami", **bearer(key.secret))
    assert old.status_code == 200 and old["Sunset"] == http_date(key.retires_at.timestamp())
    assert client.get("/api/v1/whoami", **bearer(body["secret"])).status_code == 200
    listed = client.get("/api/v1/projects/demo/api-keys", **bearer(body["secret"])).json()["results"]
    entry = next(e for e in listed if e["id"] == key.public_id)
    assert entry["status"] == "retiring" and entry["successor"] == body["id"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"grace_seconds": True},
        {"grace_seconds": -1},
        {"grace_seconds": 604801},
        {"grace_seconds": "60"},
        {"grace_seconds": 60, "name": "x"},
    ],
    ids=["missing", "bool", "negative", "too-long", "string", "unknown-field"],
)
def test_a_bad_grace_is_a_400_and_rolls_nothing(client, key, payload):
    response = client.post(roll_url(key), payload, content_type="application/json", **bearer(key.secret))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_field"
    assert ApiKey.objects.filter(name="deploy").count() == 1


def test_rolling_a_revoked_key_through_the_api_is_a_409(client, key, admin_user, project):
    target = ApiKeyFactory(project=project, name="gone", permissions=[catalog.READ_PROJECT])
    services.api_key_revoke(api_key=target, revoked_by=admin_user)

    response = client.post(
        roll_url(target), {"grace_seconds": 0}, content_type="application/json", **bearer(key.secret)
    )

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


def test_another_projects_key_cannot_be_rolled_under_the_own_slug(client, key, other_project):
    theirs = ApiKeyFactory(project=other_project, name="theirs")

    response = client.post(
        roll_url(theirs), {"grace_seconds": 0}, content_type="application/json", **bearer(key.secret)
    )

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.successor_id is None


def test_a_retired_key_is_refused_saying_so(client, key):
    client.post(roll_url(key), {"grace_seconds": 0}, content_type="application/json", **bearer(key.secret))

    response = client.get("/api/v1/whoami", **bearer(key.secret))

    assert response.status_code == 401
    assert "retired" in response.json()["detail"]


# -- a client keeps working while its key is rolled ------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_running_client_never_fails_while_its_key_is_rolled(live_server, project):
    """A client calls whoami in a loop; its key is rolled with an hour's grace and it switches secrets."""
    key = ApiKeyFactory(project=project, permissions=MANAGE, expires_at=timezone.now() + timedelta(days=30))
    state = {"secret": key.secret, "answers": [], "stop": False}

    def call(method, path, secret, body=None):
        request = urllib.request.Request(
            live_server.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def client_loop():
        while not state["stop"]:
            state["answers"].append(call("GET", "/api/v1/whoami", state["secret"])[0])

    loop = threading.Thread(target=client_loop)
    loop.start()
    try:
        while len(state["answers"]) < 20:
            threading.Event().wait(0.01)
        status, body = call(
            "POST", f"/api/v1/projects/demo/api-keys/{key.public_id}/roll", key.secret, {"grace_seconds": 3600}
        )
        assert status == 201
        rolled_at = len(state["answers"])
        while len(state["answers"]) < rolled_at + 20:  # the old secret, during the grace period
            threading.Event().wait(0.01)
        state["secret"] = body["secret"]  # the client switches
        switched_at = len(state["answers"])
        while len(state["answers"]) < switched_at + 20:
            threading.Event().wait(0.01)
    finally:
        state["stop"] = True
        loop.join(timeout=30)

    assert len(state["answers"]) >= 60
    assert set(state["answers"]) == {200}


# -- races (PostgreSQL: SQLite serializes writers) ----------------------------------------

ROUNDS = 8


def races_on_postgresql(test):
    """Threads on their own connections, on committed data; PostgreSQL only (SQLite serializes writers)."""
    test = pytest.mark.django_db(transaction=True, serialized_rollback=True)(test)
    test = pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite serializes writers, so requests cannot race"
    )(test)
    return pytest.mark.slow(test)


def attempt(work):
    """Run `work`; its ApiKeyError's code, or "ok"."""
    try:
        work()
    except ApiKeyError as error:
        return error.code
    return "ok"


def no_key_outlives_its_parent():
    for child in ApiKey.objects.active().filter(parent__isnull=False).select_related("parent"):
        assert child.parent.revoked_at is None, child.name
        # And hangs from the head of its parent's line, not from a key that is retiring.
        assert child.parent.successor_id is None, child.name


def race(*works):
    """Each work in its own thread, all released at once; their outcomes in order."""
    return run_threads(len(works), attempt, setup=lambda index: works[index])


def _manager(project):
    return MembershipFactory(project=project, user=UserFactory(), role=role(catalog.ADMINISTRATOR)).user


def _project():
    return ProjectFactory(slug="roll-race")


@races_on_postgresql
def test_two_rolls_at_once_give_one_successor():
    project = _project()
    user = _manager(project)
    for round_number in range(ROUNDS):
        key = ApiKeyFactory(project=project, name=f"twice-{round_number}", permissions=MANAGE)
        outcomes = race(*(lambda key=key: roll(key, user) for _ in range(4)))
        assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
        assert ApiKey.objects.filter(name=key.name).count() == 2


@races_on_postgresql
def test_a_roll_racing_the_revocation_of_the_key_or_its_parent_leaves_no_key_outliving_its_parent():
    project = _project()
    user = _manager(project)
    for round_number in range(ROUNDS):
        parent = ApiKeyFactory(project=project, name=f"parent-{round_number}", permissions=MANAGE)
        key = child_of(parent, f"key-{round_number}", MANAGE).api_key
        target = parent if round_number % 2 else key
        race(
            lambda key=key: roll(key, user),
            lambda target=target: services.api_key_revoke(api_key=target, revoked_by=user),
        )
        no_key_outlives_its_parent()
        assert ApiKey.objects.filter(name=key.name).count() <= 2


@races_on_postgresql
def test_a_roll_racing_a_child_created_by_the_old_key_leaves_the_child_below_the_successor():
    project = _project()
    user = _manager(project)
    for round_number in range(ROUNDS):
        key = ApiKeyFactory(project=project, name=f"busy-{round_number}", permissions=MANAGE)

        def create_child(key=key, round_number=round_number):
            child_of(key, f"child-{round_number}")

        assert race(lambda key=key: roll(key, user), create_child) == ["ok", "ok"]
        child = ApiKey.objects.get(name=f"child-{round_number}")
        assert child.parent == ApiKey.objects.get(pk=key.pk).successor
        no_key_outlives_its_parent()


# -- the console --------------------------------------------------------------------------


def console_roll_url(target, slug="demo"):
    return f"/projects/{slug}/api-keys/{target.public_id}/roll/"


def test_the_roll_confirmation_is_a_dialog_for_htmx_and_a_page_without(client, admin_user, key):
    client.force_login(admin_user)

    dialog = client.get(console_roll_url(key), HTTP_HX_REQUEST="true").content.decode()
    page = client.get(console_roll_url(key)).content.decode()

    assert '<dialog id="roll-dialog"' in dialog and "<html" not in dialog
    assert "<html" in page and "<dialog" not in page
    for html in (dialog, page):
        assert 'name="grace" value="86400" checked' in html  # 24 hours preselected
        assert "Roll API Key" in html and "csrfmiddlewaretoken" in html


def test_rolling_in_the_console_shows_the_new_secret_once_and_the_old_key_retires(client, admin_user, key):
    client.force_login(admin_user)

    response = client.post(console_roll_url(key), {"grace": "3600"})

    assert response.status_code == 201
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "API Key Rolled – View the New Secret" in html
    successor = ApiKey.objects.get(name="deploy", successor__isnull=True, retires_at__isnull=True)
    secret = html.split('id="api-key-secret" class="secret" value="')[1].split('"')[0]
    assert authentication.api_key_authenticate(secret).api_key == successor
    key.refresh_from_db()
    assert key.status() == Status.RETIRING and key.successor == successor
    assert timedelta(minutes=59) < key.retires_at - timezone.now() <= HOUR

    again = client.post(console_roll_url(key), {"grace": "3600"})  # reload, back, double click
    assert again.status_code == 409
    assert "already rolled" in again.content.decode() and 'id="api-key-secret"' not in again.content.decode()
    assert ApiKey.objects.filter(name="deploy").count() == 2


@pytest.mark.parametrize("grace", ["", "60", "abc", "-1"])
def test_a_grace_the_console_does_not_offer_is_a_form_error(client, admin_user, key, grace):
    client.force_login(admin_user)

    response = client.post(console_roll_url(key), {"grace": grace})

    assert response.status_code == 400
    assert "Choose how long the old key keeps working." in response.content.decode()
    assert ApiKey.objects.filter(name="deploy").count() == 1


def test_who_may_not_roll_is_told_and_nothing_changes(client, project, member_user, viewer_user, outsider):
    dangerous = ApiKeyFactory(project=project, name="dangerous", permissions=["can_delete_project_in_project"])

    client.force_login(member_user)  # may manage keys, but lacks a permission of this one
    refused = client.post(console_roll_url(dangerous), {"grace": "0"})
    assert refused.status_code == 403
    assert "can_delete_project_in_project" in refused.content.decode()
    client.force_login(viewer_user)
    assert client.post(console_roll_url(dangerous), {"grace": "0"}).status_code == 403
    client.force_login(outsider)
    assert client.post(console_roll_url(dangerous), {"grace": "0"}).status_code == 404
    assert ApiKey.objects.filter(name="dangerous").count() == 1


def test_the_list_and_the_key_page_offer_roll_only_where_it_can_work(client, admin_user, key, project, settings):
    gone = ApiKeyFactory(project=project, name="gone")
    services.api_key_revoke(api_key=gone, revoked_by=admin_user)
    client.force_login(admin_user)

    listing = client.get("/projects/demo/api-keys/?status=all").content.decode()
    assert f'href="{console_roll_url(key)}"' in listing
    assert f'href="{console_roll_url(gone)}"' not in listing
    assert 'aria-label="Roll “deploy”"' in listing
    assert f'href="{console_roll_url(key)}"' in client.get(f"/projects/demo/api-keys/{key.public_id}/").content.decode()

    settings.API_KEY_CREATION_DISABLED = True
    assert f'href="{console_roll_url(key)}"' not in client.get("/projects/demo/api-keys/").content.decode()
    page = client.get(console_roll_url(key)).content.decode()
    assert "Creating new API keys is disabled" in page and 'name="grace"' not in page


def test_the_key_pages_say_whether_the_old_secret_was_used_after_the_roll(client, admin_user, key):
    successor = roll(key, admin_user).api_key
    client.force_login(admin_user)

    assert "Not used since the roll." in client.get(f"/projects/demo/api-keys/{key.public_id}/").content.decode()
    authentication.api_key_authenticate(key.secret)  # something still sends the old secret

    for page_of in (key, successor):
        html = client.get(f"/projects/demo/api-keys/{page_of.public_id}/").content.decode()
        assert "Still used, last on" in html and "something still sends the old secret." in html


def test_both_rows_say_whether_the_old_secret_is_still_in_use_without_a_query_per_row(
    client, admin_user, key, django_assert_max_num_queries
):
    successor = roll(key, admin_user).api_key
    client.force_login(admin_user)
    client.get("/projects/demo/api-keys/")  # warm the session and permission caches

    page = client.get("/projects/demo/api-keys/").content.decode()
    assert page.count("Old secret unused since the roll") == 2

    authentication.api_key_authenticate(key.secret)
    for _ in range(5):  # more rolled keys must not cost more queries
        roll(ApiKeyFactory(project=key.project, permissions=MANAGE), admin_user)
    with django_assert_max_num_queries(8):
        page = client.get("/projects/demo/api-keys/").content.decode()
    assert page.count("Old secret still in use") == 2  # the old key's row and its successor's
    assert successor.public_id in page
