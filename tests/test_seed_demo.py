"""`manage.py seed_demo`: the demo data of the README's "Demo log-ins", idempotent, DEBUG only."""

import importlib
import re
from pathlib import Path

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from projects import catalog
from projects.models import Membership, Project, Role

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
    assert first == {"users": 5, "projects": 2, "memberships": 5, "roles": 3, "role_permissions": 24 + 21 + 8}


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
