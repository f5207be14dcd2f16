"""seed_demo's organization and automation account, and the bootstrap command (SPEC §8)."""

import io

import pytest
from django.core.management import CommandError, call_command

from apikeys import authentication, tokens
from projects import catalog
from projects.models import Organization
from serviceaccounts.models import Credential, ServiceAccount, ServiceAccountEvent
from tests.factories import OrganizationFactory, ServiceAccountFactory

pytestmark = pytest.mark.django_db


def seed():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_makes_the_demo_organization_and_its_automation_account(settings):
    settings.DEBUG = True
    output = seed()

    org = Organization.objects.get(slug="demo-org")
    assert org.name == "Demo Organization"
    assert sorted(org.projects.values_list("slug", flat=True)) == ["demo", "sandbox"]
    roles = dict(org.memberships.values_list("user__username", "role__name"))
    assert roles == {"alice": "Owner", "bob": "Admin", "carol": "Member"}
    account = ServiceAccount.objects.get(organization=org, name="demo-automation")
    assert account.is_org_admin and account.is_active
    every = [p.codename for p in catalog.CATALOG]
    assert dict(account.memberships.values_list("project__slug", "permissions")) == {"demo": every, "sandbox": every}
    assert account.credentials.active().count() == 1
    assert not __import__("re").search(tokens.scanner_regex(), output)  # the secret is never printed


def test_seed_demo_twice_changes_nothing_and_restores_a_disabled_account(settings):
    settings.DEBUG = True
    seed()
    account = ServiceAccount.objects.get(name="demo-automation")
    account.disabled_at = account.created_at
    account.save(update_fields=["disabled_at"])
    events = ServiceAccountEvent.objects.count()

    seed()

    account.refresh_from_db()
    assert account.is_active
    assert Credential.objects.count() == 1
    assert ServiceAccountEvent.objects.count() == events + 1  # only the enabling


def test_the_bootstrap_command_prints_a_working_secret_once_and_is_audited(capsys):
    org = OrganizationFactory(slug="acme")
    ServiceAccountFactory(organization=org, name="terraform", admin=True)
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "create_service_account_credential",
        "acme",
        "terraform",
        "--name",
        "first",
        "--expires-in-days",
        "30",
        stdout=out,
        stderr=err,
    )

    secret = out.getvalue().strip()
    assert secret.startswith("csa_") and authentication.api_key_authenticate(secret).ok
    assert secret not in err.getvalue() and "shown once" in err.getvalue()
    event = ServiceAccountEvent.objects.get(action="credential.created")
    assert event.actor_label.startswith("operator ") and event.actor_user is None
    assert Credential.objects.get().created_by_label == event.actor_label


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "terraform", "--name", "x"], "No organization"),
        (["acme", "nobody", "--name", "x"], "No service account"),
        (["acme", "terraform", "--name", ""], "name is required"),
        (["acme", "terraform", "--name", "x", "--expires-in-days", "0"], "between 1 and 36500"),
    ],
)
def test_the_bootstrap_command_refuses_clearly(args, message):
    ServiceAccountFactory(organization=OrganizationFactory(slug="acme"), name="terraform")

    with pytest.raises(CommandError, match=message):
        call_command("create_service_account_credential", *args, stdout=io.StringIO())
    assert not Credential.objects.exists()


# -- the data migration: existing projects into one organization ----------------------------


def test_the_migration_carries_the_default_organization_roles():
    frozen = __import__("importlib").import_module("projects.migrations.0004_organizations")
    assert frozen.ORGANIZATION_ROLES == catalog.DEFAULT_ORGANIZATION_ROLES


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_existing_projects_move_into_the_default_organization_whose_admins_are_their_administrators(settings):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    settings.DEFAULT_ORGANIZATION_NAME = "Example Cloud"
    executor = MigrationExecutor(connection)
    before = [("projects", "0003_verbose_names_for_the_admin")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    User = old.get_model("auth", "User")
    Role = old.get_model("projects", "Role")
    Permission = old.get_model("auth", "Permission")
    project = old.get_model("projects", "Project").objects.create(name="Legacy", slug="legacy")
    membership = old.get_model("projects", "Membership")
    # Roles as an operator may have made them (a flush before this test removes the data migration's).
    boss, reader = Role.objects.create(name="Boss"), Role.objects.create(name="Reader")
    boss.permissions.set(Permission.objects.filter(codename__in=["can_become_administrator_in_project"]))
    reader.permissions.set(Permission.objects.filter(codename__in=[catalog.READ_PROJECT]))
    assert boss.permissions.exists()
    alice, bob = User.objects.create(username="alice-old"), User.objects.create(username="bob-old")
    membership.objects.create(project=project, user=alice, role=boss)
    membership.objects.create(project=project, user=bob, role=reader)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    organization = Organization.objects.get(slug="default")
    assert organization.name == "Example Cloud"
    assert list(organization.projects.values_list("slug", flat=True)) == ["legacy"]
    assert dict(organization.memberships.values_list("user__username", "role__name")) == {"alice-old": "Admin"}
