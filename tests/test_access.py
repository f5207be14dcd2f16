"""Who reaches which console page: the access matrix, log-in and log-out."""

import re
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from django.contrib.sessions.models import Session
from pytest_django.asserts import assertContains, assertNotContains

from apikeys.models import ApiKey
from projects import catalog
from tests.factories import (
    ApiKeyFactory,
    MembershipFactory,
    OrganizationMembershipFactory,
    RoleFactory,
    UserFactory,
    organization_role,
    role,
)
from tests.routes import ROUTES
from tests.routes import url as route_url

# Every console page of a project, from the URLconf: a page added later is in
# the matrix below without editing this file, and must be classified here.
PROJECT_ROUTES = {route.template: route for route in ROUTES if route.template.startswith("projects/%(slug)s/")}
NAMES = {
    "projects/%(slug)s/": "overview",
    "projects/%(slug)s/api-keys/": "keys",
    "projects/%(slug)s/api-keys/create/": "create",
    "projects/%(slug)s/api-keys/%(public_id)s/": "key",
    "projects/%(slug)s/api-keys/%(public_id)s/revoke/": "revoke",
    "projects/%(slug)s/api-keys/%(public_id)s/roll/": "roll",
    "projects/%(slug)s/api-keys/%(public_id)s/move/": "move",
}
PROJECT_PAGES = [NAMES.get(template, template) for template in PROJECT_ROUTES]
ALL_PAGES = ["list", *PROJECT_PAGES]
READ_ONLY_PAGES = ["overview", "keys", "key"]  # a Viewer (can_read_api_keys_in_project) opens these
MANAGING_PAGES = ["create", "revoke", "roll"]  # these need can_create_api_keys_in_project
# Whoever sees keys reaches this page; moving needs the organization role Admin or
# Owner and every permission of the key (test_move_to_service_account.py).
ORGANIZATION_PAGES = ["move"]
LOGGED_IN = ["outsider", "viewer_user", "member_user", "admin_user", "superuser"]


@pytest.fixture
def api_key(project):
    return ApiKeyFactory(project=project, name="deploy-bot")


def url(page: str, api_key, slug: str = "demo") -> str:
    if page == "list":
        return "/projects/"
    template = next(template for template, name in NAMES.items() if name == page) if page in NAMES.values() else page
    return route_url(PROJECT_ROUTES[template], {"slug": slug, "public_id": api_key.public_id})


def test_every_project_page_is_in_the_matrix():
    """A new page of a project must be named and classified, read-only or managing, before it ships."""
    assert len(PROJECT_PAGES) >= 5
    assert sorted(PROJECT_PAGES) == sorted(READ_ONLY_PAGES + MANAGING_PAGES + ORGANIZATION_PAGES)


def get_as(client, request, user_fixture: str, path: str):
    client.force_login(request.getfixturevalue(user_fixture))
    return client.get(path)


class _TableRows(HTMLParser):
    """The text of each cell, row by row, of the page's table bodies."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_tbody = self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_tbody = True
        elif self._in_tbody and tag == "tr":
            self.rows.append([])
        elif self._in_tbody and tag in ("td", "th"):
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_tbody = False
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data.strip()


def table_rows(response) -> list[list[str]]:
    parser = _TableRows()
    parser.feed(response.content.decode())
    return parser.rows


# -- the matrix ---------------------------------------------------------------


@pytest.mark.parametrize("page", ALL_PAGES)
def test_anonymous_user_is_sent_to_log_in(client, api_key, page):
    path = url(page, api_key)

    response = client.get(path)

    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={quote(path)}"


@pytest.mark.parametrize("page", PROJECT_PAGES)
def test_non_member_gets_404(client, request, api_key, page):
    response = get_as(client, request, "outsider", url(page, api_key))

    assert response.status_code == 404
    assertNotContains(response, "Demo Project", status_code=404)


@pytest.mark.parametrize("page", PROJECT_PAGES)
def test_member_of_another_project_gets_404(client, api_key, other_project, page):
    user = MembershipFactory(project=other_project, role=role(catalog.ADMINISTRATOR)).user
    client.force_login(user)

    assert client.get(url(page, api_key)).status_code == 404


def test_non_member_gets_404_when_posting_a_revocation(client, outsider, api_key):
    client.force_login(outsider)

    response = client.post(url("revoke", api_key))

    assert response.status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


@pytest.mark.parametrize("page", ["list", *READ_ONLY_PAGES])
def test_viewer_can_open_read_only_pages(client, request, api_key, page):
    assert get_as(client, request, "viewer_user", url(page, api_key)).status_code == 200


@pytest.mark.parametrize("page", MANAGING_PAGES)
def test_viewer_gets_403_naming_the_missing_permission(client, request, api_key, page):
    response = get_as(client, request, "viewer_user", url(page, api_key))

    assertContains(response, "can_create_api_keys_in_project", status_code=403)


@pytest.mark.parametrize("page", ORGANIZATION_PAGES)
def test_viewer_outside_the_organization_gets_403_naming_the_role(client, request, api_key, page):
    response = get_as(client, request, "viewer_user", url(page, api_key))

    assertContains(response, "needs the organization role Admin or Owner", status_code=403)


def test_viewer_cannot_create_a_key_by_posting(client, viewer_user, project):
    client.force_login(viewer_user)

    response = client.post(
        "/projects/demo/api-keys/create/",
        {"name": "sneaky", "permissions": [catalog.READ_PROJECT], "expiration": "never"},
    )

    assert response.status_code == 403
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_viewer_cannot_revoke_a_key_by_posting(client, viewer_user, api_key):
    client.force_login(viewer_user)

    response = client.post(url("revoke", api_key))

    assert response.status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


@pytest.mark.parametrize("user_fixture", ["member_user", "admin_user", "superuser"])
@pytest.mark.parametrize("page", ALL_PAGES)
def test_key_managers_can_open_every_page(client, request, api_key, user_fixture, page):
    if page == "move":
        user = request.getfixturevalue(user_fixture)
        admin = organization_role(catalog.ADMIN)
        OrganizationMembershipFactory(organization=api_key.project.organization, user=user, role=admin)
    assert get_as(client, request, user_fixture, url(page, api_key)).status_code == 200


@pytest.mark.parametrize("user_fixture", LOGGED_IN)
@pytest.mark.parametrize("page", PROJECT_PAGES)
def test_unknown_project_gets_404_for_everyone(client, request, api_key, user_fixture, page):
    assert get_as(client, request, user_fixture, url(page, api_key, slug="no-such-project")).status_code == 404


@pytest.mark.parametrize("user_fixture", ["admin_user", "superuser"])
def test_key_of_another_project_gets_404_under_this_project(client, request, other_project, user_fixture):
    foreign = ApiKeyFactory(project=other_project)

    response = get_as(client, request, user_fixture, f"/projects/demo/api-keys/{foreign.public_id}/revoke/")

    assert response.status_code == 404


def test_unknown_key_gets_404(client, admin_user, project):
    client.force_login(admin_user)

    assert client.get("/projects/demo/api-keys/does-not-exist/revoke/").status_code == 404


# -- what the pages show --------------------------------------------------------


def test_viewer_sees_the_key_list_read_only(client, viewer_user, api_key):
    client.force_login(viewer_user)

    response = client.get(url("keys", api_key))

    assertContains(response, "deploy-bot")
    assertNotContains(response, "/api-keys/create/")
    assertNotContains(response, "/revoke/")


def test_member_sees_create_and_revoke_links(client, member_user, api_key):
    client.force_login(member_user)

    response = client.get(url("keys", api_key))

    assertContains(response, 'href="/projects/demo/api-keys/create/"')
    assertContains(response, f'href="/projects/demo/api-keys/{api_key.public_id}/revoke/"')


def test_overview_lists_the_members_with_their_roles(client, admin_user, member_user, viewer_user, other_project):
    MembershipFactory(project=other_project, user=UserFactory(username="dave"), role=role(catalog.ADMINISTRATOR))
    client.force_login(viewer_user)

    response = client.get("/projects/demo/")

    members, service_accounts = table_rows(response)[:3], table_rows(response)[3:]
    assert members == [["alice", "Administrator"], ["bob", "Viewer"], ["carol", "Member"]]
    assert service_accounts == [["No service account is a member of this project."]]


def test_project_list_shows_only_my_projects(client, viewer_user, other_project):
    client.force_login(viewer_user)

    response = client.get("/projects/")

    assertContains(response, 'href="/projects/demo/"')
    assertContains(response, "Viewer")
    assertNotContains(response, "/projects/sandbox/")
    assertNotContains(response, "Sandbox")


def test_project_list_of_a_non_member_reveals_no_project(client, outsider, project, other_project):
    client.force_login(outsider)

    response = client.get("/projects/")

    assertNotContains(response, "Demo Project")
    assertNotContains(response, "Sandbox")
    assertContains(response, "You are not a member of any project")


def test_superuser_project_list_shows_every_project(client, superuser, project, other_project):
    client.force_login(superuser)

    response = client.get("/projects/")

    assertContains(response, 'href="/projects/demo/"')
    assertContains(response, 'href="/projects/sandbox/"')


@pytest.mark.parametrize(
    "codenames",
    [[catalog.READ_API_KEYS], [catalog.CREATE_API_KEYS], [catalog.READ_API_KEYS, catalog.CREATE_API_KEYS]],
)
def test_console_key_list_is_shown_to_users_who_may_see_keys(client, project, codenames):
    user = MembershipFactory(project=project, role=RoleFactory(codenames=[catalog.READ_PROJECT, *codenames])).user
    client.force_login(user)

    response = client.get("/projects/demo/")

    assertContains(response, 'href="/projects/demo/api-keys/"')


@pytest.mark.parametrize("codenames", [[], [catalog.READ_PROJECT, "can_read_databases_in_dbaas"]])
def test_console_key_list_is_hidden_from_users_who_may_not_see_keys(client, project, codenames):
    user = MembershipFactory(project=project, role=RoleFactory(codenames=codenames)).user
    client.force_login(user)

    response = client.get("/projects/demo/")

    assertContains(response, "Demo Project")
    assertNotContains(response, "/projects/demo/api-keys/")
    assertNotContains(response, "API Keys")


def test_member_without_key_permissions_gets_403_not_404_on_the_keys_tab(client, project):
    user = MembershipFactory(project=project, role=RoleFactory(codenames=[catalog.READ_PROJECT])).user
    client.force_login(user)

    response = client.get("/projects/demo/api-keys/")

    assertContains(response, "can_create_api_keys_in_project", status_code=403)


# -- log-in, log-out -------------------------------------------------------------


def test_root_redirects_to_the_project_list(client, viewer_user):
    client.force_login(viewer_user)

    response = client.get("/")

    assert response.status_code == 302
    assert response.url == "/projects/"


def test_login_page_is_reachable_anonymously(client, db):
    response = client.get("/accounts/login/")

    assertContains(response, 'name="password"')


def test_login_with_the_right_password_leads_to_the_project_list(client, viewer_user):
    response = client.post("/accounts/login/", {"username": "bob", "password": "password"})

    assert response.status_code == 302
    assert response.url == "/projects/"
    assert client.session["_auth_user_id"] == str(viewer_user.pk)


def test_login_follows_next_within_the_site(client, viewer_user):
    response = client.post(
        "/accounts/login/", {"username": "bob", "password": "password", "next": "/projects/demo/api-keys/"}
    )

    assert response.url == "/projects/demo/api-keys/"


def test_login_ignores_next_pointing_to_another_site(client, viewer_user):
    response = client.post(
        "/accounts/login/", {"username": "bob", "password": "password", "next": "https://evil.example/phish"}
    )

    assert response.url == "/projects/"


def test_login_with_a_wrong_password_shows_an_error(client, viewer_user):
    response = client.post("/accounts/login/", {"username": "bob", "password": "wrong"})

    assertContains(response, "Please enter a correct username and password")
    assert "_auth_user_id" not in client.session


def test_inactive_user_cannot_log_in(client, viewer_user):
    viewer_user.is_active = False
    viewer_user.save()

    response = client.post("/accounts/login/", {"username": "bob", "password": "password"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_logged_in_user_visiting_log_in_goes_to_projects(client, viewer_user):
    client.force_login(viewer_user)

    response = client.get("/accounts/login/")

    assert response.status_code == 302
    assert response.url == "/projects/"


def test_logout_by_get_is_refused_and_keeps_the_session(client, viewer_user):
    client.force_login(viewer_user)

    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert client.get("/projects/").status_code == 200


def test_logout_by_post_ends_the_session(client, viewer_user):
    client.force_login(viewer_user)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert not Session.objects.exists()
    assert client.get("/projects/").status_code == 302


def test_every_page_offers_log_out_as_a_post_form(client, viewer_user):
    client.force_login(viewer_user)

    response = client.get("/projects/")

    assertContains(response, '<form method="post" action="/accounts/logout/">')


def test_non_member_404_looks_like_an_unknown_project(client, outsider, project):
    client.force_login(outsider)

    def page(path):
        # Everything but the per-response CSRF token and CSP nonce.
        response = client.get(path)
        body = response.content.decode()
        for token in [
            response.wsgi_request.csp_nonce,
            *re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body),
            *re.findall(r'"X-CSRFToken": "([^"]+)"', body),
        ]:
            body = body.replace(token, "")
        return response.status_code, body

    assert page("/projects/demo/api-keys/") == page("/projects/no-such-project/api-keys/")


def test_deactivated_user_is_logged_out_on_the_next_request(client, admin_user):
    client.force_login(admin_user)
    admin_user.is_active = False
    admin_user.save()

    response = client.get("/projects/demo/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
