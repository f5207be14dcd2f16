"""last_used_at: set on use, written at most once a minute, shown in the console.

The interval is apikeys.usage.INTERVAL.
"""

from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apikeys import authentication, services, tokens, usage
from apikeys.models import ApiKey
from projects import catalog
from projects.templatetags.console import when
from tests.factories import ApiKeyFactory, UserFactory, expired_api_key
from tests.htmltree import parse

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(project):
    return ApiKeyFactory(project=project, name="ci", permissions=[catalog.READ_PROJECT])


def stored(api_key) -> ApiKey:
    return ApiKey.objects.get(pk=api_key.pk)


def whoami(client, api_key):
    return client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")


def test_a_new_key_was_never_used(key):
    assert stored(key).last_used_at is None


def test_the_first_use_sets_it(client, key):
    before = timezone.now()
    assert whoami(client, key).status_code == 200
    after = timezone.now()

    assert before <= stored(key).last_used_at <= after


def test_the_first_use_through_the_service_sets_it_to_now(key, django_assert_num_queries):
    moment = timezone.now() - timedelta(hours=1)

    with django_assert_num_queries(2):  # the lookup and the one conditional UPDATE
        result = authentication.api_key_authenticate(key.secret, now=moment)

    assert result.ok
    assert stored(key).last_used_at == moment


@pytest.mark.parametrize("later", [timedelta(seconds=1), timedelta(seconds=30), timedelta(seconds=59)])
def test_it_is_not_rewritten_within_a_minute(key, later, django_assert_num_queries):
    first = timezone.now() - timedelta(hours=1)
    authentication.api_key_authenticate(key.secret, now=first)

    with django_assert_num_queries(1):  # the lookup only
        assert authentication.api_key_authenticate(key.secret, now=first + later).ok

    assert stored(key).last_used_at == first


@pytest.mark.parametrize("later", [timedelta(seconds=61), timedelta(minutes=5), timedelta(days=3)])
def test_it_is_rewritten_after_a_minute(key, later, django_assert_num_queries):
    first = timezone.now() - timedelta(days=4)
    authentication.api_key_authenticate(key.secret, now=first)

    with django_assert_num_queries(2):
        assert authentication.api_key_authenticate(key.secret, now=first + later).ok

    assert stored(key).last_used_at == first + later


def test_through_the_api_a_second_call_within_a_minute_writes_nothing(client, key, django_assert_num_queries):
    whoami(client, key)
    first = stored(key).last_used_at

    with django_assert_num_queries(1):
        assert whoami(client, key).status_code == 200

    assert stored(key).last_used_at == first


def test_through_the_api_a_call_a_minute_later_writes_again(client, key, django_assert_num_queries):
    whoami(client, key)
    first = stored(key).last_used_at
    later = first + timedelta(minutes=2)

    with mock.patch("django.utils.timezone.now", return_value=later), django_assert_num_queries(2):
        assert whoami(client, key).status_code == 200

    assert stored(key).last_used_at == later


def test_a_worker_with_a_stale_copy_does_not_rewrite_it_within_a_minute(key):
    """The UPDATE is conditional in the database, not only in Python."""
    stale = stored(key)  # loaded before anybody used the key
    first = timezone.now()
    authentication.api_key_authenticate(key.secret, now=first)

    usage.touch_last_used(stale, first + timedelta(seconds=10))

    assert stored(key).last_used_at == first


def test_a_stale_copy_never_moves_it_backwards(key):
    start = timezone.now() - timedelta(hours=1)
    authentication.api_key_authenticate(key.secret, now=start)
    stale = stored(key)
    authentication.api_key_authenticate(key.secret, now=start + timedelta(minutes=10))

    usage.touch_last_used(stale, start + timedelta(minutes=2))

    assert stored(key).last_used_at == start + timedelta(minutes=10)


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param(lambda api_key: tokens.generate(public_id=api_key.public_id).raw, id="wrong secret"),
        pytest.param(
            lambda api_key: api_key.secret[:-1] + ("A" if api_key.secret[-1] != "A" else "B"), id="bad checksum"
        ),
    ],
)
def test_a_failed_authentication_does_not_count_as_use(client, key, presented):
    response = client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {presented(key)}")

    assert response.status_code == 401
    assert stored(key).last_used_at is None


def test_a_revoked_key_presented_with_its_secret_is_not_used(client, key):
    services.api_key_revoke(api_key=key, revoked_by=UserFactory(username="revoker"))

    assert whoami(client, key).status_code == 401
    assert stored(key).last_used_at is None


def test_an_expired_key_presented_with_its_secret_is_not_used(client, project):
    api_key = expired_api_key(project=project)

    assert whoami(client, api_key).status_code == 401
    assert stored(api_key).last_used_at is None


def test_the_api_list_reports_it(client, project, key):
    manager = ApiKeyFactory(project=project, name="manager", permissions=[catalog.CREATE_API_KEYS])
    url = "/api/v1/projects/demo/api-keys"

    def reported():
        body = client.get(url, HTTP_AUTHORIZATION=f"Bearer {manager.secret}").json()
        return {entry["name"]: entry["last_used_at"] for entry in body["results"]}

    assert reported()["ci"] is None
    whoami(client, key)
    assert reported()["ci"] == stored(key).last_used_at.isoformat().replace("+00:00", "Z")


# -- the console ----------------------------------------------------------------------


def last_used_cell(response, api_key):
    entry = parse(response).by_id(f"key-{api_key.public_id}")
    assert entry is not None
    cell = entry.find("td", data_label="Last used")
    assert cell is not None, "no 'Last used' column"
    return cell


def test_the_console_shows_never_for_an_unused_key(client, admin_user, key):
    client.force_login(admin_user)

    cell = last_used_cell(client.get("/projects/demo/api-keys/"), key)

    assert cell.text() == "never"
    assert cell.find("time") is None


def test_the_console_shows_how_long_ago_a_key_was_used(client, admin_user, key):
    used = timezone.now() - timedelta(minutes=5, seconds=10)
    authentication.api_key_authenticate(key.secret, now=used)
    client.force_login(admin_user)

    cell = last_used_cell(client.get("/projects/demo/api-keys/"), key)

    assert cell.text() == "5 minutes ago"
    assert datetime.fromisoformat(cell.find("time").attrs["datetime"]) == used
    assert cell.find("time").attrs["title"] == when(used)


def test_the_console_shows_days_for_an_old_use(client, admin_user, key):
    authentication.api_key_authenticate(key.secret, now=timezone.now() - timedelta(days=3, hours=1))
    client.force_login(admin_user)

    cell = last_used_cell(client.get("/projects/demo/api-keys/"), key)

    assert cell.text() == "3 days ago"
