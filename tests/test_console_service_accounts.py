"""The console's service-account pages (SPEC §8, Console): who sees what, and every change a click makes.

The rules themselves are serviceaccounts.services' (test_service_accounts.py);
these tests check what a user of the pages notices: 404 for outsiders, the
read-only view of a Member, the forms' errors, the view-once secret, the
confirmations, and that each change really holds on the next API request.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apikeys import authentication, tokens
from apikeys.models import CreationTicket
from projects import catalog
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent
from tests.factories import (
    CredentialFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceAccountFactory,
    person,
)
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
READ = [catalog.READ_PROJECT]


@pytest.fixture
def org():
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def web(org):
    return ProjectFactory(organization=org, slug="web", name="Web")


@pytest.fixture
def data(org):
    return ProjectFactory(organization=org, slug="data", name="Data")


@pytest.fixture
def admin(org, web, data):
    """Organization Admin, Administrator of both projects."""
    return person(org, catalog.ADMIN, username="bob", web=catalog.ADMINISTRATOR, data=catalog.ADMINISTRATOR)


@pytest.fixture
def owner(org, web, data):
    return person(org, catalog.OWNER, username="alice", web=catalog.ADMINISTRATOR, data=catalog.ADMINISTRATOR)


@pytest.fixture
def member(org, web, data):
    """Organization Member, Member of web only."""
    return person(org, catalog.ORGANIZATION_MEMBER, username="carol", web=catalog.MEMBER)


def login(client, user):
    client.force_login(user)
    return client


def url(name, org, *args):
    return reverse(f"serviceaccounts:{name}", args=[org.slug, *args])


def authenticate(secret):
    return authentication.api_key_authenticate(secret)


def may(secret, codename, project) -> bool:
    """Whether a request with this credential would be allowed `codename` in `project`, as the API checks it."""
    result = authenticate(secret)
    return result.ok and result.principal.service_account.has_perm(catalog.perm(codename), project)


# -- who sees what -------------------------------------------------------------------------


def test_a_non_member_of_the_organization_gets_404_everywhere(client, org, web):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    outsider = person(org, None, web=catalog.ADMINISTRATOR)  # even an Administrator of one of its projects
    login(client, outsider)

    for address in (
        url("list", org),
        url("create", org),
        url("detail", org, account.public_id),
        url("credential_create", org, account.public_id),
        url("membership", org, account.public_id, web.slug),
    ):
        assert client.get(address).status_code == 404, address
    assert client.get("/orgs/nowhere/service-accounts/").status_code == 404


def test_an_admin_sees_every_account_with_a_create_link(client, org, web, admin):
    ServiceAccountFactory(organization=org, name="terraform", projects={web: READ})
    ServiceAccountFactory(organization=org, name="idle")
    ServiceAccountFactory(organization=OrganizationFactory(), name="elsewhere")

    page = parse(login(client, admin).get(url("list", org)))

    names = [link.text() for link in page.find_all("a", class_="key-name")]
    assert names == ["idle", "terraform"]
    assert page.find("a", href=url("create", org)) is not None


def test_a_member_sees_only_the_accounts_of_their_projects_read_only(client, org, web, data, member):
    mine = ServiceAccountFactory(organization=org, name="mine", projects={web: READ, data: READ})
    other = ServiceAccountFactory(organization=org, name="other", projects={data: READ})
    login(client, member)

    page = parse(client.get(url("list", org)))
    assert [link.text() for link in page.find_all("a", class_="key-name")] == ["mine"]
    assert page.find("a", href=url("create", org)) is None
    # Only the memberships of the member's own projects are named.
    assert "Data" not in page.find("table").text()

    assert client.get(url("detail", org, other.public_id)).status_code == 404
    detail = client.get(url("detail", org, mine.public_id))
    assert detail.status_code == 200
    page = parse(detail)
    assert page.find("a", href=url("edit", org, mine.public_id)) is None
    assert "1 project you do not belong to" in page.text()
    assert "From address" not in page.text()  # where Admins acted from is theirs to see
    for name in ("create",):
        assert client.get(url(name, org)).status_code == 403
    assert client.post(url("disable", org, mine.public_id)).status_code == 403
    assert ServiceAccount.objects.get(pk=mine.pk).disabled_at is None


def test_deleted_accounts_are_hidden_behind_a_link(client, org, admin):
    ServiceAccountFactory(organization=org, name="gone", deleted_at=timezone.now())
    ServiceAccountFactory(organization=org, name="kept")
    login(client, admin)

    page = parse(client.get(url("list", org)))
    assert [link.text() for link in page.find_all("a", class_="key-name")] == ["kept"]
    assert "1 deleted service account hidden" in page.text()
    page = parse(client.get(url("list", org) + "?deleted=1"))
    assert [link.text() for link in page.find_all("a", class_="key-name")] == ["gone"]


def test_the_list_costs_the_same_queries_for_one_account_or_twenty(
    client, org, web, admin, django_assert_max_num_queries
):
    login(client, admin)
    ServiceAccountFactory(organization=org, projects={web: READ})
    client.get(url("list", org))  # warm the session and the catalog caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(url("list", org))
    for _ in range(19):
        account = ServiceAccountFactory(organization=org, projects={web: READ})
        CredentialFactory(service_account=account)
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(url("list", org))
    assert len(parse(response).find_all("a", class_="key-name")) == 20


# -- create and edit -------------------------------------------------------------------------


def test_creating_an_account_leads_to_its_page_with_the_next_steps(client, org, admin):
    login(client, admin)
    assert parse(client.get(url("create", org))).find("input", name="name") is not None

    response = client.post(url("create", org), {"name": "terraform", "description": "Our provider"}, follow=True)

    account = ServiceAccount.objects.get(organization=org, name="terraform")
    assert response.redirect_chain[-1][0] == url("detail", org, account.public_id)
    page = parse(response)
    assert page.by_id("next-steps") is not None
    assert account.created_by == admin
    assert account.events.get().action == ServiceAccountEvent.Action.CREATED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "Enter a name for the service account."),
        ({"name": "terraform"}, "A service account with this name already exists in this organization."),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"name": "bad\x00name"}, "Null characters are not allowed."),
    ],
)
def test_a_bad_name_is_said_in_the_error_summary_and_nothing_is_created(client, org, admin, data, message):
    ServiceAccountFactory(organization=org, name="terraform")
    login(client, admin)

    response = client.post(url("create", org), data)

    assert response.status_code == 200
    summary = parse(response).by_id("error-summary")
    assert summary is not None and message in summary.text()
    assert ServiceAccount.objects.filter(organization=org).count() == 1


def test_renaming_is_audited_with_old_and_new(client, org, admin):
    account = ServiceAccountFactory(organization=org, name="old")
    login(client, admin)

    client.post(url("edit", org, account.public_id), {"name": "new", "description": ""})

    account.refresh_from_db()
    assert account.name == "new"
    event = account.events.get(action=ServiceAccountEvent.Action.UPDATED)
    assert event.changes == {"name": ["old", "new"]}
    assert "name: old → new" in parse(client.get(url("detail", org, account.public_id))).text()


# -- project memberships ----------------------------------------------------------------------


def test_adding_to_a_project_goes_through_the_chooser_to_the_permission_matrix(client, org, web, admin):
    account = ServiceAccountFactory(organization=org)
    login(client, admin)
    page = parse(client.get(url("detail", org, account.public_id)))
    options = [option.attrs["value"] for option in page.by_id("add-project").find_all("option")]
    assert options == ["data", "web"]

    response = client.get(url("membership_add", org, account.public_id), {"project": "web"})
    assert response.url == url("membership", org, account.public_id, "web")
    form = parse(client.get(response.url))
    offered = {box.attrs["value"] for box in form.find_all("input", name="permissions")}
    assert offered == set(catalog.CODENAMES)  # an Administrator holds them all

    wanted = [catalog.READ_PROJECT, catalog.READ_API_KEYS]
    client.post(response.url, {"permissions": wanted})

    membership = account.memberships.get(project=web)
    assert membership.permissions == wanted
    credential = CredentialFactory(service_account=account)
    assert may(credential.secret, catalog.READ_API_KEYS, web)


def test_the_matrix_offers_only_what_the_editor_holds_and_a_forged_post_is_refused(client, org, web):
    editor = person(org, catalog.ADMIN, web=catalog.VIEWER)
    account = ServiceAccountFactory(organization=org, projects={web: [catalog.READ_PROJECT, catalog.CREATE_API_KEYS]})
    login(client, editor)
    address = url("membership", org, account.public_id, "web")

    page = parse(client.get(address))
    offered = {box.attrs["value"] for box in page.find_all("input", name="permissions")}
    assert offered == set(catalog.DEFAULT_ROLES[catalog.VIEWER])
    # What the account holds beyond the editor stays, and the page says so.
    assert "API Key Creation Permission" in page.by_id("kept-permissions").text()

    forged = client.post(address, {"permissions": [catalog.READ_PROJECT, "can_delete_clusters_in_metakube"]})
    assert forged.status_code == 200
    assert "You cannot grant permissions you do not hold" in parse(forged).by_id("error-summary").text()
    assert account.memberships.get().permissions == [catalog.READ_PROJECT, catalog.CREATE_API_KEYS]

    # Taking away what the editor holds keeps what they do not.
    client.post(address, {"permissions": [catalog.READ_API_KEYS]})
    assert account.memberships.get().permissions == [catalog.CREATE_API_KEYS, catalog.READ_API_KEYS]
    # Removing the membership would take away what they do not hold: refused, said, nothing changed.
    response = client.post(url("membership_remove", org, account.public_id, "web"), follow=True)
    assert "You cannot take away permissions you do not hold" in parse(response).by_id("messages").text()
    assert account.memberships.exists()


def test_a_preset_link_fills_the_matrix_without_javascript(client, org, web, admin):
    account = ServiceAccountFactory(organization=org)
    login(client, admin)

    page = parse(client.get(url("membership", org, account.public_id, "web") + "?preset=read"))

    checked = {box.attrs["value"] for box in page.find_all("input", name="permissions", checked=True)}
    assert checked == set(catalog.READ_ONLY)


def test_removing_from_a_project_asks_first_and_then_holds_on_the_next_request(client, org, web, admin):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    credential = CredentialFactory(service_account=account)
    login(client, admin)
    address = url("membership_remove", org, account.public_id, "web")

    dialog = parse(client.get(address, headers=HTMX))
    assert dialog.find("dialog") is not None and dialog.find("form", action=address) is not None
    assert parse(client.get(address)).find("form", action=address) is not None  # a page without JavaScript
    assert account.memberships.exists()

    client.post(address)

    assert not account.memberships.exists()
    assert not may(credential.secret, catalog.READ_PROJECT, web)


# -- credentials ---------------------------------------------------------------------------------


def test_a_credential_secret_is_shown_once_and_works(client, org, web, admin):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    login(client, admin)
    address = url("credential_create", org, account.public_id)
    form = parse(client.get(address))
    ticket = form.find("input", name="ticket").attrs["value"]

    response = client.post(address, {"name": "ci", "expiration": "30", "allowed_ips": "", "ticket": ticket})

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    secret = parse(response).by_id("api-key-secret").attrs["value"]
    assert secret.startswith(tokens.prefix(tokens.CREDENTIAL) + "_")
    credential = Credential.objects.get(service_account=account)
    assert secret not in str(Credential.objects.filter(pk=credential.pk).values().get())
    assert authenticate(secret).principal.service_account == account
    assert credential.expires_at - timezone.now() == pytest.approx(timedelta(days=30), abs=timedelta(minutes=1))

    # The same form again (a reload, a double click) creates nothing and shows no secret.
    again = client.post(address, {"name": "ci-2", "expiration": "30", "allowed_ips": "", "ticket": ticket}, follow=True)
    assert "api-key-secret" not in again.content.decode()
    assert Credential.objects.filter(service_account=account).count() == 1
    # The secret is nowhere on the account's page.
    assert secret not in client.get(url("detail", org, account.public_id)).content.decode()


def test_credential_form_errors_link_to_their_fields(client, org, web, admin):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    login(client, admin)
    address = url("credential_create", org, account.public_id)
    ticket = CreationTicket.objects.issue(user=admin)

    response = client.post(address, {"name": "", "expiration": "30", "allowed_ips": "not an address", "ticket": ticket})

    assert response.status_code == 200
    links = {link.attrs["href"] for link in parse(response).by_id("error-summary").find_all("a")}
    assert links == {"#id_name", "#id_allowed_ips"}
    assert not Credential.objects.exists()


def test_nobody_mints_a_credential_stronger_than_themselves(client, org, web, data):
    account = ServiceAccountFactory(organization=org, projects={web: READ, data: READ})
    editor = person(org, catalog.ADMIN, web=catalog.VIEWER)  # not a member of data
    login(client, editor)

    response = client.get(url("credential_create", org, account.public_id))

    assert response.status_code == 403
    assert "data: can_read_project_in_project" in parse(response).text()
    ticket = CreationTicket.objects.issue(user=editor)
    forged = client.post(
        url("credential_create", org, account.public_id), {"name": "x", "expiration": "30", "ticket": ticket}
    )
    assert forged.status_code == 403
    assert not Credential.objects.exists()


def test_revoking_a_credential_asks_in_a_dialog_and_holds_at_once(client, org, web, admin):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    credential = CredentialFactory(service_account=account, name="old")
    login(client, admin)
    detail = parse(client.get(url("detail", org, account.public_id)))
    link = detail.find("a", class_="revoke-link", **{"aria-label": "Revoke “old”"})
    address = url("credential_revoke", org, account.public_id, credential.public_id)
    assert link.attrs["hx-get"] == address and link.attrs["href"] == address

    dialog = parse(client.get(address, headers=HTMX)).find("dialog")
    assert "Revoke “old”" in dialog.text()

    response = client.post(address, follow=True)

    assert "Credential “old” was revoked." in parse(response).by_id("messages").text()
    assert authenticate(credential.secret).error == "revoked"
    assert client.post(address, follow=True).status_code == 200  # again: said, not an error page
    assert Credential.objects.get(pk=credential.pk).revoked_by == admin


# -- disable, enable, delete, the Admin role ------------------------------------------------------


def test_disable_and_enable_hold_on_the_next_request(client, org, web, admin):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    credential = CredentialFactory(service_account=account)
    login(client, admin)

    assert "Disable “" in parse(client.get(url("disable", org, account.public_id))).text()
    client.post(url("disable", org, account.public_id))
    assert authenticate(credential.secret).error == "disabled"

    page = parse(client.get(url("detail", org, account.public_id)))
    assert page.find("a", href=url("enable", org, account.public_id)) is not None
    client.post(url("enable", org, account.public_id))
    assert authenticate(credential.secret).ok


def test_deleting_asks_revokes_the_credentials_and_is_final(client, org, web, admin):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    credential = CredentialFactory(service_account=account)
    login(client, admin)

    assert "This cannot be undone." in parse(client.get(url("delete", org, account.public_id))).text()
    response = client.post(url("delete", org, account.public_id), follow=True)

    assert response.redirect_chain[-1][0] == url("list", org)
    assert authenticate(credential.secret).error == "revoked"
    # Its page stays for the audit trail, without actions; nothing brings it back.
    page = parse(client.get(url("detail", org, account.public_id)))
    assert page.find("a", href=url("edit", org, account.public_id)) is None
    assert client.post(url("enable", org, account.public_id)).status_code == 404


def test_only_an_owner_gives_the_admin_role(client, org, web, owner, admin):
    account = ServiceAccountFactory(organization=org)
    address = url("role", org, account.public_id)

    login(client, admin)
    assert parse(client.get(url("detail", org, account.public_id))).find("a", href=address) is None
    assert client.post(address).status_code == 403

    login(client, owner)
    assert "Terraform" in parse(client.get(address)).text()
    client.post(address)
    account.refresh_from_db()
    assert account.is_org_admin
    client.post(address)  # and takes it back
    account.refresh_from_db()
    assert not account.is_org_admin


# -- the project page -------------------------------------------------------------------------------


def test_the_project_page_lists_its_service_account_members(client, org, web, member):
    ServiceAccountFactory(organization=org, name="deployer", projects={web: READ})
    ServiceAccountFactory(organization=org, name="gone", projects={web: READ}, deleted_at=timezone.now())
    login(client, member)

    section = parse(client.get(reverse("projects:detail", args=["web"]))).find(
        "section", **{"aria-labelledby": "service-accounts-title"}
    )

    assert "deployer" in section.text() and "gone" not in section.text()
    assert section.find("a", href=url("list", org)) is not None


def test_the_project_page_links_accounts_only_for_members_of_the_organization(client, org, web):
    account = ServiceAccountFactory(organization=org, name="deployer", projects={web: READ})
    login(client, person(org, None, web=catalog.MEMBER))

    section = parse(client.get(reverse("projects:detail", args=["web"]))).find(
        "section", **{"aria-labelledby": "service-accounts-title"}
    )

    assert "deployer" in section.text()
    assert section.find("a", href=url("detail", org, account.public_id)) is None


def test_an_account_page_costs_the_same_queries_however_long_its_history(client, org, web, data, admin):
    account = ServiceAccountFactory(organization=org, projects={web: READ})
    CredentialFactory(service_account=account)
    login(client, admin)
    address = url("detail", org, account.public_id)
    client.get(address)
    with CaptureQueriesContext(connection) as few:
        client.get(address)

    for number in range(8):
        CredentialFactory(service_account=account, name=f"c{number}")
    login(client, admin)
    client.post(url("membership", org, account.public_id, "data"), {"permissions": READ})
    with CaptureQueriesContext(connection) as many:
        response = client.get(address)

    assert len(parse(response).find_all("tr", class_="key-entry")) == 9
    assert len(many.captured_queries) == len(few.captured_queries)
