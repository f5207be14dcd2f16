"""`manage.py seed_demo`: the demo data of the README's "Demo log-ins", idempotent, DEBUG only."""

import importlib
import re
from datetime import timedelta
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from apikeys import services, tokens
from apikeys.models import ApiKey, AuditEvent, Status
from projects import catalog
from projects.backends import project_permissions
from projects.models import Membership, Project, Role
from serviceaccounts.models import Credential, ServiceAccountEvent
from tests.factories import ApiKeyFactory, MembershipFactory, UserFactory

User = get_user_model()

# The catalog (projects/catalog.py), written out here so that a change to it shows up.
ALL_PERMISSIONS = {
    "can_become_administrator_in_project",
    "can_crud_permissions_in_project",
    "can_read_project_in_project",
    "can_delete_project_in_project",
    "can_create_api_keys_in_project",
    "can_read_api_keys_in_project",
    "can_become_viewer_in_openstack",
    "can_become_editor_in_openstack",
    "can_create_clusters_in_metakube",
    "can_read_clusters_in_metakube",
    "can_update_clusters_in_metakube",
    "can_delete_clusters_in_metakube",
    "can_create_ssh_keys_in_metakube",
    "can_read_ssh_keys_in_metakube",
    "can_update_ssh_keys_in_metakube",
    "can_delete_ssh_keys_in_metakube",
    "can_create_databases_in_dbaas",
    "can_read_databases_in_dbaas",
    "can_update_databases_in_dbaas",
    "can_delete_databases_in_dbaas",
    "can_read_backups_from_databases_in_dbaas",
    "can_become_reader_in_observability",
    "can_become_editor_in_observability",
    "can_become_admin_in_observability",
}
EXPECTED_ROLES = {
    "Administrator": ALL_PERMISSIONS,
    "Member": ALL_PERMISSIONS
    - {"can_become_administrator_in_project", "can_crud_permissions_in_project", "can_delete_project_in_project"},
    "Viewer": {
        "can_read_project_in_project",
        "can_read_api_keys_in_project",
        "can_read_clusters_in_metakube",
        "can_read_ssh_keys_in_metakube",
        "can_read_databases_in_dbaas",
        "can_read_backups_from_databases_in_dbaas",
        "can_become_viewer_in_openstack",
        "can_become_reader_in_observability",
    },
}
EXPECTED_MEMBERSHIPS = {
    ("alice", "demo", "Administrator"),
    ("alice", "sandbox", "Viewer"),
    ("bob", "demo", "Viewer"),
    ("bob", "sandbox", "Administrator"),
    ("carol", "demo", "Member"),
}
USERNAMES = ["alice", "bob", "carol", "mallory", "admin"]


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


def counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "projects": Project.objects.count(),
        "memberships": Membership.objects.count(),
        "roles": Role.objects.count(),
        "role_permissions": Role.permissions.through.objects.count(),
        "api_keys": ApiKey.objects.count(),
        "audit_events": AuditEvent.objects.count(),
    }


def memberships() -> set[tuple[str, str, str]]:
    return set(Membership.objects.values_list("user__username", "project__slug", "role__name"))


def role_permissions() -> dict[str, set[str]]:
    return {r.name: {p.codename for p in r.permissions.all()} for r in Role.objects.prefetch_related("permissions")}


@pytest.fixture
def seeded(db, debug):
    call_command("seed_demo")


def test_running_twice_creates_nothing_more(db, debug):
    call_command("seed_demo")
    first = counts()

    call_command("seed_demo")

    assert counts() == first
    assert first == {
        "users": 5,
        "projects": 2,
        "memberships": 5,
        "roles": 3,
        "role_permissions": 24 + 21 + 8,
        "api_keys": 12,
        # One "created" per key, one "revoked".
        # 10 created, 1 revoked, 2 rolled (each on both keys), 1 retired at once
        "audit_events": 16,
    }


def test_it_creates_the_demo_projects(seeded):
    assert set(Project.objects.values_list("slug", "name")) == {("demo", "Demo Project"), ("sandbox", "Sandbox")}


def test_it_creates_the_memberships_of_the_spec(seeded):
    assert memberships() == EXPECTED_MEMBERSHIPS


def test_mallory_has_no_membership(seeded):
    assert not Membership.objects.filter(user__username="mallory").exists()


def test_admin_is_a_superuser_and_the_others_are_not(seeded):
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.is_active
    others = User.objects.exclude(username="admin")
    assert not others.filter(is_superuser=True).exists()
    assert not others.filter(is_staff=True).exists()


@pytest.mark.parametrize("username", USERNAMES)
def test_demo_user_logs_in_with_the_documented_password(seeded, username):
    assert authenticate(username=username, password=f"{username}-password") is not None
    assert authenticate(username=username, password="password") is None


def test_role_permissions_match_the_spec(seeded):
    assert role_permissions() == EXPECTED_ROLES


def test_default_roles_exist_right_after_migrate(db):
    # The data migration creates them, so a fresh deployment works without seed_demo.
    assert role_permissions() == EXPECTED_ROLES


def test_the_migrations_frozen_roles_are_todays_catalog():
    # 0002 carries a copy of the catalog instead of importing it. If this fails,
    # the catalog's permissions or default roles changed: existing databases
    # need a new data migration; 0002 itself stays as it is.
    frozen = importlib.import_module("projects.migrations.0002_default_roles")

    assert dict(frozen.PERMISSIONS) == {p.codename: p.label for p in catalog.CATALOG}
    assert frozen.ROLES == catalog.DEFAULT_ROLES


def test_the_migration_does_not_import_the_catalog():
    source = Path(importlib.import_module("projects.migrations.0002_default_roles").__file__).read_text()

    assert not re.search(r"^\s*(from|import) (projects|apikeys)\b", source, re.MULTILINE)


def test_demo_users_reach_what_their_role_allows(seeded):
    demo, sandbox = Project.objects.get(slug="demo"), Project.objects.get(slug="sandbox")
    create = "projects.can_create_api_keys_in_project"
    alice, bob, carol, mallory = (User.objects.get(username=n) for n in ["alice", "bob", "carol", "mallory"])

    assert alice.has_perm(create, demo) and not alice.has_perm(create, sandbox)
    assert bob.has_perm(create, sandbox) and not bob.has_perm(create, demo)
    assert carol.has_perm(create, demo) and not carol.has_perm(create, sandbox)
    assert not mallory.has_perm("projects.can_read_project_in_project", demo)


def test_rerun_restores_the_demo_state(seeded):
    alice = User.objects.get(username="alice")
    alice.set_password("changed")
    alice.save()
    Membership.objects.filter(user=alice, project__slug="demo").update(role=Role.objects.get(name="Viewer"))
    Membership.objects.create(
        user=User.objects.get(username="mallory"),
        project=Project.objects.get(slug="demo"),
        role=Role.objects.get(name="Administrator"),
    )
    Role.objects.get(name="Viewer").permissions.clear()

    call_command("seed_demo")

    assert memberships() == EXPECTED_MEMBERSHIPS
    assert role_permissions() == EXPECTED_ROLES
    assert authenticate(username="alice", password="alice-password") is not None


def test_it_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False
    users_before = User.objects.count()

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")

    assert User.objects.count() == users_before
    assert not Project.objects.exists()


def test_it_runs_with_debug_off_when_forced(db, settings):
    settings.DEBUG = False

    call_command("seed_demo", force=True)

    assert memberships() == EXPECTED_MEMBERSHIPS


def test_force_is_a_command_line_option(db, settings):
    settings.DEBUG = False

    call_command("seed_demo", "--force")

    assert User.objects.filter(username="admin", is_superuser=True).exists()


# -- demo API keys ------------------------------------------------------------------


def demo_keys(slug: str = "demo") -> dict[str, ApiKey]:
    return {
        k.name: k
        for k in ApiKey.objects.filter(project__slug=slug).select_related("created_by", "created_by_key", "revoked_by")
    }


def run(**options) -> str:
    out, err = StringIO(), StringIO()
    call_command("seed_demo", stdout=out, stderr=err, **options)
    return out.getvalue() + err.getvalue()


def test_the_demo_project_has_a_key_in_every_status(seeded):
    statuses = [key.status() for key in ApiKey.objects.filter(project__slug="demo")]

    assert set(statuses) == set(Status)
    assert statuses.count(Status.ACTIVE) >= 2


def test_active_keys_have_tags_a_description_and_realistic_permissions(seeded):
    keys = demo_keys()
    active = [k for k in keys.values() if k.status() == Status.ACTIVE]

    assert all(k.tags and k.description for k in keys.values())
    # A read-only key and a key that may create keys, among others.
    assert any(set(k.permissions) <= EXPECTED_ROLES["Viewer"] for k in active)
    assert any(catalog.CREATE_API_KEYS in k.permissions for k in active)
    assert len({tuple(k.permissions) for k in active}) == len(active)


def test_the_expiring_key_expires_within_seven_days(seeded):
    (key,) = [k for k in demo_keys().values() if k.status() == Status.EXPIRES_SOON]

    assert timezone.now() < key.expires_at <= timezone.now() + timedelta(days=7)


def test_the_expired_key_was_created_before_it_expired(seeded):
    (key,) = [k for k in demo_keys().values() if k.status() == Status.EXPIRED]

    assert key.created_at < key.expires_at < timezone.now()
    assert key.secret_hash and key.last4 and key.created_by.username == "alice"
    (event,) = key.audit_events.all()
    assert (event.action, event.at, event.actor_user) == (AuditEvent.Action.CREATED, key.created_at, key.created_by)


def test_the_revoked_key_was_revoked_by_alice_with_an_audit_event(seeded):
    (key,) = [k for k in demo_keys().values() if k.status() == Status.REVOKED]

    assert key.revoked_by.username == "alice"
    assert key.audit_events.filter(action=AuditEvent.Action.REVOKED, actor_user=key.revoked_by).exists()


def test_a_key_created_by_another_key_names_its_parent(seeded):
    children = [k for k in demo_keys().values() if k.created_by_key_id]

    assert [(k.name, k.created_by, k.created_by_key.name) for k in children] == [
        ("terraform-staging-runner", None, "terraform-automation")
    ]
    (child,) = children
    event = child.audit_events.get(action=AuditEvent.Action.CREATED)
    assert event.actor_key == child.created_by_key and event.actor_user is None
    assert set(child.permissions) <= set(child.created_by_key.permissions)
    assert child.expires_at <= child.created_by_key.expires_at


def test_every_key_has_its_creation_audit_event(seeded):
    keys = ApiKey.objects.all()

    assert keys.exists()
    for key in keys:
        # A rolled key's successor was created by rolling: its first event says so.
        first = key.audit_events.order_by("at", "pk").first()
        expected = (
            AuditEvent.Action.ROLLED if ApiKey.objects.filter(successor=key).exists() else AuditEvent.Action.CREATED
        )
        assert first.action == expected, key.name
        assert key.audit_events.filter(action__in=[AuditEvent.Action.CREATED]).count() == (
            0 if expected == AuditEvent.Action.ROLLED else 1
        )


def test_every_key_holds_only_permissions_its_creator_holds(seeded):
    for key in ApiKey.objects.select_related("project", "created_by", "created_by_key"):
        if key.created_by_key is not None:
            held = set(key.created_by_key.permissions)
        else:
            held = set(project_permissions(key.created_by, key.project))
        assert set(key.permissions) <= held, key.name


def test_bob_has_a_key_in_the_sandbox(seeded):
    keys = demo_keys("sandbox")

    assert keys and {k.created_by.username for k in keys.values()} == {"bob"}


def test_no_secret_is_printed_logged_or_stored(db, debug, caplog):
    generated = []

    def generate(*args, **kwargs):
        generated.append(key := real_generate(*args, **kwargs))
        return key

    real_generate = tokens.generate
    with mock.patch.object(tokens, "generate", generate):
        output = run()

    # 10 demo keys, 2 of them rolled, and demo-automation's credential
    assert len(generated) == ApiKey.objects.count() + Credential.objects.count() == 12 + 1
    assert f"{tokens.prefix()}_" not in output + caplog.text
    assert f"{tokens.prefix(tokens.CREDENTIAL)}_" not in output + caplog.text
    stored = repr(list(ApiKey.objects.values())) + repr(list(AuditEvent.objects.values()))
    stored += repr(list(Credential.objects.values())) + repr(list(ServiceAccountEvent.objects.values()))
    for key in generated:
        secret = key.raw.rsplit("_", 1)[1]
        assert secret not in output and secret not in caplog.text and secret not in stored


def test_the_output_says_how_many_demo_keys_exist(db, debug):
    assert "API keys in the demo projects: 12 (10 created by this run)." in run()
    assert "API keys in the demo projects: 12 (0 created by this run)." in run()


def test_rerun_neither_duplicates_nor_resurrects_a_revoked_demo_key(seeded):
    alice = User.objects.get(username="alice")
    key = demo_keys()["github-actions-deploy"]
    services.api_key_revoke(api_key=key, revoked_by=alice)
    before = counts()

    call_command("seed_demo")

    assert counts() == before
    assert ApiKey.objects.get(pk=key.pk).status() == Status.REVOKED
    assert ApiKey.objects.filter(name="github-actions-deploy").count() == 1


def test_a_key_of_the_same_name_keeps_the_demo_key_from_being_created(db, debug):
    demo = Project.objects.create(slug="demo", name="Demo Project")
    alice = MembershipFactory(project=demo, user=UserFactory(username="alice")).user
    mine = ApiKeyFactory(project=demo, created_by=alice, name="grafana-monitoring", permissions=[catalog.READ_PROJECT])

    call_command("seed_demo")

    assert list(ApiKey.objects.filter(name="grafana-monitoring")) == [mine]


def test_the_child_key_is_skipped_while_its_parent_is_revoked(db, debug):
    demo = Project.objects.create(slug="demo", name="Demo Project")
    alice = MembershipFactory(project=demo, user=UserFactory(username="alice")).user
    parent = ApiKeyFactory(project=demo, created_by=alice, name="terraform-automation")
    services.api_key_revoke(api_key=parent, revoked_by=alice)

    output = run()

    assert "terraform-staging-runner skipped" in output
    assert not ApiKey.objects.filter(name="terraform-staging-runner").exists()
    # The 9 demo keys of `demo` and the 2 successors of the rolled ones, the child missing,
    # the revoked parent in its place.
    assert ApiKey.objects.filter(project=demo).count() == 10


def test_the_keys_follow_the_lifetime_policy(db, debug, settings):
    settings.API_KEY_MAX_LIFETIME_DAYS = 30

    call_command("seed_demo")

    keys = ApiKey.objects.all()
    assert keys.count() == 12
    assert all(k.expires_at is not None and k.expires_at <= k.created_at + timedelta(days=30) for k in keys)
    assert {k.status() for k in ApiKey.objects.filter(project__slug="demo")} == set(Status)


def test_no_keys_are_created_while_creation_is_disabled(db, debug, settings):
    settings.API_KEY_CREATION_DISABLED = True

    output = run()

    assert "No demo API keys created" in output
    assert not ApiKey.objects.exists()
    assert memberships() == EXPECTED_MEMBERSHIPS
