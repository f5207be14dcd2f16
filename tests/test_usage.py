"""What a key is used for: `whoami?permission=`, per-permission last use, last address and user agent, narrower keys."""

from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from apikeys import usage
from apikeys.models import ApiKey
from projects import catalog
from tests.factories import ApiKeyFactory, MembershipFactory, RoleFactory, UserFactory
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

READ = catalog.READ_PROJECT
OPENSTACK_VIEWER = "can_become_viewer_in_openstack"
DATABASES_READ = "can_read_databases_in_dbaas"
EIGHT = [p.codename for p in catalog.CATALOG if not p.danger][:8]


@pytest.fixture
def key(project):
    return ApiKeyFactory(project=project, name="deploy", permissions=[READ, OPENSTACK_VIEWER])


def stored(api_key) -> ApiKey:
    return ApiKey.objects.get(pk=api_key.pk)


def ask(client, api_key, *permissions, **extra):
    query = "&".join(f"permission={p}" for p in permissions)
    return client.get(f"/api/v1/whoami?{query}", HTTP_AUTHORIZATION=f"Bearer {api_key.secret}", **extra)


def detail_page(client, api_key):
    return client.get(reverse("apikeys:detail", args=[api_key.project.slug, api_key.public_id]))


# -- "may this key do X?" ---------------------------------------------------------


def test_asking_for_a_held_permission_answers_200_with_the_key(client, key):
    response = ask(client, key, OPENSTACK_VIEWER)

    assert response.status_code == 200
    assert response.json()["type"] == "api_key" and response.json()["id"] == key.public_id


def test_asking_for_a_missing_permission_answers_403_naming_it(client, key):
    response = ask(client, key, DATABASES_READ)

    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert DATABASES_READ in response.json()["detail"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("permission=can_fly_in_project", "Unknown permission: can_fly_in_project"),
        ("permission=", "Unknown permission"),
        (f"permission={READ}&permission={OPENSTACK_VIEWER}", "one permission per call"),
    ],
)
def test_an_unknown_empty_or_repeated_permission_is_a_400_and_records_nothing(client, key, query, reason):
    response = client.get(f"/api/v1/whoami?{query}", HTTP_AUTHORIZATION=f"Bearer {key.secret}")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parameter" and reason in response.json()["detail"]
    assert stored(key).permissions_used == {} and stored(key).permissions_refused == {}


def test_each_answer_counts_as_a_use_or_a_refused_attempt(client, key):
    before = int(timezone.now().timestamp())
    ask(client, key, OPENSTACK_VIEWER)
    ask(client, key, DATABASES_READ)

    key = stored(key)
    assert set(key.permissions_used) == {OPENSTACK_VIEWER} and key.permissions_used[OPENSTACK_VIEWER] >= before
    assert set(key.permissions_refused) == {DATABASES_READ}


def test_an_endpoint_records_the_permission_it_needs(client, key):
    response = client.get(f"/api/v1/projects/{key.project.slug}", HTTP_AUTHORIZATION=f"Bearer {key.secret}")

    assert response.status_code == 200
    assert set(stored(key).permissions_used) == {READ}


def test_plain_whoami_needs_no_permission_and_records_none(client, key):
    assert client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {key.secret}").status_code == 200

    assert stored(key).permissions_used == {}


# -- at most one write per key and permission a minute ---------------------------


def test_the_first_check_writes_once_and_the_next_within_a_minute_writes_nothing(
    client, key, django_assert_num_queries
):
    with django_assert_num_queries(3):  # the key lookup, its last use, the permission's last use
        assert ask(client, key, OPENSTACK_VIEWER).status_code == 200
    with django_assert_num_queries(1):  # the key lookup: both times came with its row
        assert ask(client, key, OPENSTACK_VIEWER).status_code == 200
    with django_assert_num_queries(2):  # another permission: its own write
        assert ask(client, key, READ).status_code == 200
    with django_assert_num_queries(2):  # a refusal is recorded the same way
        assert ask(client, key, DATABASES_READ).status_code == 403
    with django_assert_num_queries(1):
        assert ask(client, key, DATABASES_READ).status_code == 403


def test_a_check_a_minute_later_writes_again(client, key):
    ask(client, key, OPENSTACK_VIEWER)
    first = stored(key).permissions_used[OPENSTACK_VIEWER]
    later = timezone.now() + timedelta(seconds=61)

    with mock.patch("django.utils.timezone.now", return_value=later):
        ask(client, key, OPENSTACK_VIEWER)

    assert stored(key).permissions_used[OPENSTACK_VIEWER] == int(later.timestamp()) > first


def test_two_writers_with_stale_copies_of_the_key_keep_both_permissions(key):
    """The documented rule: each write sets only its own permission, inside the database."""
    first, second = stored(key), stored(key)  # two requests that read the row at the same time
    now = timezone.now()

    usage.record_permission_check(first, READ, now)
    usage.record_permission_check(second, OPENSTACK_VIEWER, now)

    assert set(stored(key).permissions_used) == {READ, OPENSTACK_VIEWER}


# -- last address and user agent ---------------------------------------------------


def test_the_last_address_and_user_agent_are_recorded(client, key):
    ask(client, key, READ, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="deploy-bot/2.1 (+https://example.com)")

    key = stored(key)
    assert key.last_used_ip == "203.0.113.9"
    assert key.last_used_user_agent == "deploy-bot/2.1 (+https://example.com)"


def test_a_user_agent_is_read_as_utf8_on_one_line_and_truncated(client, key):
    raw = "bot\tversion ü " + "x" * 400
    # WSGI hands header bytes over as latin-1 text.
    client.get(
        "/api/v1/whoami",
        HTTP_AUTHORIZATION=f"Bearer {key.secret}",
        HTTP_USER_AGENT=raw.encode().decode("latin-1"),
    )

    agent = stored(key).last_used_user_agent
    assert agent.startswith("bot version ü x") and len(agent) == usage.USER_AGENT_MAX_LENGTH


def test_the_key_page_shows_address_and_an_escaped_user_agent(client, admin_user, key):
    ask(client, key, READ, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="<script>alert(1)</script>")
    client.force_login(admin_user)

    page = detail_page(client, key)

    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert parse(page).find(data_testid="user-agent").text() == "<script>alert(1)</script>"
    assert "203.0.113.9" in page.text


def test_the_api_returns_the_usage(client, project, key):
    manager = ApiKeyFactory(project=project, permissions=[catalog.CREATE_API_KEYS, READ])
    ask(client, key, READ, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="bot/1")
    ask(client, key, DATABASES_READ)

    listed = client.get(f"/api/v1/projects/{project.slug}/api-keys", HTTP_AUTHORIZATION=f"Bearer {manager.secret}")

    entry = next(k for k in listed.json()["results"] if k["id"] == key.public_id)
    assert entry["last_used_ip"] == "203.0.113.9" and entry["last_used_user_agent"] == "bot/1"
    assert entry["permissions_last_needed"][OPENSTACK_VIEWER] is None  # never checked
    assert entry["permissions_last_needed"][READ].endswith("Z")
    assert list(entry["permissions_last_refused"]) == [DATABASES_READ]


# -- the key's page and "Create a narrower key" -----------------------------------


def permission_uses(page) -> dict[str, str]:
    return {
        item.attrs["data-codename"]: item.find("span", class_="perm-use").text()
        for item in parse(page).find_all("li", data_codename=True)
    }


def test_the_key_page_lists_each_permission_with_its_last_use(client, admin_user, key):
    ask(client, key, READ)
    ask(client, key, DATABASES_READ)
    client.force_login(admin_user)

    page = detail_page(client, key)

    uses = permission_uses(page)
    assert uses[READ].startswith("Last needed")
    assert uses[OPENSTACK_VIEWER] == "Never checked through us"
    assert DATABASES_READ in parse(page).find("ul", class_="refused-list").text()


def narrower_link(page):
    links = [a for a in parse(page).find_all("a") if a.text() == "Create a narrower key"]
    return links[0] if links else None


def checked(response) -> list[str]:
    return [
        box.attrs["value"] for box in parse(response).find_all("input", name="permissions") if "checked" in box.attrs
    ]


def test_a_key_that_needed_two_of_eight_permissions_gets_a_narrower_key_that_works_where_it_did(
    client, admin_user, project
):
    wide = ApiKeyFactory(project=project, name="wide", permissions=EIGHT, allowed_ips=["127.0.0.0/8"])
    other_needed = EIGHT[-1]
    assert READ in EIGHT and other_needed != READ
    assert client.get(f"/api/v1/projects/{project.slug}", HTTP_AUTHORIZATION=f"Bearer {wide.secret}").status_code == 200
    assert ask(client, wide, other_needed).status_code == 200
    client.force_login(admin_user)

    page = detail_page(client, wide)
    assert "needed 2 of its 8 permissions in the last 30 days" in page.text
    link = narrower_link(page)
    form = client.get(link.attrs["href"])

    assert checked(form) == [code for code in EIGHT if code in {READ, other_needed}]
    assert "never checked through us" in parse(form).find(id="narrower-notice").text()
    assert parse(form).find("textarea", name="allowed_ips").text() == "127.0.0.0/8"
    fields = {
        "name": "narrow",
        "permissions": checked(form),
        "expiration": "30",
        "allowed_ips": "127.0.0.0/8",
        "ticket": parse(form).find("input", name="ticket").attrs["value"],
    }
    created = client.post(reverse("apikeys:create", args=[project.slug]), fields)
    assert created.status_code == 201
    secret = parse(created).find(id="api-key-secret").attrs["value"]
    narrow = ApiKey.objects.get(name="narrow")
    narrow.secret = secret
    assert narrow.permissions == checked(form) and narrow.allowed_ips == ["127.0.0.0/8"]
    # Where the old key was used, the new one works; what it never needed, it cannot do.
    assert client.get(f"/api/v1/projects/{project.slug}", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    assert ask(client, narrow, other_needed).status_code == 200
    assert ask(client, narrow, EIGHT[1] if EIGHT[1] not in {READ, other_needed} else EIGHT[2]).status_code == 403


def test_permissions_needed_more_than_30_days_ago_are_not_prefilled(client, admin_user, key):
    long_ago = timezone.now() - timedelta(days=31)
    with mock.patch("django.utils.timezone.now", return_value=long_ago):
        ask(client, key, OPENSTACK_VIEWER)
    ask(client, key, READ)
    client.force_login(admin_user)

    form = client.get(reverse("apikeys:create", args=[key.project.slug]) + f"?narrower={key.public_id}")

    assert checked(form) == [READ]
    assert "not needed in the last 30 days" in parse(form).find(id="narrower-notice").text()


def test_a_key_that_needed_all_its_permissions_offers_no_narrower_key(client, admin_user, key):
    ask(client, key, READ)
    ask(client, key, OPENSTACK_VIEWER)
    client.force_login(admin_user)

    page = detail_page(client, key)

    assert narrower_link(page) is None
    assert "Every permission of this key was needed in the last 30 days." in page.text


def test_a_reader_sees_the_usage_but_is_not_offered_a_narrower_key(client, project, key):
    reader = UserFactory()
    MembershipFactory(project=project, user=reader, role=RoleFactory(codenames=[catalog.READ_API_KEYS]))
    client.force_login(reader)

    page = detail_page(client, key)

    assert page.status_code == 200 and "Never checked through us" in page.text
    assert narrower_link(page) is None
