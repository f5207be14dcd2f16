"""The API Keys tab of a project: who may see and do what, and what the list shows."""

import itertools
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apikeys import authentication, services
from apikeys.models import ApiKey, AuditEvent, CreationTicket, Status
from projects import catalog
from projects.templatetags.console import when
from tests.factories import (
    ApiKeyFactory,
    MembershipFactory,
    ProjectFactory,
    RoleFactory,
    UserFactory,
    expired_api_key,
)
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SERIAL = itertools.count()


def list_url(project, **query) -> str:
    url = reverse("apikeys:list", args=[project.slug])
    if query:
        url += "?" + urlencode(query)
    return url


def create_url(project) -> str:
    return reverse("apikeys:create", args=[project.slug])


def revoke_url(project, key) -> str:
    return reverse("apikeys:revoke", args=[project.slug, key.public_id])


def entries(response) -> list:
    return parse(response).find_all("tr", class_="key-entry")


def name_of(row) -> str:
    return row.find("a", class_="key-name").text()


def entry(response, key):
    found = parse(response).by_id(f"key-{key.public_id}")
    assert found is not None, f"{key.name} is not listed"
    return found


def facts(row) -> dict[str, str]:
    """The row's cells by column: {"Key": "cpk_…abcd", "Last used": "never", ...};
    "Description" is the line under the name."""
    found = {cell.attrs["data-label"]: cell.text() for cell in row.find_all("td") if cell.has("data-label")}
    description = row.find("span", class_="description-text")
    found["Description"] = description.text() if description is not None else ""
    return found


def badge(row) -> str:
    return row.find("span", data_testid="status").text()


# -- who may do what ------------------------------------------------------------------

KINDS = ["anonymous", "outsider", "viewer", "no_key_rights", "member", "admin", "superuser"]
ACTIONS = ["list", "detail", "create_get", "create_post", "revoke_get", "revoke_post"]

# Non-members never learn the project exists; members without rights get 403.
EXPECTED = {
    "outsider": dict.fromkeys(ACTIONS, 404),
    "viewer": {"list": 200, "detail": 200} | dict.fromkeys(ACTIONS[2:], 403),
    "no_key_rights": dict.fromkeys(ACTIONS, 403),
}
MANAGER_STATUS = {"list": 200, "detail": 200, "create_get": 200, "create_post": 201, "revoke_get": 200}


@pytest.fixture
def actor(request, project):
    kind = request.param
    if kind == "anonymous":
        return None
    if kind == "no_key_rights":
        return MembershipFactory(
            project=project, user=UserFactory(username="dave"), role=RoleFactory(codenames=[catalog.READ_PROJECT])
        ).user
    fixture = {"outsider": "outsider", "viewer": "viewer_user", "member": "member_user", "admin": "admin_user"}
    return request.getfixturevalue(fixture.get(kind, kind))


def perform(client, action: str, htmx: bool, project, key, user):
    headers = dict(HTMX) if htmx else {}
    if action == "list":
        if htmx:
            headers["HX-Target"] = "key-list"
        return client.get(list_url(project), headers=headers)
    if action == "detail":
        return client.get(reverse("apikeys:detail", args=[project.slug, key.public_id]), headers=headers)
    if action == "create_get":
        return client.get(create_url(project), headers=headers)
    if action == "create_post":
        ticket = CreationTicket.objects.issue(user=user or UserFactory(username="ticket-holder"))
        data = {"name": "new key", "permissions": [catalog.READ_PROJECT], "expiration": "30", "ticket": ticket}
        return client.post(create_url(project), data, headers=headers)
    if action == "revoke_get":
        return client.get(revoke_url(project, key), headers=headers)
    return client.post(revoke_url(project, key), headers=headers)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("actor", KINDS, indirect=True)
def test_access_to_every_view(client, project, actor, action, htmx, request):
    kind = request.node.callspec.params["actor"]
    key = ApiKeyFactory(project=project, name="existing")
    if actor is not None:
        client.force_login(actor)

    response = perform(client, action, htmx, project, key, actor)

    key.refresh_from_db()
    if kind == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif kind in EXPECTED:
        assert response.status_code == EXPECTED[kind][action]
    elif action == "revoke_post":
        assert response.status_code == (200 if htmx else 302)
        assert key.revoked_at is not None
        assert key.revoked_by == actor
        return
    else:
        assert response.status_code == MANAGER_STATUS[action]
        if action == "create_post":
            assert ApiKey.objects.filter(name="new key", created_by=actor).exists()
        return
    # Refused: nothing changed.
    assert key.revoked_at is None
    assert not ApiKey.objects.filter(name="new key").exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.REVOKED).count() == 0


def test_not_found_page_does_not_name_the_project(client, project, outsider):
    client.force_login(outsider)

    response = client.get(list_url(project))

    assert response.status_code == 404
    assert project.name not in response.content.decode()


def test_unknown_project_is_404_like_a_foreign_one(client, outsider):
    client.force_login(outsider)

    assert client.get(reverse("apikeys:list", args=["no-such-project"])).status_code == 404


def test_forbidden_page_names_the_missing_permission(client, project, viewer_user):
    client.force_login(viewer_user)

    response = client.get(create_url(project))

    assert response.status_code == 403
    assert catalog.CREATE_API_KEYS in response.content.decode()


def test_viewer_sees_the_list_read_only(client, project, viewer_user):
    key = ApiKeyFactory(project=project, name="ci")
    client.force_login(viewer_user)

    response = client.get(list_url(project))

    assert response.status_code == 200
    page = parse(response)
    row = entry(response, key)
    assert name_of(row) == "ci"
    links = [a.attrs.get("href", "") for a in page.find_all("a")]
    assert not any(href.startswith(create_url(project)) for href in links)
    assert revoke_url(project, key) not in response.content.decode()
    assert "Create a new key with these permissions" not in response.content.decode()
    assert not [b for b in page.find_all("button") if b.text() == "Create"]
    assert "read-only" in response.content.decode()


@pytest.mark.parametrize("user_fixture", ["member_user", "admin_user"])
def test_manager_sees_create_and_revoke_controls(client, project, user_fixture, request):
    key = ApiKeyFactory(project=project)
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.get(list_url(project))

    page = parse(response)
    create = [a for a in page.find_all("a") if a.attrs.get("href") == create_url(project)]
    assert create and create[0].text() == "Create"
    revoke = entry(response, key).find("a", href=revoke_url(project, key))
    assert revoke is not None
    assert revoke.text().startswith("Revoke")
    assert revoke.attrs["hx-get"] == revoke_url(project, key)


def test_htmx_list_request_gets_only_the_list_fragment(client, project, admin_user):
    key = ApiKeyFactory(project=project)
    client.force_login(admin_user)

    response = client.get(list_url(project), headers={**HTMX, "HX-Target": "key-list"})

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert entry(response, key)


# -- what the list shows ---------------------------------------------------------------


def test_entry_shows_the_facts_of_the_key(client, project, admin_user, member_user):
    key = ApiKeyFactory(
        project=project,
        name="deploy bot",
        description="Deploys from CI",
        tags=["ci", "production"],
        permissions=[catalog.READ_PROJECT, "can_read_clusters_in_metakube"],
        created_by=member_user,
    )
    client.force_login(admin_user)

    response = client.get(list_url(project))

    row = entry(response, key)
    shown = facts(row)
    assert name_of(row) == "deploy bot"
    assert shown["Description"] == "Deploys from CI"
    assert [tag.text() for tag in row.find_all("span", class_="tag")] == ["ci", "production"]
    # Labels, not codenames; a resource's actions share one label.
    assert [perm.text() for perm in row.find_all("span", class_="perm")] == ["View the project", "Clusters: view"]
    assert shown["Permissions"].startswith("2 permissions · read-only")
    assert shown["Key"] == key.masked
    assert key.secret not in response.content.decode()
    # Relative and absolute, in the one date style.
    assert shown["Expires"] == f"in 2 months {when(key.expires_at)}"
    expires = [t for t in row.find_all("time") if t.attrs["datetime"] == key.expires_at.isoformat()]
    assert expires
    assert shown["Created"] == f"just now by {member_user.username}"
    assert shown["Last used"] == "never"


def test_dangerous_permissions_are_flagged_in_the_summary(client, project, admin_user):
    key = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, "can_delete_project_in_project"])
    client.force_login(admin_user)

    row = entry(client.get(list_url(project)), key)

    assert facts(row)["Permissions"].startswith("2 permissions · 1 dangerous")
    danger = row.find_all("span", class_="perm-danger")
    assert [perm.text() for perm in danger] == ["Delete the project"]
    assert "delete the project" in danger[0].attrs["title"]


def test_last_used_shows_once_the_key_was_used(client, project, admin_user):
    key = ApiKeyFactory(project=project)
    assert authentication.api_key_authenticate(key.secret).ok
    client.force_login(admin_user)

    shown = facts(entry(client.get(list_url(project)), key))

    assert shown["Last used"] == "just now"


def test_key_without_expiry_shows_never(client, project, admin_user):
    key = ApiKeyFactory(project=project, expires_at=None)
    client.force_login(admin_user)

    assert facts(entry(client.get(list_url(project)), key))["Expires"] == "never"


def test_key_created_by_a_key_names_it(client, project, admin_user):
    parent = ApiKeyFactory(
        project=project, name="automation", permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT]
    )
    child = services.api_key_create(
        project=project,
        name="child",
        permissions=[catalog.READ_PROJECT],
        created_by_key=parent,
        expires_at=timezone.now() + timedelta(days=1),
    ).api_key
    client.force_login(admin_user)

    row = entry(client.get(list_url(project)), child)
    assert facts(row)["Created"].endswith("by the key automation")
    assert row.find("a", href=reverse("apikeys:detail", args=[project.slug, parent.public_id])) is not None


def test_status_badges(client, project, admin_user):
    now = timezone.now()
    active = ApiKeyFactory(project=project, name="active", expires_at=now + timedelta(days=7, hours=1))
    unlimited = ApiKeyFactory(project=project, name="unlimited", expires_at=None)
    soon = ApiKeyFactory(project=project, name="soon", expires_at=now + timedelta(days=7, minutes=-1))
    very_soon = ApiKeyFactory(project=project, name="very soon", expires_at=now + timedelta(hours=1))
    expired = expired_api_key(project=project, name="expired")
    revoked = ApiKeyFactory(project=project, name="revoked")
    services.api_key_revoke(api_key=revoked, revoked_by=admin_user)
    client.force_login(admin_user)

    response = client.get(list_url(project, status="all"))

    assert badge(entry(response, active)) == "Active"
    assert badge(entry(response, unlimited)) == "Active"
    assert badge(entry(response, soon)) == "Expires soon"
    assert badge(entry(response, very_soon)) == "Expires soon"
    assert badge(entry(response, expired)) == "Expired"
    assert badge(entry(response, revoked)) == "Revoked"
    assert facts(entry(response, revoked))["Status"] == "Revoked just now"
    # No revoke control on a revoked key.
    assert entry(response, revoked).find("a", href=revoke_url(project, revoked)) is None


def test_list_is_paginated_by_25(client, project, admin_user):
    for n in range(30):
        ApiKeyFactory(project=project, name=f"key {n:02}")
    client.force_login(admin_user)

    first = client.get(list_url(project))
    second = client.get(list_url(project, page=2))

    assert len(entries(first)) == 25
    assert len(entries(second)) == 5
    assert "Page 1 of 2" in parse(first).find("nav", class_="pagination").text()
    next_link = [a for a in parse(first).find_all("a") if a.text() == "Next"]
    assert next_link and next_link[0].attrs["href"] == "?page=2"
    names = {name_of(row) for row in entries(first) + entries(second)}
    assert names == {f"key {n:02}" for n in range(30)}
    # Newest first.
    assert name_of(entries(first)[0]) == "key 29"


def test_pagination_keeps_the_filters(client, project, admin_user):
    for n in range(27):
        ApiKeyFactory(project=project, name=f"ci {n:02}", tags=["ci"])
    client.force_login(admin_user)

    response = client.get(list_url(project, q="ci", status="active"))

    next_link = [a for a in parse(response).find_all("a") if a.text() == "Next"]
    assert next_link[0].attrs["href"] == "?status=active&q=ci&page=2"
    assert len(entries(client.get(list_url(project, q="ci", status="active", page=2)))) == 2


def test_out_of_range_page_shows_the_last_page(client, project, admin_user):
    for n in range(26):
        ApiKeyFactory(project=project, name=f"k{n}")
    client.force_login(admin_user)

    beyond = client.get(list_url(project, page="99"))
    garbage = client.get(list_url(project, page="abc"))

    assert beyond.status_code == garbage.status_code == 200
    assert [name_of(row) for row in entries(beyond)] == ["k0"]
    assert len(entries(garbage)) == 25


@pytest.fixture
def assorted_keys(project, admin_user):
    keys = {
        "alpha": ApiKeyFactory(project=project, name="alpha", tags=["ci"]),
        "beta": ApiKeyFactory(project=project, name="beta", tags=["production"]),
        "gamma": ApiKeyFactory(project=project, name="gamma", tags=["ci-nightly"]),
        "soon": ApiKeyFactory(project=project, name="soon", expires_at=timezone.now() + timedelta(days=2)),
        "expired": expired_api_key(project=project, name="expired"),
    }
    services.api_key_revoke(api_key=keys["gamma"], revoked_by=admin_user)
    return keys


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "revoked"}, {"gamma"}),
        ({"status": "expired"}, {"expired"}),
        ({"status": "expires_soon"}, {"soon"}),
        ({"status": "active"}, {"alpha", "beta", "soon"}),
        ({}, {"alpha", "beta", "soon"}),  # revoked and expired keys are hidden by default
        ({"status": "all"}, {"alpha", "beta", "gamma", "soon", "expired"}),
        ({"q": "alp"}, {"alpha"}),
        ({"q": "BETA"}, {"beta"}),
        ({"q": "production"}, {"beta"}),
        ({"q": "ci"}, {"alpha", "gamma"}),  # a search shows every status
        ({"q": "exp"}, {"expired"}),
        ({"q": "ci", "status": "active"}, {"alpha"}),
        ({"q": "nothing-like-this"}, set()),
        ({"q": "["}, set()),  # JSON punctuation of the stored tags matches nothing
        ({"q": '"'}, set()),
    ],
    ids=lambda value: str(value),
)
def test_filter_by_status_and_search_by_name_or_tag(client, project, admin_user, assorted_keys, query, expected):
    client.force_login(admin_user)

    response = client.get(list_url(project, **query))

    assert response.status_code == 200
    assert {name_of(row) for row in entries(response)} == expected
    if not expected:
        assert "No keys match" in response.content.decode()


def test_default_view_says_how_many_keys_it_hides_and_links_to_them(client, project, admin_user, assorted_keys):
    client.force_login(admin_user)

    response = client.get(list_url(project))

    hidden = [a for a in parse(response).find_all("a") if "hidden" in a.text()]
    assert [a.text() for a in hidden] == ["2 revoked, expired or retired keys hidden"]
    shown = client.get(list_url(project) + hidden[0].attrs["href"])
    assert {name_of(row) for row in entries(shown)} == {"alpha", "beta", "gamma", "soon", "expired"}
    assert "hidden" not in parse(shown).find("div", class_="list-meta").text()


def test_only_revoked_and_expired_keys_shows_a_way_to_them(client, project, admin_user):
    expired_api_key(project=project, name="gone")
    client.force_login(admin_user)

    response = client.get(list_url(project))

    assert entries(response) == []
    assert "1 revoked, expired or retired key is hidden." in parse(response).find("div", class_="empty-state").text()
    assert parse(response).find("a", href="?status=all") is not None


def test_htmx_filter_returns_the_filtered_fragment(client, project, admin_user, assorted_keys):
    client.force_login(admin_user)

    response = client.get(list_url(project, status="revoked"), headers={**HTMX, "HX-Target": "key-list"})

    assert "<html" not in response.content.decode()
    assert {name_of(row) for row in entries(response)} == {"gamma"}


def test_unknown_status_filter_is_ignored(client, project, admin_user, assorted_keys):
    client.force_login(admin_user)

    response = client.get(list_url(project, status="bogus"))

    assert response.status_code == 200
    assert {name_of(row) for row in entries(response)} == {"alpha", "beta", "soon"}


def test_unknown_status_does_not_drop_the_search(client, project, admin_user, assorted_keys):
    client.force_login(admin_user)

    response = client.get(list_url(project, status="bogus", q="alp"))

    assert {name_of(row) for row in entries(response)} == {"alpha"}


def test_overlong_search_is_cut_not_ignored(client, project, admin_user, assorted_keys):
    client.force_login(admin_user)

    response = client.get(list_url(project, q="beta" + " " * 200, status="active"))

    assert {name_of(row) for row in entries(response)} == {"beta"}


def test_keys_of_other_projects_are_not_listed(client, project, other_project, admin_user):
    ApiKeyFactory(project=other_project, name="foreign")
    mine = ApiKeyFactory(project=project, name="mine")
    client.force_login(admin_user)

    response = client.get(list_url(project))

    assert [name_of(row) for row in entries(response)] == ["mine"]
    assert entry(response, mine)


# -- hostile text ------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def assert_no_injected_markup(response):
    text = response.content.decode()
    assert SCRIPT not in text
    assert "<img src=x" not in text
    page = parse(response)
    assert not [s for s in page.find_all("script") if "alert" in s.text()]
    assert not page.find_all("img")


def test_hostile_name_and_description_are_escaped_in_the_list(client, project, admin_user):
    key = ApiKeyFactory(project=project, name=SCRIPT, description=IMG, tags=["a=b", "x/y:z"])
    quoting = ApiKeyFactory(project=project, name=IMG)  # its name goes into an attribute: aria-label
    client.force_login(admin_user)

    response = client.get(list_url(project))

    assert_no_injected_markup(response)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.content.decode()
    row = entry(response, key)
    assert name_of(row) == SCRIPT
    assert facts(row)["Description"] == IMG
    assert [tag.text() for tag in row.find_all("span", class_="tag")] == ["a=b", "x/y:z"]
    # The name filled into the links' translated phrases is escaped too.
    assert row.find("a", class_="revoke-link").attrs["aria-label"] == f"Revoke “{SCRIPT}”"
    assert row.find("a", class_="icon-link").text() == f"Create a new key with the permissions of “{SCRIPT}”"
    assert entry(response, quoting).find("a", class_="revoke-link").attrs["aria-label"] == f"Revoke “{IMG}”"


def test_hostile_search_text_is_escaped(client, project, admin_user):
    client.force_login(admin_user)

    response = client.get(list_url(project, q=IMG))

    assert_no_injected_markup(response)
    assert parse(response).by_id("id_q").attrs["value"] == IMG


def test_hostile_name_is_escaped_on_the_secret_page(client, project, admin_user):
    client.force_login(admin_user)
    data = {
        "name": SCRIPT,
        "description": IMG,
        "permissions": [catalog.READ_PROJECT],
        "expiration": "30",
        "ticket": CreationTicket.objects.issue(user=admin_user),
    }

    response = client.post(create_url(project), data)

    assert response.status_code == 201
    assert_no_injected_markup(response)
    assert "&lt;script&gt;" in response.content.decode()


def test_hostile_tags_are_refused_and_echoed_escaped(client, project, admin_user):
    client.force_login(admin_user)
    data = {
        "name": "tags",
        "tags": "<script>,ok",
        "permissions": [catalog.READ_PROJECT],
        "expiration": "30",
        "ticket": CreationTicket.objects.issue(user=admin_user),
    }

    response = client.post(create_url(project), data)

    assert response.status_code == 200
    assert "<script>," not in response.content.decode()
    assert "&lt;script&gt;" in response.content.decode()
    assert not [s for s in parse(response).find_all("script") if not s.has("src")]
    assert not ApiKey.objects.exists()


# -- query count ---------------------------------------------------------------------------


def make_keys(project, count, users, parent):
    """Keys made by users and by a key, some revoked, some used: every relation a row shows."""
    for _ in range(count):
        n = next(SERIAL)
        if n % 5 == 4:
            created = services.api_key_create(
                project=project,
                name=f"child {n}",
                permissions=[catalog.READ_PROJECT],
                created_by_key=parent,
                expires_at=parent.expires_at,
            )
            key, secret = created.api_key, created.secret
        else:
            key = ApiKeyFactory(
                project=project, name=f"key {n}", created_by=users[n % len(users)], tags=["ci", f"n{n}"]
            )
            secret = key.secret
        if n % 3 == 0:
            services.api_key_revoke(api_key=key, revoked_by=users[(n + 1) % len(users)])
        elif n % 3 == 1:
            assert authentication.api_key_authenticate(secret).ok


@pytest.mark.parametrize("status", ["", "all"], ids=["default view", "every status"])
def test_list_query_count_does_not_grow_with_the_number_of_keys(client, project, admin_user, member_user, status):
    users = [admin_user, member_user]
    parent = ApiKeyFactory(project=project, name="parent", permissions=[catalog.CREATE_API_KEYS, catalog.READ_PROJECT])
    make_keys(project, 4, users, parent)
    client.force_login(admin_user)
    url = list_url(project, status=status) if status else list_url(project)
    client.get(url)  # warm up: session, content types

    with CaptureQueriesContext(connection) as few:
        small = client.get(url)
    make_keys(project, 45, users, parent)
    with CaptureQueriesContext(connection) as many:
        large = client.get(url)

    assert 1 < len(entries(small)) < 25
    assert len(entries(large)) == 25
    assert len(many.captured_queries) == len(few.captured_queries), [q["sql"] for q in many.captured_queries]


def test_the_default_view_counts_shown_and_hidden_keys_in_one_query(client, project, admin_user, member_user):
    for n in range(26):
        key = ApiKeyFactory(project=project, name=f"key {n}", created_by=admin_user if n % 2 else member_user)
        if n < 6:
            services.api_key_revoke(api_key=key, revoked_by=admin_user)
    for n in range(4):
        expired_api_key(project=project, name=f"expired {n}")
    client.force_login(admin_user)
    client.get(list_url(project))  # warm up: session, content types

    with CaptureQueriesContext(connection) as queries:
        page = client.get(list_url(project))

    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert len(counts) == 1, counts
    # Session, user, project, the user's permissions in it (once, however often asked), the counts, the page.
    assert len(queries.captured_queries) == 6, [q["sql"] for q in queries.captured_queries]
    assert "20 keys" in page.text and "10 revoked, expired or retired keys hidden" in page.text


def test_the_counts_agree_with_every_keys_own_status_whatever_its_times(client, project, admin_user):
    """Revoked, expired and rolled at once: each key is counted once, as the badge on its row says."""
    now = timezone.now()
    expiries = [None, -timedelta(days=1), timedelta(days=3), timedelta(days=30)]
    retirements = [None, now - timedelta(hours=1), now + timedelta(hours=1)]
    revocations = [None, now - timedelta(hours=2)]
    for n, (expiry, retires_at, revoked_at) in enumerate(itertools.product(expiries, retirements, revocations)):
        if expiry is not None and expiry < timedelta(0):
            key = expired_api_key(project=project, name=f"key {n}", expired_for=-expiry)
        else:
            key = ApiKeyFactory(project=project, name=f"key {n}", expires_at=expiry and now + expiry)
        # Times no service would set in one step: written directly.
        changes = {"retires_at": retires_at, "revoked_at": revoked_at}
        ApiKey.objects.filter(pk=key.pk).update(**{field: value for field, value in changes.items() if value})
    statuses = [key.status(now) for key in ApiKey.objects.filter(project=project)]
    stopped = {Status.REVOKED, Status.EXPIRED, Status.RETIRED}

    counts = ApiKey.objects.status_counts(project, now)

    assert len(statuses) == 24 and len(set(statuses)) == len(Status)  # every status is there
    assert counts.inactive == sum(status in stopped for status in statuses)
    assert counts.active == len(statuses) - counts.inactive
    assert counts.expiring_soon == statuses.count(Status.EXPIRES_SOON)
    assert ApiKey.objects.status_counts(ProjectFactory(), now) == (0, 0, 0)  # no keys: zeros, not an error
    client.force_login(admin_user)
    page = client.get(list_url(project)).text
    assert f"{counts.active} keys" in page and f"{counts.inactive} revoked, expired or retired keys hidden" in page


# -- the deprecation switch ----------------------------------------------------------------


@pytest.fixture
def creation_disabled(settings):
    settings.API_KEY_CREATION_DISABLED = True
    settings.API_KEYS_DEPRECATED = True


def test_deprecation_notice_is_shown_and_create_is_disabled_with_the_reason(
    client, project, admin_user, creation_disabled
):
    client.force_login(admin_user)

    response = client.get(list_url(project))

    assert response.status_code == 200
    text = response.content.decode()
    assert "Deprecation Notice" in text
    assert "Service Accounts" in text
    page = parse(response)
    create = [b for b in page.find_all("button") if b.text() == "Create"]
    assert create and create[0].has("disabled")
    reason = page.by_id(create[0].attrs["aria-describedby"])
    assert reason.text() == services.creation_disabled_reason()
    assert not [a for a in page.find_all("a") if (a.attrs.get("href") or "").startswith(create_url(project))]


def test_deprecation_notice_alone_keeps_create_available(client, project, admin_user, settings):
    settings.API_KEYS_DEPRECATED = True
    settings.API_KEY_CREATION_DISABLED = False
    client.force_login(admin_user)

    response = client.get(list_url(project))

    assert "Deprecation Notice" in response.content.decode()
    assert [a for a in parse(response).find_all("a") if a.attrs.get("href") == create_url(project)]


def test_no_deprecation_notice_by_default(client, project, admin_user, settings):
    settings.API_KEYS_DEPRECATED = False
    settings.API_KEY_CREATION_DISABLED = False
    client.force_login(admin_user)

    assert "Deprecation Notice" not in client.get(list_url(project)).content.decode()


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_create_is_refused_while_creation_is_disabled(client, project, admin_user, creation_disabled, htmx):
    client.force_login(admin_user)
    headers = HTMX if htmx else {}
    data = {
        "name": "new",
        "permissions": [catalog.READ_PROJECT],
        "expiration": "30",
        "ticket": CreationTicket.objects.issue(user=admin_user),
    }

    shown = client.get(create_url(project), headers=headers)
    posted = client.post(create_url(project), data, headers=headers)

    for response in (shown, posted):
        assert response.status_code == 403
        assert services.creation_disabled_reason() in response.content.decode()
        assert parse(response).find("input", name="permissions") is None
    assert not ApiKey.objects.exists()


def test_existing_keys_keep_working_and_can_be_revoked_while_creation_is_disabled(
    client, project, admin_user, settings
):
    key = ApiKeyFactory(project=project)
    settings.API_KEY_CREATION_DISABLED = settings.API_KEYS_DEPRECATED = True
    client.force_login(admin_user)

    assert authentication.api_key_authenticate(key.secret).ok
    assert entry(client.get(list_url(project)), key)
    assert client.post(revoke_url(project, key)).status_code == 302
    assert authentication.api_key_authenticate(key.secret).error == "revoked"


# -- "Create a new key with these permissions" -----------------------------------------------


def checked_permissions(response) -> set[str]:
    return {box.attrs["value"] for box in parse(response).find_all("input", name="permissions") if box.has("checked")}


def test_entry_links_to_a_prefilled_create_form(client, project, admin_user):
    source = ApiKeyFactory(
        project=project,
        name="source",
        permissions=[catalog.READ_PROJECT, "can_read_clusters_in_metakube"],
        tags=["ci"],
        description="from CI",
    )
    client.force_login(admin_user)

    link = entry(client.get(list_url(project)), source).find("a", href=f"{create_url(project)}?from={source.public_id}")
    assert link is not None
    assert link.attrs["title"] == "Create a new key with these permissions"
    assert link.text() == "Create a new key with the permissions of “source”"
    response = client.get(link.attrs["href"])

    assert response.status_code == 200
    assert checked_permissions(response) == {catalog.READ_PROJECT, "can_read_clusters_in_metakube"}
    page = parse(response)
    assert page.find("input", name="tags").attrs["value"] == "ci"
    assert page.find("textarea", name="description").text() == "from CI"
    assert page.find("input", name="name").attrs["value"] == ""
    assert "source" in page.find("p", class_="notice-info").text()


def test_prefill_offers_only_what_the_user_may_grant(client, project, member_user):
    source = ApiKeyFactory(project=project, permissions=[catalog.READ_PROJECT, "can_delete_project_in_project"])
    client.force_login(member_user)

    response = client.get(f"{create_url(project)}?from={source.public_id}")

    assert checked_permissions(response) == {catalog.READ_PROJECT}


def test_prefill_ignores_keys_of_other_projects(client, project, other_project, admin_user):
    foreign = ApiKeyFactory(project=other_project, permissions=[catalog.READ_PROJECT], description="secret plans")
    client.force_login(admin_user)

    response = client.get(f"{create_url(project)}?from={foreign.public_id}")

    assert response.status_code == 200
    assert checked_permissions(response) == set()
    assert "secret plans" not in response.content.decode()


def test_plain_create_form_has_nothing_checked(client, project, admin_user):
    client.force_login(admin_user)

    assert checked_permissions(client.get(create_url(project))) == set()


# -- caches keep the htmx fragment and the full page apart -------------------------


def varies_on(response) -> set[str]:
    return {part.strip().lower() for part in response.get("Vary", "").split(",")}


@pytest.mark.parametrize("htmx", [False, True])
def test_every_response_that_htmx_changes_says_so_in_vary(client, project, admin_user, htmx):
    from tests.factories import ApiKeyFactory

    client.force_login(admin_user)
    key = ApiKeyFactory(project=project)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "key-list"} if htmx else {}
    revoke_url = f"/projects/{project.slug}/api-keys/{key.public_id}/revoke/"

    responses = [
        client.get(f"/projects/{project.slug}/api-keys/", **headers),
        client.get(revoke_url, **headers),
        client.post(revoke_url, **headers),
    ]

    for response in responses:
        assert response.status_code in {200, 302}
        assert "hx-request" in varies_on(response), response.request["PATH_INFO"]
    assert "hx-target" in varies_on(responses[0])


def test_keys_stored_before_the_expiry_bound_are_brought_within_it(client, project, admin_user, settings):
    """A key accepted before the 100-year bound, expiring 9999-12-31, broke the tab in zones east of UTC."""
    import importlib
    from datetime import UTC, datetime

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.models import QuerySet

    from apikeys.models import ApiKey
    from tests.factories import ApiKeyFactory

    key = ApiKeyFactory(project=project, name="forever")
    # The model refuses to change an expiry; the old data came in through an old rule.
    QuerySet.update(ApiKey.objects.filter(pk=key.pk), expires_at=datetime(9999, 12, 31, 23, 0, tzinfo=UTC))
    settings.TIME_ZONE = "Pacific/Kiritimati"
    client.force_login(admin_user)
    with pytest.raises(OverflowError):  # what every member saw: a 500
        client.get(f"/projects/{project.slug}/api-keys/")

    migration = importlib.import_module("apikeys.migrations.0002_bound_far_future_expiry")
    historical = MigrationLoader(connection).project_state(("apikeys", "0001_initial")).apps
    migration.bound_expiry(historical, None)

    response = client.get(f"/projects/{project.slug}/api-keys/")
    assert response.status_code == 200
    assert "forever" in response.content.decode()
    key.refresh_from_db()
    assert key.expires_at == datetime(9999, 1, 1, tzinfo=UTC)
