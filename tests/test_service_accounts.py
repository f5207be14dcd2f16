"""Service accounts' rules (SPEC §8), through serviceaccounts.services, the one path every surface uses.

Who may manage them, that nobody grants or mints more than they hold, that
disabling, deleting and revoking hold at once, and that every change is
audited with who, what and from where.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys import authentication, tokens
from apikeys.errors import ApiKeyError
from projects import catalog
from serviceaccounts import services
from serviceaccounts.models import ServiceAccountEvent
from serviceaccounts.services import Actor
from tests.factories import (
    CredentialFactory,
    OrganizationFactory,
    ProjectFactory,
    ServiceAccountFactory,
    organization_role,
    person,
)

pytestmark = pytest.mark.django_db

EVERYTHING = sorted(catalog.CODENAMES)
READ = [catalog.READ_PROJECT]


@pytest.fixture
def org():
    return OrganizationFactory(slug="acme", name="Acme")


@pytest.fixture
def projects(org):
    return ProjectFactory(organization=org, slug="web"), ProjectFactory(organization=org, slug="data")


def as_user(user, address="198.51.100.7"):
    return Actor(user=user, ip_address=address)


def test_an_admin_creates_a_service_account_and_it_is_audited(org, projects):
    alice = person(org, catalog.ADMIN, web=catalog.ADMINISTRATOR)

    account = services.create_service_account(organization=org, name="  deploy  bot ", actor=as_user(alice))

    assert account.name == "deploy bot"
    event = ServiceAccountEvent.objects.get(service_account=account)
    assert (event.action, event.actor_user, event.ip_address) == ("service_account.created", alice, "198.51.100.7")


@pytest.mark.parametrize("org_role", [catalog.ORGANIZATION_MEMBER, None])
def test_members_and_outsiders_cannot_manage_service_accounts(org, projects, org_role):
    carol = person(org, org_role, web=catalog.ADMINISTRATOR)  # a project Administrator is not an organization Admin

    with pytest.raises(ApiKeyError) as refused:
        services.create_service_account(organization=org, name="x", actor=as_user(carol))

    assert refused.value.code == "forbidden"
    assert not org.service_accounts.exists()


def test_names_are_unique_among_undeleted_accounts_also_when_they_only_look_alike(org):
    admin = as_user(person(org, catalog.ADMIN))
    first = services.create_service_account(organization=org, name="deploy", actor=admin)

    with pytest.raises(ApiKeyError, match="already exists"):
        services.create_service_account(organization=org, name="ｄｅｐｌｏｙ", actor=admin)  # full-width letters
    services.delete_service_account(first, actor=admin)
    assert services.create_service_account(organization=org, name="deploy", actor=admin).pk != first.pk


def test_organization_roles_grant_no_project_permission(org, projects):
    web, _ = projects
    owner = person(org, catalog.OWNER)

    assert not owner.has_perm(catalog.perm(catalog.READ_PROJECT), web)
    with pytest.raises(ApiKeyError, match="do not hold"):
        services.set_membership(
            ServiceAccountFactory(organization=org), project=web, permissions=READ, actor=as_user(owner)
        )


def test_has_perm_answers_for_service_accounts_from_their_membership(org, projects):
    web, data = projects
    account = ServiceAccountFactory(organization=org, projects={web: READ})

    assert account.has_perm(catalog.perm(catalog.READ_PROJECT), web)
    assert not account.has_perm(catalog.perm(catalog.CREATE_API_KEYS), web)
    assert not account.has_perm(catalog.perm(catalog.READ_PROJECT), data)  # not a member
    services.set_disabled(account, True, actor=Actor(operator="ops"))
    account.refresh_from_db()
    assert not account.has_perm(catalog.perm(catalog.READ_PROJECT), web)


def test_an_editor_grants_only_permissions_they_hold_in_that_project(org, projects):
    web, data = projects
    bob = person(org, catalog.ADMIN, web=catalog.MEMBER, data=catalog.VIEWER)
    account = ServiceAccountFactory(organization=org)

    services.set_membership(account, project=web, permissions=[catalog.CREATE_API_KEYS], actor=as_user(bob))
    with pytest.raises(ApiKeyError) as refused:
        services.set_membership(account, project=data, permissions=[catalog.CREATE_API_KEYS], actor=as_user(bob))
    with pytest.raises(ApiKeyError):  # an Administrator-only permission, in a project where bob is Member
        services.set_membership(account, project=web, permissions=["can_delete_project_in_project"], actor=as_user(bob))

    assert refused.value.code == "forbidden" and "can_create_api_keys_in_project" in refused.value.message
    assert [m.project.slug for m in account.memberships.all()] == ["web"]


def test_an_editor_may_take_away_only_permissions_they_hold(org, projects):
    web, _ = projects
    account = ServiceAccountFactory(organization=org, projects={web: EVERYTHING})
    bob = person(org, catalog.ADMIN, web=catalog.VIEWER)
    viewer_holds = sorted(catalog.DEFAULT_ROLES[catalog.VIEWER])

    # Narrowing to what bob holds would drop what he does not: refused, or he
    # could mint a credential now and keep it when the rest comes back.
    with pytest.raises(ApiKeyError) as refused:
        services.set_membership(account, project=web, permissions=viewer_holds, actor=as_user(bob))
    assert refused.value.code == "forbidden" and catalog.CREATE_API_KEYS in refused.value.message
    with pytest.raises(ApiKeyError):
        services.remove_membership(account, project=web, actor=as_user(bob))
    assert sorted(account.memberships.get().permissions) == EVERYTHING

    # What he holds, he may take away.
    kept = [code for code in EVERYTHING if code != catalog.READ_PROJECT]
    membership = services.set_membership(account, project=web, permissions=kept, actor=as_user(bob))
    assert catalog.READ_PROJECT not in membership.permissions
    event = ServiceAccountEvent.objects.get(action="membership.set")
    assert event.changes == {"project": "web", "added": [], "removed": [catalog.READ_PROJECT]}


def test_a_project_of_another_organization_cannot_be_joined(org, projects):
    elsewhere = ProjectFactory(organization=OrganizationFactory(slug="other"), slug="theirs")

    with pytest.raises(ApiKeyError, match="another organization"):
        services.set_membership(
            ServiceAccountFactory(organization=org), project=elsewhere, permissions=READ, actor=Actor(operator="x")
        )


def test_minting_a_credential_needs_every_permission_the_account_holds(org, projects):
    web, data = projects
    account = ServiceAccountFactory(organization=org, projects={web: READ, data: [catalog.CREATE_API_KEYS]})
    half = person(org, catalog.ADMIN, web=catalog.ADMINISTRATOR)  # nothing in data
    full = person(org, catalog.ADMIN, web=catalog.VIEWER, data=catalog.MEMBER)

    with pytest.raises(ApiKeyError) as refused:
        services.create_credential(account, name="ci", actor=as_user(half))
    created = services.create_credential(account, name="ci", actor=as_user(full))

    assert "data: can_create_api_keys_in_project" in refused.value.message
    assert re_match(tokens.scanner_regex(), created.secret)
    assert created.secret.startswith("csa_")
    assert authentication.api_key_authenticate(created.secret).principal == created.credential


def re_match(pattern, text):
    import re

    return re.fullmatch(pattern, text) is not None


def test_a_credential_cannot_raise_its_own_account_or_mint_a_stronger_secret(org, projects):
    web, data = projects
    robot = ServiceAccountFactory(organization=org, admin=True, projects={web: READ})
    own = CredentialFactory(service_account=robot)
    as_robot = Actor(credential=own)
    stronger = ServiceAccountFactory(organization=org, projects={web: EVERYTHING})

    with pytest.raises(ApiKeyError):
        services.set_membership(robot, project=web, permissions=EVERYTHING, actor=as_robot)
    with pytest.raises(ApiKeyError):
        services.set_membership(robot, project=data, permissions=READ, actor=as_robot)
    with pytest.raises(ApiKeyError):
        services.create_credential(stronger, name="x", expires_at=own.expires_at, actor=as_robot)
    with pytest.raises(ApiKeyError, match="Owner"):
        services.update_service_account(robot, organization_role=organization_role(catalog.OWNER), actor=as_robot)

    robot.refresh_from_db()
    assert list(robot.memberships.values_list("permissions", flat=True)) == [READ]


def test_a_credential_minted_by_a_credential_cannot_outlive_it_or_leave_its_addresses(org, projects):
    web, _ = projects
    robot = ServiceAccountFactory(organization=org, admin=True, projects={web: READ})
    own = CredentialFactory(service_account=robot, allowed_ips=["192.0.2.0/24"])
    child_account = ServiceAccountFactory(organization=org, projects={web: READ})

    with pytest.raises(ApiKeyError, match="at most"):
        services.create_credential(
            child_account, name="c", expires_at=own.expires_at + timedelta(days=1), actor=Actor(credential=own)
        )
    with pytest.raises(ApiKeyError, match="may only be used from"):
        services.create_credential(
            child_account,
            name="c",
            expires_at=own.expires_at,
            allowed_ips=["203.0.113.1"],
            actor=Actor(credential=own),
        )
    inherited = services.create_credential(
        child_account, name="c", expires_at=own.expires_at, actor=Actor(credential=own)
    )

    assert inherited.credential.allowed_ips == ["192.0.2.0/24"]


def test_only_an_owner_gives_the_organization_role_admin_and_never_owner(org):
    account = ServiceAccountFactory(organization=org)
    admin, owner = person(org, catalog.ADMIN), person(org, catalog.OWNER)
    admin_role = organization_role(catalog.ADMIN)

    with pytest.raises(ApiKeyError, match="Only an Owner"):
        services.update_service_account(account, organization_role=admin_role, actor=as_user(admin))
    with pytest.raises(ApiKeyError, match="cannot be an Owner"):
        services.update_service_account(
            account, organization_role=organization_role(catalog.OWNER), actor=as_user(owner)
        )
    updated = services.update_service_account(account, organization_role=admin_role, actor=as_user(owner))

    assert updated.is_org_admin
    assert ServiceAccountEvent.objects.get(action="service_account.updated").changes == {
        "organization_role": [None, "Admin"]
    }


def test_disabling_stops_every_credential_at_once_and_enabling_needs_everything_it_holds(org, projects):
    web, _ = projects
    account = ServiceAccountFactory(organization=org, projects={web: EVERYTHING})
    credential = CredentialFactory(service_account=account)
    weak = person(org, catalog.ADMIN, web=catalog.VIEWER)

    services.set_disabled(account, True, actor=as_user(weak))
    assert authentication.api_key_authenticate(credential.secret).error == "disabled"
    with pytest.raises(ApiKeyError, match="needs every permission"):
        services.set_disabled(account, False, actor=as_user(weak))
    with pytest.raises(ApiKeyError, match="disabled"):
        services.create_credential(account, name="new", actor=Actor(operator="ops"))
    services.set_disabled(account, False, actor=Actor(operator="ops"))

    assert authentication.api_key_authenticate(credential.secret).ok
    assert list(ServiceAccountEvent.objects.order_by("at", "id").values_list("action", flat=True))[-2:] == [
        "service_account.disabled",
        "service_account.enabled",
    ]


def test_deletion_is_soft_and_final_and_revokes_every_credential(org, projects):
    account = ServiceAccountFactory(organization=org, projects={projects[0]: READ})
    first, second = CredentialFactory(service_account=account), CredentialFactory(service_account=account)
    admin = as_user(person(org, catalog.ADMIN))

    services.delete_service_account(account, actor=admin)

    account.refresh_from_db()
    assert account.deleted_at is not None and account.state == "deleted"
    for credential in (first, second):
        assert authentication.api_key_authenticate(credential.secret).error == "revoked"
    for change in (
        lambda: services.set_disabled(account, False, actor=admin),
        lambda: services.create_credential(account, name="again", actor=Actor(operator="ops")),
        lambda: services.update_service_account(account, name="back", actor=admin),
    ):
        with pytest.raises(ApiKeyError, match="deleted"):
            change()
    actions = set(ServiceAccountEvent.objects.values_list("action", flat=True))
    assert {"service_account.deleted", "credential.revoked"} <= actions


def test_revoking_a_credential_is_final_and_audited_once(org, projects):
    account = ServiceAccountFactory(organization=org, projects={projects[0]: READ})
    credential = CredentialFactory(service_account=account)
    admin = as_user(person(org, catalog.ADMIN))

    assert services.revoke_credential(credential, actor=admin) is True
    assert services.revoke_credential(credential, actor=admin) is False

    assert authentication.api_key_authenticate(credential.secret).error == "revoked"
    assert ServiceAccountEvent.objects.filter(action="credential.revoked").count() == 1


def test_a_revoked_acting_credential_acts_no_more(org, projects):
    robot = ServiceAccountFactory(organization=org, admin=True)
    own = CredentialFactory(service_account=robot)
    services.revoke_credential(own, actor=Actor(operator="ops"))

    with pytest.raises(ApiKeyError) as refused:
        services.create_service_account(organization=org, name="x", actor=Actor(credential=own))

    assert refused.value.code == "key_revoked"


def test_credentials_are_immutable_at_the_model_layer(org):
    from apikeys.models import ImmutableKeyError

    credential = CredentialFactory(service_account=ServiceAccountFactory(organization=org))
    credential.expires_at = timezone.now() + timedelta(days=999)

    with pytest.raises(ImmutableKeyError):
        credential.save(update_fields=["expires_at"])
    with pytest.raises(ImmutableKeyError):
        credential.save()


def test_credentials_and_keys_are_told_apart_by_prefix_alone(org, projects, django_assert_num_queries):
    from tests.factories import ApiKeyFactory

    credential = CredentialFactory(
        service_account=ServiceAccountFactory(organization=org, projects={projects[0]: READ})
    )
    key = ApiKeyFactory(project=projects[0])
    # A well-formed API key with the credential's public id: looked up among keys only (one query), so unknown.
    impostor = tokens.generate(public_id=credential.public_id, kind=tokens.API_KEY).raw

    with django_assert_num_queries(1):
        assert authentication.api_key_authenticate(impostor).error == "invalid"
    with django_assert_num_queries(2):  # one lookup, one last-use write
        assert authentication.api_key_authenticate(credential.secret).principal == credential
    assert authentication.api_key_authenticate(key.secret).principal == key


def test_deletion_and_revocation_cannot_be_undone_at_the_model_layer(org):
    from apikeys.models import ImmutableKeyError
    from serviceaccounts.models import Credential, ServiceAccount

    account = ServiceAccountFactory(organization=org)
    credential = CredentialFactory(service_account=account)
    services.delete_service_account(account, actor=Actor(operator="ops"))
    account.refresh_from_db()
    credential.refresh_from_db()

    for undo in (
        lambda: ServiceAccount.objects.filter(pk=account.pk).update(deleted_at=None),
        lambda: Credential.objects.filter(pk=credential.pk).update(revoked_at=None),
        lambda: Credential.objects.filter(pk=credential.pk).update(name="renamed"),
    ):
        with pytest.raises(ImmutableKeyError):
            undo()
    account.deleted_at = None
    with pytest.raises(ImmutableKeyError):
        account.save()
    assert ServiceAccount.objects.get(pk=account.pk).deleted_at is not None
