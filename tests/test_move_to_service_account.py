"""'Move to a service account' on an API key, the deprecation's path, and plan_service_account_migration (SPEC §8).

Moving makes a service account named after the key with exactly its
permissions in its project and a first credential with its expiry and
allowed addresses; the key keeps working until revoked and both entries
link to each other. It needs what creating that credential needs.
"""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apikeys import authentication, services
from apikeys.models import AuditEvent, CreationTicket
from projects import catalog
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent
from tests.factories import (
    ApiKeyFactory,
    MembershipFactory,
    OrganizationFactory,
    OrganizationMembershipFactory,
    ProjectFactory,
    RoleFactory,
    ServiceAccountFactory,
    UserFactory,
    expired_api_key,
    organization_role,
    person,
    role,
)
from tests.htmltree import parse

pytestmark = pytest.mark.django_db

PERMISSIONS = [catalog.READ_PROJECT, "can_read_clusters_in_metakube", "can_update_clusters_in_metakube"]


@pytest.fixture
def org():
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def web(org):
    return ProjectFactory(organization=org, slug="web", name="Web")


@pytest.fixture
def admin(org, web):
    return person(org, catalog.ADMIN, web=catalog.ADMINISTRATOR)


@pytest.fixture
def key(web):
    return ApiKeyFactory(
        project=web,
        name="deployer",
        description="Deploys the web app",
        permissions=PERMISSIONS,
        expires_at=timezone.now() + timedelta(days=40),
        allowed_ips=["203.0.113.0/24"],
    )


def move_url(key) -> str:
    return reverse("apikeys:move", args=[key.project.slug, key.public_id])


def detail_url(key) -> str:
    return reverse("apikeys:detail", args=[key.project.slug, key.public_id])


def confirm(client, key, **data):
    page = parse(client.get(move_url(key)))
    form = {
        "name": page.find("input", name="name").attrs["value"],
        "ticket": page.find("input", name="ticket").attrs["value"],
    }
    return client.post(move_url(key), form | data)


def test_every_key_page_offers_the_move(client, admin, key):
    client.force_login(admin)

    page = parse(client.get(detail_url(key)))

    assert page.find("a", href=move_url(key)).text() == "Move to a service account"


def test_the_confirmation_says_what_will_be_created_and_that_the_key_keeps_working(client, admin, key):
    client.force_login(admin)

    response = client.get(move_url(key))

    assert response.status_code == 200
    text = parse(response).text()
    assert "a service account in Acme" in text
    assert "with exactly the key's 3 permissions" in text
    assert "203.0.113.0/24" in text
    assert "The API key is not changed: it keeps working until you revoke it." in text
    assert parse(response).find("input", name="name").attrs["value"] == "deployer"
    assert not ServiceAccount.objects.exists()  # looking creates nothing


def test_moving_creates_the_account_membership_and_credential_and_both_link(client, admin, key, web, org):
    client.force_login(admin)

    response = confirm(client, key)

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    secret = parse(response).by_id("api-key-secret").attrs["value"]
    account = ServiceAccount.objects.get()
    assert (account.name, account.organization, account.moved_from_key) == ("deployer", org, key)
    assert account.description == "Deploys the web app"
    assert account.memberships.get().project == web
    assert account.memberships.get().permissions == PERMISSIONS
    credential = Credential.objects.get()
    assert credential.expires_at == key.expires_at
    assert credential.allowed_ips == ["203.0.113.0/24"]
    assert credential.created_by == admin

    # The credential works with the key's permissions, from the key's addresses only.
    result = authentication.api_key_authenticate(secret, address="203.0.113.9")
    assert result.ok and result.principal.service_account.has_perm(catalog.perm(PERMISSIONS[2]), web)
    assert authentication.api_key_authenticate(secret, address="198.51.100.1").error == "ip_not_allowed"
    # The key is untouched and keeps working.
    key.refresh_from_db()
    assert key.revoked_at is None and key.refusal(timezone.now()) is None

    # Both entries link to each other, and both histories say it.
    account_url = reverse("serviceaccounts:detail", args=["acme", account.public_id])
    key_page = parse(client.get(detail_url(key)))
    assert key_page.find("a", href=account_url) is not None
    assert key_page.find("a", href=move_url(key)) is None
    assert AuditEvent.objects.filter(api_key=key, action=AuditEvent.Action.MOVED, actor_user=admin).exists()
    account_page = parse(client.get(account_url))
    assert account_page.find("a", href=detail_url(key)) is not None
    actions = set(account.events.values_list("action", flat=True))
    assert actions == {
        ServiceAccountEvent.Action.CREATED,
        ServiceAccountEvent.Action.MEMBERSHIP_SET,
        ServiceAccountEvent.Action.CREDENTIAL_CREATED,
    }


def test_a_key_is_moved_once_and_a_resubmission_creates_nothing(client, admin, key):
    client.force_login(admin)
    page = parse(client.get(move_url(key)))
    form = {"name": "deployer", "ticket": page.find("input", name="ticket").attrs["value"]}
    assert client.post(move_url(key), form).status_code == 201

    again = client.post(move_url(key), form)

    assert again.status_code == 409
    assert "already moved to the service account “deployer”" in parse(again).text()
    assert ServiceAccount.objects.count() == 1 and Credential.objects.count() == 1


def test_a_taken_name_gets_the_project_slug_and_a_typed_taken_name_is_an_error(client, admin, key, org):
    ServiceAccountFactory(organization=org, name="deployer")
    client.force_login(admin)

    assert parse(client.get(move_url(key))).find("input", name="name").attrs["value"] == "deployer (web)"
    response = confirm(client, key, name="DEPLOYER")

    assert response.status_code == 200
    assert "already exists" in parse(response).by_id("error-summary").text()
    assert ServiceAccount.objects.count() == 1


def test_moving_needs_the_organization_role_admin(client, org, web, key):
    client.force_login(person(org, catalog.ORGANIZATION_MEMBER, web=catalog.ADMINISTRATOR))

    response = client.get(move_url(key))

    assert response.status_code == 403
    assert "needs the organization role Admin or Owner in Acme" in parse(response).text()
    ticket = CreationTicket.objects.issue(user=response.wsgi_request.user)
    assert client.post(move_url(key), {"name": "x", "ticket": ticket}).status_code == 403
    assert not ServiceAccount.objects.exists()


def test_moving_needs_every_permission_of_the_key(client, org, web):
    narrow = RoleFactory(
        codenames=[
            catalog.READ_PROJECT,
            catalog.CREATE_API_KEYS,
            catalog.READ_API_KEYS,
            "can_read_clusters_in_metakube",
        ]
    )
    user = UserFactory()
    OrganizationMembershipFactory(organization=org, user=user, role=organization_role(catalog.ADMIN))
    MembershipFactory(project=web, user=user, role=narrow)
    key = ApiKeyFactory(project=web, permissions=PERMISSIONS)
    client.force_login(user)

    response = client.get(move_url(key))

    assert response.status_code == 403
    assert "you lack: can_update_clusters_in_metakube" in parse(response).text()


@pytest.mark.parametrize("state", ["revoked", "expired", "rolled"])
def test_only_a_working_key_is_moved(client, admin, web, state):
    key = ApiKeyFactory(project=web, permissions=PERMISSIONS)
    if state == "revoked":
        services.api_key_revoke(api_key=key, revoked_by=admin, ip_address=None)
    elif state == "expired":
        key = expired_api_key(project=web, permissions=PERMISSIONS)
    else:
        services.api_key_roll(api_key=key, grace=timedelta(hours=1), rolled_by=admin, ip_address=None)
    client.force_login(admin)

    response = client.get(move_url(key))

    assert response.status_code == 409
    assert parse(response).find("input", name="name") is None
    assert not ServiceAccount.objects.exists()


def test_a_viewer_of_the_keys_is_told_what_they_lack(client, org, web, key):
    client.force_login(person(org, catalog.ADMIN, web=catalog.VIEWER))

    response = client.get(move_url(key))

    assert response.status_code == 403
    assert "you lack: can_update_clusters_in_metakube" in parse(response).text()
    assert parse(client.get(detail_url(key))).find("a", href=move_url(key)) is None


def test_a_project_member_who_cannot_see_keys_gets_403(client, org, web, key):
    client.force_login(_no_key_reader(web))

    assert client.get(move_url(key)).status_code == 403


# -- the deprecation's path ----------------------------------------------------------------


def test_deprecated_api_keys_tab_leads_to_the_service_accounts(client, settings, admin, key, web):
    settings.API_KEYS_DEPRECATED = True
    client.force_login(admin)

    page = parse(client.get(reverse("apikeys:list", args=["web"])))

    link = page.find("a", href=reverse("serviceaccounts:list", args=["acme"]))
    assert link.text() == "Head to the Service Accounts section for more information."
    assert "Move to a service account" in page.text()


def test_with_creation_disabled_the_create_form_explains_and_links_there(client, settings, admin, web):
    settings.API_KEY_CREATION_DISABLED = True
    client.force_login(admin)

    response = client.get(reverse("apikeys:create", args=["web"]))

    assert response.status_code == 403
    page = parse(response)
    assert page.find("a", href=reverse("serviceaccounts:create", args=["acme"])).text() == "Create a service account"
    assert "Use a service account instead" in page.text()


def test_a_user_outside_the_organization_is_told_whom_to_ask(client, settings, org, web):
    settings.API_KEYS_DEPRECATED = True
    client.force_login(person(org, None, web=catalog.ADMINISTRATOR))

    page = parse(client.get(reverse("apikeys:list", args=["web"])))

    assert page.find("a", href=reverse("serviceaccounts:list", args=["acme"])) is None
    assert "Ask one of its Admins or Owners to add you to it." in page.text()


def _no_key_reader(project):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=RoleFactory(codenames=[catalog.READ_PROJECT]))
    return user


# -- plan_service_account_migration ---------------------------------------------------------


def test_the_plan_prints_what_moving_each_active_key_creates_and_writes_nothing(admin, key, web, org):
    ServiceAccountFactory(organization=org, name="deployer")
    revoked = ApiKeyFactory(project=web, name="old", permissions=PERMISSIONS)
    services.api_key_revoke(api_key=revoked, revoked_by=admin, ip_address=None)
    out = StringIO()

    call_command("plan_service_account_migration", "web", stdout=out)

    text = out.getvalue()
    assert "1 active API key" in text
    assert "service account: deployer (web)" in text
    assert f"membership in web: {', '.join(PERMISSIONS)}" in text
    assert "allowed addresses: 203.0.113.0/24" in text
    assert "old" not in text.split("\n", 1)[1]
    assert ServiceAccount.objects.count() == 1

    out = StringIO()
    call_command("plan_service_account_migration", "web", "--json", stdout=out)
    plan = json.loads(out.getvalue())
    assert plan["keys"][0]["service_account"]["projects"] == [{"slug": "web", "permissions": PERMISSIONS}]
    assert plan["keys"][0]["service_account"]["credential"]["expires_at"] == key.expires_at.isoformat()


def test_the_plan_names_keys_that_cannot_be_moved(admin, key, web):
    services.api_key_roll(api_key=key, grace=timedelta(hours=1), rolled_by=admin, ip_address=None)
    out = StringIO()

    call_command("plan_service_account_migration", "web", stdout=out)

    assert "cannot be moved: This API key was rolled and retires soon" in out.getvalue()


def test_the_plan_of_an_unknown_project_is_an_error():
    with pytest.raises(Exception, match="No project with the slug 'nope'"):
        call_command("plan_service_account_migration", "nope")


def test_a_member_outside_the_keys_project_learns_nothing_of_the_key(client, org, web, admin, key):
    data = ProjectFactory(organization=org, slug="data", name="Data")
    client.force_login(admin)
    confirm(client, key)
    account = ServiceAccount.objects.get()
    MembershipFactory(project=data, user=admin, role=role(catalog.ADMINISTRATOR))
    client.post(
        reverse("serviceaccounts:membership", args=["acme", account.public_id, "data"]),
        {"permissions": [catalog.READ_PROJECT]},
    )
    carol = UserFactory()
    OrganizationMembershipFactory(organization=org, user=carol, role=organization_role(catalog.ORGANIZATION_MEMBER))
    MembershipFactory(project=data, user=carol, role=role(catalog.MEMBER))
    client.force_login(carol)

    text = client.get(reverse("serviceaccounts:detail", args=["acme", account.public_id])).content.decode()

    for of_web in ("deployer</a>", key.public_id, "Web"):
        assert of_web not in text


def test_a_deleted_account_stays_linked_and_the_key_may_move_again(client, admin, key):
    client.force_login(admin)
    confirm(client, key)
    account = ServiceAccount.objects.get()
    client.post(reverse("serviceaccounts:delete", args=["acme", account.public_id]))

    page = parse(client.get(detail_url(key)))

    moved = page.find("dd", data_testid="moved-to")
    assert "Deleted" in moved.text()
    assert moved.find("a", href=reverse("serviceaccounts:detail", args=["acme", account.public_id])) is not None
    assert page.find("a", href=move_url(key)) is not None
    assert confirm(client, key).status_code == 201
    assert ServiceAccount.objects.undeleted().get().moved_from_key == key


def test_an_organization_admin_who_only_reads_keys_may_move_one(client, org, web):
    holder = RoleFactory(codenames=[*PERMISSIONS, catalog.READ_API_KEYS])
    user = UserFactory()
    OrganizationMembershipFactory(organization=org, user=user, role=organization_role(catalog.ADMIN))
    MembershipFactory(project=web, user=user, role=holder)
    key = ApiKeyFactory(project=web, permissions=PERMISSIONS)
    client.force_login(user)

    assert parse(client.get(detail_url(key))).find("a", href=move_url(key)) is not None
    assert confirm(client, key).status_code == 201
