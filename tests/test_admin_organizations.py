"""Organizations and their service accounts in the admin (SPEC §8).

Staff see an organization's records only where their organization role is
Admin or Owner; another organization's records are treated as missing. Only
Owners (and superusers) change an organization and its members, Owners
included; only superusers add organizations. Service accounts, credentials
and their audit trail are read-only; the actions go through the service, are
audited, and a refusal is a message, never a 500.
"""

from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from projects import catalog
from projects.models import Membership, Organization, OrganizationMembership
from serviceaccounts import services
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent
from tests.factories import (
    CredentialFactory,
    MembershipFactory,
    OrganizationFactory,
    OrganizationMembershipFactory,
    ProjectFactory,
    ServiceAccountFactory,
    UserFactory,
    organization_role,
    role,
)

pytestmark = pytest.mark.django_db

ACCOUNTS = "admin:serviceaccounts_serviceaccount_changelist"
CREDENTIALS = "admin:serviceaccounts_credential_changelist"
EVENTS = "admin:serviceaccounts_serviceaccountevent_changelist"
ORGANIZATIONS = "admin:projects_organization_changelist"
ORG_MEMBERSHIPS = "admin:projects_organizationmembership_changelist"
MODEL_PERMISSIONS = [
    f"{action}_{model}"
    for model in (
        "serviceaccount",
        "serviceaccountmembership",
        "credential",
        "serviceaccountevent",
        "organization",
        "organizationmembership",
        "organizationrole",
    )
    for action in ("view", "change", "add", "delete")
]


@pytest.fixture
def acme(db):
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def bravo(db):
    return OrganizationFactory(name="Bravo", slug="bravo")


@pytest.fixture
def acme_project(acme):
    return ProjectFactory(organization=acme, name="Acme Project", slug="acme-project")


@pytest.fixture
def bravo_project(bravo):
    return ProjectFactory(organization=bravo, name="Bravo Project", slug="bravo-project")


def staff_user(username: str) -> "UserFactory":
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=MODEL_PERMISSIONS))
    return user


@pytest.fixture
def operator(acme, acme_project):
    """Staff with every model permission, Admin of Acme (and Administrator of its project), nothing in Bravo."""
    user = staff_user("operator")
    OrganizationMembershipFactory(organization=acme, user=user, role=organization_role(catalog.ADMIN))
    MembershipFactory(project=acme_project, user=user, role=role(catalog.ADMINISTRATOR))
    return user


@pytest.fixture
def staff(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def ours(acme, acme_project):
    return ServiceAccountFactory(organization=acme, name="ours-bot", projects={acme_project: [catalog.READ_PROJECT]})


@pytest.fixture
def theirs(bravo, bravo_project):
    return ServiceAccountFactory(
        organization=bravo, name="theirs-bot", projects={bravo_project: [catalog.READ_PROJECT]}
    )


@pytest.fixture
def our_credential(ours):
    return CredentialFactory(service_account=ours, name="ours-credential")


@pytest.fixture
def their_credential(theirs):
    return CredentialFactory(service_account=theirs, name="theirs-credential")


@pytest.fixture
def both(ours, theirs, our_credential, their_credential):
    """Two organizations, each with a service account, a credential and an audit trail."""


def names(response) -> set[str]:
    assert response.status_code == 200
    return {getattr(obj, "name", None) or str(obj) for obj in response.context["cl"].result_list}


def event_accounts(response) -> set[str]:
    assert response.status_code == 200
    return {event.service_account.name for event in response.context["cl"].result_list}


def organization_filter_choices(response) -> list[str]:
    specs = [spec for spec in response.context["cl"].filter_specs if spec.title == "organization"]
    return sorted(name for _, name in specs[0].lookup_choices)


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def is_like_a_missing_object(client, url_of, obj, model):
    """The page of `obj` answers exactly as the page of an object that does not exist."""
    missing = model.objects.order_by("-pk").first().pk + 1000
    response = client.get(url_of(obj.pk))
    expected = client.get(url_of(missing))
    assert expected.status_code in {302, 403, 404}
    assert response.status_code == expected.status_code
    assert response.get("Location") == expected.get("Location")
    return response


def act(client, changelist: str, action: str, *objects, confirm: bool = True):
    """Run an admin action on `objects`, confirmed where it asks; the changelist it leads back to shows its messages."""
    data = {"action": action, "_selected_action": [obj.pk for obj in objects]}
    if confirm:
        data["confirm"] = "yes"
    return client.post(reverse(changelist), data, follow=True)


# -- what staff see ------------------------------------------------------------------------------


def test_admin_lists_only_their_organizations_service_accounts(staff, both):
    assert names(staff.get(reverse(ACCOUNTS))) == {"ours-bot"}


def test_admin_lists_only_their_organizations_credentials(staff, both):
    assert names(staff.get(reverse(CREDENTIALS))) == {"ours-credential"}


def test_admin_lists_only_their_organizations_events(staff, both):
    response = staff.get(reverse(EVENTS))

    assert event_accounts(response) == {"ours-bot"}
    assertNotContains(response, "theirs")


def test_admin_lists_only_their_organizations_and_memberships(staff, operator, both, bravo):
    OrganizationMembershipFactory(organization=bravo, user=UserFactory(username="dave"))

    assert names(staff.get(reverse(ORGANIZATIONS))) == {"Acme"}
    response = staff.get(reverse(ORG_MEMBERSHIPS))
    assert {m.user.username for m in response.context["cl"].result_list} == {"operator"}
    assertNotContains(response, "dave")
    assertNotContains(response, "Bravo")


@pytest.mark.parametrize(
    ("changelist", "query"),
    [
        (ACCOUNTS, "theirs"),
        (ACCOUNTS, "bot"),
        (CREDENTIALS, "theirs"),
        (CREDENTIALS, "credential"),
        (EVENTS, "theirs"),
        (ORGANIZATIONS, "Bravo"),
        (ORG_MEMBERSHIPS, "bravo"),
    ],
)
def test_search_does_not_reach_other_organizations(staff, both, changelist, query):
    response = staff.get(reverse(changelist), {"q": query})

    assert response.status_code == 200
    shown = [str(obj) for obj in response.context["cl"].result_list]
    assert not [text for text in shown if "theirs" in text or "Bravo" in text], shown


def test_search_by_another_organizations_public_id_finds_nothing(staff, both, theirs, their_credential):
    assert names(staff.get(reverse(ACCOUNTS), {"q": theirs.public_id})) == set()
    assert names(staff.get(reverse(CREDENTIALS), {"q": their_credential.public_id})) == set()


@pytest.mark.parametrize(
    ("changelist", "parameter"),
    [
        (ACCOUNTS, "organization__id__exact"),
        (CREDENTIALS, "service_account__organization__id__exact"),
        (EVENTS, "organization__id__exact"),
    ],
)
def test_organization_filter_names_only_their_organizations(staff, operator, both, bravo, changelist, parameter):
    # A second organization of theirs, so that the filter has a choice to offer.
    charlie = OrganizationFactory(name="Charlie", slug="charlie")
    OrganizationMembershipFactory(organization=charlie, user=operator, role=organization_role(catalog.OWNER))
    CredentialFactory(service_account=ServiceAccountFactory(organization=charlie, name="charlie-bot"))

    response = staff.get(reverse(changelist))

    assert organization_filter_choices(response) == ["Acme", "Charlie"]
    assertNotContains(response, "Bravo")
    # Asking for the other organization's records by its id shows none of them.
    assertNotContains(staff.get(reverse(changelist), {parameter: bravo.pk}), "theirs")


@pytest.mark.parametrize("page", ["change", "history"])
@pytest.mark.parametrize(
    "model", [ServiceAccount, Credential, ServiceAccountEvent, Organization, OrganizationMembership]
)
def test_another_organizations_pages_are_like_missing_ones(staff, both, bravo, model, page):
    theirs = {
        ServiceAccount: lambda: ServiceAccount.objects.get(name="theirs-bot"),
        Credential: lambda: Credential.objects.get(name="theirs-credential"),
        ServiceAccountEvent: lambda: ServiceAccountEvent.objects.filter(organization=bravo).first(),
        Organization: lambda: bravo,
        OrganizationMembership: lambda: OrganizationMembershipFactory(organization=bravo),
    }[model]()
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"

    response = is_like_a_missing_object(staff, lambda pk: reverse(name, args=[pk]), theirs, model)

    assertNotContains(staff.get(response.get("Location", "/admin/")), "theirs")


def test_their_own_pages_open(staff, ours, our_credential):
    event = ServiceAccountEvent.objects.filter(service_account=ours).first()
    for model, obj in [(ServiceAccount, ours), (Credential, our_credential), (ServiceAccountEvent, event)]:
        url = reverse(f"admin:serviceaccounts_{model._meta.model_name}_change", args=[obj.pk])
        assert staff.get(url).status_code == 200, model


def test_member_role_staff_sees_nothing_of_their_organization(client, acme, both):
    carol = staff_user("carol")
    OrganizationMembershipFactory(organization=acme, user=carol, role=organization_role(catalog.ORGANIZATION_MEMBER))
    client.force_login(carol)

    for changelist in (ACCOUNTS, CREDENTIALS, EVENTS, ORGANIZATIONS, ORG_MEMBERSHIPS):
        response = client.get(reverse(changelist))
        assert list(response.context["cl"].result_list) == [], changelist
        assertNotContains(response, "Acme")
    ours = ServiceAccount.objects.get(name="ours-bot")
    assert client.get(reverse("admin:serviceaccounts_serviceaccount_change", args=[ours.pk])).status_code == 302
    act(client, ACCOUNTS, "disable_selected", ours)
    assert ServiceAccount.objects.get(pk=ours.pk).disabled_at is None


def test_superuser_sees_every_organizations_records(client, superuser, both):
    client.force_login(superuser)

    assert names(client.get(reverse(ACCOUNTS))) == {"ours-bot", "theirs-bot"}
    assert names(client.get(reverse(CREDENTIALS))) == {"ours-credential", "theirs-credential"}
    assert event_accounts(client.get(reverse(EVENTS))) == {"ours-bot", "theirs-bot"}
    assert names(client.get(reverse(ORGANIZATIONS))) >= {"Acme", "Bravo"}


# -- read-only pages -------------------------------------------------------------------------------


def test_pages_show_masked_keys_and_never_a_hash(staff, ours, our_credential):
    for url in (
        reverse("admin:serviceaccounts_serviceaccount_change", args=[ours.pk]),
        reverse("admin:serviceaccounts_credential_change", args=[our_credential.pk]),
        reverse(CREDENTIALS),
    ):
        response = staff.get(url)
        assertContains(response, our_credential.masked)
        assertNotContains(response, our_credential.secret_hash)
        assertNotContains(response, our_credential.secret)
        # The pepper version ("t2") is too short to look for in a page full of random tokens: its field is absent.
        assertNotContains(response, "pepper")


def test_service_account_page_shows_memberships_and_credentials_read_only(staff, ours, our_credential):
    response = staff.get(reverse("admin:serviceaccounts_serviceaccount_change", args=[ours.pk]))

    assert [inline.formset.prefix for inline in response.context["inline_admin_formsets"]] == [
        "memberships",
        "credentials",
    ]
    assert not response.context["has_editable_inline_admin_formsets"]
    assertContains(response, catalog.READ_PROJECT)
    assertContains(response, "ours-credential")
    assertNotContains(response, 'name="_save"')


def test_a_post_to_a_service_account_page_changes_nothing(staff, ours):
    response = staff.post(
        reverse("admin:serviceaccounts_serviceaccount_change", args=[ours.pk]), {"name": "renamed", "_save": "Save"}
    )

    assert response.status_code == 403
    assert ServiceAccount.objects.get(pk=ours.pk).name == "ours-bot"


@pytest.mark.parametrize("model", ["serviceaccount", "credential", "serviceaccountevent"])
def test_nothing_is_added_or_deleted_here(staff, ours, our_credential, model):
    obj = {"serviceaccount": ours, "credential": our_credential}.get(model) or ServiceAccountEvent.objects.first()

    assert staff.get(reverse(f"admin:serviceaccounts_{model}_add")).status_code == 403
    assert (
        staff.post(reverse(f"admin:serviceaccounts_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    )
    action_form = staff.get(reverse(f"admin:serviceaccounts_{model}_changelist")).context["action_form"]
    actions = dict(action_form.fields["action"].choices) if action_form else {}
    assert "delete_selected" not in actions
    assert type(obj).objects.filter(pk=obj.pk).exists()


# -- actions -------------------------------------------------------------------------------------


def test_disable_and_enable_go_through_the_service_and_are_audited(staff, operator, ours):
    response = act(staff, ACCOUNTS, "disable_selected", ours)

    assert response.status_code == 200  # back on the list, never a 500
    assert ServiceAccount.objects.get(pk=ours.pk).disabled_at is not None
    event = ServiceAccountEvent.objects.get(service_account=ours, action=ServiceAccountEvent.Action.DISABLED)
    assert (event.actor_user, event.actor_label, event.ip_address) == (operator, "operator", "127.0.0.1")
    assert message_texts(response) == ["Disabled 1 service account."]

    response = act(staff, ACCOUNTS, "enable_selected", ours)

    assert ServiceAccount.objects.get(pk=ours.pk).disabled_at is None
    assert (
        ServiceAccountEvent.objects.get(service_account=ours, action=ServiceAccountEvent.Action.ENABLED).actor_user
        == operator
    )
    assert message_texts(response) == ["Enabled 1 service account."]


def test_enabling_without_every_permission_the_account_holds_is_refused_with_a_message(
    staff, operator, acme, acme_project
):
    strong = ServiceAccountFactory(
        organization=acme, name="strong-bot", projects={acme_project: [catalog.CREATE_API_KEYS]}
    )
    services.set_disabled(strong, True, actor=services.Actor(operator="tests"))
    Membership.objects.filter(user=operator).update(role=role(catalog.VIEWER))

    response = act(staff, ACCOUNTS, "enable_selected", strong)

    assert response.status_code == 200  # back on the list, never a 500
    assert ServiceAccount.objects.get(pk=strong.pk).disabled_at is not None
    [message] = message_texts(response)
    assert "strong-bot" in message and catalog.CREATE_API_KEYS in message
    assert not ServiceAccountEvent.objects.filter(
        service_account=strong, action=ServiceAccountEvent.Action.ENABLED
    ).exists()


def test_delete_is_soft_final_revokes_credentials_and_is_audited(staff, operator, ours, our_credential):
    response = act(staff, ACCOUNTS, "delete_selected_softly", ours)

    account = ServiceAccount.objects.get(pk=ours.pk)  # the row stays
    assert account.deleted_at is not None
    assert Credential.objects.get(pk=our_credential.pk).revoked_at is not None
    assert (
        ServiceAccountEvent.objects.get(service_account=ours, action=ServiceAccountEvent.Action.DELETED).actor_user
        == operator
    )
    assert message_texts(response) == ["Deleted 1 service account; its credentials are revoked."]

    # Final: enabling or disabling it again is refused, with a message; deleting it again does nothing.
    for action in ("enable_selected", "disable_selected"):
        response = act(staff, ACCOUNTS, action, ours)
        assert response.status_code == 200  # back on the list, never a 500
        assert message_texts(response) == ["“ours-bot”: This service account was deleted."]
    assert message_texts(act(staff, ACCOUNTS, "delete_selected_softly", ours)) == ["Nothing needed changing."]
    assert ServiceAccount.objects.get(pk=ours.pk).deleted_at == account.deleted_at


@pytest.mark.parametrize(
    ("changelist", "action", "target", "question"),
    [
        (ACCOUNTS, "delete_selected_softly", "ours", "Delete these service accounts?"),
        (CREDENTIALS, "revoke_selected", "our_credential", "Revoke these credentials?"),
    ],
)
def test_deleting_and_revoking_ask_first(staff, request, changelist, action, target, question):
    obj = request.getfixturevalue(target)
    before = ServiceAccountEvent.objects.count()

    page = act(staff, changelist, action, obj, confirm=False)

    assert page.status_code == 200
    assertContains(page, question)
    assertContains(page, 'name="confirm" value="yes"')
    assert ServiceAccountEvent.objects.count() == before
    obj.refresh_from_db()
    assert getattr(obj, "deleted_at", None) is None and getattr(obj, "revoked_at", None) is None


def test_an_owner_gives_and_takes_the_organization_role_admin_and_an_admin_cannot(staff, owner, ours):
    owner_staff = Client()
    owner_staff.force_login(owner)
    refused = act(staff, ACCOUNTS, "give_admin_role", ours)
    ours.refresh_from_db()
    assert not ours.is_org_admin
    assert "Only an Owner" in message_texts(refused)[0]

    given = act(owner_staff, ACCOUNTS, "give_admin_role", ours)
    ours.refresh_from_db()
    assert ours.is_org_admin
    assert message_texts(given) == ["1 service account now holds the organization role Admin."]
    act(owner_staff, ACCOUNTS, "take_role", ours)
    ours.refresh_from_db()
    assert ours.organization_role is None
    changes = ServiceAccountEvent.objects.filter(service_account=ours, action="service_account.updated")
    assert [e.changes["organization_role"] for e in changes.order_by("at", "id")] == [[None, "Admin"], ["Admin", None]]


def test_revoke_goes_through_the_service_and_is_audited(staff, operator, our_credential):
    response = act(staff, CREDENTIALS, "revoke_selected", our_credential)

    assert Credential.objects.get(pk=our_credential.pk).revoked_at is not None
    event = ServiceAccountEvent.objects.get(
        credential=our_credential, action=ServiceAccountEvent.Action.CREDENTIAL_REVOKED
    )
    assert (event.actor_user, event.ip_address) == (operator, "127.0.0.1")
    assert message_texts(response) == ["Revoked 1 credential."]


def test_a_database_failure_while_revoking_is_a_message_not_a_500(staff, our_credential):
    with mock.patch("serviceaccounts.services._revoke", side_effect=DatabaseError("disk full")):
        response = act(staff, CREDENTIALS, "revoke_selected", our_credential)

    assert response.status_code == 200  # back on the list, never a 500
    [message] = message_texts(response)
    assert "Nothing was saved" in message
    assert Credential.objects.get(pk=our_credential.pk).revoked_at is None


@pytest.mark.parametrize(
    ("changelist", "action", "target"),
    [
        (ACCOUNTS, "disable_selected", "theirs"),
        (ACCOUNTS, "delete_selected_softly", "theirs"),
        (CREDENTIALS, "revoke_selected", "their_credential"),
    ],
)
def test_forged_actions_on_another_organization_change_nothing(staff, both, request, changelist, action, target):
    obj = request.getfixturevalue(target)
    before = ServiceAccountEvent.objects.count()

    response = act(staff, changelist, action, obj)

    assert response.status_code == 200  # back on the list, never a 500
    obj.refresh_from_db()
    assert getattr(obj, "disabled_at", None) is None and getattr(obj, "deleted_at", None) is None
    assert getattr(obj, "revoked_at", None) is None
    assert ServiceAccountEvent.objects.count() == before


# -- organizations and their members -------------------------------------------------------------


def form_data(response, **changes) -> dict:
    """What the browser would post back from a change form, with `changes`."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None and value is not False:
                data[form.add_prefix(name)] = value
    data.update(changes)
    return data


@pytest.fixture
def owner(client, acme):
    user = staff_user("olivia")
    OrganizationMembershipFactory(organization=acme, user=user, role=organization_role(catalog.OWNER))
    return user


@pytest.fixture
def eve(acme):
    return OrganizationMembershipFactory(
        organization=acme, user=UserFactory(username="eve"), role=organization_role(catalog.ORGANIZATION_MEMBER)
    )


@pytest.mark.parametrize("kind", ["admin", "owner"])
def test_only_superusers_add_organizations(client, operator, owner, superuser, kind):
    client.force_login(operator if kind == "admin" else owner)

    assert client.get(reverse("admin:projects_organization_add")).status_code == 403
    client.post(reverse("admin:projects_organization_add"), {"name": "Mine", "slug": "mine"})
    assert not Organization.objects.filter(slug="mine").exists()

    client.force_login(superuser)
    page = client.get(reverse("admin:projects_organization_add"))
    response = client.post(reverse("admin:projects_organization_add"), form_data(page, name="Mine", slug="mine"))
    assert response.status_code == 302
    assert Organization.objects.filter(slug="mine").exists()


def test_an_admin_sees_the_organization_but_cannot_change_it(staff, acme):
    url = reverse("admin:projects_organization_change", args=[acme.pk])
    page = staff.get(url)

    assert page.status_code == 200
    assertNotContains(page, 'name="_save"')
    response = staff.post(url, form_data(page, name="Renamed"))

    assert response.status_code == 403
    assert Organization.objects.get(pk=acme.pk).name == "Acme"


def test_an_admin_cannot_make_anyone_owner(staff, acme, eve):
    owner_role = organization_role(catalog.OWNER)
    frank = UserFactory(username="frank")

    # Not by adding a membership...
    assert staff.get(reverse("admin:projects_organizationmembership_add")).status_code == 403
    staff.post(
        reverse("admin:projects_organizationmembership_add"),
        {"organization": acme.pk, "user": frank.pk, "role": owner_role.pk},
    )
    # ...nor by changing one...
    response = staff.post(
        reverse("admin:projects_organizationmembership_change", args=[eve.pk]), {"role": owner_role.pk}
    )
    assert response.status_code == 403
    # ...nor through the organization's page.
    url = reverse("admin:projects_organization_change", args=[acme.pk])
    page = staff.get(url)
    prefix = next(f.prefix for f in page.context["inline_admin_formsets"][0].formset.forms if f.instance == eve)
    staff.post(url, form_data(page, **{f"{prefix}-role": owner_role.pk}))

    assert not OrganizationMembership.objects.filter(role=owner_role).exists()
    assert not OrganizationMembership.objects.filter(user=frank).exists()


def test_an_owner_appoints_owners(client, owner, acme, eve):
    client.force_login(owner)
    owner_role = organization_role(catalog.OWNER)
    frank = UserFactory(username="frank")

    response = client.post(
        reverse("admin:projects_organizationmembership_add"),
        {"organization": acme.pk, "user": frank.pk, "role": owner_role.pk},
    )
    assert response.status_code == 302
    assert OrganizationMembership.objects.get(user=frank).role == owner_role

    response = client.post(
        reverse("admin:projects_organizationmembership_change", args=[eve.pk]), {"role": owner_role.pk}
    )
    assert response.status_code == 302
    assert OrganizationMembership.objects.get(pk=eve.pk).role == owner_role


def test_an_owner_changes_the_organization_and_its_members_on_its_page(client, owner, acme, eve):
    client.force_login(owner)
    url = reverse("admin:projects_organization_change", args=[acme.pk])
    page = client.get(url)
    prefix = next(f.prefix for f in page.context["inline_admin_formsets"][0].formset.forms if f.instance == eve)

    response = client.post(
        url, form_data(page, name="Acme Inc.", **{f"{prefix}-role": organization_role(catalog.ADMIN).pk})
    )

    assert response.status_code == 302
    assert Organization.objects.get(pk=acme.pk).name == "Acme Inc."
    assert OrganizationMembership.objects.get(pk=eve.pk).role == organization_role(catalog.ADMIN)


def test_an_owner_of_one_organization_makes_no_owners_in_another(client, owner, bravo):
    OrganizationMembershipFactory(organization=bravo, user=owner, role=organization_role(catalog.ADMIN))
    dave = OrganizationMembershipFactory(organization=bravo, user=UserFactory(username="dave"))
    owner_role = organization_role(catalog.OWNER)
    client.force_login(owner)

    response = client.post(
        reverse("admin:projects_organizationmembership_add"),
        {"organization": bravo.pk, "user": UserFactory(username="frank").pk, "role": owner_role.pk},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["organization"]
    response = client.post(
        reverse("admin:projects_organizationmembership_change", args=[dave.pk]), {"role": owner_role.pk}
    )
    assert response.status_code == 403

    assert not OrganizationMembership.objects.filter(organization=bravo, role=owner_role).exists()


def test_a_superuser_appoints_owners_anywhere(client, superuser, bravo):
    client.force_login(superuser)
    owner_role = organization_role(catalog.OWNER)
    frank = UserFactory(username="frank")

    response = client.post(
        reverse("admin:projects_organizationmembership_add"),
        {"organization": bravo.pk, "user": frank.pk, "role": owner_role.pk},
    )

    assert response.status_code == 302
    assert OrganizationMembership.objects.get(user=frank, organization=bravo).role == owner_role


def test_organization_roles_are_data_that_model_permissions_open(client, operator):
    organization_role(catalog.OWNER)
    client.force_login(operator)

    response = client.get(reverse("admin:projects_organizationrole_changelist"))

    assert names(response) >= {"Owner", "Admin", "Member"}
    admin = organization_role(catalog.ADMIN)
    url = reverse("admin:projects_organizationrole_change", args=[admin.pk])
    assert client.post(url, form_data(client.get(url), description="Runs the automation")).status_code == 302
